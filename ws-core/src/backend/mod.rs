//! Backends: where sends to rooms, users and everyone go beyond this process.
//!
//! The **local** backend is the default and is no code at all: the
//! [registry](crate::registry) in memory is the whole truth, and a manager
//! without a backend pays nothing for this module (one `Option` check per
//! send to a room, a user or everyone).
//!
//! A **cluster** backend ([`Backend::redis`], feature `redis`) joins several
//! nodes (processes, machines) into one: a send to a room, a user or everyone
//! is delivered to the local members at once, exactly as on one node, and is
//! also handed to the backend, which publishes it once for the other nodes.
//! Each node listens only to the channels of the rooms and users it has
//! local members of, plus one channel for [`Manager::to_all`](crate::Manager::to_all)
//! while it has any connection. A node ignores what it published itself, so
//! every connection gets each message once.
//!
//! This module is the part every cluster backend shares, whatever carries
//! the messages:
//! - [`Link`], held by the registry and the broadcasts: the registry tells it
//!   which channels changed (a join, a leave, a connect...), a broadcast
//!   gives it the frame to publish; both without blocking and without a lock;
//! - [`Local`], held by the backend's tasks: the node's side, to deliver what
//!   arrived from other nodes and to read which channels are needed now;
//! - the envelope between nodes ([`envelope`]) and the health the backend
//!   reports ([`BackendStatus`]).

// The shared machinery is used only by a cluster transport, and the only
// one (Redis) is a cargo feature.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

#[cfg(feature = "redis")]
mod envelope;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use metrics::{Counter, Gauge, Histogram};
use tokio::sync::{Notify, mpsc};

use crate::delivery::{Delivery, Target};
pub use crate::error::BackendError;
use crate::telemetry::metric;
use crate::wire::Wire;

#[cfg(feature = "redis")]
pub use self::redis::{PubSubMode, RedisBackend};

/// Where a manager's sends go beyond its own process: chosen once, at
/// start-up, with [`ManagerBuilder::backend`](crate::ManagerBuilder::backend).
///
/// ```
/// # use ws_core::{ws_protocol, Backend, Manager};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// // One node: the default, nothing to install.
/// let manager = Manager::<Chat>::builder().backend(Backend::local()).build();
/// assert!(manager.backend_status().is_none());
/// ```
///
/// With the `redis` feature, several nodes share one Redis:
///
/// ```no_run
/// # use ws_core::{ws_protocol, Backend, Manager};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// # #[tokio::main] async fn main() {
/// let manager = Manager::<Chat>::builder()
///     .backend(Backend::redis("redis://127.0.0.1:6379/").expect("a valid URL"))
///     .build(); // inside a Tokio runtime: the backend's tasks start here
/// # }
/// ```
pub struct Backend {
    kind: Kind,
}

enum Kind {
    Local,
    #[cfg(feature = "redis")]
    Redis(Box<RedisBackend>),
}

impl Backend {
    /// This process only: the default.
    pub fn local() -> Self {
        Self { kind: Kind::Local }
    }

    /// Redis pub/sub at `url` (`redis://[user:password@]host[:port][/db]`),
    /// with the defaults of [`RedisBackend`]. Fails only on a malformed URL:
    /// the connection is made, and remade, in the background.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str) -> Result<Self, BackendError> {
        Ok(RedisBackend::new(url)?.into())
    }

    /// Starts the backend for a manager of `protocol`: the link the registry
    /// and the broadcasts use, and the tasks to spawn once the manager exists.
    /// With `history`, the rooms' histories live in the backend.
    pub(crate) fn start(
        self,
        protocol: &'static str,
        history: Option<HistoryBounds>,
    ) -> Option<Started> {
        match self.kind {
            Kind::Local => {
                let _ = (protocol, history);
                None
            }
            #[cfg(feature = "redis")]
            Kind::Redis(redis) => Some(redis.start(protocol, history)),
        }
    }
}

impl Default for Backend {
    fn default() -> Self {
        Self::local()
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Local => f.write_str("Backend::Local"),
            #[cfg(feature = "redis")]
            Kind::Redis(redis) => f.debug_tuple("Backend::Redis").field(redis).finish(),
        }
    }
}

