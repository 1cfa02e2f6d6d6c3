//! Delivery guarantees: a bounded history per room, stream offsets and
//! epochs, and recovery after a reconnect.
//!
//! Without history, delivery is at most once: a message sent while a client
//! is away is gone, and nobody is told. With `history = N` in
//! `#[ws_protocol(...)]` (see [`Config::with_history`](crate::Config::with_history)),
//! every room keeps its last messages of the variants marked
//! `#[ws(server, history)]`, and each of them carries its place in the
//! room's stream beside its tag:
//!
//! ```text
//! {"type":"said","room":"lobby","text":"hi","from":"ann","epoch":"9f2c41d07a3b6e58-1","offset":42}
//! ```
//!
//! - `offset` grows by exactly 1 per recorded message of the room, and every
//!   member sees offsets in order (the offset is assigned, the message
//!   recorded and queued for the members under one lock).
//! - `epoch` names the history the offsets count in. It changes only when
//!   that history is lost: the process restarted, or the room's history was
//!   dropped to make room for another (`history_streams`), or for newer
//!   messages when the room has not been written to since before the node's
//!   oldest kept message (`history_memory`). Trimming keeps it.
//!
//! A client that comes back joins with the position it last processed
//! ([`Ctx::join_from`](crate::Ctx::join_from)). If the room still holds every
//! later message, it is answered `recovered` and gets them all, in order,
//! then the live messages, with no gap and no duplicate, including what is
//! published while the replay runs. Otherwise it is told why
//! ([`Unrecovered`]) and gets live messages from the room's current offset,
//! so the application can reload its state.
//!
//! # Where it applies, and why
//! Per server variant (`#[ws(server, history)]`) for every room, bounded per
//! room and per node. A variant is the unit the schema can describe: the
//! documents say exactly which messages carry `epoch` and `offset`. Rooms
//! are created by name at run time, so opting rooms in one by one would need
//! a registry of names the schema cannot see; the bounds make keeping every
//! room's history safe instead: per room by count (`history`), age
//! (`history_ttl`) and bytes (`history_bytes`), per node by bytes
//! (`history_memory`, the oldest messages of any room go first) and rooms
//! (`history_streams`).
//!
//! # What `history_memory` counts
//! What the node holds for history, not only the messages' bytes: each
//! frame's allocation (allocated once at its size, with room for its
//! stamp), 48 bytes of bookkeeping per message, and per room its log, its
//! name, its epoch, its slots for messages and its keys in the indexes
//! (about 670 bytes and the name). Rooms count as messages do: a room not
//! written to since before the node's oldest kept message goes before that
//! message, its epoch with it. Beside the cap, the buffers of frames pushed
//! out that nothing else holds are kept, up to an 8th of it, for the next
//! frames: memory that cycles through the history stays with it instead of
//! going back to the allocator of whichever thread freed it (glibc keeps
//! freed memory per thread arena, and the recording thread changes). What
//! the process's RSS shows beyond that is the allocator's: the figures are
//! in BENCHMARKS.md ("History memory").
//!
//! # Replay
//! The replay is paced by the connection's writer: a batch of at most a
//! quarter of the send queue is queued whenever the queue has drained to a
//! quarter, so a replay never fills the queue, never triggers the overflow
//! policy, and a client that reads is never evicted for it. The connection
//! joins the room's live fan-out only once the replay has caught up with the
//! room (under the same lock that assigns offsets), so live messages sent
//! during the replay are delivered by the replay, after what came before
//! them. A replay overtaken by trimming (a client reading slower than the
//! room is written, for longer than the history lasts) ends the connection
//! with close 1013 ("history overtook the replay; resume again"); its next
//! resume is answered `too_far_behind`. A replay that has caught up with a
//! Redis history but that this node's live fan-out does not reach within
//! 5 s (its subscription lags) is closed with 1013 too, with its own reason
//! ("live delivery on this node did not catch up with the replay within
//! 5 s; resume again"): nothing was trimmed, and the next resume is
//! answered as any is.
//!
//! # Across nodes
//! With the Redis backend, the rooms' histories live in Redis (see the
//! backend's `history` module): a recorded message gets its offset from
//! Redis and is recorded in a Redis Stream and published, in one script;
//! every node, the sending one too, delivers it as Redis published it, so
//! offsets agree across nodes and come in order. A resume reads the stream,
//! so a client recovers the same on any node; the read is made once this
//! node listens to the room on the connection it reads on. While Redis is
//! unreachable (for more than the 1 s a resume waits for a reconnect), a
//! node records and delivers locally under an epoch of its own, and a
//! resume from the cluster's epoch is answered `epoch_changed`. Once a
//! node's lost connection is back, the members of its rooms with a cluster
//! history (who may have missed what was recorded meanwhile) are closed
//! with 1013, "this node's feed from the engine was interrupted; resume again".
//!
//! # Not covered (yet)
//! Messages sent with `to_user`, `to_all` or to one connection are not
//! recorded.

