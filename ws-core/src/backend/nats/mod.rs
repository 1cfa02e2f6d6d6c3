//! The NATS JetStream backend: rooms, users and broadcasts across nodes
//! over core NATS subjects, the rooms' histories in JetStream streams and
//! presence in a JetStream key-value bucket, with the [`async_nats`]
//! client (which reconnects by itself).
//!
//! One client connection per node carries everything. Its tasks:
//! - [`publisher`]: drains the queue that broadcasts fill, in order: a
//!   plain message is one core publish; a recorded one a JetStream publish
//!   whose acknowledgements are awaited a batch at a time;
//! - [`receiver`]: one per channel listened to, delivering what arrives on
//!   it in arrival order (so per channel, and per sender, in publish
//!   order);
//! - [`control`]: keeps the subscriptions and this node's presence equal
//!   to the registry, and follows the client's connection events.
//!
//! Subjects, under `{prefix}.{protocol}` (`ws.Chat` by default):
//! `room.{token}`, `user.{token}` and `all`, where a token is the name in
//! unpadded URL-safe base64 after a `_` (a room may be named with any
//! characters, a subject token may not hold `.`, `*`, `>` or spaces, nor
//! be empty). The envelope between nodes is the Redis engine's (see
//! `envelope.rs`): the sending node is in it, and a node drops its own.
//!
//! # History: a stream per room
//! With `history` on, each room's history is a JetStream stream of its
//! own, `{prefix}_{protocol}_h_{token}`, capturing the subject
//! `h.{token}`:
//! - **offset = stream sequence**: a stream numbers what it stores 1, 2,
//!   3, ..., one per message, so the offsets need no counter and no
//!   check-and-retry: every node's publishes to a room are pipelined, and
//!   the stream orders them. (One shared stream would number all rooms
//!   together; per-room offsets there need
//!   `Nats-Expected-Last-Subject-Sequence` on every publish, so one round
//!   trip at a time per room, and retries when two nodes race.)
//! - **append atomic with publish**: the stream *republishes* each message
//!   it stored, after storing it and in sequence order, to the room's
//!   subject, with its sequence in a `Nats-Sequence` header: a message
//!   reaches the nodes only once it is kept, and every node, the sending
//!   one too, delivers recorded messages from there
//!   ([`Node::deliver_recorded`](super::Node::deliver_recorded)). A node
//!   that sees a sequence jump (a message it missed) reads the missing
//!   ones from the stream before delivering the next.
//! - **epoch = the stream's identity**: a random name given when it was
//!   made, kept in its description (its creation time would do, but a
//!   restarted server does not read it back to the nanosecond). A
//!   stream deleted (by an operator, or by the engine for a room recorded
//!   alone) or lost with the server's storage is created anew, with a new
//!   name and sequences from 1: a resume from before is told
//!   `epoch_changed`. Trimming never changes it.
//! - **retention**: `max_msgs` = the protocol's `history`, `max_age` = its
//!   `history_ttl`; file storage, so a restarted server keeps its
//!   histories (up to its last sync to disk: a server killed outright
//!   may lose its last writes unless it syncs always or is clustered with
//!   replicas). Streams are not removed when a room empties: a
//!   deployment with very many short-lived rooms and history on wants an
//!   operator's clean-up (or the Redis engine).
//!
//! # Presence
//! A key-value bucket `{prefix}_{protocol}_presence` (memory storage) whose
//! `max_age` is the presence TTL: each node writes its local count per
//! room and user (`c.{r|u}{token}.{node}`) and who is in each room
//! (`p.{token}.{node}`), and rewrites all of them three times per TTL. A
//! node that dies stops rewriting, and its entries age out within the TTL.
//! A query reads the last entry of each key under the channel's prefix.

mod control;
mod history;
mod presence;
mod publisher;
mod receiver;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use base64::Engine as _;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::{
    BackendError, BackendStatus, Channel, Engine, Entry, HistoryBounds, Link, Local, Outbox, Read,
    Shared, Tasks,
};

