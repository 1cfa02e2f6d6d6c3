//! Keeps NATS in line with the registry: a subscription (and its
//! [`receiver`](super::receiver) task) per channel with local members, and
//! this node's presence; and follows the client's connection events.
//!
//! The client reconnects by itself, and subscribes again to every subject
//! it had. What was published while it was away never reached this node,
//! so on `Connected` after a loss the control task resyncs (the channels
//! needed now, confirmed by a round trip through the server; the presence
//! bucket, made again if the server lost it, and this node's entries
//! rewritten; the rooms recorded alone ended), and only then counts as up
//! and calls
//! [`Node::interrupted`](crate::backend::Node::interrupted).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Event;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

use super::{Listening, Names, State, history, presence, receiver};
use crate::backend::{BackendError, Channel, Local};

pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Changes handled per round at most.
const BATCH: usize = 4096;

/// What this node has asked of NATS.
#[derive(Default)]
struct Synced {
    /// The receiver task of each subscription; aborting it drops the
    /// subscription, which unsubscribes.
    subscribed: HashMap<Channel, AbortHandle>,
}

impl Drop for Synced {
    fn drop(&mut self) {
        for task in self.subscribed.values() {
            task.abort();
        }
    }
}

pub(super) async fn run(
    state: &Arc<State>,
    local: &Local,
    mut changes: UnboundedReceiver<Channel>,
    mut events: UnboundedReceiver<Event>,
) {
    let mut synced = Synced::default();
    let mut ever_up = false;
    let mut resync_due = state.nats().is_some_and(|nats| {
        nats.client.connection_state() == async_nats::connection::State::Connected
    });
    let mut backoff = FIRST_BACKOFF;
    let mut beat = tokio::time::interval(state.presence_ttl / 3);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if resync_due {
            // Whatever was queued so far, the resync covers.
            while changes.try_recv().is_ok() {}
            let resynced = tokio::select! {
                () = state.stop.cancelled() => return,
                resynced = resync(state, local, &mut synced) => resynced,
            };
            match resynced {
                Ok(true) => {
                    resync_due = false;
                    backoff = FIRST_BACKOFF;
                    state.shared.set_up(true, ever_up);
                    if ever_up {
                        // Back after a loss: what was recorded meanwhile
                        // never reached this node's members.
                        local.interrupted();
                        tracing::warn!(
                            channels = synced.subscribed.len(),
                            "nats backend: reconnected"
                        );
                    }
                    ever_up = true;
                    beat.reset();
                }
                Ok(false) => return, // the manager is gone
                Err(error) => {
                    tracing::warn!(%error, "nats backend: resync failed; retrying");
                    tokio::select! {
                        () = state.stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
        tokio::select! {
            () = state.stop.cancelled() => return,
            event = events.recv() => match event {
                // Back after a loss (the first connection included); a
                // `Connected` the start already saw is no news.
                Some(Event::Connected) => resync_due |= !state.shared.is_up(),
                Some(Event::Disconnected) => {
                    tracing::warn!("nats backend: disconnected; the client reconnects");
                    state.lose();
                }
                Some(Event::Closed) | None => {
                    state.lose();
                    return;
                }
                Some(other) => tracing::debug!(%other, "nats backend: event"),
            },
            () = state.shared.lost.notified() => {
                // A task lost track (a record or a read of a stream
                // failed): resynced, the members resume.
                state.lose();
                resync_due = true;
            }
            change = changes.recv() => {
                let Some(first) = change else { return };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match changes.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                if !state.shared.is_up() {
                    // Not connected: the resync on `Connected` covers it.
                    continue;
                }
                match apply(state, local, &mut synced, batch).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => tracing::warn!(%error, "nats backend: update failed"),
                }
            }
            _ = beat.tick() => {
                if !local.is_alive() {
                    return;
                }
                if state.shared.is_up() {
                    let beat = async {
                        presence::refresh(state).await?;
                        // A send that found the backend down just as it
                        // came back up recorded alone: handled within a
                        // beat.
                        converge(state, local).await
                    };
                    if let Err(error) = beat.await {
                        tracing::warn!(%error, "nats backend: heartbeat failed");
                    }
                }
            }
        }
    }
}

/// Subscribes to `channel`, with its receiver task.
async fn subscribe(
    state: &Arc<State>,
    local: &Local,
    synced: &mut Synced,
    channel: &Channel,
) -> Result<(), BackendError> {
    let nats = state.nats().ok_or(BackendError::Unavailable)?;
    let sub = nats
        .client
        .subscribe(state.names.subject(channel))
        .await
        .map_err(|error| BackendError::Failed(Box::new(error)))?;
    let task = tokio::spawn(receiver::run(
        Arc::clone(state),
        local.clone(),
        channel.clone(),
        sub,
    ));
    synced
        .subscribed
        .insert(channel.clone(), task.abort_handle());
    Ok(())
}

/// The presence entries of `channel` on this node now: its count's key and
/// value, and for a room who is in it; `None` values delete.
fn entries(
    state: &State,
    local: &Local,
    channel: &Channel,
    n: usize,
) -> Option<Vec<(String, Option<Bytes>)>> {
    let node = state.shared.node.to_string();
    let mut out = Vec::new();
    if let Some(key) = Names::count_key(channel, &node) {
        out.push((key, (n > 0).then(|| Bytes::from(n.to_string()))));
    }
    if let Channel::Room(room) = channel {
        let now = local.presence(room)?;
        let value = (!now.is_empty()).then(|| presence::users_value(&now));
        out.push((Names::users_key(room, &node), value));
    }
    Some(out)
}

/// Brings a (new) connection in line with the registry: subscriptions,
/// presence (the bucket made again if need be, every entry rewritten),
/// the rooms recorded alone. `Ok(false)` once the manager is gone.
async fn resync(
    state: &Arc<State>,
    local: &Local,
    synced: &mut Synced,
) -> Result<bool, BackendError> {
    let nats = state.nats().ok_or(BackendError::Unavailable)?;
    let Some(needed) = local.channels() else {
        return Ok(false);
    };
    let needed: HashMap<Channel, usize> = needed.into_iter().collect();
    synced.subscribed.retain(|channel, task| {
        let keep = needed.contains_key(channel) && !task.is_finished();
        if !keep {
            task.abort();
        }
        keep
    });
    for channel in needed.keys() {
        if !synced.subscribed.contains_key(channel) {
            subscribe(state, local, synced, channel).await?;
        }
    }
    // The server has every subscription once it answers this.
    round_trip(state).await?;
    presence::bucket(state, &nats).await?;
    let mut now: HashMap<String, Option<Bytes>> = state
        .entries
        .lock()
        .keys()
        .map(|key| (key.clone(), None))
        .collect();
    for (channel, n) in &needed {
        let Some(entries) = entries(state, local, channel, *n) else {
            return Ok(false);
        };
        now.extend(entries);
    }
    presence::write(state, now.into_iter().collect()).await?;
    converge(state, local).await?;
    listen(state, synced);
    Ok(true)
}

/// Ends the history in NATS of each room this node recorded alone while
/// NATS was out of reach: the next record or read makes a new epoch.
async fn converge(state: &State, local: &Local) -> Result<(), BackendError> {
    let diverged = local.diverged();
    if diverged.is_empty() || state.history.is_none() {
        return Ok(());
    }
    let nats = state.nats().ok_or(BackendError::Unavailable)?;
    history::end(state, &nats, &diverged).await?;
    local.converged(&diverged);
    Ok(())
}

/// Handles a batch of changed channels. `Ok(false)` once the manager is
/// gone.
async fn apply(
    state: &Arc<State>,
    local: &Local,
    synced: &mut Synced,
    batch: Vec<Channel>,
) -> Result<bool, BackendError> {
    let mut added = false;
    let mut writes = HashMap::new();
    for channel in batch {
        let Some(n) = local.size(&channel) else {
            return Ok(false);
        };
        if n > 0 && !synced.subscribed.contains_key(&channel) {
            subscribe(state, local, synced, &channel).await?;
            added = true;
        } else if n == 0
            && let Some(task) = synced.subscribed.remove(&channel)
        {
            task.abort();
        }
        let Some(entries) = entries(state, local, &channel, n) else {
            return Ok(false);
        };
        writes.extend(entries);
    }
    if added {
        round_trip(state).await?;
    }
    listen(state, synced);
    // Only what changed: a write equal to the last is left out.
    let changed: Vec<(String, Option<Bytes>)> = {
        let written = state.entries.lock();
        writes
            .into_iter()
            .filter(|(key, value)| written.get(key) != value.as_ref())
            .collect()
    };
    presence::write(state, changed).await?;
    Ok(true)
}

/// A round trip through the server on the client's connection: a message
/// to a subject of our own, received back. The server handles a
/// connection's commands in order, so every subscription made before is in
/// force once it arrives. (The client's `flush` only writes out its
/// buffer: it does not wait for the server.)
async fn round_trip(state: &State) -> Result<(), BackendError> {
    let failed = |error: Box<dyn std::error::Error + Send + Sync>| BackendError::Failed(error);
    let nats = state.nats().ok_or(BackendError::Unavailable)?;
    let inbox = nats.client.new_inbox();
    let mut back = nats
        .client
        .subscribe(inbox.clone())
        .await
        .map_err(|error| failed(Box::new(error)))?;
    nats.client
        .publish(inbox, Bytes::new())
        .await
        .map_err(|error| failed(Box::new(error)))?;
    match tokio::time::timeout(state.response_timeout, back.next()).await {
        Ok(Some(_)) => Ok(()),
        _ => Err(BackendError::Unavailable),
    }
}

/// Publishes what is subscribed to (and confirmed) on the current
/// connection, for the reads waiting on it.
fn listen(state: &State, synced: &Synced) {
    let n = synced.subscribed.len();
    state
        .channels
        .store(n, std::sync::atomic::Ordering::Relaxed);
    state.shared.channels(n);
    if state.history.is_some() {
        let generation = state.generation.load(std::sync::atomic::Ordering::Acquire);
        *state.listening.lock() = Listening {
            generation: Some(generation),
            channels: synced.subscribed.keys().cloned().collect(),
        };
        state.listening_changed.notify_waiters();
    }
}
