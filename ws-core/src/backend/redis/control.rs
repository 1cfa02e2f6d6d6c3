//! Keeps Redis in line with the registry: the subscriptions (a channel while
//! it has local members) and this node's presence; and the connection
//! alive: on a loss it reconnects with backoff, then resubscribes to exactly
//! the channels needed at that moment.
//!
//! The registry tells it only *which* channel changed; it reads the local
//! size itself when it handles the change, so changes that race (a join and
//! the last leave of a room at once) cannot leave a stale subscription: the
//! last one handled sees the final state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use redis::Value;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::MissedTickBehavior;

use super::conn::Conn;
use super::{CLASSIC, Names, SHARDED, State, commands, presence};
use crate::backend::{Channel, Local};

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Changes handled per pipeline at most.
const BATCH: usize = 4096;

/// What this node has asked of Redis on the current connection.
#[derive(Default)]
struct Synced {
    /// Redis's `CLIENT ID` of the connection, read by the last resync.
    client: Option<u64>,
    subscribed: HashSet<Channel>,
    /// Local counts written into the presence hash.
    presence: HashMap<Channel, usize>,
    /// Per room, the fields written into this node's copy of who is in it.
    users: HashMap<Arc<str>, HashMap<Arc<str>, String>>,
}

/// Adds to `pipe` what brings this node's copy of who is in `room` from
/// `written` to `now` (only the fields that changed), and notes it.
fn write_users(
    pipe: &mut redis::Pipeline,
    state: &State,
    room: &Arc<str>,
    now: Vec<crate::backend::Entry>,
    written: &mut HashMap<Arc<str>, HashMap<Arc<str>, String>>,
) {
    let old = written.remove(room).unwrap_or_default();
    let now: HashMap<Arc<str>, String> = now
        .into_iter()
        .map(|(user, n, metas)| (user, presence::value(n, &metas)))
        .collect();
    let key = state.names.present(state.shared.node, room);
    let gone: Vec<&Arc<str>> = old.keys().filter(|u| !now.contains_key(*u)).collect();
    if !gone.is_empty() {
        pipe.cmd("HDEL").arg(&key);
        for user in gone {
            pipe.arg(&**user);
        }
        pipe.ignore();
    }
    let changed: Vec<(&Arc<str>, &String)> = now
        .iter()
        .filter(|(user, value)| old.get(*user) != Some(*value))
        .collect();
    if !changed.is_empty() {
        presence::expiring(pipe, &key, state.presence_ttl, |pipe| {
            pipe.cmd("HSET").arg(&key);
            for (user, value) in changed {
                pipe.arg(&**user).arg(value);
            }
            pipe.ignore();
        });
    }
    if !now.is_empty() {
        written.insert(Arc::clone(room), now);
    }
}

pub(super) async fn run(
    state: Arc<State>,
    local: Local,
    conn: Conn,
    changes: UnboundedReceiver<Channel>,
) {
    keep_in_line(&state, &local, conn, changes).await;
    // The manager is gone or shut down: the last handle on the connection
    // goes, so it closes, and the subscriber's stream of pushes ends.
    state.conn.lock().take();
}