/// The NATS JetStream backend's settings; turn into a
/// [`Backend`](super::Backend) with `.into()`.
///
/// The server needs JetStream (`nats-server -js`) when the protocol keeps
/// a history, and for presence.
///
/// ```no_run
/// # use std::time::Duration;
/// # use ws_core::{ws_protocol, Manager, NatsBackend};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// # #[tokio::main] async fn main() {
/// let nats = NatsBackend::new("nats://127.0.0.1:4222")
///     .expect("a valid URL")
///     .prefix("myapp")
///     .presence_ttl(Duration::from_secs(10));
/// let manager = Manager::<Chat>::builder().backend(nats).build();
/// # }
/// ```
#[derive(Clone)]
#[must_use = "pass it to `ManagerBuilder::backend`"]
pub struct NatsBackend {
    url: String,
    prefix: String,
    publish_queue: usize,
    presence_ttl: Duration,
    response_timeout: Duration,
    reconnect_max: Duration,
}

impl NatsBackend {
    /// Settings for the NATS server at `url` (`nats://[user:password@]host[:port]`,
    /// several separated by commas). Fails only on a malformed URL; nothing
    /// is connected until the manager is built, and a server that is down
    /// then is retried in the background.
    pub fn new(url: &str) -> Result<Self, BackendError> {
        for one in url.split(',') {
            one.trim()
                .parse::<async_nats::ServerAddr>()
                .map_err(|error| BackendError::Config(format!("nats URL `{one}`: {error}")))?;
        }
        Ok(Self {
            url: url.to_owned(),
            prefix: "ws".to_owned(),
            publish_queue: 65_536,
            presence_ttl: Duration::from_secs(15),
            response_timeout: Duration::from_secs(2),
            reconnect_max: Duration::from_secs(2),
        })
    }

    /// The first part of every subject, stream and bucket (default `ws`), so
    /// that several applications can share one NATS. Characters other than
    /// ASCII letters, digits, `-` and `_` become `_`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Messages that may wait for the publisher (default 65 536); past it a
    /// send reports [`BackendError::Overloaded`].
    pub fn publish_queue(mut self, messages: usize) -> Self {
        self.publish_queue = messages.max(1);
        self
    }

    /// How long a node's presence outlives its last refresh (default 15 s,
    /// at least 300 ms; it is refreshed three times per TTL): the time a
    /// dead node's connections still count. Every node sharing a prefix
    /// must use the same (the bucket is made by the first).
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// How long a JetStream request (a recorded message's acknowledgement, a
    /// history read, a presence write) may wait for its answer (default 2 s).
    /// A recorded message not acknowledged in time is recorded on this node
    /// alone (see the engine contract).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout.max(Duration::from_millis(50));
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
        let state = Arc::new(State {
            names: Names::new(&self.prefix, protocol),
            nats: Mutex::new(None),
            kv: Mutex::new(None),
            entries: Mutex::new(HashMap::new()),
            epochs: Mutex::new(HashMap::new()),
            channels: AtomicUsize::new(0),
            stop: CancellationToken::new(),
            shared,
            presence_ttl: self.presence_ttl,
            response_timeout: self.response_timeout,
            history,
            listening: Mutex::new(Listening::default()),
            listening_changed: Notify::new(),
            generation: AtomicU64::new(0),
        });
        let link = Link::new(Box::new(NatsEngine {
            outbox,
            state: Arc::clone(&state),
        }));
        let spawn = Box::new(move |local: Local| {
            tokio::spawn(run(self, state, local, changes_rx, outgoing_rx));
        });
        (link, Tasks::new(spawn))
    }
}

impl fmt::Debug for NatsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hosts only: the URL may hold a password.
        let hosts: Vec<&str> = self
            .url
            .split(',')
            .map(|url| url.rsplit_once('@').map_or(url, |(_, host)| host).trim())
            .collect();
        f.debug_struct("NatsBackend")
            .field("hosts", &hosts)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Connects (in the background: a server that is down is retried), then
