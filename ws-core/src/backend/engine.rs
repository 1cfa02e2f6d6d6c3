//! The engine contract: what the runtime asks of whatever joins several
//! nodes into one (Redis, NATS JetStream), and what it may count on in return.
//!
//! The runtime reaches an engine only through [`Engine`] (downwards, held
//! in a [`Link`](super::Link)), and an engine reaches the runtime only
//! through [`Node`](super::Node) (upwards, held weakly in a
//! [`Local`](super::Local)). Everything in this file, and every engine,
//! compiles only with an engine's cargo feature.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{BackendError, BackendStatus, Channel, Entry, Outbox};
use crate::config::Config;
use crate::wire::Wire;

/// A cluster engine, as the runtime uses it: fan-out to rooms, users and
/// everyone, the rooms' histories, presence, and leaving the cluster.
///
/// # Fan-out
/// A send to a room, a user or everyone is delivered to this node's members
/// by the runtime itself, then handed to [`Engine::publish`] as the
/// complete WebSocket frame its members got. The engine carries it to every
/// other node with members of the target, where it goes to
/// [`Node::deliver`](super::Node::deliver); never back to the node that
/// published it. The same holds for a close frame: it closes the
/// recipients on the other nodes (a kick across nodes); and for a
/// membership frame (opcode `0x3`, see `wire/membership.rs`): it makes the
/// recipients on the other nodes leave or join a room
/// ([`Broadcast::leave`](crate::Broadcast::leave),
/// [`Broadcast::join`](crate::Broadcast::join)). An engine carries all
/// three alike, as the bytes it was handed, under the same order; the
/// envelope (`envelope::read`) accepts them, and `Node::deliver` tells them
/// apart, so an engine needs no code of its own for either.
/// - **Never blocks**: `publish` queues and returns. It is refused, and
///   counted in [`BackendStatus::publish_failed`], when the engine is down
///   ([`BackendError::Unavailable`]) or its queue is full
///   ([`BackendError::Overloaded`]); the local delivery stands either way.
/// - **Order**: per target and per sending node, the other nodes deliver in
///   publish order.
/// - **At most once**: a message lost with the connection is not retried
///   (a retry could deliver it twice). What must not be lost goes through
///   the history.
/// - **Listening**: a node receives a room's or a user's messages while it
///   has members of it, and everyone's while it has any connection. The
///   registry tells the engine *which* channel changed
///   ([`Engine::changed`]); the engine reads the size itself through
///   [`Local`](super::Local), so racing changes cannot leave it stale.
///
/// # History
/// With `history` on, the rooms' histories live in the engine.
/// - **Append is atomic with publish**: [`Engine::record`] gives the
///   message its room's next offset, keeps it and publishes it in one step,
///   so no node sees an offset the history lacks, nor a kept message that
///   was not published. Offsets grow by exactly 1 per message of a room.
/// - **Every node delivers from the engine**, this one too, through
///   [`Node::deliver_recorded`](super::Node::deliver_recorded), in offset
///   order: offsets agree across nodes.
/// - **Epoch**: the name of one history of a room. It changes only when
///   that history is lost (the engine's data was lost, or a node recorded
///   alone; see below), never by trimming.
/// - **Read from a position** ([`Engine::read`]): answered only once this
///   node listens to the room on the connection the read used, so every
///   message after the answer's head arrives by `deliver_recorded` after
///   the answer: a resume has no gap between the read and the live fan-out.
/// - **A record that fails** (engine down, or the append not known to have
///   run) is not lost silently: the engine hands it back through
///   [`Node::record_alone`](super::Node::record_alone), and the node
///   records and delivers it under an epoch of its own. Once the engine is
///   back, it ends the history of each room in
///   [`Node::diverged`](super::Node::diverged) (a resume from before is
///   told `epoch_changed`) and reports
///   [`Node::converged`](super::Node::converged).
///
/// # Presence
/// Each node's local counts and users are kept in the engine with a TTL
/// that the node refreshes while it lives: a node that dies without a word
/// drops out of every count within the TTL. A query sums the live nodes;
/// this node's part is passed in (`here`), counted at once rather than read
/// back a round trip later.
///
/// A user's [`Entry`] carries the presence metas (JSON text, at most
/// `max_presence_meta` bytes each, compact: no raw newline) of each of
/// its connections that set one, sorted by text. The engine keeps each
/// node's metas per user and room, with the same TTL as its counts, and a
/// listing returns every metas of the user on every live node (this
/// node's from `here`), merged and sorted by text: not the metas of one
/// node. A node writes its copy again whenever a meta changes (the
/// registry reports it as a change of the room), so a listing on another
/// node shows an update a round trip later, and the presence events
/// there report it as [`PresenceDiff::updated`](crate::presence::PresenceDiff::updated).
///
/// # A lost connection
/// [`Engine::is_up`] turns false at once, and sends are refused from then
/// on (see above). The engine reconnects with backoff, listens again to
/// exactly the channels needed then, rewrites this node's presence, handles
/// the diverged rooms, and only then counts as up. What was recorded in the
/// cluster meanwhile never reached this node, so it calls
/// [`Node::interrupted`](super::Node::interrupted): the members of rooms
/// whose history is the cluster's are closed with 1013, and their resume
/// recovers what they missed.
///
/// # Leaving
/// [`Engine::close`] withdraws this node's presence and stops the engine's
/// tasks; so does the manager going away (the tasks hold it weakly, and end
/// once [`Local::is_alive`](super::Local::is_alive) is false).
pub(crate) trait Engine: Send + Sync {
    /// The queues to the engine's tasks, which the calls below that never
    /// block fill (see `outbox.rs`).
    fn outbox(&self) -> &Outbox;