#[cfg(feature = "redis")]
impl From<RedisBackend> for Backend {
    fn from(redis: RedisBackend) -> Self {
        Self {
            kind: Kind::Redis(Box::new(redis)),
        }
    }
}

/// A cluster backend's health and counters, from
/// [`Manager::backend_status`](crate::Manager::backend_status).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendStatus {
    /// This node's id among the nodes sharing the backend.
    pub node: u64,
    /// Connected, and listening to every channel this node needs.
    pub up: bool,
    /// Whether the backend uses sharded pub/sub (Redis 7 `SSUBSCRIBE`); `None`
    /// until the first connection.
    pub sharded: Option<bool>,
    /// Channels listened to now.
    pub channels: usize,
    /// Messages published for other nodes.
    pub published: u64,
    /// Messages that could not be published (backend down, queue full, a
    /// failed publish).
    pub publish_failed: u64,
    /// Messages received from other nodes.
    pub received: u64,
    /// Times the backend lost its connection and restored it.
    pub reconnects: u64,
    /// Publish-to-delivery time of the last message received from another
    /// node (by the nodes' clocks).
    pub lag: Option<Duration>,
}

/// A channel between nodes: everything sent to one room, to one user's
/// connections, or to everyone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Channel {
    Room(Arc<str>),
    User(Arc<str>),
    All,
}

/// A message waiting for the publisher, in the order it was sent.
pub(crate) struct Outgoing {
    pub(crate) channel: Channel,
    /// The complete WebSocket frame, as this node's connections got it.
    pub(crate) wire: Wire,
    /// Rooms whose members are skipped (empty: no allocation).
    pub(crate) except_rooms: Box<[Arc<str>]>,
    /// Microseconds since the Unix epoch when it was sent, for the lag.
    pub(crate) sent_at: u64,
    /// A message for the room's history: `wire` is its JSON body, not yet
    /// stamped; the backend gives it its offset, records and publishes it
    /// in one step, and every node (this one too) delivers it from there.
    pub(crate) recorded: bool,
}

/// The bounds of a room's history kept by a cluster backend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryBounds {
    /// Messages kept at least.
    pub(crate) count: usize,
    /// How long a message is kept at most.
    pub(crate) ttl: Option<Duration>,
}

/// A cluster backend's answer to a resume: the room's epoch and latest
/// offset, and what follows.
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

/// What a started backend gives the manager.
pub(crate) struct Started {
    pub(crate) link: Link,
    /// Spawns the backend's tasks; called once the manager exists.
    pub(crate) spawn: Box<dyn FnOnce(Local) + Send>,
}

/// The transport-specific part of a link: queries and the orderly exit.
pub(crate) trait Remote: Send + Sync {
    /// Connections in `channel`'s room or user across the cluster, of which
    /// `here` on this node (counted by this node, not read back from the
    /// cluster, which learns of a join a round trip later).
    fn count(
        &self,
        channel: Channel,
        here: usize,
    ) -> BoxFuture<'static, Result<usize, BackendError>>;
    /// Every user in `room` on every live node, by name, with their
    /// connections summed and an info; this node's users are `here` (as for
    /// [`Remote::count`]).
    fn presence(
        &self,
        room: Arc<str>,
        here: Vec<Entry>,
    ) -> BoxFuture<'static, Result<Vec<Entry>, BackendError>>;
    /// Leaves the cluster: withdraws this node's presence, stops the tasks.
    fn close(&self) -> BoxFuture<'static, ()>;
    /// See [`BackendStatus::sharded`].
    fn sharded(&self) -> Option<bool>;
    /// See [`BackendStatus::channels`].
    fn channels(&self) -> usize;
    /// Answers a resume of `room` from `since` with at most `max` messages,
    /// once this node listens to the room's channel: every message after
    /// the answer's head arrives on it.
    fn read(
        self: Arc<Self>,
        room: Arc<str>,
        since: Option<(String, u64)>,
        max: usize,
    ) -> BoxFuture<'static, Result<Read, BackendError>>;
}

/// The registry's and the broadcasts' handle on a cluster backend.
pub(crate) struct Link {
    /// Whether the rooms' histories live in the backend.
    keeps_history: bool,
    changes: mpsc::UnboundedSender<Channel>,
    outgoing: mpsc::Sender<Outgoing>,
    shared: Arc<Shared>,
    remote: Arc<dyn Remote>,
}