/// runs the publisher and the control task until the manager goes.
async fn run(
    settings: NatsBackend,
    state: Arc<State>,
    local: Local,
    changes: mpsc::UnboundedReceiver<Channel>,
    outgoing: mpsc::Receiver<super::Outgoing>,
) {
    let (events_tx, events) = mpsc::unbounded_channel();
    let reconnect_max = settings.reconnect_max;
    let options = async_nats::ConnectOptions::new()
        .event_callback(move |event| {
            let _ = events_tx.send(event);
            async {}
        })
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(1))
        .request_timeout(Some(settings.response_timeout))
        .reconnect_delay_callback(move |attempts| {
            let shift = u32::try_from(attempts.min(16)).unwrap_or(16);
            (control::FIRST_BACKOFF * 2u32.pow(shift)).min(reconnect_max)
        });
    let client = match options.connect(settings.url.as_str()).await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "nats backend: cannot start");
            return;
        }
    };
    let js = jetstream::ContextBuilder::new()
        .timeout(settings.response_timeout)
        .build(client.clone());
    *state.nats.lock() = Some(Nats { client, js });
    tokio::spawn(publisher::run(Arc::clone(&state), local.clone(), outgoing));
    control::run(&state, &local, changes, events).await;
    // The manager is gone or shut down: the last handles on the client go,
    // and with them the connection and every subscription.
    state.nats.lock().take();
    state.kv.lock().take();
}

/// The client and its JetStream context (cheap handles, cloned per use).
#[derive(Clone)]
pub(super) struct Nats {
    client: async_nats::Client,
    js: jetstream::Context,
}

/// What the tasks and the runtime's handle ([`NatsEngine`]) share.
pub(super) struct State {
    names: Names,
    /// Set once connected (in the background).
    nats: Mutex<Option<Nats>>,
    /// The presence bucket, once made on the current connection.
    kv: Mutex<Option<jetstream::kv::Store>>,
    /// This node's presence entries as last written: key, value.
    entries: Mutex<HashMap<String, bytes::Bytes>>,
    /// Each room's epoch as last learnt from its stream.
    epochs: Mutex<HashMap<Arc<str>, Arc<str>>>,
    /// Channels subscribed to now.
    channels: AtomicUsize,
    stop: CancellationToken,
    shared: Arc<Shared>,
    presence_ttl: Duration,
    response_timeout: Duration,
    /// The bounds of the rooms' histories, when they live in JetStream.
    history: Option<HistoryBounds>,
    /// The channels subscribed to and confirmed by the server (a round trip) on
    /// the current connection, for a resume to wait on.
    listening: Mutex<Listening>,
    listening_changed: Notify,
    /// Bumped by every (re)connection: a read made across one cannot
    /// trust the subscriptions it waited for.
    generation: AtomicU64,
}

/// What this node listens to, and on which connection.
#[derive(Default)]
struct Listening {
    generation: Option<u64>,
    channels: HashSet<Channel>,
}

/// The most a history read waits for the control task to subscribe to its
/// room while the connection is up.
const LISTEN_WAIT: Duration = Duration::from_secs(30);

impl State {
    fn nats(&self) -> Option<Nats> {
        self.nats.lock().clone()
    }

    fn kv(&self) -> Option<jetstream::kv::Store> {
        self.kv.lock().clone()
    }

    /// Waits until the control task listens to `channel`: what is published
    /// from then on reaches this node. The connection's generation;
    /// `Unavailable` once the connection is lost.
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
                if let Some(generation) = listening.generation
                    && listening.channels.contains(channel)
                {
                    return Ok(generation);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(BackendError::Unavailable);
            }
        }
    }

    /// The connection was lost: sends are refused from now on and nothing
    /// counts as listened to until the control task has resynced.
    fn lose(&self) {
        self.shared.set_up(false, false);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *self.listening.lock() = Listening::default();
        self.listening_changed.notify_waiters();
    }
}

/// The NATS engine as the runtime holds it.
struct NatsEngine {
    outbox: Outbox,
    state: Arc<State>,
}

impl Engine for NatsEngine {
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
        history::read(Arc::clone(&self.state), room, since, max).boxed()
    }

    fn count(
        &self,
        channel: Channel,
        here: usize,
    ) -> BoxFuture<'static, Result<usize, BackendError>> {
        let state = Arc::clone(&self.state);
        async move { Ok(here + presence::count(&state, &channel).await?) }.boxed()
    }

    fn presence(
        &self,
        room: Arc<str>,
        here: Vec<Entry>,
    ) -> BoxFuture<'static, Result<Vec<Entry>, BackendError>> {
        let state = Arc::clone(&self.state);
        async move { presence::users(&state, &room, here).await }.boxed()
    }

    fn status(&self) -> BackendStatus {
        let state = &self.state;
        state
            .shared
            .status(None, state.channels.load(Ordering::Relaxed))
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let state = Arc::clone(&self.state);
        // Taken before the tasks stop (and drop it): the withdrawal's way
        // to the server.
        let kv = state.kv();
        state.stop.cancel();
        state.shared.set_up(false, false);
        async move { presence::withdraw(&state, kv).await }.boxed()
    }
}