mod catch_up;
#[cfg(feature = "engine")]
mod cluster;
mod store;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::JoinError;
use crate::registry::{Conn, Registry};

pub(crate) use store::History;

/// A client's place in a room's stream: the epoch of the history it read,
/// and the offset of the last message it processed.
///
/// ```
/// # use ws_core::history::Position;
/// let since: Position = serde_json::from_str(r#"{"epoch":"9f2c-1","offset":42}"#).unwrap();
/// assert_eq!(since, Position { epoch: "9f2c-1".into(), offset: 42 });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
// The doc above, doctest included, is for Rust readers; the exported
// documents (schema, AsyncAPI, TypeScript) get this.
#[schemars(
    description = "A client's place in a room's stream: the epoch of the history it read, and the offset of the last message it processed."
)]
pub struct Position {
    /// The `epoch` of the messages the client read.
    pub epoch: String,
    /// The `offset` of the last message it processed.
    pub offset: u64,
}

/// Why a resume could not replay what the client missed.
///
/// ```
/// # use ws_core::history::Unrecovered;
/// assert_eq!(Unrecovered::TooFarBehind.as_str(), "too_far_behind");
/// assert_eq!(serde_json::to_string(&Unrecovered::EpochChanged).unwrap(), r#""epoch_changed""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(description = "Why a resume could not replay what the client missed.")]
pub enum Unrecovered {
    /// The history the position counts in is gone: the server restarted, or
    /// the room's history was dropped (`history_streams`, `history_memory`),
    /// or the position
    /// is one this history never reached.
    EpochChanged,
    /// Messages after the position were trimmed by count or bytes
    /// (`history`, `history_bytes`, `history_memory`), or history is off.
    TooFarBehind,
    /// Messages after the position were older than `history_ttl`.
    Expired,
}

impl Unrecovered {
    /// The reason as it goes on the wire: `epoch_changed`, `too_far_behind`
    /// or `expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unrecovered::EpochChanged => "epoch_changed",
            Unrecovered::TooFarBehind => "too_far_behind",
            Unrecovered::Expired => "expired",
        }
    }
}

impl fmt::Display for Unrecovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to a join: where the room's stream is, and whether what the
/// client missed will be replayed.
///
/// The messages that follow the answer on the connection start at offset
/// [`offset`](Self::offset)` + 1` when [`recovered`](Self::recovered), and
/// otherwise at the first message published after the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resume {
    /// The room's epoch; empty when history is off.
    pub epoch: Arc<str>,
    /// The room's latest offset (0 before its first recorded message, and
    /// when history is off).
    pub offset: u64,
    /// Whether every message after the client's position follows.
    pub recovered: bool,
    /// Why not, when a position was given and could not be resumed.
    pub reason: Option<Unrecovered>,
}

/// A join whose answer is known and whose replay has not begun; made by
/// [`Ctx::join_from`](crate::Ctx::join_from).
///
/// Queue the answer with [`Ctx::send`](crate::Ctx::send), then drop it: the replay starts when it
/// is dropped, so the answer reaches the client before the replayed frames.
#[must_use = "the replay starts when the `Joining` is dropped; send the answer first"]
pub struct Joining {
    resume: Resume,
    pending: Option<catch_up::CatchUp>,
}

impl Joining {
    pub(crate) fn new(resume: Resume, pending: Option<catch_up::CatchUp>) -> Self {
        Self { resume, pending }
    }

    /// Where the room is, and whether the client's messages will be replayed.
    pub fn resume(&self) -> &Resume {
        &self.resume
    }
}

impl Drop for Joining {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.start();
        }
    }
}