impl Link {
    pub(crate) fn new(
        keeps_history: bool,
        changes: mpsc::UnboundedSender<Channel>,
        outgoing: mpsc::Sender<Outgoing>,
        shared: Arc<Shared>,
        remote: Arc<dyn Remote>,
    ) -> Self {
        Self {
            keeps_history,
            changes,
            outgoing,
            shared,
            remote,
        }
    }

    /// The local membership of `channel` changed: the backend reconciles its
    /// subscriptions (and presence) with the registry, which it reads itself,
    /// so the order in which racing changes arrive does not matter.
    pub(crate) fn changed(&self, channel: Channel) {
        let _ = self.changes.send(channel);
    }

    /// Hands an encoded frame to the publisher, for the other nodes' members
    /// of `target`. Never blocks; refused when the backend is down or its
    /// queue is full, and counted then.
    pub(crate) fn publish(
        &self,
        target: Target<'_>,
        wire: &Wire,
        except_rooms: &[&str],
    ) -> Result<(), BackendError> {
        let channel = match target {
            Target::Room(room) => Channel::Room(Arc::from(room)),
            Target::User(user) => Channel::User(Arc::from(user)),
            Target::All => Channel::All,
            Target::Conn(_) => return Ok(()),
        };
        if !self.shared.is_up() {
            self.shared.publish_failed(1);
            return Err(BackendError::Unavailable);
        }
        let outgoing = Outgoing {
            channel,
            wire: wire.clone(),
            except_rooms: except_rooms.iter().map(|&room| Arc::from(room)).collect(),
            sent_at: now_micros(),
            recorded: false,
        };
        self.send(outgoing)
    }

    /// Whether the rooms' histories live in the backend.
    pub(crate) fn keeps_history(&self) -> bool {
        self.keeps_history
    }

    /// Whether the backend keeps the rooms' histories, and is up: a
    /// recorded message goes through [`Link::record`] then.
    pub(crate) fn records(&self) -> bool {
        self.keeps_history && self.shared.is_up()
    }

    /// [`Link::records`], once the backend is up or `wait` has passed: a
    /// connection that dropped and is being replaced (a blip) is back
    /// within milliseconds.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster resumes only
    pub(crate) async fn records_within(&self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while self.keeps_history && !self.shared.is_up() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.keeps_history
    }

    /// Hands the JSON `body` of a message for `room`'s history to the
    /// publisher, which records it in the cluster and publishes it to every
    /// node, this one too. Never blocks.
    pub(crate) fn record(&self, room: &str, body: Wire) -> Result<(), BackendError> {
        if !self.shared.is_up() {
            self.shared.publish_failed(1);
            return Err(BackendError::Unavailable);
        }
        self.send(Outgoing {
            channel: Channel::Room(Arc::from(room)),
            wire: body,
            except_rooms: Box::new([]),
            sent_at: now_micros(),
            recorded: true,
        })
    }

    /// See [`Remote::read`].
    pub(crate) fn read(
        &self,
        room: &str,
        since: Option<(String, u64)>,
        max: usize,
    ) -> BoxFuture<'static, Result<Read, BackendError>> {
        Arc::clone(&self.remote).read(Arc::from(room), since, max)
    }

    fn send(&self, outgoing: Outgoing) -> Result<(), BackendError> {
        self.outgoing.try_send(outgoing).map_err(|error| {
            self.shared.publish_failed(1);
            match error {
                mpsc::error::TrySendError::Full(_) => BackendError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => BackendError::Unavailable,
            }
        })
    }

    pub(crate) fn status(&self) -> BackendStatus {
        let shared = &self.shared;
        let lag = shared.last_lag_us.load(Ordering::Relaxed);
        BackendStatus {
            node: shared.node,
            up: shared.is_up(),
            sharded: self.remote.sharded(),
            channels: self.remote.channels(),
            published: shared.published.load(Ordering::Relaxed),
            publish_failed: shared.failed.load(Ordering::Relaxed),
            received: shared.received.load(Ordering::Relaxed),
            reconnects: shared.reconnects.load(Ordering::Relaxed),
            lag: (lag != u64::MAX).then(|| Duration::from_micros(lag)),
        }
    }

    /// See [`Remote::count`].
    pub(crate) fn count(
        &self,
        channel: Channel,
        here: usize,
    ) -> BoxFuture<'static, Result<usize, BackendError>> {
        self.remote.count(channel, here)
    }

    pub(crate) fn close(&self) -> BoxFuture<'static, ()> {
        self.remote.close()
    }

    /// See [`Remote::presence`].
    pub(crate) fn presence(
        &self,
        room: Arc<str>,
        here: Vec<Entry>,
    ) -> BoxFuture<'static, Result<Vec<Entry>, BackendError>> {
        self.remote.presence(room, here)
    }
}

