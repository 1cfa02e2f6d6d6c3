//! The connection manager: configuration, admission, the registry and the
//! sends, specialised by protocol.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::broadcast::{Broadcast, Delivery, Target};
use crate::config::{Config, ConfigError, OnInvalid, Overflow};
use crate::connection::ConnId;
use crate::connection::admission::Admission;
use crate::connection::queue::Pushed;
use crate::frame::Frame;
use crate::protocol::{Outbound, Protocol};
use crate::registry::Registry;

/// The connections of protocol `P`: admission, rooms, users and sends.
///
/// Cheap to clone (one `Arc`); every clone is the same manager.
///
/// ```
/// use ws_core::{ws_protocol, Manager};
///
/// #[ws_protocol(max_connections = 100)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     #[ws(server)]
///     Notice { text: String },
/// }
///
/// // The attribute's limits, overridden at start-up where needed.
/// let manager = Manager::<Chat>::builder().send_queue(16).build();
/// assert_eq!(manager.config().max_connections(), 100);
/// assert_eq!(manager.config().send_queue(), 16);
///
/// // Sends to empty targets do nothing, and cost nothing.
/// let delivery = manager.to_room("lobby").send(chat::Notice { text: "hi".into() }).unwrap();
/// assert_eq!(delivery.queued, 0);
/// ```
pub struct Manager<P> {
    inner: Arc<Inner>,
    protocol: PhantomData<fn() -> P>,
}

struct Inner {
    config: Config,
    admission: Arc<Admission>,
    registry: Arc<Registry>,
    counters: Counters,
}

impl<P> Clone for Manager<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            protocol: PhantomData,
        }
    }
}

impl<P: Protocol> Default for Manager<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Protocol> Manager<P> {
    /// A manager with the limits given in `#[ws_protocol(...)]`.
    pub fn new() -> Self {
        Self::with_config(P::CONFIG)
    }

    /// A builder starting from the attribute's limits.
    pub fn builder() -> ManagerBuilder<P> {
        ManagerBuilder {
            config: P::CONFIG,
            protocol: PhantomData,
        }
    }

    /// A manager with `config`.
    pub fn with_config(config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                admission: Admission::new(config.max_connections(), config.max_per_user()),
                registry: Arc::default(),
                counters: Counters::default(),
                config,
            }),
            protocol: PhantomData,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Sends to every connection in `room`.
    pub fn to_room<'a>(&'a self, room: &'a str) -> Broadcast<'a, P> {
        Broadcast::new(self, Target::Room(room))
    }

    /// Sends to every connection of `user`.
    pub fn to_user<'a>(&'a self, user: &'a str) -> Broadcast<'a, P> {
        Broadcast::new(self, Target::User(user))
    }

    /// Sends to every connection.
    pub fn to_all(&self) -> Broadcast<'_, P> {
        Broadcast::new(self, Target::All)
    }

    /// Sends to one connection.
    pub fn to_conn(&self, id: ConnId) -> Broadcast<'_, P> {
        Broadcast::new(self, Target::Conn(id))
    }

    /// Encodes `message` once, to send it many times with `send_frame`.
    pub fn encode(&self, message: impl Outbound<P>) -> Result<Frame<P>, crate::SendError> {
        Frame::encode(message)
    }

    /// Connections registered now.
    pub fn connections(&self) -> usize {
        self.inner.registry.connection_count()
    }

    /// Admission slots held now: registered connections plus those between
    /// admission and registration (or between unregistration and the end of
    /// their task).
    pub fn admitted(&self) -> usize {
        self.inner.admission.open()
    }

    /// Rooms that have at least one member.
    pub fn rooms(&self) -> usize {
        self.inner.registry.room_count()
    }

    /// Members of `room`.
    pub fn room_size(&self, room: &str) -> usize {
        self.inner.registry.room_size(room)
    }

    /// Users with at least one connection.
    pub fn users(&self) -> usize {
        self.inner.registry.user_count()
    }

    /// Connections of `user`.
    pub fn user_connections(&self, user: &str) -> usize {
        self.inner.registry.user_size(user)
    }

    /// Counters since the manager was created.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot(self.connections())
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    pub(crate) fn admission(&self) -> &Arc<Admission> {
        &self.inner.admission
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }
}