impl fmt::Debug for Joining {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joining")
            .field("resume", &self.resume)
            .finish()
    }
}

/// Joins `conn` to `room` from `since`: the answer, and the replay (or the
/// join) to run once the answer is queued.
pub(crate) async fn join_from(
    history: Option<&Arc<History>>,
    registry: &Arc<Registry>,
    conn: &Arc<Conn>,
    room: &str,
    since: Option<&Position>,
) -> Result<Joining, JoinError> {
    #[cfg(feature = "engine")]
    if let (Some(history), Some(link)) = (history, registry.backend())
        && link.keeps_history()
    {
        if link.records_within(UP_WAIT).await {
            return cluster::join_from(history, link, registry, conn, room, since).await;
        }
        // Out of reach: this node's copy of the cluster's history misses
        // what other nodes record meanwhile, so it is no ground for a
        // resume; only what this node records alone (its own epoch) is.
        if history.is_remote(room) {
            let since = since.map(|p| Position {
                epoch: String::new(),
                offset: p.offset,
            });
            return local_join(history, registry, conn, room, since.as_ref());
        }
    }
    let Some(history) = history else {
        registry.join(conn, room)?;
        let resume = Resume {
            epoch: Arc::from(""),
            offset: 0,
            recovered: false,
            reason: since.map(|_| Unrecovered::TooFarBehind),
        };
        return Ok(Joining::new(resume, None));
    };
    local_join(history, registry, conn, room, since)
}

/// How long a resume waits for a cluster backend that is reconnecting
/// before it is answered from this node alone.
#[cfg(feature = "engine")]
const UP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A resuming join answered from this node's own history.
fn local_join(
    history: &Arc<History>,
    registry: &Arc<Registry>,
    conn: &Arc<Conn>,
    room: &str,
    since: Option<&Position>,
) -> Result<Joining, JoinError> {
    let member = is_member(registry, conn, room)?;
    let (resume, cursor) = history.resume(room, since);
    if member {
        let resume = Resume {
            recovered: false,
            ..resume
        };
        return Ok(Joining::new(resume, None));
    }
    join_held(history, registry, conn, room)?;
    let pending = catch_up(history, registry, conn, room, &resume.epoch, cursor);
    Ok(Joining::new(resume, Some(pending)))
}

/// Whether `conn` is live in `room` already (a resume then has nothing to
/// replay, and nothing to repeat), once it may join it.
fn is_member(registry: &Registry, conn: &Conn, room: &str) -> Result<bool, JoinError> {
    registry.check_join(conn, room)?;
    Ok(conn.membership.lock().rooms().iter().any(|r| &**r == room))
}

/// Makes `conn` a member of `room` at once (in presence, for the answer and
/// the handler), its recorded messages held back until its replay has
/// caught up: whatever is recorded from the answer on comes by the replay,
/// after it.
fn join_held(
    history: &History,
    registry: &Registry,
    conn: &Arc<Conn>,
    room: &str,
) -> Result<(), JoinError> {
    history.hold(room, conn.id);
    if let Err(error) = registry.join(conn, room) {
        history.release(room, conn.id);
        return Err(error);
    }
    Ok(())
}

/// The replay of `room` under `epoch` after `cursor` for `conn`, a member
/// held by [`join_held`]; it starts once the answer is queued.
fn catch_up(
    history: &Arc<History>,
    registry: &Arc<Registry>,
    conn: &Arc<Conn>,
    room: &str,
    epoch: &Arc<str>,
    cursor: u64,
) -> catch_up::CatchUp {
    catch_up::CatchUp {
        history: Arc::clone(history),
        registry: Arc::clone(registry),
        conn: Arc::clone(conn),
        room: Arc::from(room),
        epoch: Arc::clone(epoch),
        cursor,
        held: true,
    }
}

/// The store's bounds, read once from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) count: usize,
    pub(crate) ttl: Option<std::time::Duration>,
    pub(crate) stream_bytes: usize,
    pub(crate) memory: usize,
    pub(crate) streams: usize,
}

impl Limits {
    pub(crate) fn of(config: &Config) -> Option<Self> {
        (config.history() > 0).then(|| Limits {
            count: config.history(),
            ttl: config.history_ttl(),
            stream_bytes: config.history_bytes(),
            memory: config.history_memory(),
            streams: config.history_streams(),
        })
    }
}
