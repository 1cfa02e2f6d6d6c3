//! Presence: connections per room and per user across the cluster.
//!
//! Each node writes its local counts into its own hash, `presence:{node}`
//! (fields `room:{name}`, `user:{name}`), whenever they change, and keeps
//! its id in the sorted set `nodes` scored by the time its presence expires.
//! The control task refreshes both a few times per TTL; a node that dies
//! stops refreshing, so its score falls behind the clock (it is ignored at
//! once) and its hash expires. A count reads the live nodes, then their
//! fields, in two round trips.
//!
//! Who is in a room: each node also keeps, per room it has users in, a hash
//! `present:{node}:{room}` of user -> `"{connections}"`, then a newline and
//! the JSON of each meta of the user's connections on the node (compact
//! JSON has no raw newline, so it cannot end a meta early), written by the
//! control task when the room changes (only the fields that changed) and
//! expired with the same TTL and heartbeat. A listing reads the live nodes,
//! then each one's hash of the room, in two round trips, sums a user's
//! connections over the nodes and merges its metas (sorted by text). A
//! value of an older node, `"{connections} {info JSON}"`, reads as one meta.

use std::time::Duration;

use super::Names;
use super::conn::Conn;
use std::sync::Arc;

use crate::backend::{BackendError, Channel, Entry, merge_entries, now_micros};

/// Milliseconds since the Unix epoch.
pub(super) fn now_millis() -> u64 {
    now_micros() / 1000
}

/// Adds to `pipe` the commands `write` adds, then `PEXPIRE key ttl`, as one
/// transaction: a key this node writes has its expiry from its first
/// write, even if the node dies (or its connection drops) between the two.
pub(super) fn expiring(
    pipe: &mut redis::Pipeline,
    key: &str,
    ttl: Duration,
    write: impl FnOnce(&mut redis::Pipeline),
) {
    pipe.cmd("MULTI").ignore();
    write(pipe);
    pipe.cmd("PEXPIRE")
        .arg(key)
        .arg(ttl.as_millis() as u64)
        .ignore();
    pipe.cmd("EXEC").ignore();
}

/// Adds this node's refresh to `pipe`: alive until now + `ttl`; nodes
/// whose time has passed are removed. One transaction, so the set of nodes
/// has its expiry from its first write.
pub(super) fn refresh(pipe: &mut redis::Pipeline, names: &Names, node: u64, ttl: Duration) {
    let now = now_millis();
    let ttl = ttl.as_millis() as u64;
    pipe.cmd("MULTI").ignore();
    pipe.cmd("ZADD")
        .arg(names.nodes())
        .arg(now + ttl)
        .arg(node)
        .ignore();
    pipe.cmd("PEXPIRE")
        .arg(names.presence(node))
        .arg(ttl)
        .ignore();
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(names.nodes())
        .arg("-inf")
        .arg(now)
        .ignore();
    // The sorted set lives as long as some node refreshes it.
    pipe.cmd("PEXPIRE").arg(names.nodes()).arg(ttl).ignore();
    pipe.cmd("EXEC").ignore();
}

/// The live nodes but `node` (this one: it answers for itself).
async fn others(conn: &mut Conn, names: &Names, node: u64) -> Result<Vec<u64>, BackendError> {
    let mut nodes: Vec<u64> = redis::cmd("ZRANGEBYSCORE")
        .arg(names.nodes())
        .arg(now_millis())
        .arg("+inf")
        .query_async(conn)
        .await
        .map_err(|error| BackendError::Failed(Box::new(error)))?;
    nodes.retain(|&other| other != node);
    Ok(nodes)
}

/// Connections in `channel`'s room or user on every live node but `node`.
pub(super) async fn count(
    mut conn: Conn,
    names: &Names,
    node: u64,
    channel: &Channel,
) -> Result<usize, BackendError> {
    let failed = |error: redis::RedisError| BackendError::Failed(Box::new(error));
    let Some(field) = Names::field(channel) else {
        return Ok(0);
    };
    let nodes = others(&mut conn, names, node).await?;
    if nodes.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for node in &nodes {
        pipe.cmd("HGET").arg(names.presence(*node)).arg(&field);
    }
    let counts: Vec<Option<usize>> = pipe.query_async(&mut conn).await.map_err(failed)?;
    Ok(counts.into_iter().flatten().sum())
}

/// Removes this node's presence (an orderly exit).
pub(super) async fn withdraw(mut conn: Conn, names: &Names, node: u64) {
    let mut pipe = redis::pipe();
    pipe.cmd("DEL").arg(names.presence(node)).ignore();
    pipe.cmd("ZREM").arg(names.nodes()).arg(node).ignore();
    let done = tokio::time::timeout(Duration::from_secs(1), pipe.exec_async(&mut conn)).await;
    if !matches!(done, Ok(Ok(()))) {
        tracing::debug!("redis backend: presence not withdrawn; it expires by itself");
    }
}

/// The value of a user's field in a node's copy of a room.
pub(super) fn value(connections: usize, metas: &[Arc<str>]) -> String {
    let mut value = connections.to_string();
    for meta in metas {
        value.push('\n');
        value.push_str(meta);
    }
    value
}

/// A user's connections and metas from a node's copy; `None` if malformed.
fn parse(value: &str) -> Option<(usize, Vec<&str>)> {
    let mut lines = value.split('\n');
    let first = lines.next()?;
    if let Some((n, info)) = first.split_once(' ') {
        // An older node's `"{connections} {info}"`.
        return Some((n.parse().ok()?, vec![info]));
    }
    Some((first.parse().ok()?, lines.collect()))
}

/// Every user of `room` on every live node, by name: `here` for `node`
/// (this one), the copies in Redis for the others.
pub(super) async fn users(
    mut conn: Conn,
    names: &Names,
    node: u64,
    room: &str,
    here: Vec<Entry>,
) -> Result<Vec<Entry>, BackendError> {
    let failed = |error: redis::RedisError| BackendError::Failed(Box::new(error));
    let nodes = others(&mut conn, names, node).await?;
    let copies: Vec<Vec<(String, String)>> = if nodes.is_empty() {
        Vec::new()
    } else {
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.cmd("HGETALL").arg(names.present(*node, room));
        }
        pipe.query_async(&mut conn).await.map_err(failed)?
    };
    let others = copies.into_iter().flatten().filter_map(|(user, value)| {
        let (n, metas) = parse(&value)?;
        let metas: Vec<Arc<str>> = metas.into_iter().map(Arc::from).collect();
        Some((user, n, metas))
    });
    Ok(merge_entries(here, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_holds_the_connections_and_every_meta() {
        let metas: Vec<Arc<str>> = vec![Arc::from(r#"{"a":"x y"}"#), Arc::from("[1,2]")];
        let text = value(2, &metas);
        assert_eq!(parse(&text), Some((2, vec![r#"{"a":"x y"}"#, "[1,2]"])));
        assert_eq!(parse(&value(3, &[])), Some((3, vec![])));
        assert_eq!(
            parse(r#"1 {"old":true}"#),
            Some((1, vec![r#"{"old":true}"#]))
        );
        assert_eq!(parse("x"), None);
    }
}