impl<P> fmt::Debug for Manager<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("config", &self.inner.config)
            .field("connections", &self.inner.registry.connection_count())
            .finish()
    }
}

/// Overrides the attribute's limits at start-up; see [`Config`].
///
/// ```
/// # use ws_core::{ws_protocol, Manager};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// let manager = Manager::<Chat>::builder()
///     .from_env("CHAT_").expect("valid CHAT_* variables")
///     .max_connections(20_000)
///     .build();
/// ```
#[must_use = "call `.build()` to get the manager"]
pub struct ManagerBuilder<P> {
    config: Config,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> ManagerBuilder<P> {
    /// Applies `{prefix}MAX_CONNECTIONS` and the like; see [`Config::override_from_env`].
    pub fn from_env(mut self, prefix: &str) -> Result<Self, ConfigError> {
        self.config = self.config.override_from_env(prefix)?;
        Ok(self)
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// See [`Config::with_max_connections`].
    pub fn max_connections(self, max: usize) -> Self {
        self.map(|c| c.with_max_connections(max))
    }

    /// See [`Config::with_max_per_user`].
    pub fn max_per_user(self, max: usize) -> Self {
        self.map(|c| c.with_max_per_user(max))
    }

    /// See [`Config::with_send_queue`].
    pub fn send_queue(self, frames: usize) -> Self {
        self.map(|c| c.with_send_queue(frames))
    }

    /// See [`Config::with_on_full`].
    pub fn on_full(self, policy: Overflow) -> Self {
        self.map(|c| c.with_on_full(policy))
    }

    /// See [`Config::with_max_message_size`].
    pub fn max_message_size(self, bytes: usize) -> Self {
        self.map(|c| c.with_max_message_size(bytes))
    }

    /// See [`Config::with_heartbeat`].
    pub fn heartbeat(self, every: Option<Duration>) -> Self {
        self.map(|c| c.with_heartbeat(every))
    }

    /// See [`Config::with_idle_timeout`].
    pub fn idle_timeout(self, after: Option<Duration>) -> Self {
        self.map(|c| c.with_idle_timeout(after))
    }

    /// See [`Config::with_on_invalid`].
    pub fn on_invalid(self, policy: OnInvalid) -> Self {
        self.map(|c| c.with_on_invalid(policy))
    }

    /// The manager.
    pub fn build(self) -> Manager<P> {
        Manager::with_config(self.config)
    }

    fn map(mut self, f: impl FnOnce(Config) -> Config) -> Self {
        self.config = f(self.config);
        self
    }
}

/// Counters of a [`Manager`], read with [`Manager::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections registered now.
    pub connections: usize,
    /// Connects admitted.
    pub admitted: u64,
    /// Connects refused with 503 (connection cap or per-user cap).
    pub rejected: u64,
    /// Frames queued.
    pub queued: u64,
    /// Frames discarded by `drop_newest` or `drop_oldest`.
    pub dropped: u64,
    /// Connections closed because their queue was full.
    pub evicted: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    admitted: AtomicU64,
    rejected: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
    evicted: AtomicU64,
}

impl Counters {
    pub(crate) fn admitted(&self) {
        self.admitted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn pushed(&self, pushed: Pushed) {
        let mut delivery = Delivery::default();
        delivery.count(pushed);
        self.delivered(&delivery);
    }

    pub(crate) fn delivered(&self, delivery: &Delivery) {
        // One atomic add per counter per send, not per recipient.
        for (counter, n) in [
            (&self.queued, delivery.queued),
            (&self.dropped, delivery.dropped),
            (&self.evicted, delivery.evicted),
        ] {
            if n > 0 {
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }

    fn snapshot(&self, connections: usize) -> Stats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            connections,
            admitted: get(&self.admitted),
            rejected: get(&self.rejected),
            queued: get(&self.queued),
            dropped: get(&self.dropped),
            evicted: get(&self.evicted),
        }
    }
}