    /// The local membership of `channel` changed: the engine brings what
    /// it listens to (and this node's presence) in line with the registry.
    fn changed(&self, channel: Channel) {
        self.outbox().changed(channel);
    }

    /// Queues `wire`, a complete frame, for the other nodes' members of
    /// `channel` but those of `except_rooms`.
    fn publish(
        &self,
        channel: Channel,
        wire: &Wire,
        except_rooms: &[&str],
    ) -> Result<(), BackendError> {
        self.outbox().publish(channel, wire, except_rooms)
    }

    /// Whether the rooms' histories live in the engine.
    fn keeps_history(&self) -> bool;

    /// Connected, and listening to every channel this node needs.
    fn is_up(&self) -> bool {
        self.outbox().is_up()
    }

    /// Queues the JSON `body` of a message for `room`'s history: it is
    /// given its offset, kept and published in one step, and delivered to
    /// every node, this one too.
    fn record(&self, room: &str, body: Wire) -> Result<(), BackendError> {
        self.outbox().record(room, body)
    }

    /// Answers a resume of `room` from `since` (epoch, offset) with at most
    /// `max` messages, once this node listens to the room.
    fn read(
        &self,
        room: std::sync::Arc<str>,
        since: Option<(String, u64)>,
        max: usize,
    ) -> BoxFuture<'static, Result<Read, BackendError>>;

    /// Connections in `channel`'s room or user across the cluster, of which
    /// `here` on this node.
    fn count(
        &self,
        channel: Channel,
        here: usize,
    ) -> BoxFuture<'static, Result<usize, BackendError>>;

    /// Every user in `room` on every live node, by name, with their
    /// connections summed and their metas of every node merged (sorted by
    /// text); this node's users are `here`.
    fn presence(
        &self,
        room: std::sync::Arc<str>,
        here: Vec<Entry>,
    ) -> BoxFuture<'static, Result<Vec<Entry>, BackendError>>;

    /// Health and counters.
    fn status(&self) -> BackendStatus;

    /// Leaves the cluster: withdraws this node's presence, stops the tasks.
    fn close(&self) -> BoxFuture<'static, ()>;
}

/// The bounds of a room's history kept by an engine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryBounds {
    /// Messages kept at least.
    pub(crate) count: usize,
    /// How long a message is kept at most.
    pub(crate) ttl: Option<Duration>,
}

impl HistoryBounds {
    /// The bounds `config` asks for; `None` when history is off.
    pub(crate) fn of(config: &Config) -> Option<Self> {
        (config.history() > 0).then(|| HistoryBounds {
            count: config.history(),
            ttl: config.history_ttl(),
        })
    }
}

/// An engine's answer to a resume: the room's epoch and latest offset, and
/// what follows.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Read {
    pub(crate) epoch: String,
    pub(crate) head: u64,
    pub(crate) outcome: Outcome,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No position was given.
    Fresh,
    /// The bodies (JSON, not stamped) of the messages after the position,
    /// in offset order.
    Recovered(Vec<Vec<u8>>),
    EpochChanged,
    TooFarBehind,
}