async fn keep_in_line(
    state: &State,
    local: &Local,
    mut conn: Conn,
    mut changes: UnboundedReceiver<Channel>,
) {
    let mut synced = Synced::default();
    let mut backoff = FIRST_BACKOFF;
    let mut ever_up = false;
    let mut failing = false;
    let mut beat = tokio::time::interval(state.presence_ttl / 3);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if !state.shared.is_up() {
            // Whatever was signalled or queued so far, the resync covers.
            let _ = state.shared.lost.notified().now_or_never();
            while changes.try_recv().is_ok() {}
            let resynced = tokio::select! {
                () = state.stop.cancelled() => return,
                resynced = resync(state, local, &mut conn, &mut synced) => resynced,
            };
            // A resync sent before Redis stopped answering may complete
            // only once it answers again: what was recorded alone in the
            // meantime is handled before the node counts as up.
            let resynced = match resynced {
                Ok(true) => converge(state, local, &mut conn).await.map(|()| true),
                other => other,
            };
            match resynced {
                Ok(true) => {
                    state.shared.set_up(true, ever_up);
                    if ever_up {
                        // Back after a loss: what was recorded meanwhile
                        // never reached this node's members.
                        local.interrupted();
                    }
                    if failing {
                        // A warning, as the loss was: an operator who
                        // filters at `warn` sees that it ended.
                        tracing::warn!(
                            channels = synced.subscribed.len(),
                            "redis backend: reconnected"
                        );
                    }
                    ever_up = true;
                    failing = false;
                    backoff = FIRST_BACKOFF;
                    beat.reset();
                }
                Ok(false) => return, // the manager is gone
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "redis backend: unavailable; reconnecting with backoff");
                    }
                    failing = true;
                    tokio::select! {
                        () = state.stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(state.reconnect_max);
                    continue;
                }
            }
        }
        tokio::select! {
            () = state.stop.cancelled() => return,
            () = state.shared.lost.notified() => state.shared.set_up(false, false),
            change = changes.recv() => {
                let Some(first) = change else { return };
                let mut batch = HashSet::from([first]);
                while batch.len() < BATCH {
                    match changes.try_recv() {
                        Ok(next) => batch.insert(next),
                        Err(_) => break,
                    };
                }
                match apply(state, local, &mut conn, &mut synced, batch).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => {
                        tracing::warn!(%error, "redis backend: subscription update failed");
                        state.lose();
                    }
                }
            }
            _ = beat.tick() => {
                if !local.is_alive() {
                    return;
                }
                let mut pipe = redis::pipe();
                presence::refresh(&mut pipe, &state.names, state.shared.node, state.presence_ttl);
                // O(rooms with users on this node) per beat, one pipeline.
                for room in synced.users.keys() {
                    pipe.cmd("PEXPIRE")
                        .arg(state.names.present(state.shared.node, room))
                        .arg(state.presence_ttl.as_millis() as u64)
                        .ignore();
                }
                let beat = async {
                    pipe.exec_async(&mut conn).await?;
                    // A send that found the backend down just as it came
                    // back up recorded alone: handled within a beat.
                    converge(state, local, &mut conn).await
                };
                if let Err(error) = beat.await {
                    tracing::warn!(%error, "redis backend: heartbeat failed");
                    state.lose();
                }
            }
        }
    }
}

/// Brings a (possibly new) connection in line with the registry: learns the
/// pub/sub mode, subscribes to every channel needed, unsubscribes from what
/// was asked before and is not needed now (if the connection survived),
/// and rewrites this node's presence. `Ok(false)` once the manager is gone.
async fn resync(
    state: &State,
    local: &Local,
    conn: &mut Conn,
    synced: &mut Synced,
) -> redis::RedisResult<bool> {
    let sharded = match state.sharded() {
        Some(sharded) => sharded,
        None => {
            let info: Value = redis::cmd("COMMAND")
                .arg("INFO")
                .arg("SSUBSCRIBE")
                .query_async(conn)
                .await?;
            let sharded = matches!(&info, Value::Array(items)
                if items.first().is_some_and(|item| !matches!(item, Value::Nil)));
            let mode = if sharded { SHARDED } else { CLASSIC };
            state.mode.store(mode, std::sync::atomic::Ordering::Release);
            tracing::info!(sharded, "redis backend: pub/sub mode");
            sharded
        }
    };
    let Some(needed) = local.channels() else {
        return Ok(false);
    };
    let needed: HashMap<Channel, usize> = needed.into_iter().collect();
    let (subscribe, unsubscribe, _) = commands(sharded);
    let names = &state.names;
    let node = state.shared.node;

    let mut pipe = redis::pipe();
    for channel in synced
        .subscribed
        .iter()
        .filter(|c| !needed.contains_key(*c))
    {
        pipe.cmd(unsubscribe).arg(names.channel(channel)).ignore();
    }
    for channel in needed.keys() {
        pipe.cmd(subscribe).arg(names.channel(channel)).ignore();
    }
    let key = names.presence(node);
    let counts: Vec<(String, usize)> = needed
        .iter()
        .filter_map(|(channel, n)| Names::field(channel).map(|field| (field, *n)))
        .collect();
    presence::expiring(&mut pipe, &key, state.presence_ttl, |pipe| {
        pipe.cmd("DEL").arg(&key).ignore();
        for chunk in counts.chunks(1024) {
            pipe.cmd("HSET").arg(&key);
            for (field, n) in chunk {
                pipe.arg(field).arg(n);
            }
            pipe.ignore();
        }
    });
    // Who is in each room, rewritten whole: the copies of the last
    // connection may be stale or expired.
    for room in synced.users.keys() {
        pipe.cmd("DEL").arg(names.present(node, room)).ignore();
    }
    let mut users = HashMap::new();
    for channel in needed.keys() {
        if let Channel::Room(room) = channel {
            let Some(now) = local.presence(room) else {
                return Ok(false);
            };
            write_users(&mut pipe, state, room, now, &mut users);
        }
    }
    presence::refresh(&mut pipe, names, node, state.presence_ttl);
    // The connection these subscriptions are on (its only unignored reply).
    pipe.cmd("CLIENT").arg("ID");
    let (client,): (u64,) = pipe.query_async(conn).await?;
    synced.client = Some(client);
    synced.users = users;

    synced.presence = needed
        .iter()
        .filter(|(channel, _)| !matches!(channel, Channel::All))
        .map(|(channel, n)| (channel.clone(), *n))
        .collect();
    synced.subscribed = needed.into_keys().collect();
    subscribed(state, synced);
    Ok(true)
}