/// Subjects, stream and bucket names under one prefix and protocol.
#[derive(Clone)]
pub(super) struct Names {
    /// `{prefix}.{protocol}`: the subjects' first tokens.
    subjects: Arc<str>,
    /// `{prefix}_{protocol}`: the streams' and the bucket's first part.
    streams: Arc<str>,
}

/// The longest token kept as it is in a stream name (a stream is a folder
/// of the server's store: its name must fit a file name).
const MAX_NAME_TOKEN: usize = 160;

impl Names {
    fn new(prefix: &str, protocol: &str) -> Self {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let (prefix, protocol) = (clean(prefix), clean(protocol));
        Self {
            subjects: Arc::from(format!("{prefix}.{protocol}")),
            streams: Arc::from(format!("{prefix}_{protocol}")),
        }
    }

    /// A name as a subject token: never empty, none of `.`, `*`, `>` or
    /// white space.
    fn token(name: &str) -> String {
        let mut token = String::with_capacity(1 + name.len() * 4 / 3 + 3);
        token.push('_');
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(name, &mut token);
        token
    }

    /// The subject of a channel's fan-out.
    fn subject(&self, channel: &Channel) -> String {
        match channel {
            Channel::Room(room) => format!("{}.room.{}", self.subjects, Self::token(room)),
            Channel::User(user) => format!("{}.user.{}", self.subjects, Self::token(user)),
            Channel::All => format!("{}.all", self.subjects),
        }
    }

    /// The subject a room's stream captures (what a record publishes to).
    fn record_subject(&self, room: &str) -> String {
        format!("{}.h.{}", self.subjects, Self::token(room))
    }

    /// The name of a room's stream.
    fn stream(&self, room: &str) -> String {
        let token = Self::token(room);
        if token.len() <= MAX_NAME_TOKEN {
            return format!("{}_h{token}", self.streams);
        }
        // Too long for a file name: two independent 64-bit hashes.
        format!(
            "{}_hx{:016x}{:016x}",
            self.streams,
            fnv(room.as_bytes(), 0xcbf2_9ce4_8422_2325),
            fnv(room.as_bytes(), 0x6c62_272e_07bb_0142)
        )
    }

    /// The presence bucket.
    fn bucket(&self) -> String {
        format!("{}_presence", self.streams)
    }

    /// The presence key of a room's or user's count on `node`, or the
    /// filter of every node's (`node` = `*`); `None` for `All`.
    fn count_key(channel: &Channel, node: &str) -> Option<String> {
        match channel {
            Channel::Room(room) => Some(format!("c.r{}.{node}", Self::token(room))),
            Channel::User(user) => Some(format!("c.u{}.{node}", Self::token(user))),
            Channel::All => None,
        }
    }

    /// The presence key of who is in `room` on `node` (or `*`).
    fn users_key(room: &str, node: &str) -> String {
        format!("p.{}.{node}", Self::token(room))
    }
}

/// FNV-1a from `seed`: stable across processes and versions.
fn fnv(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_nats_tokens_for_any_room() {
        let names = Names::new("my app.x", "Chat");
        for room in ["", "lobby", "a.b", "*", ">", "with space", "é✓", "a/b\\c"] {
            let subject = names.subject(&Channel::Room(Arc::from(room)));
            let tokens: Vec<&str> = subject.split('.').collect();
            assert_eq!(tokens.len(), 4, "{subject}");
            assert!(
                tokens.iter().all(|t| !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))),
                "{subject}"
            );
            let stream = names.stream(room);
            assert!(
                stream
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
                "{stream}"
            );
        }
        assert_ne!(names.stream("a"), names.stream("b"));
        let long = "x".repeat(500);
        assert!(names.stream(&long).len() < 100);
        assert_ne!(names.stream(&long), names.stream(&"x".repeat(501)));
        assert_eq!(names.subject(&Channel::All), "my_app_x.Chat.all");
    }
}
