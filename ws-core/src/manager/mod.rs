//! The connection manager: configuration, admission, the registry and the
//! sends, specialised by protocol.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::admission::Admission;
use crate::admission::per_ip::PerIp;
use crate::backend::{Backend, BackendError, BackendStatus, Channel};
#[cfg(feature = "engine")]
use crate::broadcast::deliver_remote;
use crate::broadcast::{Aim, Broadcast};
use crate::config::Config;
#[cfg(feature = "engine")]
use crate::delivery::Delivery;
use crate::delivery::Target;
use crate::frame::Frame;
use crate::history::History;
use crate::id::ConnId;
use crate::presence::PresenceCount;
use crate::protocol::{Outbound, Protocol};
use crate::rate::InflateBudget;
use crate::registry::{Limits, Registry};
use crate::telemetry::{Counters, Stats};
#[cfg(feature = "engine")]
use crate::wire::Wire;
use crate::wire::close::{CloseInfo, close_code};
use tokio_util::sync::CancellationToken;

mod builder;
mod presence;

pub use builder::ManagerBuilder;

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

pub(crate) struct Inner {
    config: Config,
    /// Cancelled when a shutdown's deadline passes: every connection task
    /// still running ends at once.
    kill: CancellationToken,
    /// The close frame of the shutdown, once one has begun.
    closing: std::sync::OnceLock<CloseInfo>,
    admission: Arc<Admission>,
    registry: Arc<Registry>,
    counters: Counters,
    /// What the node's connections may inflate (`inflate_rate`,
    /// `inflate_node_rate`).
    inflate: InflateBudget,
    /// The rooms' histories; `None` when `history` is 0.
    history: Option<Arc<History>>,
    /// The rooms with presence events on, and how to stop each one's task.
    tracked: parking_lot::Mutex<std::collections::HashMap<Arc<str>, CancellationToken>>,
}

/// The close reason of the members of a room with a cluster history when
/// this node's connection to the cluster was lost and is back: they may
/// have missed messages, which their resume recovers.
#[cfg(feature = "engine")]
const INTERRUPTED_REASON: &str = "this node's feed from the engine was interrupted; resume again";

/// What a cluster engine's tasks see of the manager.
#[cfg(feature = "engine")]
impl crate::backend::Node for Inner {
    fn deliver(&self, target: Target<'_>, wire: &Wire, except_rooms: &[String]) -> Delivery {
        deliver_remote(&self.registry, &self.counters, target, wire, except_rooms)
    }

    fn deliver_recorded(&self, room: &str, epoch: &str, offset: u64, body: &[u8]) -> Delivery {
        let Some(history) = &self.history else {
            return Delivery::default();
        };
        history
            .mirror(room, epoch, offset, body, |wire, held| {
                crate::broadcast::deliver_recorded(&self.registry, &self.counters, room, wire, held)
            })
            .unwrap_or_default()
    }

    fn record_alone(&self, room: &str, body: &[u8]) -> Delivery {
        let Some(history) = &self.history else {
            return Delivery::default();
        };
        let (delivered, _) =
            history.record(room, crate::wire::frame::body_of(body), |wire, held| {
                crate::broadcast::deliver_recorded(&self.registry, &self.counters, room, wire, held)
            });
        history.diverge(room);
        delivered
    }

    fn diverged(&self) -> Vec<Arc<str>> {
        self.history
            .as_ref()
            .map(|history| history.diverged())
            .unwrap_or_default()
    }

    fn converged(&self, rooms: &[Arc<str>]) {
        if let Some(history) = &self.history {
            history.converged(rooms);
        }
    }

    fn interrupted(&self) {
        let Some(history) = &self.history else {
            return;
        };
        let close = CloseInfo::new(close_code::TRY_AGAIN_LATER, INTERRUPTED_REASON);
        for room in history.remote_rooms() {
            for conn in self.registry.room(&room).iter().flat_map(|m| m.iter()) {
                conn.queue.close(false, Some(close.clone()));
            }
        }
    }

    fn size(&self, channel: &Channel) -> usize {
        let registry = &self.registry;
        match channel {
            Channel::Room(room) => registry.room_size(room),
            Channel::User(user) => registry.user_size(user),
            Channel::All => registry.connection_count(),
        }
    }