/// Ends the history in Redis of each room this node recorded alone while
/// Redis was out of reach: it misses those messages. The next record makes
/// a new epoch, and a resume from before is told `epoch_changed`.
async fn converge(state: &State, local: &Local, conn: &mut Conn) -> redis::RedisResult<()> {
    let diverged = local.diverged();
    if diverged.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for room in &diverged {
        pipe.cmd("DEL")
            .arg(state.names.history(room).epoch)
            .ignore();
    }
    pipe.exec_async(conn).await?;
    local.converged(&diverged);
    Ok(())
}

/// Handles a batch of changed channels in one pipeline. `Ok(false)` once the
/// manager is gone.
async fn apply(
    state: &State,
    local: &Local,
    conn: &mut Conn,
    synced: &mut Synced,
    batch: HashSet<Channel>,
) -> redis::RedisResult<bool> {
    let (subscribe, unsubscribe, _) = commands(state.sharded().unwrap_or(true));
    let names = &state.names;
    let key = names.presence(state.shared.node);
    let mut pipe = redis::pipe();
    let mut dropped = Vec::new();
    let mut counts = Vec::new();
    for channel in batch {
        let Some(n) = local.size(&channel) else {
            return Ok(false);
        };
        if n > 0 && !synced.subscribed.contains(&channel) {
            pipe.cmd(subscribe).arg(names.channel(&channel)).ignore();
            synced.subscribed.insert(channel.clone());
        } else if n == 0 && synced.subscribed.remove(&channel) {
            pipe.cmd(unsubscribe).arg(names.channel(&channel)).ignore();
            dropped.push(channel.clone());
        }
        if let Channel::Room(room) = &channel {
            let Some(now) = local.presence(room) else {
                return Ok(false);
            };
            write_users(&mut pipe, state, room, now, &mut synced.users);
        }
        if let Some(field) = Names::field(&channel) {
            let written = synced.presence.get(&channel).copied().unwrap_or(0);
            if written != n {
                if n > 0 {
                    counts.push((field, n));
                    synced.presence.insert(channel, n);
                } else {
                    pipe.cmd("HDEL").arg(&key).arg(field).ignore();
                    synced.presence.remove(&channel);
                }
            }
        }
    }
    if !counts.is_empty() {
        // Expiring from this write: it may be the hash's first.
        presence::expiring(&mut pipe, &key, state.presence_ttl, |pipe| {
            pipe.cmd("HSET").arg(&key);
            for (field, n) in &counts {
                pipe.arg(field).arg(n);
            }
            pipe.ignore();
        });
    }
    if pipe.is_empty() {
        return Ok(true);
    }
    if let Err(error) = pipe.exec_async(conn).await {
        // Unknown whether they went through: the resync unsubscribes again.
        synced.subscribed.extend(dropped);
        return Err(error);
    }
    subscribed(state, synced);
    Ok(true)
}

fn subscribed(state: &State, synced: &Synced) {
    let n = synced.subscribed.len();
    state
        .channels
        .store(n, std::sync::atomic::Ordering::Relaxed);
    state.shared.channels(n);
    if state.history.is_some() {
        let mut listening = state.listening.lock();
        listening.client = synced.client;
        listening.channels.clone_from(&synced.subscribed);
        drop(listening);
        state.listening_changed.notify_waiters();
    }
}
