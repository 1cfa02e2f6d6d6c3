//! The Redis backend: rooms, users and broadcasts across nodes through
//! Redis pub/sub, with the [`redis`] crate's reconnecting connection manager.
//!
//! One RESP3 connection per node carries everything: publishes, the
//! subscriptions and the messages pushed to them, presence. Three tasks
//! share it, each with one job:
//! - [`publisher`]: drains the queue that broadcasts fill and publishes what
//!   it holds as one pipeline per round trip, in order;
//! - [`subscriber`]: drains the messages Redis pushes and delivers each to
//!   the local members of its room, user or everyone, in arrival order
//!   (so per channel, and per sender, in publish order); it never waits
//!   on Redis;
//! - [`control`]: keeps the subscriptions and this node's presence equal to
//!   the registry, and on a lost connection reconnects with backoff and
//!   resubscribes to exactly the channels needed then.
//!
//! Channels, under `{prefix}:{protocol}:` (`ws:Chat:` by default):
//! `room:{NAME}`, `user:{NAME}` (the name in braces: a Redis Cluster hash
//! tag) and `all`. A node subscribes to a room's or
//! user's channel while it has local members, and to `all` while it has any
//! connection: `all` carries only [`Manager::to_all`](crate::Manager::to_all),
//! which every node with a connection must receive anyway, so it is no
//! firehose. Sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`, Redis 7) is used when
//! the server has it, classic pub/sub otherwise.
//!
//! On a Redis Cluster ([`RedisBackend::cluster`]) the same tasks run over
//! a connection per node (see [`cluster`]): a room's channel and history
//! keys share its hash tag, presence keys the tag `{presence}`.
//!
//! Presence: each node keeps a hash `{presence}:{node}` of its local counts per
//! room and user, which expires unless refreshed, and its id in the sorted
//! set `nodes`, scored by when it expires; a count across the cluster sums
//! the hashes of the nodes still alive. A node that dies drops out within
//! the presence TTL.

mod cluster;
mod conn;
mod control;
mod history;
mod presence;
mod publisher;
mod subscriber;

use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use conn::{Conn, Liveness, Raw};
use redis::{IntoConnectionInfo, ProtocolVersion, RedisWrite, ToRedisArgs};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::{
    BackendError, BackendStatus, Channel, Engine, Entry, HistoryBounds, Link, Local, Outbox, Read,
    Shared, Tasks,
};
use crate::delivery::Target;

/// Which pub/sub commands the Redis backend uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PubSubMode {
    /// Sharded when the server has it (Redis 7+), classic otherwise.
    #[default]
    Auto,
    /// `SSUBSCRIBE`/`SPUBLISH`.
    Sharded,
    /// `SUBSCRIBE`/`PUBLISH`.
    Classic,
}

/// The Redis backend's settings; turn into a [`Backend`](super::Backend)
/// with `.into()`.
///
/// ```no_run
/// # use std::time::Duration;
/// # use ws_core::{ws_protocol, Manager, RedisBackend};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// # #[tokio::main] async fn main() {
/// let redis = RedisBackend::new("redis://127.0.0.1:6379/")
///     .expect("a valid URL")
///     .prefix("myapp")
///     .presence_ttl(Duration::from_secs(10));
/// let manager = Manager::<Chat>::builder().backend(redis).build();
/// # }
/// ```
#[derive(Clone)]
#[must_use = "pass it to `ManagerBuilder::backend`"]
pub struct RedisBackend {
    client: Client,
    prefix: String,
    mode: PubSubMode,
    publish_queue: usize,
    presence_ttl: Duration,
    response_timeout: Duration,
    reconnect_max: Duration,
}