    fn presence(&self, room: &str) -> Vec<crate::backend::Entry> {
        self.registry.presence_all(room)
    }

    fn channels(&self) -> Vec<(Channel, usize)> {
        let registry = &self.registry;
        let mut channels: Vec<(Channel, usize)> = Vec::new();
        channels.extend(
            registry
                .rooms_sized()
                .into_iter()
                .map(|(r, n)| (Channel::Room(r), n)),
        );
        channels.extend(
            registry
                .users_sized()
                .into_iter()
                .map(|(u, n)| (Channel::User(u), n)),
        );
        let all = registry.connection_count();
        if all > 0 {
            channels.push((Channel::All, all));
        }
        channels
    }
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
            backend: Backend::local(),
            protocol: PhantomData,
        }
    }

    /// A manager with `config`, on this node only.
    ///
    /// # Panics
    ///
    /// If `config` breaks a rule of [`Config::validate`]; see
    /// [`ManagerBuilder::try_build`] for the error instead.
    pub fn with_config(config: Config) -> Self {
        Self::with_backend(config, Backend::local())
    }

    /// A manager with `config` and `backend`. A cluster backend starts its
    /// tasks here, so this must run inside a Tokio runtime.
    ///
    /// # Panics
    ///
    /// If `config` breaks a rule of [`Config::validate`]: better at start-up
    /// than in every connection task. See [`ManagerBuilder::try_build`] for
    /// the error instead.
    pub fn with_backend(config: Config, backend: Backend) -> Self {
        if let Err(error) = config.validate() {
            panic!("invalid ws_core::Config: {error}");
        }
        let (link, tasks) = backend.start(P::NAME, &config);
        let inner = Arc::new(Inner {
            admission: Admission::new(config.max_connections(), PerIp::new(&config)),
            registry: Arc::new(Registry::new(Limits::of(&config), link)),
            counters: Counters::new(P::NAME),
            inflate: InflateBudget::new(&config),
            kill: CancellationToken::new(),
            closing: std::sync::OnceLock::new(),
            history: crate::history::Limits::of(&config)
                .map(|limits| Arc::new(History::new(limits))),
            tracked: parking_lot::Mutex::default(),
            config,
        });
        // The engine's tasks hold the manager as their `Node`, weakly.
        tasks.spawn(&inner);
        Self {
            inner,
            protocol: PhantomData,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A send to `target`, with what a fan-out needs of the manager.
    fn broadcast<'a>(&'a self, target: Aim<'a>) -> Broadcast<'a, P> {
        let inner = &self.inner;
        Broadcast::new(
            &inner.registry,
            &inner.counters,
            inner.history.as_ref(),
            target,
        )
    }

    /// Sends to every connection in `room`: a name borrowed (`&str`,
    /// `&String`: no copy) or owned (a `String` moved in), so the name may
    /// be moved into the message sent:
    ///
    /// ```
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Board { #[ws(server)] Opened { board: String } }
    /// fn open(manager: &Manager<Board>, board: String) {
    ///     let _ = manager.to_room(board.clone()).send(board::Opened { board });
    /// }
    /// ```
    pub fn to_room<'a>(&'a self, room: impl Into<Cow<'a, str>>) -> Broadcast<'a, P> {
        self.broadcast(Aim::Room(room.into()))
    }

    /// Sends to every connection of `user` (a name borrowed or owned, as
    /// for [`to_room`](Self::to_room)).
    pub fn to_user<'a>(&'a self, user: impl Into<Cow<'a, str>>) -> Broadcast<'a, P> {
        self.broadcast(Aim::User(user.into()))
    }

    /// Sends to every connection.
    pub fn to_all(&self) -> Broadcast<'_, P> {
        self.broadcast(Aim::All)
    }

    /// Sends to one connection.
    pub fn to_conn(&self, id: ConnId) -> Broadcast<'_, P> {
        self.broadcast(Aim::Conn(id))
    }

    /// Closes connection `id` of this node with `code` and `reason` once the
    /// frames already queued for it are written; false if there is no such
    /// open connection here. Short for `to_conn(id).close(code, reason)`.
    ///
    /// Closing by id is local on purpose: a [`ConnId`] is a counter of this
    /// process, which another node cannot resolve. To close a connection
    /// wherever it is, close its user ([`Broadcast::close`] on
    /// [`Manager::to_user`]) or a room of its own.
    ///
    /// ```
    /// # use ws_core::{ws_protocol, ConnId, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// fn ban(manager: &Manager<Chat>, id: ConnId) -> bool {
    ///     manager.close(id, 4003, "banned")
    /// }
    /// ```
    pub fn close(&self, id: ConnId, code: u16, reason: impl Into<String>) -> bool {
        // No backend is involved for one connection, so no backend error.
        matches!(self.to_conn(id).close(code, reason), Ok(1))
    }

    /// Makes connection `id` of this node leave `room`, as its own
    /// [`Ctx::leave`](crate::Ctx::leave) would; false if it is not open
    /// here or not a member. Short for `to_conn(id).leave(room)`; to make a
    /// user leave on every node, see [`Broadcast::leave`].
    ///
    /// ```
    /// # use ws_core::{ws_protocol, ConnId, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// fn mute(manager: &Manager<Chat>, id: ConnId) -> bool {
    ///     manager.leave(id, "lobby")
    /// }
    /// ```
    pub fn leave(&self, id: ConnId, room: &str) -> bool {
        let registry = &self.inner.registry;
        registry
            .get(id)
            .is_some_and(|conn| registry.leave(&conn, room))
    }

    /// Makes connection `id` of this node join `room` on the server's
    /// authority: the handler's `authorize_join` is not asked, the limits
    /// hold as for [`Ctx::join`](crate::Ctx::join). `Ok(false)` if it was a
    /// member already. To make a user join on every node, see
    /// [`Broadcast::join`].
    ///
    /// ```
    /// # use ws_core::{ws_protocol, ConnId, JoinError, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// fn promote(manager: &Manager<Chat>, id: ConnId) -> Result<bool, JoinError> {
    ///     manager.join(id, "moderators")
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`Ctx::join`](crate::Ctx::join) (but never
    /// [`JoinError::Refused`](crate::JoinError::Refused)), and
    /// [`JoinError::Closing`](crate::JoinError::Closing) when no such
    /// connection is open here.
    pub fn join(&self, id: ConnId, room: &str) -> Result<bool, crate::JoinError> {
        let registry = &self.inner.registry;
        let conn = registry.get(id).ok_or(crate::error::ConnectionClosing)?;
        registry.join(&conn, room)
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

    /// This node's members of `room`, in no particular order: a snapshot,
    /// for listing or kicking ([`Manager::close`]).
    pub fn room_members(&self, room: &str) -> Vec<ConnId> {
        self.inner
            .registry
            .room(room)
            .map(|members| members.iter().map(|conn| conn.id).collect())
            .unwrap_or_default()
    }

    /// Users with at least one connection (or one being admitted, between
    /// its `authenticate` and its registration).
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

    /// The cluster backend's health and counters; `None` on one node.
    pub fn backend_status(&self) -> Option<BackendStatus> {
        self.inner.registry.backend().map(|link| link.status())
    }

    /// Connections in `room` across the cluster (on one node: [`Manager::room_size`]).
    /// With a cluster backend this asks the backend, whose counts follow
    /// joins and leaves within a round trip and forget a dead node within
    /// its presence TTL; this node's own connections are counted here, at
    /// once.
    pub async fn cluster_room_size(&self, room: &str) -> Result<usize, BackendError> {
        let here = self.room_size(room);
        self.cluster_count(|| Channel::Room(Arc::from(room)), here)
            .await
    }

    /// Connections of `user` across the cluster (on one node:
    /// [`Manager::user_connections`]); see [`Manager::cluster_room_size`].
    pub async fn cluster_user_connections(&self, user: &str) -> Result<usize, BackendError> {
        let here = self.user_connections(user);
        self.cluster_count(|| Channel::User(Arc::from(user)), here)
            .await
    }

    /// The count of `channel` across the cluster, `here` being this node's
    /// own: the backend's answer, or `here` alone on one node.
    async fn cluster_count(
        &self,
        channel: impl FnOnce() -> Channel,
        here: usize,
    ) -> Result<usize, BackendError> {
        match self.inner.registry.backend() {
            None => Ok(here),
            Some(link) => link.count(channel(), here).await,
        }
    }

    /// Cheap counts of who is in `room` on this node: distinct users and
    /// connections, each `O(1)`.
    pub fn presence_count(&self, room: &str) -> PresenceCount {
        let registry = &self.inner.registry;
        PresenceCount {
            users: registry.room_users(room),
            connections: registry.room_size(room),
        }
    }

    /// Shuts down: new connects get 503 at once, every connection is sent
    /// close 1001 after what is already queued for it, and every connection
    /// task is awaited up to `deadline`; those still running then are ended
    /// without further ceremony. When it returns no connection task of this
    /// manager is left, and every slot is free.
    ///
    /// Serve the router with axum's graceful shutdown for the HTTP side; call
    /// this for the WebSockets, which axum does not track once upgraded. For
    /// a deploy, [`Manager::shutdown_with`] sends 1012 (service restart)
    /// instead; see [`shutdown_signal`](crate::shutdown_signal).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # async fn run(manager: Manager<Chat>) {
    /// tokio::signal::ctrl_c().await.unwrap();
    /// let report = manager.shutdown(Duration::from_secs(10)).await;
    /// println!("closed {} connections, {} forcibly", report.closed, report.forced);
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.shutdown_with(
            CloseInfo::new(close_code::GOING_AWAY, "server shutting down"),
            deadline,
        )
        .await
    }

    /// [`Manager::shutdown`] with another close frame, e.g.
    /// [`close_code::SERVICE_RESTART`] (1012) for a deploy, which tells
    /// clients to reconnect (to another node, or this one once it is back).
    /// A second call waits like the first but keeps the first's frame.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use ws_core::{ws_protocol, CloseInfo, Manager, close_code};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # async fn run(manager: Manager<Chat>) {
    /// let restart = CloseInfo::new(close_code::SERVICE_RESTART, "restarting");
    /// manager.shutdown_with(restart, Duration::from_secs(10)).await;
    /// # }
    /// ```
    pub async fn shutdown_with(&self, close: CloseInfo, deadline: Duration) -> ShutdownReport {
        let closing = self.inner.closing.get_or_init(|| close).clone();
        let admission = &self.inner.admission;
        admission.stop();
        let conns = self.inner.registry.all();
        for conn in &conns {
            conn.queue.close(false, Some(closing.clone()));
        }
        let mut report = ShutdownReport {
            closed: conns.len(),
            forced: 0,
        };
        if tokio::time::timeout(deadline, admission.drained())
            .await
            .is_err()
        {
            report.forced = admission.open();
            self.inner.kill.cancel();
            // Killed tasks end at their next poll; a slot held by an upgrade
            // that never completes must not hold up the return.
            let _ = tokio::time::timeout(Duration::from_secs(1), admission.drained()).await;
        }
        if let Some(link) = self.inner.registry.backend() {
            // Leave the cluster: presence withdrawn, subscriptions dropped.
            link.close().await;
        }
        report
    }

    /// Whether [`Manager::shutdown`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.admission.is_stopped()
    }

    /// The close frame a connection gets when the manager shuts down.
    pub(crate) fn shutdown_close(&self) -> CloseInfo {
        self.inner
            .closing
            .get()
            .cloned()
            .unwrap_or_else(|| CloseInfo::new(close_code::GOING_AWAY, "server shutting down"))
    }

    pub(crate) async fn killed(&self) {
        self.inner.kill.cancelled().await
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

    pub(crate) fn inflate_budget(&self) -> &InflateBudget {
        &self.inner.inflate
    }

    pub(crate) fn history(&self) -> Option<&Arc<History>> {
        self.inner.history.as_ref()
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

/// What [`Manager::shutdown`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections that were sent the shutdown's close frame.
    pub closed: usize,
    /// Connections still running at the deadline, ended without waiting.
    pub forced: usize,
}
