//! The connection manager: configuration, admission, the registry and the
//! sends, specialised by protocol.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::admission::Admission;
use crate::admission::per_ip::PerIp;
use crate::backend::{Backend, BackendError, BackendStatus, Channel};
use crate::broadcast::{Broadcast, deliver_remote};
use crate::config::{
    ByteRate, Compression, Config, ConfigError, OnInvalid, OnRateLimit, Overflow, RateLimit,
};
#[cfg(feature = "redis")]
use crate::delivery::Delivery;
use crate::delivery::Target;
use crate::frame::Frame;
use crate::history::History;
use crate::id::ConnId;
use crate::presence::{self, Presence, PresenceCount, PresenceDiff};
use crate::protocol::{Outbound, Protocol};
use crate::rate::InflateBudget;
use crate::registry::{Limits, Registry};
use crate::telemetry::{Counters, Stats};
#[cfg(feature = "redis")]
use crate::wire::Wire;
use crate::wire::close::{CloseInfo, close_code};
use tokio_util::sync::CancellationToken;

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
#[cfg(feature = "redis")]
const INTERRUPTED_REASON: &str = "this node's feed from Redis was interrupted; resume again";

/// What a cluster engine's tasks see of the manager.
#[cfg(feature = "redis")]
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
    fn broadcast<'a>(&'a self, target: Target<'a>) -> Broadcast<'a, P> {
        let inner = &self.inner;
        Broadcast::new(
            &inner.registry,
            &inner.counters,
            inner.history.as_ref(),
            target,
        )
    }

    /// Sends to every connection in `room`.
    pub fn to_room<'a>(&'a self, room: &'a str) -> Broadcast<'a, P> {
        self.broadcast(Target::Room(room))
    }

    /// Sends to every connection of `user`.
    pub fn to_user<'a>(&'a self, user: &'a str) -> Broadcast<'a, P> {
        self.broadcast(Target::User(user))
    }

    /// Sends to every connection.
    pub fn to_all(&self) -> Broadcast<'_, P> {
        self.broadcast(Target::All)
    }

    /// Sends to one connection.
    pub fn to_conn(&self, id: ConnId) -> Broadcast<'_, P> {
        self.broadcast(Target::Conn(id))
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
        match self.inner.registry.backend() {
            None => Ok(self.room_size(room)),
            Some(link) => {
                let here = self.room_size(room);
                link.count(Channel::Room(Arc::from(room)), here).await
            }
        }
    }

    /// Connections of `user` across the cluster (on one node:
    /// [`Manager::user_connections`]); see [`Manager::cluster_room_size`].
    pub async fn cluster_user_connections(&self, user: &str) -> Result<usize, BackendError> {
        match self.inner.registry.backend() {
            None => Ok(self.user_connections(user)),
            Some(link) => {
                let here = self.user_connections(user);
                link.count(Channel::User(Arc::from(user)), here).await
            }
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

    /// Sets the presence info of connection `id` of this node, as
    /// [`Ctx::set_presence`](crate::Ctx::set_presence) does from its
    /// handlers: for a status changed elsewhere (an admin, a job).
    /// `Ok(false)` if no such connection is registered here.
    ///
    /// # Errors
    /// When `info` cannot be serialized to JSON.
    pub fn set_presence<T: serde::Serialize + ?Sized>(
        &self,
        id: ConnId,
        info: &T,
    ) -> Result<bool, serde_json::Error> {
        let Some(conn) = self.inner.registry.get(id) else {
            return Ok(false);
        };
        let json = serde_json::to_string(info)?;
        self.inner
            .registry
            .set_presence(&conn, Some(Arc::from(json)));
        Ok(true)
    }

    /// Who is in `room`: the first [`presence::PAGE`] users by name, each
    /// with its connection count and info; across the cluster with a
    /// cluster backend. See [`presence`](crate::presence).
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Chat {
    ///     #[ws(client)]
    ///     Join { room: String },
    ///     #[ws(server)]
    ///     Here { names: Vec<String> },
    /// }
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Info { status: String }
    ///
    /// struct App;
    /// impl ChatHandler for App {
    ///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
    ///         ctx.set_presence(&Info { status: "online".into() })?;
    ///         ctx.join(&msg.room)?;
    ///         let page = ctx.presence(&msg.room).await?;
    ///         let names = page
    ///             .users
    ///             .iter()
    ///             .filter(|p| p.info::<Info>().is_some_and(|i| i.status == "online"))
    ///             .map(|p| p.user.to_string())
    ///             .collect();
    ///         ctx.send(chat::Here { names })?;
    ///         Ok(())
    ///     }
    /// }
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// With a cluster backend, [`BackendError`] when it cannot be asked.
    pub async fn presence(&self, room: &str) -> Result<Presence, BackendError> {
        self.presence_page(room, None, presence::PAGE).await
    }

    /// Up to `limit` (at most [`presence::MAX_PAGE`]) users of `room` whose
    /// name sorts after `after`; see [`Manager::presence`].
    ///
    /// # Errors
    /// As [`Manager::presence`].
    pub async fn presence_page(
        &self,
        room: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Presence, BackendError> {
        let limit = limit.clamp(1, presence::MAX_PAGE);
        let entries = match self.inner.registry.backend() {
            None => self.inner.registry.presence_page(room, after, limit + 1),
            Some(link) => {
                let here = self.inner.registry.presence_all(room);
                let mut all = link.presence(Arc::from(room), here).await?;
                // Sorted by name already; the cursor and the cap here.
                if let Some(after) = after {
                    all.retain(|(user, ..)| &**user > after);
                }
                all.truncate(limit + 1);
                all
            }
        };
        Ok(presence::page(entries, limit))
    }

    /// Turns on presence events for `room`: every `window`, the room's
    /// members on this node are sent one message, built by `make`, saying
    /// which users joined and which left since the last one; nothing when
    /// nothing changed. `false` (and nothing changes) if they are on already.
    ///
    /// **Debounced.** A user counts as gone only once absent at two
    /// samples in a row, `window` apart: a second tab closing, or a
    /// reconnect shorter than `window`, produces no leave and no join. A
    /// join is announced within `window`, a leave within `2 × window`.
    ///
    /// **Batched.** However many users come and go in a window, each member
    /// gets one message: a room of `N` connections costs at most `N`
    /// messages per window in which something changed, and nothing in a
    /// quiet one (200 clients entering and leaving one by one cost 80,400
    /// messages when each join and leave is sent to every member; here at
    /// most `200 × windows`). Each node samples the room (with a cluster
    /// backend: the cluster's view, two Redis round trips per window, only
    /// while the room has members on this node) and tells its own members,
    /// so nothing more crosses between nodes. A member who arrives learns
    /// who is there with [`Manager::presence`], then follows the events.
    ///
    /// It returns once the baseline is taken (a cluster read with a
    /// cluster backend), if the room has members here: a member told it
    /// joined after this hears of changes from then on. The first window
    /// after the room had no member here (or when it has none at the
    /// call) announces everyone in it, so a user who arrives in that
    /// window is announced to those who came before it in the same window. `make` runs on a
    /// task of its own (spawned here); the message is sent to this node's
    /// members only, not recorded in a history. The task runs until
    /// [`Manager::stop_presence_events`] (or the manager goes); while the
    /// room has no member here a window costs one `O(1)` check.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_core::presence::PresenceDiff;
    /// use ws_core::{ws_protocol, Manager};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Chat {
    ///     #[ws(server)]
    ///     PresenceDiff { room: String, joined: Vec<String>, left: Vec<String> },
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let manager = Manager::<Chat>::new();
    /// let on = manager
    ///     .presence_events("lobby", Duration::from_secs(2), |diff: PresenceDiff| {
    ///         chat::PresenceDiff {
    ///             room: diff.room.to_string(),
    ///             joined: diff.joined.iter().map(|p| p.user.to_string()).collect(),
    ///             left: diff.left.iter().map(|u| u.to_string()).collect(),
    ///         }
    ///     })
    ///     .await;
    /// assert!(on);
    /// assert!(manager.stop_presence_events("lobby"));
    /// # }
    /// ```
    pub async fn presence_events<M, F>(&self, room: &str, window: Duration, make: F) -> bool
    where
        M: Outbound<P>,
        F: Fn(PresenceDiff) -> M + Send + 'static,
    {
        let room: Arc<str> = Arc::from(room);
        let stop = CancellationToken::new();
        {
            let mut tracked = self.inner.tracked.lock();
            if tracked.contains_key(&room) {
                return false;
            }
            tracked.insert(Arc::clone(&room), stop.clone());
        }
        let window = window.max(Duration::from_millis(10));
        let weak = Arc::downgrade(&self.inner);
        // The baseline before returning: whoever is in the room now is no
        // news to a member who was told `joined` after this.
        // With nobody here, the first window announces everyone instead:
        // whoever arrives in it read the presence before the others did.
        let (mut tracker, mut generation) = match sample(&weak, &room).await {
            Sampled::Now(now, generation) => (presence::Tracker::baseline(now), generation),
            _ => (presence::Tracker::default(), None),
        };
        tokio::spawn(async move {
            let start = tokio::time::Instant::now() + window;
            let mut tick = tokio::time::interval_at(start, window);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = match sample(&weak, &room).await {
                    Sampled::Gone => return,
                    Sampled::Empty => {
                        // Nobody here to tell: when someone is, the first
                        // window announces everyone in the room.
                        tracker = presence::Tracker::default();
                        generation = None;
                        continue;
                    }
                    Sampled::Failed => continue,
                    Sampled::Now(now, now_generation) => {
                        // Empty on this node since the last sample, if only
                        // for an instant: whoever came since read the
                        // presence before the others did, as in a first
                        // window, so everyone is announced again.
                        if generation.is_some() && now_generation != generation {
                            tracker = presence::Tracker::default();
                        }
                        generation = now_generation;
                        now
                    }
                };
                let Some(diff) = tracker.sample(&room, now) else {
                    continue;
                };
                let Some(inner) = weak.upgrade() else { return };
                match Frame::<P>::encode(make(diff)) {
                    Ok(frame) => {
                        // This node's members only: every node samples and
                        // tells its own.
                        deliver_remote(
                            &inner.registry,
                            &inner.counters,
                            Target::Room(&room),
                            &frame.wire,
                            &[],
                        );
                    }
                    Err(error) => {
                        tracing::warn!(%error, %room, "presence events: cannot encode");
                    }
                }
            }
        });
        true
    }

    /// Turns presence events for `room` off; `false` if they were not on.
    pub fn stop_presence_events(&self, room: &str) -> bool {
        match self.inner.tracked.lock().remove(room) {
            Some(stop) => {
                stop.cancel();
                true
            }
            None => false,
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

/// A sample of who is in a room, for its presence events.
enum Sampled {
    /// The manager is gone.
    Gone,
    /// No member on this node: nobody to tell.
    Empty,
    /// The cluster could not be read this time.
    Failed,
    /// Who is in the room, and which life of it on this node this is
    /// ([`Registry::room_generation`](crate::registry::Registry::room_generation)).
    Now(Vec<crate::backend::Entry>, Option<u64>),
}

async fn sample(weak: &Weak<Inner>, room: &Arc<str>) -> Sampled {
    let Some(inner) = weak.upgrade() else {
        return Sampled::Gone;
    };
    let Some(generation) = inner.registry.room_generation(room) else {
        return Sampled::Empty;
    };
    let Some(link) = inner.registry.backend() else {
        return Sampled::Now(inner.registry.presence_all(room), Some(generation));
    };
    let read = link.presence(Arc::clone(room), inner.registry.presence_all(room));
    // Not kept alive by a read that waits on Redis.
    drop(inner);
    match read.await {
        Ok(now) => Sampled::Now(now, Some(generation)),
        Err(error) => {
            tracing::debug!(%error, %room, "presence events: cluster read failed");
            Sampled::Failed
        }
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
    backend: Backend,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> ManagerBuilder<P> {
    /// Applies `{prefix}MAX_CONNECTIONS` and the like, and validates the
    /// result; the error names the variable and the accepted form. See
    /// [`Config::override_from_env`].
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

    /// See [`Config::with_compression`].
    pub fn compression(self, compression: Compression) -> Self {
        self.map(|c| c.with_compression(compression))
    }

    /// See [`Config::with_compress_min_size`].
    pub fn compress_min_size(self, bytes: usize) -> Self {
        self.map(|c| c.with_compress_min_size(bytes))
    }

    /// See [`Config::with_heartbeat`].
    pub fn heartbeat(self, every: Option<Duration>) -> Self {
        self.map(|c| c.with_heartbeat(every))
    }

    /// See [`Config::with_idle_timeout`].
    pub fn idle_timeout(self, after: Option<Duration>) -> Self {
        self.map(|c| c.with_idle_timeout(after))
    }

    /// See [`Config::with_inflate_rate`].
    pub fn inflate_rate(self, rate: Option<ByteRate>) -> Self {
        self.map(|c| c.with_inflate_rate(rate))
    }

    /// See [`Config::with_inflate_node_rate`].
    pub fn inflate_node_rate(self, rate: Option<ByteRate>) -> Self {
        self.map(|c| c.with_inflate_node_rate(rate))
    }

    /// See [`Config::with_max_fragments`].
    pub fn max_fragments(self, max: usize) -> Self {
        self.map(|c| c.with_max_fragments(max))
    }

    /// See [`Config::with_fragment_timeout`].
    pub fn fragment_timeout(self, after: Option<Duration>) -> Self {
        self.map(|c| c.with_fragment_timeout(after))
    }

    /// See [`Config::with_stall_timeout`].
    pub fn stall_timeout(self, after: Duration) -> Self {
        self.map(|c| c.with_stall_timeout(after))
    }

    /// See [`Config::with_rate_limit`].
    pub fn rate_limit(self, limit: Option<RateLimit>) -> Self {
        self.map(|c| c.with_rate_limit(limit))
    }

    /// See [`Config::with_on_rate_limit`].
    pub fn on_rate_limit(self, policy: OnRateLimit) -> Self {
        self.map(|c| c.with_on_rate_limit(policy))
    }

    /// See [`Config::with_on_invalid`].
    pub fn on_invalid(self, policy: OnInvalid) -> Self {
        self.map(|c| c.with_on_invalid(policy))
    }

    /// See [`Config::with_max_rooms`].
    pub fn max_rooms(self, max: usize) -> Self {
        self.map(|c| c.with_max_rooms(max))
    }

    /// See [`Config::with_max_room_name`].
    pub fn max_room_name(self, bytes: usize) -> Self {
        self.map(|c| c.with_max_room_name(bytes))
    }

    // ---- Untrusted peers: handshake deadline, per-IP limits. ----

    /// See [`Config::with_handshake_timeout`].
    pub fn handshake_timeout(self, timeout: Duration) -> Self {
        self.map(|c| c.with_handshake_timeout(timeout))
    }

    /// See [`Config::with_max_per_ip`].
    pub fn max_per_ip(self, max: usize) -> Self {
        self.map(|c| c.with_max_per_ip(max))
    }

    /// See [`Config::with_handshake_rate`].
    pub fn handshake_rate(self, rate: Option<RateLimit>) -> Self {
        self.map(|c| c.with_handshake_rate(rate))
    }

    /// See [`Config::with_allowed_origins`].
    pub fn allowed_origins<S: Into<std::borrow::Cow<'static, str>>>(
        self,
        origins: impl IntoIterator<Item = S>,
    ) -> Self {
        self.map(|c| c.with_allowed_origins(origins))
    }

    /// See [`Config::with_trusted_proxies`].
    pub fn trusted_proxies(
        self,
        proxies: impl Into<std::borrow::Cow<'static, [ipnet::IpNet]>>,
    ) -> Self {
        self.map(|c| c.with_trusted_proxies(proxies))
    }

    // ---- Delivery guarantees: the history per room. ----

    /// See [`Config::with_history`].
    pub fn history(self, messages: usize) -> Self {
        self.map(|c| c.with_history(messages))
    }

    /// See [`Config::with_history_ttl`].
    pub fn history_ttl(self, ttl: Option<Duration>) -> Self {
        self.map(|c| c.with_history_ttl(ttl))
    }

    /// See [`Config::with_history_bytes`].
    pub fn history_bytes(self, bytes: usize) -> Self {
        self.map(|c| c.with_history_bytes(bytes))
    }

    /// See [`Config::with_history_memory`].
    pub fn history_memory(self, bytes: usize) -> Self {
        self.map(|c| c.with_history_memory(bytes))
    }

    /// See [`Config::with_history_streams`].
    pub fn history_streams(self, max: usize) -> Self {
        self.map(|c| c.with_history_streams(max))
    }

    /// Where sends go beyond this process; [`Backend::local`] by default.
    /// See [`Backend`].
    pub fn backend(mut self, backend: impl Into<Backend>) -> Self {
        self.backend = backend.into();
        self
    }

    /// Joins the nodes sharing the Redis at `url` (feature `redis`):
    /// shorthand for `.backend(Backend::redis(url)?)`.
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # #[tokio::main] async fn main() {
    /// let manager = Manager::<Chat>::builder().redis("redis://127.0.0.1/").unwrap().build();
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(self, url: &str) -> Result<Self, BackendError> {
        Ok(self.backend(Backend::redis(url)?))
    }

    /// The manager, or the first rule of [`Config::validate`] that the
    /// configuration breaks. With a cluster backend its tasks start here, so
    /// this must run inside a Tokio runtime.
    ///
    /// ```
    /// # use ws_core::{ws_protocol, Manager};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// let err = Manager::<Chat>::builder().send_queue(0).try_build().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"send_queue must be a whole number of frames of at least 1, like "256""#
    /// );
    /// ```
    pub fn try_build(self) -> Result<Manager<P>, ConfigError> {
        self.config.validate()?;
        Ok(Manager::with_backend(self.config, self.backend))
    }

    /// The manager. With a cluster backend its tasks start here, so this
    /// must run inside a Tokio runtime.
    ///
    /// # Panics
    ///
    /// If the configuration breaks a rule of [`Config::validate`], with the
    /// error's message. Values from the attribute are validated at compile
    /// time and values from [`from_env`](Self::from_env) when they are read,
    /// so what is left are the setters' arguments: use
    /// [`try_build`](Self::try_build) when those come from input.
    pub fn build(self) -> Manager<P> {
        match self.try_build() {
            Ok(manager) => manager,
            Err(error) => panic!("invalid ws_core::Config: {error}"),
        }
    }

    fn map(mut self, f: impl FnOnce(Config) -> Config) -> Self {
        self.config = f(self.config);
        self
    }
}