impl RedisBackend {
    /// Settings for the Redis at `url` (`redis://[user:password@]host[:port][/db]`).
    /// Fails only on a malformed URL; nothing is connected until the manager
    /// is built, and a Redis that is down then is retried in the background.
    pub fn new(url: &str) -> Result<Self, BackendError> {
        let info = url
            .into_connection_info()
            .map_err(|error| BackendError::Config(format!("redis URL `{url}`: {error}")))?;
        // RESP3: pushes (the messages of the subscriptions) arrive on the same
        // multiplexed connection as the replies.
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(redis))
            .map_err(|error| BackendError::Config(error.to_string()))?;
        Ok(Self::with_client(Client::Single(client)))
    }

    /// Settings for the Redis Cluster that `urls` belong to (one is enough;
    /// the others are tried should it be down). Every key and channel of a
    /// room shares the room's hash tag, so its history, offset counter and
    /// publish stay in one slot and are recorded by one atomic script;
    /// presence lives under the tag `{presence}`. Sharded pub/sub
    /// (`SSUBSCRIBE`, Redis 7) reaches each room's master, and follows it
    /// when the cluster's slots move or a replica takes over. Fails only on
    /// a malformed URL or none.
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, Manager, RedisBackend};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type")]
    /// # pub enum Chat { #[ws(server)] Notice { text: String } }
    /// # #[tokio::main] async fn main() {
    /// let cluster = RedisBackend::cluster(&["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/"])
    ///     .expect("valid URLs")
    ///     .prefix("myapp");
    /// let manager = Manager::<Chat>::builder().backend(cluster).build();
    /// # }
    /// ```
    pub fn cluster(urls: &[&str]) -> Result<Self, BackendError> {
        let infos = urls
            .iter()
            .map(|url| {
                url.into_connection_info()
                    .map_err(|error| BackendError::Config(format!("redis URL `{url}`: {error}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if infos.is_empty() {
            return Err(BackendError::Config(
                "a Redis Cluster needs at least one URL".to_owned(),
            ));
        }
        Ok(Self::with_client(Client::Cluster(infos)).pubsub(PubSubMode::Sharded))
    }

    fn with_client(client: Client) -> Self {
        Self {
            client,
            prefix: "ws".to_owned(),
            mode: PubSubMode::Auto,
            publish_queue: 65_536,
            presence_ttl: Duration::from_secs(15),
            response_timeout: Duration::from_secs(2),
            reconnect_max: Duration::from_secs(2),
        }
    }

    /// The first part of every key and channel (default `ws`), so that
    /// several applications can share one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which pub/sub commands to use (default [`PubSubMode::Auto`]).
    /// Every node sharing a Redis must use the same.
    pub fn pubsub(mut self, mode: PubSubMode) -> Self {
        self.mode = mode;
        self
    }

    /// Messages that may wait for the publisher (default 65 536); past it a
    /// send reports [`BackendError::Overloaded`].
    pub fn publish_queue(mut self, messages: usize) -> Self {
        self.publish_queue = messages.max(1);
        self
    }

    /// How long a node's presence outlives its last refresh (default 15 s;
    /// it is refreshed three times per TTL): the time a dead node's
    /// connections still count.
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// How long Redis may stay silent (no reply, no pushed message) while a
    /// command waits before the connection counts as lost (default 2 s). A
    /// reply that is merely late, behind messages Redis is still pushing
    /// to this node, does not count; nor is a publish cut off by it (Redis
    /// runs it once written): it fails only if the connection drops.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The longest wait between two reconnection attempts (default 2 s;
    /// the first is after 50 ms, doubling).
    pub fn reconnect_max(mut self, max: Duration) -> Self {
        self.reconnect_max = max.max(Duration::from_millis(50));
        self
    }

    pub(crate) fn start(
        self,
        protocol: &'static str,
        history: Option<HistoryBounds>,
    ) -> (Link, Tasks) {
        let shared = Arc::new(Shared::new(protocol));
        let (outbox, changes_rx, outgoing_rx) =
            Outbox::new(Arc::clone(&shared), self.publish_queue);
        let mode = match self.mode {
            PubSubMode::Auto => UNKNOWN,
            PubSubMode::Sharded => SHARDED,
            PubSubMode::Classic => CLASSIC,
        };
        let state = Arc::new(State {
            names: Names::new(&self.prefix, protocol),
            mode: AtomicU8::new(mode),
            conn: Mutex::new(None),
            channels: AtomicUsize::new(0),
            stop: CancellationToken::new(),
            shared: Arc::clone(&shared),
            presence_ttl: self.presence_ttl,
            reconnect_max: self.reconnect_max,
            history,
            listening: Mutex::new(Listening::default()),
            listening_changed: Notify::new(),
            reads: tokio::sync::Semaphore::new(READS_IN_FLIGHT),
        });
        let link = Link::new(Box::new(RedisEngine {
            outbox,
            state: Arc::clone(&state),
        }));
        let client = self.client;
        let response_timeout = self.response_timeout;
        let spawn = Box::new(move |local: Local| {
            let (push_tx, push_rx) = mpsc::unbounded_channel();
            let liveness = Arc::new(Liveness::new());
            let heard = Arc::clone(&liveness);
            let push = move |push| {
                // Stamped as the connection reads it, before it waits in
                // the queue for delivery: Redis is talking.
                heard.heard();
                push_tx.send(push)
            };
            match client.connect(push) {
                Ok(conn) => {
                    let conn = Conn::new(conn, liveness, response_timeout);
                    *state.conn.lock() = Some(conn.clone());
                    tokio::spawn(subscriber::run(Arc::clone(&state), local.clone(), push_rx));
                    tokio::spawn(publisher::run(
                        Arc::clone(&state),
                        local.clone(),
                        outgoing_rx,
                    ));
                    tokio::spawn(control::run(state, local, conn, changes_rx));
                }
                Err(error) => tracing::error!(%error, "redis backend: cannot start"),
            }
        });
        (link, Tasks::new(spawn))
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The address only: the URL may hold a password.
        f.debug_struct("RedisBackend")
            .field("addr", &self.client.addrs())
            .field("prefix", &self.prefix)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// One Redis, or the nodes of a Redis Cluster to start from.
#[derive(Clone)]
enum Client {
    Single(redis::Client),
    Cluster(Vec<redis::ConnectionInfo>),
}

impl Client {
    /// The addresses only: a URL may hold a password.
    fn addrs(&self) -> Vec<String> {
        match self {
            Client::Single(client) => vec![client.get_connection_info().addr().to_string()],
            Client::Cluster(nodes) => nodes.iter().map(|node| node.addr().to_string()).collect(),
        }
    }

    /// A connection that connects (and reconnects) in the background,
    /// handing every pushed message to `push`.
    fn connect(self, push: impl redis::aio::AsyncPushSender + Clone) -> redis::RedisResult<Raw> {
        match self {
            Client::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_push_sender(push)
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    // The response timeout is `Conn`'s: Redis's silence, not
                    // a deadline per call (see `conn`).
                    .set_response_timeout(None)
                    // Our control task paces the reconnection attempts; the
                    // manager's own retries only smooth a blip.
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_lazy_with_config(client, config).map(Raw::Single)
            }
            Client::Cluster(nodes) => {
                let client = redis::cluster::ClusterClientBuilder::new(nodes)
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(push)
                    .connection_timeout(Duration::from_secs(1))
                    // As above: the silence timeout is `Conn`'s.
                    .overall_response_timeout(None)
                    // A few quick retries ride over MOVED and a node's
                    // blip; a failover is the control task's to wait out.
                    .retries(3)
                    .min_retry_wait(20)
                    .max_retry_wait(200)
                    .build()?;
                let config = redis::cluster::ClusterConfig::new();
                Ok(Raw::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }
}

/// See [`State::reads`]: enough to keep Redis busy (a read is one script
/// call), few enough that a heartbeat queued behind them answers at once.
const READS_IN_FLIGHT: usize = 16;

const UNKNOWN: u8 = 0;
const SHARDED: u8 = 1;
const CLASSIC: u8 = 2;

/// What the three tasks and the runtime's handle ([`RedisEngine`]) share.
pub(super) struct State {
    names: Names,
    /// [`UNKNOWN`] until the first connection when the mode is `Auto`.
    mode: AtomicU8,
    /// Set once when the tasks start; cloned per use (a handle, not a lock
    /// held across an await).
    conn: Mutex<Option<Conn>>,
    /// Channels subscribed to now.
    channels: AtomicUsize,
    stop: CancellationToken,
    shared: Arc<Shared>,
    presence_ttl: Duration,
    reconnect_max: Duration,
    /// The bounds of the rooms' histories, when they live in Redis.
    history: Option<HistoryBounds>,
    /// The channels subscribed to on the current connection, as the control
    /// task last confirmed them, for a resume to wait on. The control task
    /// writes it; a loss clears it (see [`State::lose`]).
    listening: Mutex<Listening>,
    listening_changed: Notify,
    /// History reads in flight on the shared connection at most. A burst of
    /// resumes (a reconnect storm: one read each) then queues here, not on
    /// the connection, where it would hold heartbeats and publishes behind
    /// it.
    reads: tokio::sync::Semaphore,
}

/// The most a history read waits for the control task to subscribe to its
/// room while the connection is up (the control task's own calls end when
/// Redis is silent for the response timeout, and a loss ends the wait at
/// once): only a connection that left the room meanwhile waits this long.
const LISTEN_WAIT: Duration = Duration::from_secs(30);

/// What this node listens to, and on which connection.
#[derive(Default)]
struct Listening {
    /// Redis's `CLIENT ID` of the connection the subscriptions were made
    /// on: the redis crate may replace a dropped connection by itself, and
    /// a read on a connection of another id cannot trust them.
    client: Option<u64>,
    channels: HashSet<Channel>,
}

impl State {
    /// Waits until the control task has subscribed to `channel`: what is
    /// published from then on reaches this node. The id of the connection
    /// it subscribed on; `Unavailable` once the connection is lost.
    async fn listening(&self, channel: &Channel) -> Result<u64, BackendError> {
        let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
        loop {
            let changed = self.listening_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !self.shared.is_up() {
                return Err(BackendError::Unavailable);
            }
            {
                let listening = self.listening.lock();
                if let Some(client) = listening.client
                    && listening.channels.contains(channel)
                {
                    return Ok(client);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(BackendError::Unavailable);
            }
        }
    }

    fn conn(&self) -> Option<Conn> {
        self.conn.lock().clone()
    }

    fn sharded(&self) -> Option<bool> {
        match self.mode.load(Ordering::Acquire) {
            SHARDED => Some(true),
            CLASSIC => Some(false),
            _ => None,
        }
    }

    /// The connection failed: sends are refused from now on, nothing counts
    /// as listened to (a read waiting on it fails, a later one waits for the
    /// resync), and the control task reconnects and resubscribes.
    fn lose(&self) {
        self.shared.set_up(false, false);
        *self.listening.lock() = Listening::default();
        self.listening_changed.notify_waiters();
        self.shared.lost.notify_one();
    }
}

/// The Redis engine as the runtime holds it: the queues to its tasks, and
/// what they share. The tasks hold only the [`State`]: once the manager
/// drops this, the queues close and the tasks end.
struct RedisEngine {
    outbox: Outbox,
    state: Arc<State>,
}

impl Engine for RedisEngine {
    fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    fn keeps_history(&self) -> bool {
        self.state.history.is_some()
    }

    fn read(
        &self,
        room: Arc<str>,
        since: Option<(String, u64)>,
        max: usize,
    ) -> BoxFuture<'static, Result<Read, BackendError>> {
        Arc::clone(&self.state).read(room, since, max).boxed()
    }

    fn count(
        &self,
        channel: Channel,
        here: usize,
    ) -> BoxFuture<'static, Result<usize, BackendError>> {
        self.state.ask(move |conn, names, node| async move {
            Ok(here + presence::count(conn, &names, node, &channel).await?)
        })
    }

    fn presence(
        &self,
        room: Arc<str>,
        here: Vec<Entry>,
    ) -> BoxFuture<'static, Result<Vec<Entry>, BackendError>> {
        self.state.ask(move |conn, names, node| async move {
            presence::users(conn, &names, node, &room, here).await
        })
    }

    fn status(&self) -> BackendStatus {
        let state = &self.state;
        let channels = state.channels.load(Ordering::Relaxed);
        state.shared.status(state.sharded(), channels)
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let state = &self.state;
        state.stop.cancel();
        state.shared.set_up(false, false);
        let conn = state.conn.lock().take();
        let names = state.names.clone();
        let node = state.shared.node;
        async move {
            if let Some(conn) = conn {
                presence::withdraw(conn, &names, node).await;
            }
        }
        .boxed()
    }
}

impl State {
    /// `query` on the connection (taken now), with the names and this
    /// node's id: a future that holds neither the state nor a lock.
    fn ask<T, F>(
        &self,
        query: impl FnOnce(Conn, Names, u64) -> F,
    ) -> BoxFuture<'static, Result<T, BackendError>>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, BackendError>> + Send + 'static,
    {
        match self.conn() {
            Some(conn) => query(conn, self.names.clone(), self.shared.node).boxed(),
            None => futures_util::future::ready(Err(BackendError::Unavailable)).boxed(),
        }
    }

    /// See [`Engine::read`].
    async fn read(
        self: Arc<Self>,
        room: Arc<str>,
        since: Option<(String, u64)>,
        max: usize,
    ) -> Result<Read, BackendError> {
        let channel = Channel::Room(Arc::clone(&room));
        let since = since
            .as_ref()
            .map(|(epoch, offset)| (epoch.as_str(), *offset));
        let bounds = self.history.ok_or(BackendError::Unavailable)?;
        loop {
            // Subscribed first: every message recorded after the read's
            // head then reaches this node, on the same connection,
            // after the read's answer.
            let client = self.listening(&channel).await?;
            let mut conn = self.conn().ok_or(BackendError::Unavailable)?;
            let _turn = self
                .reads
                .acquire()
                .await
                .map_err(|_| BackendError::Unavailable)?;
            let cluster = conn.is_cluster();
            let (on, read) =
                history::read(&mut conn, cluster, &self.names, &room, since, max, bounds)
                    .await
                    .map_err(|error| BackendError::Failed(Box::new(error)))?;
            // On a cluster the read's node is the room's, the subscription
            // is on the same node's connection, and a replaced connection
            // says so by a push (`Disconnection`), which the subscriber
            // turns into a loss and a resync.
            if on == client || conn.is_cluster() {
                return Ok(read);
            }
            // Read on a connection that replaced the subscribed one
            // (not told yet): it listens to nothing. Resubscribed,
            // the read is made again.
            tracing::debug!(%room, "redis backend: the connection was replaced under a read");
            self.lose();
        }
    }
}

/// Channel and key names under `{prefix}:{protocol}:`.
#[derive(Clone)]
pub(super) struct Names {
    base: Arc<str>,
}

impl Names {
    fn new(prefix: &str, protocol: &str) -> Self {
        Self {
            base: Arc::from(format!("{prefix}:{protocol}:")),
        }
    }

    /// The channel's name, as a command argument written in place.
    fn channel<'a>(&'a self, channel: &'a Channel) -> ChannelName<'a> {
        ChannelName {
            base: &self.base,
            channel,
        }
    }

    /// The target of a message that came on the channel `name`.
    fn target<'a>(&self, name: &'a [u8]) -> Option<Target<'a>> {
        let rest = std::str::from_utf8(name).ok()?.strip_prefix(&*self.base)?;
        let tagged = |name: &'a str| name.strip_prefix('{')?.strip_suffix('}');
        if let Some(room) = rest.strip_prefix("room:") {
            tagged(room).map(Target::Room)
        } else if let Some(user) = rest.strip_prefix("user:") {
            tagged(user).map(Target::User)
        } else {
            (rest == "all").then_some(Target::All)
        }
    }

    // Presence under one hash tag: a node's refresh (one `MULTI` over
    // its keys and the set of nodes) and a query over the nodes stay in
    // one slot of a Redis Cluster.
    fn presence(&self, node: u64) -> String {
        format!("{}{{presence}}:{node}", self.base)
    }

    /// A node's copy of who is in `room`.
    fn present(&self, node: u64, room: &str) -> String {
        format!("{}{{presence}}:present:{node}:{room}", self.base)
    }

    fn nodes(&self) -> String {
        format!("{}{{presence}}:nodes", self.base)
    }

    /// A room's or user's field in a presence hash; `None` for `All`.
    fn field(channel: &Channel) -> Option<String> {
        match channel {
            Channel::Room(room) => Some(format!("room:{room}")),
            Channel::User(user) => Some(format!("user:{user}")),
            Channel::All => None,
        }
    }
}

/// A channel name written straight into a command: no `String` per publish.
pub(super) struct ChannelName<'a> {
    base: &'a str,
    channel: &'a Channel,
}

impl ToRedisArgs for ChannelName<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut w = out.writer_for_next_arg();
        // Writes into a Vec: they cannot fail.
        let _ = w.write_all(self.base.as_bytes());
        let _ = match self.channel {
            // The name in braces, the hash tag the room's history keys
            // have too: the record script publishes in their slot.
            Channel::Room(room) => w
                .write_all(b"room:{")
                .and_then(|()| w.write_all(room.as_bytes()))
                .and_then(|()| w.write_all(b"}")),
            Channel::User(user) => w
                .write_all(b"user:{")
                .and_then(|()| w.write_all(user.as_bytes()))
                .and_then(|()| w.write_all(b"}")),
            Channel::All => w.write_all(b"all"),
        };
    }
}