/// A user in a room: name, connections, info (JSON).
pub(crate) type Entry = (Arc<str>, usize, Option<Arc<str>>);

/// State the link and the backend's tasks share: health and counters.
pub(crate) struct Shared {
    pub(crate) node: u64,
    up: AtomicBool,
    /// Notified when a task sees the connection fail; the task that owns
    /// the subscriptions then reconnects and resubscribes.
    pub(crate) lost: Notify,
    published: AtomicU64,
    failed: AtomicU64,
    received: AtomicU64,
    reconnects: AtomicU64,
    /// `u64::MAX` until a message arrives from another node.
    last_lag_us: AtomicU64,
    metrics: Metrics,
}

struct Metrics {
    up: Gauge,
    published: Counter,
    failed: Counter,
    received: Counter,
    reconnects: Counter,
    channels: Gauge,
    lag: Histogram,
}

impl Shared {
    pub(crate) fn new(protocol: &'static str) -> Self {
        let label = ("protocol", protocol);
        Self {
            node: node_id(),
            up: AtomicBool::new(false),
            lost: Notify::new(),
            published: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            last_lag_us: AtomicU64::new(u64::MAX),
            metrics: Metrics {
                up: metrics::gauge!(metric::BACKEND_UP, label.0 => label.1),
                published: metrics::counter!(metric::BACKEND_PUBLISHED, label.0 => label.1),
                failed: metrics::counter!(metric::BACKEND_PUBLISH_FAILED, label.0 => label.1),
                received: metrics::counter!(metric::BACKEND_RECEIVED, label.0 => label.1),
                reconnects: metrics::counter!(metric::BACKEND_RECONNECTS, label.0 => label.1),
                channels: metrics::gauge!(metric::BACKEND_CHANNELS, label.0 => label.1),
                lag: metrics::histogram!(metric::BACKEND_LAG_SECONDS, label.0 => label.1),
            },
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Marks the backend up or down; a return to up after a loss counts as
    /// a reconnect.
    pub(crate) fn set_up(&self, up: bool, after_loss: bool) {
        let was = self.up.swap(up, Ordering::AcqRel);
        if was != up {
            self.metrics.up.set(if up { 1.0 } else { 0.0 });
            if up && after_loss {
                self.reconnects.fetch_add(1, Ordering::Relaxed);
                self.metrics.reconnects.increment(1);
            }
        }
    }

    pub(crate) fn published(&self, n: u64) {
        self.published.fetch_add(n, Ordering::Relaxed);
        self.metrics.published.increment(n);
    }

    pub(crate) fn publish_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
        self.metrics.failed.increment(n);
    }

    /// A message from another node, sent at `sent_at` (µs since the epoch).
    pub(crate) fn received(&self, sent_at: u64) {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.metrics.received.increment(1);
        let lag = now_micros().saturating_sub(sent_at);
        self.last_lag_us.store(lag, Ordering::Relaxed);
        self.metrics.lag.record(lag as f64 / 1e6);
    }

    pub(crate) fn channels(&self, n: usize) {
        self.metrics.channels.set(n as f64);
    }
}

/// The node a backend serves, as the backend's tasks need it: the layer
/// above (the manager) implements it, so that this layer calls up without
/// naming it, as a tokio task calls its scheduler through `task::Schedule`.
pub(crate) trait Node: Send + Sync {
    /// Delivers a frame from another node to the local members of `target`
    /// but those of `except_rooms`.
    fn deliver(&self, target: Target<'_>, wire: &Wire, except_rooms: &[String]) -> Delivery;
    /// Local connections in `channel` now (for `All`: every connection).
    fn size(&self, channel: &Channel) -> usize;
    /// Every channel with local members now, with their sizes.
    fn channels(&self) -> Vec<(Channel, usize)>;
    /// Every user of `room` on this node, by name.
    fn presence(&self, room: &str) -> Vec<Entry>;
    /// Delivers a recorded message of `room` (its JSON `body`, at `offset`
    /// of `epoch`) to the local members, in the order of the offsets.
    fn deliver_recorded(&self, room: &str, epoch: &str, offset: u64, body: &[u8]) -> Delivery;
    /// Records a message of `room` (its JSON `body`) that the backend could
    /// not take on this node alone, and delivers it to the local members.
    fn record_alone(&self, room: &str, body: &[u8]) -> Delivery;
    /// Rooms recorded on this node alone while the backend was out of
    /// reach: their history in the backend must get a new epoch.
    fn diverged(&self) -> Vec<Arc<str>>;
    /// The backend's histories of `rooms` got a new epoch.
    fn converged(&self, rooms: &[Arc<str>]);
    /// The backend's connection was lost and is back: what the cluster
    /// recorded meanwhile never reached this node, so the members of rooms
    /// whose history is the cluster's must resume (closed with 1013).
    fn interrupted(&self);
}

/// The node's side, for the backend's tasks: what arrived from other nodes
/// goes in here, and the channels needed now come out. Holds the manager
/// weakly: once every handle on the manager is gone, the tasks end.
#[derive(Clone)]
pub(crate) struct Local {
    node: Weak<dyn Node>,
}

impl Local {
    pub(crate) fn new(node: Weak<dyn Node>) -> Self {
        Self { node }
    }

    /// Whether the manager still exists.
    pub(crate) fn is_alive(&self) -> bool {
        self.node.strong_count() > 0
    }

    /// Delivers a frame from another node to the local members of
    /// `target`; `None` once the manager is gone.
    pub(crate) fn deliver(
        &self,
        target: Target<'_>,
        wire: &Wire,
        except_rooms: &[String],
    ) -> Option<Delivery> {
        Some(self.node.upgrade()?.deliver(target, wire, except_rooms))
    }

    /// See [`Node::deliver_recorded`]; `None` once the manager is gone.
    pub(crate) fn deliver_recorded(
        &self,
        room: &str,
        epoch: &str,
        offset: u64,
        body: &[u8],
    ) -> Option<Delivery> {
        Some(
            self.node
                .upgrade()?
                .deliver_recorded(room, epoch, offset, body),
        )
    }

    /// See [`Node::record_alone`]; `None` once the manager is gone.
    pub(crate) fn record_alone(&self, room: &str, body: &[u8]) -> Option<Delivery> {
        Some(self.node.upgrade()?.record_alone(room, body))
    }

    /// See [`Node::diverged`]; empty once the manager is gone.
    pub(crate) fn diverged(&self) -> Vec<Arc<str>> {
        self.node
            .upgrade()
            .map(|node| node.diverged())
            .unwrap_or_default()
    }

    /// See [`Node::converged`].
    pub(crate) fn converged(&self, rooms: &[Arc<str>]) {
        if let Some(node) = self.node.upgrade() {
            node.converged(rooms);
        }
    }

    /// See [`Node::interrupted`].
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // cluster transports only
    pub(crate) fn interrupted(&self) {
        if let Some(node) = self.node.upgrade() {
            node.interrupted();
        }
    }

    /// Local connections in `channel` now (for `All`: every connection);
    /// `None` once the manager is gone.
    pub(crate) fn size(&self, channel: &Channel) -> Option<usize> {
        Some(self.node.upgrade()?.size(channel))
    }

    /// Every user of `room` on this node, by name; `None` once the manager
    /// is gone.
    pub(crate) fn presence(&self, room: &str) -> Option<Vec<Entry>> {
        Some(self.node.upgrade()?.presence(room))
    }

    /// Every channel with local members now, with their sizes; `None` once
    /// the manager is gone.
    pub(crate) fn channels(&self) -> Option<Vec<(Channel, usize)>> {
        Some(self.node.upgrade()?.channels())
    }
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A random id for this node: std's hasher keys are random per process and
/// distinct per instance, mixed with the time for good measure. Never 0.
fn node_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_micros());
    hasher.write_u32(std::process::id());
    hasher.finish().max(1)
}