/// The subscribe, unsubscribe and publish commands of a mode.
fn commands(sharded: bool) -> (&'static str, &'static str, &'static str) {
    if sharded {
        ("SSUBSCRIBE", "SUNSUBSCRIBE", "SPUBLISH")
    } else {
        ("SUBSCRIBE", "UNSUBSCRIBE", "PUBLISH")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let names = Names::new("ws", "Chat");
        for (channel, name) in [
            (
                Channel::Room(Arc::from("lobby:1")),
                "ws:Chat:room:{lobby:1}",
            ),
            (Channel::Room(Arc::from("a}b")), "ws:Chat:room:{a}b}"),
            (Channel::User(Arc::from("alice")), "ws:Chat:user:{alice}"),
            (Channel::All, "ws:Chat:all"),
        ] {
            let mut cmd = redis::cmd("X");
            cmd.arg(names.channel(&channel));
            let args: Vec<_> = cmd.args_iter().collect();
            assert_eq!(args[1], redis::Arg::Simple(name.as_bytes()));
            let target = names.target(name.as_bytes()).unwrap();
            match (channel, target) {
                (Channel::Room(a), Target::Room(b)) | (Channel::User(a), Target::User(b)) => {
                    assert_eq!(&*a, b)
                }
                (Channel::All, Target::All) => {}
                _ => panic!("{name} parsed to the wrong target"),
            }
        }
        assert!(names.target(b"ws:Other:room:x").is_none());
        assert!(names.target(b"ws:Chat:bogus").is_none());
    }
}
