//! A typed client of a protocol, on tokio-tungstenite (feature `client`).
//!
//! [`Client::send`] takes the structs of `#[ws(client)]` variants only
//! ([`ClientMessage`]), [`Client::recv`] returns the protocol's enum,
//! [`Client::request`] sends a message that declares a reply with a fresh
//! correlation id and returns the reply's struct ([`Request::Reply`]).
//! An [`ErrorFrame`] from the server is [`ClientError::Server`].
//! [`Client::on_request`] answers requests of the server
//! (`#[ws(server, reply = Answer)]`, see [`request`](crate::request)).
//!
//! ```no_run
//! use ws_core::client::Client;
//! # use ws_core::ws_protocol;
//! # #[ws_protocol]
//! # #[serde(tag = "type", rename_all = "snake_case")]
//! # pub enum Chat {
//! #     #[ws(client)] Join { room: String },
//! #     #[ws(client, reply = Pong)] Ping { n: u32 },
//! #     #[ws(server)] Pong { n: u32 },
//! #     #[ws(server)] Said { text: String },
//! # }
//!
//! # async fn run() -> Result<(), ws_core::client::ClientError> {
//! let mut client = Client::<Chat>::connect("ws://127.0.0.1:3000/ws").await?;
//! client.send(chat::Join { room: "lobby".into() }).await?;
//! let pong: chat::Pong = client.request(chat::Ping { n: 1 }).await?;
//! assert_eq!(pong.n, 1);
//! let next: Chat = client.recv().await?;
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! One task drives a client (`&mut self`): a request reads frames until its
//! reply arrives, and keeps the other frames, in order, for `recv`.
//!
//! # Reconnecting and resuming
//! [`Client::connect`] connects once. [`Client::builder`] makes a client
//! that reconnects by itself after a drop that is not a deliberate close,
//! as the generated TypeScript client does: exponential backoff with full
//! jitter, capped ([`ReconnectPolicy`]); 1001 and 1012 (a server stopping
//! or deploying) and a drop without a close frame are retried at once.
//! Its state ([`ConnectionState`]) is a [`watch`] ([`Client::state`]) and
//! comes, in order with the messages, from [`Client::next_event`].
//!
//! For protocols with recorded messages (`#[ws(server, history)]`, see
//! [`history`](crate::history)) it tracks the rooms it is in and the last
//! `epoch` and `offset` seen in each, and after a reconnect sends each
//! room's [rejoin](ClientBuilder::rejoin) message with that position, so
//! that the server replays what was missed; each answer is an
//! [`Event::Recovery`] (`recovered`, or the [`Unrecovered`] reason).
//! Recorded messages at or before a room's last offset are dropped, so
//! none reaches the application twice. Conventions, as the TypeScript
//! client's: a recorded message names its room in a `room` field; a join's
//! answer has `room`, `epoch`, `offset` and `recovered` (the chat
//! example's `joined`).
//!
//! A request or ack awaited when the connection drops fails with
//! [`ClientError::Interrupted`]: whether the server handled it is unknown.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::UrlError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::correlation;
use crate::handler::{ErrorFrame, RefreshFrame, RefreshRequired};
use crate::history::{Position, Unrecovered};
use crate::protocol::{ClientMessage, Protocol, Request, ServerRequest, Variant};
use crate::wire::close::{CloseInfo, close_code};
use crate::wire::codec::Codec;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered the opening handshake with an HTTP response
    /// other than 101 (e.g. 401 from `authenticate`, 503 at the cap).
    #[error("{} refused the connection with {}", .0.url, .0.status)]
    Refused(Box<Refusal>),
    /// The connection could not be opened (no server, bad URL, bad handshake).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL given.
        url: String,
        /// What failed.
        #[source]
        source: Box<tungstenite::Error>,
    },
    /// The connection failed after it was open.
    #[error("the connection failed: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// A message could not be encoded as JSON.
    #[error("the message could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The server sent a frame that is not a message of the protocol.
    #[error("the server sent `{text}`, which is not a message of the protocol: {source}")]
    Decode {
        /// The frame as received (binary frames lossily).
        text: String,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
    /// The server refused a message, or its handler failed.
    #[error("the server answered with an error: {} ({})", .0.code, .0.message)]
    Server(ErrorFrame),
    /// Nothing (or not the reply) arrived in time.
    #[error("no {what} within {after:?}")]
    Timeout {
        /// What was awaited: `message` or ``reply to `ping` ``.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// The reply with the request's id was another message than the declared reply.
    #[error("the reply to `{request}` was a `{got}` message, not `{expected}`")]
    UnexpectedReply {
        /// The request's wire name.
        request: &'static str,
        /// The declared reply's wire name.
        expected: &'static str,
        /// What came instead.
        got: &'static str,
    },
    /// The connection is closed; the server's close frame, if it sent one.
    #[error("the connection is closed{}", match .0 { Some(c) => format!(" ({} {})", c.code, c.reason), None => String::new() })]
    Closed(Option<CloseInfo>),
    /// The connection dropped while a reply or an ack was awaited (or a
    /// message was being sent); whether the server handled the message is
    /// unknown. A client with a [`ReconnectPolicy`] reconnects on its next
    /// use.
    #[error("the connection dropped{}", match .0 { Some(c) => format!(" ({} {})", c.code, c.reason), None => String::new() })]
    Interrupted(Option<CloseInfo>),
    /// [`Client::join`] needs a rejoin hook ([`ClientBuilder::rejoin`]).
    #[error("`join` needs a rejoin hook: set one with `ClientBuilder::rejoin`")]
    NoRejoin,
}

/// The HTTP answer to an opening handshake that was refused.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Refusal {
    /// The URL given.
    pub url: String,
    /// The response's status, e.g. `401 Unauthorized`.
    pub status: StatusCode,
    /// The response's headers (`Retry-After`, `WWW-Authenticate`, ...).
    pub headers: HeaderMap,
    /// The response's body, lossily as UTF-8.
    pub body: String,
}

impl ClientError {
    /// The HTTP status a refused connection was answered with.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused(refusal) => Some(refusal.status),
            _ => None,
        }
    }

    fn connect(url: &str, error: tungstenite::Error) -> Self {
        match error {
            tungstenite::Error::Http(response) => {
                let (parts, body) = (*response).into_parts();
                Self::Refused(Box::new(Refusal {
                    url: url.to_owned(),
                    status: parts.status,
                    headers: parts.headers,
                    body: String::from_utf8_lossy(body.as_deref().unwrap_or_default()).into_owned(),
                }))
            }
            other => Self::Connect {
                url: url.to_owned(),
                source: Box::new(other),
            },
        }
    }
}

impl From<tungstenite::Error> for ClientError {
    fn from(error: tungstenite::Error) -> Self {
        match error {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                Self::Closed(None)
            }
            other => Self::WebSocket(Box::new(other)),
        }
    }
}

/// The close codes after which a client with a [`ReconnectPolicy`]
/// reconnects by default, as the TypeScript client does: 1001 (going away)
/// and 1012 (service restart), which a server sends when it stops or
/// deploys, and 1006 (the connection dropped without a close frame) are
/// retried at once, with jitter; 1011 (internal error), 1013 (try again
/// later) and 1014 (bad gateway) after a longer backoff. Never after
/// [`Client::close`], nor after 1000 (the server meant it), 1008 (policy),
/// 1002, 1003, 1007, 1009 and 1010 (the same traffic would fail again), or
/// an application code 4000-4999: the application decides.
pub const RECONNECT_CODES: [u16; 6] = [1001, 1006, 1011, 1012, 1013, 1014];

/// The default of [`ClientBuilder::idle_timeout`]: 2.5 times the server's
/// default [`heartbeat`](crate::Config::heartbeat) (30 s), so that one ping
/// lost or late (a busy server, a slow path) is not taken for a dead
/// connection, and a dead one is noticed within about two heartbeats
/// after the last frame; it is also longer than the server's own default
/// idle timeout (60 s), after which a live server would have closed a
/// connection whose pongs stopped.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// The codes retried at once (attempt 0): a restart or a drop, not an error.
const RETRY_AT_ONCE: [u16; 3] = [1001, 1006, 1012];

/// When and how fast a client reconnects after its connection dropped:
/// exponential backoff with full jitter, capped.
///
/// Attempt `n` (0 first) waits a uniformly random time in
/// `[0, min(max_delay, initial_delay × 2ⁿ))`. A drop by 1001, 1006 or 1012
/// starts at attempt 0; another retried code (1011, 1013, 1014) at attempt
/// 2, so an overloaded server is not asked again at once. Full jitter
/// spreads a crowd that was cut at once (a deploy, a network blip) over the
/// whole window instead of sending it back in one wave. A handshake refused
/// with 5xx, 408 or 429 (e.g. 503 at the server's `max_connections`) is a
/// failed attempt and backs off further; another refusal (401, 403, 404)
/// would fail again, and ends the client.
///
/// ```
/// use std::time::Duration;
/// use ws_core::client::ReconnectPolicy;
///
/// let policy = ReconnectPolicy::default()
///     .initial_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(Some(20));
/// assert_eq!(policy.delay_bound(0), Duration::from_millis(100));
/// assert_eq!(policy.delay_bound(3), Duration::from_millis(800));
/// assert_eq!(policy.delay_bound(10), Duration::from_secs(5));
/// assert!(policy.retries(1012) && !policy.retries(1000));
/// ```
#[derive(Clone)]
pub struct ReconnectPolicy {
    initial_delay: Duration,
    max_delay: Duration,
    max_attempts: Option<u32>,
    open_timeout: Duration,
    retry: Arc<dyn Fn(u16) -> bool + Send + Sync>,
}

impl Default for ReconnectPolicy {
    /// 500 ms first bound, capped at 30 s, attempts unbounded, 10 s to open,
    /// [`RECONNECT_CODES`] retried: the TypeScript client's defaults.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            open_timeout: Duration::from_secs(10),
            retry: Arc::new(|code| RECONNECT_CODES.contains(&code)),
        }
    }
}

impl fmt::Debug for ReconnectPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectPolicy")
            .field("initial_delay", &self.initial_delay)
            .field("max_delay", &self.max_delay)
            .field("max_attempts", &self.max_attempts)
            .field("open_timeout", &self.open_timeout)
            .finish_non_exhaustive()
    }
}

impl ReconnectPolicy {
    /// The bound of the first attempt's delay (default 500 ms).
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The cap of the delay bound (default 30 s).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Attempts in a row that may fail before the client gives up and is
    /// [`ConnectionState::Closed`]; `None` (the default) never gives up.
    #[must_use]
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How long an attempt may take to open before it counts as failed
    /// (default 10 s): a handshake a stopping server never answers must not
    /// stall the reconnecting.
    #[must_use]
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// Which close codes are retried (default: those in
    /// [`RECONNECT_CODES`]); a drop without a close frame is 1006.
    #[must_use]
    pub fn retry(mut self, retry: impl Fn(u16) -> bool + Send + Sync + 'static) -> Self {
        self.retry = Arc::new(retry);
        self
    }

    /// Whether a close with `code` is retried.
    pub fn retries(&self, code: u16) -> bool {
        (self.retry)(code)
    }

    /// The bound of attempt `attempt`'s delay: `min(max_delay, initial_delay × 2^attempt)`.
    pub fn delay_bound(&self, attempt: u32) -> Duration {
        self.initial_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max_delay)
    }
}

/// Where a client's connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The first handshake is under way.
    Connecting,
    /// Connected.
    Open,
    /// Between a drop and the next open: waiting out a delay, or opening.
    Reconnecting,
    /// For good: closed by [`Client::close`], by the server with a code
    /// that is not retried, or given up after
    /// [`ReconnectPolicy::max_attempts`].
    Closed,
}

/// A change of [`ConnectionState`], with its cause.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The new state.
    pub state: ConnectionState,
    /// The close that left [`Open`](ConnectionState::Open), or what failed
    /// the last attempt (1006 with the error as reason for a connection
    /// that could not be opened or dropped without a close frame).
    pub close: Option<CloseInfo>,
    /// When [`Reconnecting`](ConnectionState::Reconnecting): the attempt
    /// (0 first, see [`ReconnectPolicy`]).
    pub attempt: Option<u32>,
    /// When [`Reconnecting`](ConnectionState::Reconnecting): the delay
    /// before this attempt.
    pub delay: Option<Duration>,
}

impl StateChange {
    fn new(state: ConnectionState, close: Option<CloseInfo>) -> Self {
        Self {
            state,
            close,
            attempt: None,
            delay: None,
        }
    }
}

/// How a (re)join went, from the server's answer to it: a message with
/// the `room`, `epoch`, `offset` and `recovered` fields (the chat example's
/// `joined`; see [`history`](crate::history)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The room.
    pub room: String,
    /// Whether every recorded message after the position sent follows.
    pub recovered: bool,
    /// Why not, when a position was sent and could not be resumed; `None`
    /// for a join without one. After `recovered: false` the application
    /// reloads the room's state: only messages after
    /// [`offset`](Self::offset) follow.
    pub reason: Option<Unrecovered>,
    /// The room's epoch (empty when the server keeps no history).
    pub epoch: String,
    /// The room's latest offset when the server answered.
    pub offset: u64,
}

/// What [`Client::next_event`] returns: a message, or what happened to the
/// connection, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<P> {
    /// A message from the server.
    Message(P),
    /// The connection changed state (after the first open).
    State(StateChange),
    /// A join was answered; the answer itself follows as a
    /// [`Message`](Event::Message).
    Recovery(Recovery),
}

/// The message that (re)joins a room, from the room and the position last
/// seen in it.
type Rejoin<P> = Box<dyn FnMut(&str, Option<Position>) -> P + Send>;

/// The application's `get_token`: a fresh credential, for every handshake
/// and every `refresh_required`.
type GetToken = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> + Send + Sync,
>;

/// A [`Client`] to configure before it connects; made by
/// [`Client::builder`]. It reconnects by itself ([`ReconnectPolicy`], on by
/// default) and, with a [`rejoin`](Self::rejoin) hook, rejoins its rooms
/// from the last positions it saw.
#[must_use = "a builder connects only when `connect` is awaited"]
pub struct ClientBuilder<P> {
    url: String,
    headers: HeaderMap,
    codec: Codec,
    timeout: Duration,
    policy: Option<ReconnectPolicy>,
    rejoin: Option<Rejoin<P>>,
    get_token: Option<GetToken>,
    idle_timeout: Option<Duration>,
}

impl<P: Protocol> ClientBuilder<P> {
    /// Where the client gets its credential: `get_token` is awaited before
    /// every handshake (the first and each reconnect), whose request
    /// carries it as `Authorization: Bearer <token>`, and whenever the
    /// server sends a [`RefreshRequired`] frame (the session behind the
    /// connection is about to [expire](crate::Session::expires_at)), which
    /// the client answers with a [`RefreshFrame`] by itself, between two
    /// reads: the application sees neither frame.
    ///
    /// `get_token` should return a credential that is fresh, not the one
    /// the connection began with: a refresh with a token the server refuses
    /// closes the connection with 4003. A connection closed with 4001 (the
    /// session expired: the client was not reading when asked) is reopened
    /// with a fresh token, as a drop is.
    ///
    /// ```no_run
    /// # use ws_core::ws_protocol;
    /// use ws_core::client::Client;
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat {
    /// #     #[ws(client, server)] Say { text: String },
    /// # }
    ///
    /// async fn fresh_token() -> String {
    ///     // Ask the identity provider; here, a fixed token.
    ///     "eyJhbGciOiJIUzI1NiJ9.e30.sig".to_owned()
    /// }
    ///
    /// # async fn run() -> Result<(), ws_core::client::ClientError> {
    /// let mut client = Client::<Chat>::builder("ws://127.0.0.1:3000/ws")
    ///     .get_token(fresh_token)
    ///     .connect()
    ///     .await?;
    /// // Refreshes happen inside `recv`, `next_event` and `request`.
    /// let said = client.recv().await?;
    /// # let _ = said;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_token<F, Fut>(mut self, get_token: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = String> + Send + 'static,
    {
        self.get_token = Some(Arc::new(move || Box::pin(get_token())));
        self
    }

    /// Extra request headers of every handshake, such as `Authorization`
    /// or `Cookie`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers.extend(headers);
        self
    }

    /// The codec to speak: [`Codec::MessagePack`] asks for the protocol's
    /// MessagePack subprotocol (e.g. `chat.v1.msgpack`, see [`Codec`]) on
    /// every handshake; [`Codec::Json`] (the default) asks for nothing.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// How long [`Client::request`] waits by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The reconnect policy (default: [`ReconnectPolicy::default`]).
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Connects once, as [`Client::connect`] does: a drop ends the client.
    pub fn no_reconnect(mut self) -> Self {
        self.policy = None;
        self
    }

    /// How to rejoin a room after a reconnect: the framework does not know
    /// the application's join message, so `rejoin` makes it from the room
    /// and the last position seen in it (`None` when the room keeps no
    /// history or nothing was seen yet). [`Client::join`] uses it too.
    ///
    /// ```no_run
    /// # use ws_core::ws_protocol;
    /// use ws_core::client::{Client, Event};
    /// # #[ws_protocol(history = 100)]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat {
    /// #     #[ws(client)] Join { room: String, since: Option<ws_core::history::Position> },
    /// #     #[ws(server)] Joined {
    /// #         room: String, epoch: String, offset: u64, recovered: bool,
    /// #         reason: Option<ws_core::history::Unrecovered>,
    /// #     },
    /// #     #[ws(server, history)] Said { room: String, text: String },
    /// # }
    ///
    /// # async fn run() -> Result<(), ws_core::client::ClientError> {
    /// let mut client = Client::<Chat>::builder("ws://127.0.0.1:3000/ws")
    ///     .rejoin(|room, since| chat::Join { room: room.to_owned(), since })
    ///     .connect()
    ///     .await?;
    /// client.join("lobby").await?;
    /// loop {
    ///     match client.next_event().await? {
    ///         Event::Message(Chat::Said { text, .. }) => println!("{text}"),
    ///         Event::Recovery(r) if !r.recovered => println!("reload {} ({:?})", r.room, r.reason),
    ///         Event::State(change) => println!("{:?}", change.state),
    ///         _ => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn rejoin<M, F>(mut self, mut rejoin: F) -> Self
    where
        M: ClientMessage<P>,
        F: FnMut(&str, Option<Position>) -> M + Send + 'static,
    {
        self.rejoin = Some(Box::new(move |room: &str, since: Option<Position>| {
            rejoin(room, since).into_client_message()
        }));
        self
    }

    /// How long a connection may receive nothing at all (no message, no
    /// ping) before the client treats it as dropped, as a 1006: with a
    /// [`ReconnectPolicy`] it reconnects and resumes, without one it is
    /// closed. `None` waits forever. Default:
    /// [`DEFAULT_IDLE_TIMEOUT`] (75 s).
    ///
    /// A path that dies without a FIN or a reset (a NAT or a load balancer
    /// that forgets the flow, a peer whose host vanished: half-open TCP)
    /// delivers nothing and fails nothing; only silence reveals it. The
    /// server pings every [`heartbeat`](crate::Config::heartbeat) (30 s by
    /// default), so a live connection is never silent for longer than that
    /// and the time its data takes. A server with another heartbeat wants
    /// a timeout of about 2.5 heartbeats; one with the heartbeat `"off"`
    /// wants `None` (or its own application-level traffic).
    ///
    /// ```no_run
    /// # use ws_core::ws_protocol;
    /// use std::time::Duration;
    /// use ws_core::client::Client;
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat { #[ws(client)] Join { room: String } }
    /// # async fn run() -> Result<(), ws_core::client::ClientError> {
    /// // The server runs with `heartbeat = "10s"`.
    /// let client = Client::<Chat>::builder("ws://127.0.0.1:3000/ws")
    ///     .idle_timeout(Some(Duration::from_secs(25)))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn idle_timeout(mut self, after: Option<Duration>) -> Self {
        self.idle_timeout = after;
        self
    }

    /// Opens the first connection. Without a policy
    /// ([`no_reconnect`](Self::no_reconnect)) it tries once. With one, the
    /// first connect is retried as a reconnect is, so that a client started
    /// before its server (a deploy that starts both, a server restarting)
    /// connects once the server is up:
    ///
    /// - a connection that cannot be opened (refused, reset, no answer
    ///   within [`ReconnectPolicy::open_timeout`]) is retried as a drop
    ///   (1006) is, from attempt 0;
    /// - a handshake refused with 5xx, 408 or 429 (a server overloaded,
    ///   starting or rate limiting) is retried as 1013 is, from attempt 2;
    /// - another refusal (401, 403, 404: the server means it) and a URL
    ///   that cannot be used fail at once;
    /// - [`ReconnectPolicy::max_attempts`] bounds the attempts, the first
    ///   included (at least one is made); giving up returns the last
    ///   attempt's error.
    ///
    /// A close right after the handshake (1013 from a server at its limit,
    /// a 4000-4999 code from the application) is the first connection's
    /// drop, seen on the first read: 1013 is retried, a 4xxx ends the
    /// client ([`ConnectionState::Closed`]). When the first connect had to
    /// retry, [`Client::next_event`] first reports each failed attempt
    /// ([`ConnectionState::Connecting`], with what failed, its attempt and
    /// delay), then [`ConnectionState::Open`].
    ///
    /// ```no_run
    /// # use ws_core::ws_protocol;
    /// use std::time::Duration;
    /// use ws_core::client::{Client, ClientError, ReconnectPolicy};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat { #[ws(client)] Join { room: String } }
    ///
    /// # async fn run() -> Result<(), ClientError> {
    /// // Started before the server: waits for it, for at most 20 attempts.
    /// let policy = ReconnectPolicy::default().max_attempts(Some(20));
    /// match Client::<Chat>::builder("ws://127.0.0.1:3000/ws")
    ///     .reconnect(policy)
    ///     .connect()
    ///     .await
    /// {
    ///     Ok(client) => { /* ... */ }
    ///     // 401 or 403: retrying would not help.
    ///     Err(ClientError::Refused(refusal)) => eprintln!("refused: {}", refusal.status),
    ///     // 20 attempts failed: the last one's error.
    ///     Err(error) => eprintln!("no server: {error}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<Client<P>, ClientError> {
        let (state, _) = watch::channel(ConnectionState::Connecting);
        let mut events = VecDeque::new();
        let mut seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            | 1;
        let target = Target {
            url: &self.url,
            headers: &self.headers,
            get_token: self.get_token.as_ref(),
            codec: self.codec,
        };
        let (ws, handshake) = match &self.policy {
            None => target.open::<P>(None).await?,
            Some(policy) => match target.open::<P>(Some(policy.open_timeout)).await {
                Ok(opened) => opened,
                Err(error) => {
                    let attempt = match &error {
                        ClientError::Refused(refusal) if refusal_is_temporary(refusal.status) => 2,
                        ClientError::Connect { source, .. }
                            if !matches!(**source, tungstenite::Error::Url(_)) =>
                        {
                            0
                        }
                        // A refusal the server means, or a URL that
                        // cannot be used: no attempt would do better.
                        _ => {
                            state.send_replace(ConnectionState::Closed);
                            return Err(error);
                        }
                    };
                    let mut progress = Progress {
                        state: &state,
                        events: &mut events,
                        seed: &mut seed,
                    };
                    let from = Retry {
                        during: ConnectionState::Connecting,
                        close: Some(CloseInfo::new(1006, error.to_string())),
                        error: Some(error),
                        attempt,
                        failures: 1,
                    };
                    match target.open_retrying::<P>(policy, from, &mut progress).await {
                        Retried::Open(ws, handshake) => (*ws, handshake),
                        Retried::Refused(refusal) => return Err(ClientError::Refused(refusal)),
                        Retried::GaveUp { error, .. } => {
                            return Err(error.expect("the first attempt failed"));
                        }
                    }
                }
            },
        };
        state.send_replace(ConnectionState::Open);
        if !events.is_empty() {
            events.push_back(Incoming::State(StateChange::new(
                ConnectionState::Open,
                None,
            )));
        }
        Ok(Client {
            codec: self.codec,
            ws,
            buffered: events,
            ahead: None,
            next_id: 1,
            answers: HashMap::new(),
            timeout: self.timeout,
            closed: None,
            handshake,
            url: self.url,
            headers: self.headers,
            policy: self.policy,
            rejoin: self.rejoin,
            get_token: self.get_token,
            rooms: BTreeMap::new(),
            tracks: P::MESSAGES.iter().any(|m| m.is_recorded()),
            dropped: None,
            state,
            seed,
            idle_timeout: self.idle_timeout,
            heard: Instant::now(),
            protocol: PhantomData,
        })
    }
}

/// Where and how a client opens its connections.
struct Target<'a> {
    url: &'a str,
    headers: &'a HeaderMap,
    get_token: Option<&'a GetToken>,
    codec: Codec,
}

/// Where attempts report to: the client's state and events, and its jitter.
struct Progress<'a, P> {
    state: &'a watch::Sender<ConnectionState>,
    events: &'a mut VecDeque<Incoming<P>>,
    seed: &'a mut u64,
}

impl<P> Progress<'_, P> {
    fn change(&mut self, change: StateChange) {
        self.state.send_replace(change.state);
        self.events.push_back(Incoming::State(change));
    }
}

/// Where a run of attempts starts: after a drop, or after a failed first
/// attempt.
struct Retry {
    /// The state reported while retrying: `Connecting` or `Reconnecting`.
    during: ConnectionState,
    /// What ended the last connection, or failed the last attempt.
    close: Option<CloseInfo>,
    /// The last attempt's error, if an attempt failed.
    error: Option<ClientError>,
    /// The first attempt's number, for its delay.
    attempt: u32,
    /// Attempts failed so far (`max_attempts` counts them).
    failures: u32,
}

/// What a run of attempts came to.
enum Retried {
    Open(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>, HeaderMap),
    /// Refused for good (a 4xx other than 408 and 429).
    Refused(Box<Refusal>),
    /// `max_attempts` failed: the last close, and the last error if any.
    GaveUp {
        close: Option<CloseInfo>,
        error: Option<ClientError>,
    },
}

impl Target<'_> {
    /// One attempt: a fresh token, then the handshake, within `within`.
    async fn open<P: Protocol>(
        &self,
        within: Option<Duration>,
    ) -> Result<(WebSocketStream<MaybeTlsStream<TcpStream>>, HeaderMap), ClientError> {
        let headers = with_token(self.headers, self.get_token).await;
        let Some(within) = within else {
            return open::<P>(self.url, &headers, self.codec).await;
        };
        match timeout(within, open::<P>(self.url, &headers, self.codec)).await {
            Ok(opened) => opened,
            Err(_) => Err(ClientError::Connect {
                url: self.url.to_owned(),
                source: Box::new(tungstenite::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no open within {within:?}"),
                ))),
            }),
        }
    }

    /// Attempts by `policy` until one opens, the server refuses for good,
    /// or `max_attempts` failed. Attempt `n` waits a jittered
    /// [`delay_bound`](ReconnectPolicy::delay_bound)`(n)` first; each
    /// failure moves to the next `n`.
    async fn open_retrying<P: Protocol>(
        &self,
        policy: &ReconnectPolicy,
        from: Retry,
        progress: &mut Progress<'_, P>,
    ) -> Retried {
        let Retry {
            during,
            mut close,
            mut error,
            mut attempt,
            mut failures,
        } = from;
        loop {
            if policy.max_attempts.is_some_and(|max| failures >= max) {
                return Retried::GaveUp { close, error };
            }
            let delay = jitter(progress.seed, policy.delay_bound(attempt));
            progress.change(StateChange {
                state: during,
                close: close.clone(),
                attempt: Some(attempt),
                delay: Some(delay),
            });
            tokio::time::sleep(delay).await;
            match self.open::<P>(Some(policy.open_timeout)).await {
                Ok((ws, handshake)) => return Retried::Open(Box::new(ws), handshake),
                Err(ClientError::Refused(refusal)) if !refusal_is_temporary(refusal.status) => {
                    return Retried::Refused(refusal);
                }
                Err(failed) => {
                    close = Some(CloseInfo::new(1006, failed.to_string()));
                    error = Some(failed);
                }
            }
            attempt = attempt.saturating_add(1);
            failures += 1;
        }
    }
}

/// A uniformly random duration in `[0, bound)` (xorshift64*; jitter needs
/// spread, not secrecy).
fn jitter(seed: &mut u64, bound: Duration) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let unit = (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
    bound.mul_f64(unit)
}

/// `headers`, with a fresh token from `get_token` as `Authorization:
/// Bearer` (a token that is not a valid header value is left out: the
/// server then refuses the handshake as unauthenticated).
async fn with_token(headers: &HeaderMap, get_token: Option<&GetToken>) -> HeaderMap {
    let mut headers = headers.clone();
    if let Some(get_token) = get_token
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", get_token().await))
    {
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

/// Opens a connection: the socket and the headers of the server's 101.
/// A codec other than JSON is asked for as the protocol's subprotocol; a
/// server that does not select it fails the handshake.
async fn open<P: Protocol>(
    url: &str,
    headers: &HeaderMap,
    codec: Codec,
) -> Result<(WebSocketStream<MaybeTlsStream<TcpStream>>, HeaderMap), ClientError> {
    let mut request = url
        .into_client_request()
        .map_err(|error| ClientError::connect(url, error))?;
    request.headers_mut().extend(headers.clone());
    if codec != Codec::Json {
        let name = codec.subprotocol(P::SUBPROTOCOL);
        let name = HeaderValue::from_str(&name).map_err(|_| {
            ClientError::connect(
                url,
                tungstenite::Error::Url(UrlError::UnableToConnect(name)),
            )
        })?;
        request
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, name);
    }
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|error| ClientError::connect(url, error))?;
    Ok((ws, response.into_parts().0.headers))
}

/// Whether a refused handshake may succeed later: the server is
/// overloaded, restarting or rate limiting, not refusing this client.
fn refusal_is_temporary(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The fields of a frame that place it in a room's stream.
#[derive(Deserialize)]
struct Place {
    room: Option<String>,
    epoch: Option<String>,
    offset: Option<u64>,
    recovered: Option<bool>,
    reason: Option<serde_json::Value>,
}

/// What the position tracking makes of a frame.
enum Tracked {
    Keep,
    /// A recorded message at or before the room's last position: a
    /// duplicate, dropped.
    Duplicate,
    /// The answer to a join.
    Answer(Recovery),
}

/// A frame from the server, decoded, with its correlation id.
enum Incoming<P> {
    Message(P, Option<u64>),
    Error(ErrorFrame, Option<u64>),
    /// `{"type":"ack","id":..}` (`correlate = "all"`).
    Ack(u64),
    State(StateChange),
    Recovery(Recovery),
}

/// A typed client of protocol `P`.
pub struct Client<P> {
    /// What frames are encoded in, both ways.
    codec: Codec,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames read while waiting for a reply, for `recv`.
    buffered: VecDeque<Incoming<P>>,
    next_id: u64,
    timeout: Duration,
    closed: Option<Option<CloseInfo>>,
    /// The headers of the server's 101.
    handshake: HeaderMap,
    /// `on_request` handlers, by the wire name of the request of the server.
    answers: HashMap<&'static str, Answerer<P>>,
    /// A frame decoded with the one `read` returned, returned next.
    ahead: Option<Incoming<P>>,
    /// What a reconnect opens again.
    url: String,
    headers: HeaderMap,
    /// `None`: a drop ends the client.
    policy: Option<ReconnectPolicy>,
    rejoin: Option<Rejoin<P>>,
    get_token: Option<GetToken>,
    /// The rooms joined, with the last position seen in each (`None` while
    /// unknown, or when the room keeps no history).
    rooms: BTreeMap<String, Option<Position>>,
    /// Whether the protocol has recorded messages, whose positions are tracked.
    tracks: bool,
    /// The connection dropped (with this close, if any) and is to be opened
    /// again on the next use.
    dropped: Option<Option<CloseInfo>>,
    state: watch::Sender<ConnectionState>,
    /// The jitter's random state (xorshift).
    seed: u64,
    /// How long the connection may receive nothing before it counts as
    /// dropped ([`ClientBuilder::idle_timeout`]).
    idle_timeout: Option<Duration>,
    /// When the connection last received a frame (or opened).
    heard: Instant,
    protocol: PhantomData<fn() -> P>,
}

/// An `on_request` handler: the answer to a request it takes, or the
/// message back if it is not its request.
type Answerer<P> = Box<dyn FnMut(P) -> Result<P, P> + Send>;

impl<P: Protocol> Client<P> {
    /// How long [`request`](Self::request) waits by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Connects to `url` (`ws://host:port/path`). A server that answers
    /// with another HTTP status than 101 gives [`ClientError::Refused`].
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        Self::connect_with_headers(url, HeaderMap::new()).await
    }

    /// [`connect`](Self::connect) with extra request headers, such as
    /// `Authorization` or `Cookie`.
    ///
    /// ```no_run
    /// # use ws_core::{client::Client, ws_protocol};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat { #[ws(client)] Join { room: String } }
    /// use ws_core::axum::http::{HeaderMap, HeaderValue, header};
    ///
    /// # async fn run() -> Result<(), ws_core::client::ClientError> {
    /// let mut headers = HeaderMap::new();
    /// headers.insert(header::COOKIE, HeaderValue::from_static("session=abc"));
    /// let client = Client::<Chat>::connect_with_headers("ws://127.0.0.1:3000/ws", headers).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with_headers(url: &str, headers: HeaderMap) -> Result<Self, ClientError> {
        Self::connect_with(url, headers, Codec::Json).await
    }

    /// [`connect_with_headers`](Self::connect_with_headers) speaking
    /// `codec`: [`Codec::MessagePack`] asks for the protocol's MessagePack
    /// subprotocol (`chat.v1.msgpack`, see [`Codec`]) and then sends and
    /// receives binary MessagePack frames; the typed API is the same. A
    /// server that does not select the subprotocol fails the connection
    /// ([`ClientError::Connect`]). [`Codec::Json`] asks for nothing. With
    /// reconnects: [`ClientBuilder::codec`].
    ///
    /// ```no_run
    /// # use ws_core::{client::Client, ws_protocol, Codec};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat { #[ws(client)] Join { room: String } }
    /// # async fn run() -> Result<(), ws_core::client::ClientError> {
    /// let url = "ws://127.0.0.1:3000/ws";
    /// let mut client = Client::<Chat>::connect_with(url, Default::default(), Codec::MessagePack).await?;
    /// assert_eq!(client.codec(), Codec::MessagePack);
    /// client.send(chat::Join { room: "lobby".into() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(
        url: &str,
        headers: HeaderMap,
        codec: Codec,
    ) -> Result<Self, ClientError> {
        Self::builder(url)
            .headers(headers)
            .codec(codec)
            .no_reconnect()
            .connect()
            .await
    }

    /// The codec this client speaks (see [`connect_with`](Self::connect_with)).
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// A client message's frame in this client's codec.
    fn frame(&self, text: String) -> Result<Message, ClientError> {
        match self.codec {
            Codec::Json => Ok(Message::text(text)),
            Codec::MessagePack => {
                let mut packed = Vec::with_capacity(text.len());
                crate::wire::codec::pack_into(text.as_bytes(), &mut packed).map_err(|error| {
                    ClientError::Encode(<serde_json::Error as serde::ser::Error>::custom(error))
                })?;
                Ok(Message::binary(packed))
            }
        }
    }

    /// A client to configure: it reconnects by itself after a drop
    /// ([`ReconnectPolicy`], on by default) and rejoins its rooms from the
    /// last positions it saw ([`ClientBuilder::rejoin`]). See
    /// [`next_event`](Self::next_event).
    pub fn builder(url: &str) -> ClientBuilder<P> {
        ClientBuilder {
            url: url.to_owned(),
            headers: HeaderMap::new(),
            codec: Codec::Json,
            timeout: Self::DEFAULT_TIMEOUT,
            policy: Some(ReconnectPolicy::default()),
            rejoin: None,
            get_token: None,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }

    /// The headers of the server's 101 response (e.g. `Set-Cookie`).
    pub fn handshake_headers(&self) -> &HeaderMap {
        &self.handshake
    }

    /// Sets how long [`request`](Self::request) waits for a reply.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends a client message.
    pub async fn send(&mut self, message: impl ClientMessage<P>) -> Result<(), ClientError> {
        let json =
            serde_json::to_string(&message.into_client_message()).map_err(ClientError::Encode)?;
        self.send_text(json).await
    }

    /// Sends a text frame as it is, e.g. to test how a server answers a
    /// malformed message.
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), ClientError> {
        if self.dropped.is_some() {
            self.reconnect().await?;
        }
        let frame = self.frame(text.into())?;
        match self.ws.send(frame).await {
            Ok(()) => Ok(()),
            Err(error) => Err(self.interrupted(error.into())),
        }
    }

    /// The next message from the server; an [`ErrorFrame`] is
    /// [`ClientError::Server`]. Waits as long as it takes; a client with a
    /// [`ReconnectPolicy`] reconnects meanwhile if it must (what happened
    /// is in [`next_event`](Self::next_event) and [`state`](Self::state)).
    pub async fn recv(&mut self) -> Result<P, ClientError> {
        loop {
            if let Event::Message(message) = self.next_event().await? {
                return Ok(message);
            }
        }
    }

    /// The next message or event: [`Event::State`] when the connection
    /// drops, reconnects or ends, [`Event::Recovery`] when a join is
    /// answered, in the order they happened. An [`ErrorFrame`] is
    /// [`ClientError::Server`].
    ///
    /// With a [`ReconnectPolicy`] a drop that is not a deliberate close is
    /// followed by reconnect attempts, right here: the client reconnects
    /// while it is driven (by `next_event`, [`recv`](Self::recv) or a
    /// send). Once open again it sends the [rejoin](ClientBuilder::rejoin)
    /// message of each room it is in, with the last position it saw there,
    /// so that the server replays what was missed; recorded messages at or
    /// before a room's last position (a replay overlapping what arrived) are
    /// dropped, so none reaches the application twice.
    pub async fn next_event(&mut self) -> Result<Event<P>, ClientError> {
        loop {
            let incoming = match self.buffered.pop_front() {
                Some(incoming) => incoming,
                None if self.dropped.is_some() => {
                    match self.reconnect().await {
                        // Dropped again while rejoining: the next round
                        // reconnects and rejoins again.
                        Ok(()) | Err(ClientError::Interrupted(_)) => continue,
                        Err(error) => return Err(error),
                    }
                }
                None => match self.read().await {
                    Ok(incoming) => incoming,
                    // A close for good is reported as an event first.
                    Err(error) => match self.on_read_error(error) {
                        Some(error) if self.buffered.is_empty() => return Err(error),
                        _ => continue,
                    },
                },
            };
            match incoming {
                Incoming::Message(message, _) => return Ok(Event::Message(message)),
                Incoming::Error(frame, _) => return Err(ClientError::Server(frame)),
                // An ack no one waits for any more (its wait timed out).
                Incoming::Ack(_) => continue,
                Incoming::State(change) => return Ok(Event::State(change)),
                Incoming::Recovery(recovery) => return Ok(Event::Recovery(recovery)),
            }
        }
    }

    /// The connection's state, to watch from any task.
    ///
    /// ```no_run
    /// # use ws_core::{client::{Client, ConnectionState}, ws_protocol};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat { #[ws(client)] Join { room: String } }
    /// # async fn run() -> Result<(), ws_core::client::ClientError> {
    /// let client = Client::<Chat>::builder("ws://127.0.0.1:3000/ws").connect().await?;
    /// let mut state = client.state();
    /// tokio::spawn(async move {
    ///     while state.changed().await.is_ok() {
    ///         if *state.borrow() == ConnectionState::Reconnecting {
    ///             eprintln!("reconnecting…");
    ///         }
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.subscribe()
    }

    /// The last position seen in `room`: the `since` of a rejoin. Tracked
    /// from every recorded message (`#[ws(server, history)]`) that names a
    /// `room` and carries `epoch` and `offset`, and from join answers.
    pub fn since(&self, room: &str) -> Option<&Position> {
        self.rooms.get(room).and_then(Option::as_ref)
    }

    /// The rooms the client rejoins after a reconnect: those it
    /// [`join`](Self::join)ed, got a join answer or a recorded message of.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.keys().map(String::as_str)
    }

    /// Forgets `room` and its position, after leaving it: it is not
    /// rejoined any more.
    pub fn forget(&mut self, room: &str) {
        self.rooms.remove(room);
    }

    /// Joins `room` with the [rejoin](ClientBuilder::rejoin) message, from
    /// the last position seen in it if any, and remembers it, so that it is
    /// rejoined after each reconnect even if the connection drops before
    /// the answer. The answer comes as [`Event::Recovery`], then as a
    /// message.
    pub async fn join(&mut self, room: &str) -> Result<(), ClientError> {
        let since = self.since(room).cloned();
        let rejoin = self.rejoin.as_mut().ok_or(ClientError::NoRejoin)?;
        let message = rejoin(room, since);
        self.rooms.entry(room.to_owned()).or_insert(None);
        let json = serde_json::to_string(&message).map_err(ClientError::Encode)?;
        self.send_text(json).await
    }

    /// [`recv`](Self::recv), failing with [`ClientError::Timeout`] after `after`.
    pub async fn recv_timeout(&mut self, after: Duration) -> Result<P, ClientError> {
        match tokio::time::timeout(after, self.recv()).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                what: "message".into(),
                after,
            }),
        }
    }

    /// Sends `request` with a fresh correlation id and returns its reply,
    /// waiting at most the client's timeout ([`with_timeout`](Self::with_timeout)).
    /// Other messages that arrive meanwhile are kept for [`recv`](Self::recv).
    pub async fn request<R: Request<P>>(&mut self, request: R) -> Result<R::Reply, ClientError> {
        let after = self.timeout;
        self.request_timeout(request, after).await
    }

    /// [`request`](Self::request) with its own timeout.
    pub async fn request_timeout<R: Request<P>>(
        &mut self,
        request: R,
        after: Duration,
    ) -> Result<R::Reply, ClientError> {
        let message = request.into_client_message();
        let (request_type, expected) = (
            message.message_type(),
            message
                .reply_type()
                .unwrap_or(<R::Reply as Variant<P>>::WIRE),
        );
        let what = format!("reply to `{request_type}`");
        match self.correlated(message, what, after).await? {
            Some(reply) => <R::Reply as Variant<P>>::from_message(reply).map_err(|other| {
                ClientError::UnexpectedReply {
                    request: request_type,
                    expected,
                    got: other.message_type(),
                }
            }),
            None => Err(ClientError::UnexpectedReply {
                request: request_type,
                expected,
                got: "ack",
            }),
        }
    }

    /// Sends `message` with a fresh correlation id and waits, at most the
    /// client's timeout, until the server has handled it, in a protocol
    /// with `#[ws_protocol(correlate = "all")]`: `Ok(None)` for its `ack`,
    /// `Ok(Some(reply))` when the handler answered early with
    /// [`Ctx::reply`](crate::Ctx::reply), [`ClientError::Server`] when it
    /// failed. Other messages that arrive meanwhile are kept for
    /// [`recv`](Self::recv). (For a request, [`request`](Self::request)
    /// returns its typed reply.)
    pub async fn send_with_ack(
        &mut self,
        message: impl ClientMessage<P>,
    ) -> Result<Option<P>, ClientError> {
        let message = message.into_client_message();
        let what = format!("ack of `{}`", message.message_type());
        let after = self.timeout;
        self.correlated(message, what, after).await
    }

    /// Sends `message` with a fresh correlation id and waits up to `after`
    /// for the one answer with that id: `Ok(None)` for an ack, a message, or
    /// the error frame as [`ClientError::Server`]. Other messages that
    /// arrive meanwhile are kept for [`recv`](Self::recv).
    async fn correlated(
        &mut self,
        message: P,
        what: String,
        after: Duration,
    ) -> Result<Option<P>, ClientError> {
        let deadline = Instant::now() + after;
        let id = self.next_id;
        self.next_id += 1;
        let json = serde_json::to_string(&message).map_err(ClientError::Encode)?;
        self.send_text(correlation::with_id(json, id)).await?;
        loop {
            let incoming = match timeout_at(deadline, self.read()).await {
                Ok(Ok(incoming)) => incoming,
                Ok(Err(error)) => {
                    return Err(match self.on_read_error(error) {
                        Some(error) => error,
                        None => ClientError::Interrupted(self.dropped.clone().flatten()),
                    });
                }
                Err(_) => return Err(ClientError::Timeout { what, after }),
            };
            match incoming {
                Incoming::Ack(got) if got == id => return Ok(None),
                Incoming::Message(reply, Some(got)) if got == id => return Ok(Some(reply)),
                Incoming::Error(frame, Some(got)) if got == id => {
                    return Err(ClientError::Server(frame));
                }
                other => self.buffered.push_back(other),
            }
        }
    }

    /// Answers every request of the server of type `M`
    /// (`#[ws(server, reply = Answer)]`) with what `answer` returns, sent
    /// with the request's id; replaces an earlier handler of `M`. Requests
    /// are answered while the client reads (in [`recv`](Self::recv),
    /// [`request`](Self::request), ...), and never reach `recv`; a request
    /// without a handler does, without its id (the server's request times
    /// out).
    ///
    /// ```no_run
    /// # use ws_core::{client::Client, ws_protocol};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Game {
    /// #     #[ws(server, reply = Ready)] AreYouReady { round: u32 },
    /// #     #[ws(client)] Ready { ready: bool },
    /// #     #[ws(server)] Start,
    /// # }
    /// # async fn run() -> Result<(), ws_core::client::ClientError> {
    /// let mut client = Client::<Game>::connect("ws://127.0.0.1:3000/ws").await?;
    /// client.on_request(|asked: game::AreYouReady| game::Ready { ready: asked.round > 0 });
    /// let start = client.recv().await?;
    /// # Ok(()) }
    /// ```
    pub fn on_request<M, F>(&mut self, mut answer: F) -> &mut Self
    where
        M: ServerRequest<P> + Variant<P> + 'static,
        M::Reply: ClientMessage<P>,
        F: FnMut(M) -> M::Reply + Send + 'static,
    {
        let answerer: Answerer<P> = Box::new(move |message: P| {
            M::from_message(message).map(|request| answer(request).into_client_message())
        });
        self.answers.insert(<M as Variant<P>>::WIRE, answerer);
        self
    }

    /// Waits for the server to close the connection; its close frame.
    /// Messages that arrive first are kept for [`recv`](Self::recv).
    pub async fn closed(&mut self) -> Result<Option<CloseInfo>, ClientError> {
        loop {
            match self.read().await {
                Ok(incoming) => self.buffered.push_back(incoming),
                Err(ClientError::Closed(info)) => return Ok(info),
                Err(other) => return Err(other),
            }
        }
    }

    /// Closes the connection with 1000 and waits for the server's answer.
    /// A deliberate close: no reconnect follows, and the state is
    /// [`ConnectionState::Closed`].
    pub async fn close(mut self) -> Result<(), ClientError> {
        let normal = CloseInfo::new(1000, "");
        self.state.send_replace(ConnectionState::Closed);
        if self.closed.is_some() || self.dropped.is_some() {
            return Ok(());
        }
        self.closed = Some(Some(normal));
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        match self.ws.close(Some(frame)).await {
            Ok(()) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        }
        while let Some(frame) = self.ws.next().await {
            match frame {
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// The next data frame, decoded.
    async fn read(&mut self) -> Result<Incoming<P>, ClientError> {
        if let Some(incoming) = self.ahead.take() {
            return Ok(incoming);
        }
        if let Some(info) = &self.closed {
            return Err(ClientError::Closed(info.clone()));
        }
        loop {
            let next = match self.idle_timeout {
                // A frame already buffered is returned even past the
                // deadline: `timeout_at` polls the read first.
                Some(idle) => match timeout_at(self.heard + idle, self.ws.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let silent =
                            CloseInfo::new(1006, format!("nothing received within {idle:?}"));
                        self.closed = Some(Some(silent.clone()));
                        return Err(ClientError::Closed(Some(silent)));
                    }
                },
                None => self.ws.next().await,
            };
            self.heard = Instant::now();
            let frame = match next {
                Some(frame) => frame?,
                None => {
                    self.closed = Some(None);
                    return Err(ClientError::Closed(None));
                }
            };
            let unpacked;
            let text = match &frame {
                Message::Text(text) => text.as_str(),
                Message::Binary(bytes) if self.codec == Codec::MessagePack => {
                    match crate::wire::codec::unpack(bytes) {
                        Ok(json) => {
                            unpacked = json;
                            unpacked.as_str()
                        }
                        Err(error) => {
                            let text = String::from_utf8_lossy(bytes).into_owned();
                            return Err(decode_error(text, &error.to_string()));
                        }
                    }
                }
                Message::Binary(bytes) => {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    return Err(decode_error(text, "binary frame"));
                }
                Message::Close(frame) => {
                    let info = frame
                        .as_ref()
                        .map(|f| CloseInfo::new(f.code.into(), f.reason.as_str()));
                    self.closed = Some(info.clone());
                    return Err(ClientError::Closed(info));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            let incoming = match decode::<P>(text) {
                Ok(incoming) => incoming,
                // Not one of the protocol's frames: looked for only when
                // the protocol's decoding failed.
                Err(error) => match serde_json::from_str::<RefreshRequired>(text) {
                    Ok(_) => {
                        self.refresh().await?;
                        continue;
                    }
                    Err(_) => return Err(error),
                },
            };
            let Incoming::Message(message, id) = incoming else {
                return Ok(incoming);
            };
            if self.tracks {
                match self.track(text, &message) {
                    Tracked::Keep => {}
                    Tracked::Duplicate => continue,
                    Tracked::Answer(recovery) => {
                        self.ahead = Some(Incoming::Message(message, id));
                        return Ok(Incoming::Recovery(recovery));
                    }
                }
            }
            if !is_server_request::<P>(message.message_type()) {
                return Ok(Incoming::Message(message, id));
            }
            // The server chose this id: it is not one of ours, so it must
            // not reach the matching of replies by id.
            let (Some(id), Some(answerer)) = (id, self.answers.get_mut(message.message_type()))
            else {
                return Ok(Incoming::Message(message, None));
            };
            match answerer(message) {
                Ok(answer) => {
                    let json = serde_json::to_string(&answer).map_err(ClientError::Encode)?;
                    self.send_text(correlation::with_id(json, id)).await?;
                }
                Err(message) => return Ok(Incoming::Message(message, None)),
            }
        }
    }

    /// Cuts the connection as a network failure would: the TCP connection
    /// ends without a close frame (the server sees a drop, 1006), and what
    /// was in flight either way is lost. With a reconnect policy the next
    /// use of the client opens a new connection and rejoins its rooms from
    /// the last positions seen, as after a real drop; without one the
    /// client is closed. For tests of an application's own recovery.
    ///
    /// ```no_run
    /// # use ws_core::{client::Client, ws_protocol};
    /// # #[ws_protocol] #[serde(tag = "type")] pub enum Chat { #[ws(client, server)] Echo { text: String } }
    /// # async fn run(mut client: Client<Chat>) -> Result<(), ws_core::client::ClientError> {
    /// client.cut().await;
    /// // Reconnects, rejoins and resumes here.
    /// client.send(chat::Echo { text: "back".into() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn cut(&mut self) {
        // A FIN without a close frame; a socket that does not take it is
        // not waited for.
        let _ = timeout(Duration::from_secs(1), self.ws.get_mut().shutdown()).await;
        if self.closed.is_some() || self.dropped.is_some() {
            return;
        }
        // Reported as the drop it is: recorded for the next use, or, with
        // no policy to reconnect by, the end of the client.
        if self.on_read_error(ClientError::Closed(None)).is_some() {
            self.closed = Some(None);
        }
    }

    /// Answers the server's `refresh_required` with a token from
    /// `get_token`; without one, the session will expire (close 4001).
    async fn refresh(&mut self) -> Result<(), ClientError> {
        let Some(get_token) = self.get_token.clone() else {
            return Ok(());
        };
        let token = get_token().await;
        let json = serde_json::to_string(&RefreshFrame { token }).map_err(ClientError::Encode)?;
        let frame = self.frame(json)?;
        self.ws
            .send(frame)
            .await
            .map_err(|error| self.interrupted(error.into()))
    }

    /// Reports a failed read: `None` when the client reconnects (the drop
    /// is recorded for the next use), else the error to return. With a
    /// policy, a drop that is not retried ends the client with an
    /// [`Event::State`] of [`ConnectionState::Closed`].
    fn on_read_error(&mut self, error: ClientError) -> Option<ClientError> {
        let close = match &error {
            ClientError::Closed(info) => info.clone(),
            ClientError::WebSocket(source) => Some(CloseInfo::new(1006, source.to_string())),
            _ => return Some(error),
        };
        let Some(policy) = &self.policy else {
            self.state.send_replace(ConnectionState::Closed);
            return Some(error);
        };
        // Given up, or closed by the server for good: no more attempts.
        if *self.state.borrow() == ConnectionState::Closed {
            return Some(error);
        }
        let code = close.as_ref().map_or(1006, |c| c.code);
        // An expired session is cured by a fresh token, which `get_token`
        // gives: a client that missed its refresh (it was not reading)
        // comes back.
        let expired = code == close_code::SESSION_EXPIRED && self.get_token.is_some();
        if policy.retries(code) || expired {
            self.closed = None;
            self.dropped = Some(close);
            return None;
        }
        self.closed = Some(close.clone());
        self.change(StateChange::new(ConnectionState::Closed, close));
        Some(error)
    }

    /// A send that failed: the connection dropped, or is closed.
    fn interrupted(&mut self, error: ClientError) -> ClientError {
        match self.on_read_error(error) {
            Some(error) => error,
            None => ClientError::Interrupted(self.dropped.clone().flatten()),
        }
    }

    /// Records a change of state for [`state`](Self::state) and
    /// [`next_event`](Self::next_event).
    fn change(&mut self, change: StateChange) {
        self.state.send_replace(change.state);
        self.buffered.push_back(Incoming::State(change));
    }

    /// Opens the connection again after a drop, backing off by the policy,
    /// and rejoins the rooms. Gives up (the client is closed) after
    /// `max_attempts` failures, or at once when the server refuses this
    /// client for good (a 4xx other than 408 and 429).
    async fn reconnect(&mut self) -> Result<(), ClientError> {
        let Some(mut close) = self.dropped.take() else {
            return Ok(());
        };
        let Some(policy) = self.policy.clone() else {
            self.closed = Some(close.clone());
            return Err(ClientError::Closed(close));
        };
        // Answers the server's close frame, if it sent one, so that it need
        // not wait for the answer until its timeout; a dead socket fails at
        // once, and one that does not take the bytes is not waited for.
        // The old socket is replaced only once a new one is open: end it
        // now (FIN), so that the server frees its connection meanwhile.
        let _ = timeout(Duration::from_secs(1), async {
            let _ = self.ws.close(None).await;
            let _ = self.ws.get_mut().shutdown().await;
        })
        .await;
        let code = close.as_ref().map_or(1006, |c| c.code);
        let target = Target {
            url: &self.url,
            headers: &self.headers,
            get_token: self.get_token.as_ref(),
            codec: self.codec,
        };
        let mut progress = Progress {
            state: &self.state,
            events: &mut self.buffered,
            seed: &mut self.seed,
        };
        let from = Retry {
            during: ConnectionState::Reconnecting,
            close: close.take(),
            error: None,
            attempt: if RETRY_AT_ONCE.contains(&code) { 0 } else { 2 },
            failures: 0,
        };
        match target
            .open_retrying::<P>(&policy, from, &mut progress)
            .await
        {
            Retried::Open(ws, handshake) => {
                self.ws = *ws;
                self.handshake = handshake;
                self.closed = None;
                self.ahead = None;
                self.heard = Instant::now();
                self.change(StateChange::new(ConnectionState::Open, None));
                self.rejoin_all().await
            }
            Retried::Refused(refusal) => {
                let why = CloseInfo::new(1006, format!("refused with {}", refusal.status));
                self.closed = Some(Some(why.clone()));
                self.change(StateChange::new(ConnectionState::Closed, Some(why)));
                Err(ClientError::Refused(refusal))
            }
            Retried::GaveUp { close, .. } => {
                self.closed = Some(close.clone());
                self.change(StateChange::new(ConnectionState::Closed, close));
                Ok(())
            }
        }
    }

    /// Sends the rejoin message of every room, from its last position.
    async fn rejoin_all(&mut self) -> Result<(), ClientError> {
        let Some(rejoin) = self.rejoin.as_mut() else {
            return Ok(());
        };
        let messages: Vec<P> = self
            .rooms
            .iter()
            .map(|(room, since)| rejoin(room, since.clone()))
            .collect();
        for message in messages {
            let json = serde_json::to_string(&message).map_err(ClientError::Encode)?;
            let frame = self.frame(json)?;
            if let Err(error) = self.ws.send(frame).await {
                // Dropped again before the rejoins went out: the next use
                // reconnects and sends them all again.
                return Err(self.interrupted(error.into()));
            }
        }
        Ok(())
    }

    /// Follows the room positions a frame reveals.
    fn track(&mut self, text: &str, message: &P) -> Tracked {
        let Ok(Place {
            room: Some(room),
            epoch: Some(epoch),
            offset: Some(offset),
            recovered,
            reason,
        }) = serde_json::from_str::<Place>(text)
        else {
            return Tracked::Keep;
        };
        let position = (!epoch.is_empty()).then(|| Position {
            epoch: epoch.clone(),
            offset,
        });
        if let Some(recovered) = recovered {
            if recovered {
                // The replay moves the position from where it was.
                self.rooms.entry(room.clone()).or_insert(None);
            } else {
                // Only what follows the room's head comes.
                self.rooms.insert(room.clone(), position);
            }
            let reason = reason.and_then(|r| serde_json::from_value::<Unrecovered>(r).ok());
            return Tracked::Answer(Recovery {
                room,
                recovered,
                reason,
                epoch,
                offset,
            });
        }
        if !message.is_recorded() {
            return Tracked::Keep;
        }
        match self.rooms.get_mut(&room) {
            Some(Some(last)) if last.epoch == epoch && offset <= last.offset => Tracked::Duplicate,
            Some(last) => {
                *last = position;
                Tracked::Keep
            }
            None => {
                self.rooms.insert(room, position);
                Tracked::Keep
            }
        }
    }
}

/// Whether `wire` names a request of the server (`#[ws(server, reply = ..)]`).
fn is_server_request<P: Protocol>(wire: &str) -> bool {
    P::MESSAGES
        .iter()
        .any(|m| m.wire() == wire && !m.is_client() && m.reply().is_some())
}

fn decode<P: Protocol>(text: &str) -> Result<Incoming<P>, ClientError> {
    match serde_json::from_str::<P>(text) {
        Ok(message) => {
            let wire = message.message_type();
            let id = if P::CORRELATE_ALL
                || message_is_reply::<P>(wire)
                || is_server_request::<P>(wire)
            {
                correlation::read_id(text).ok().flatten()
            } else {
                None
            };
            Ok(Incoming::Message(message, id))
        }
        Err(source) => match serde_json::from_str::<ErrorFrame>(text) {
            Ok(frame) => Ok(Incoming::Error(
                frame,
                correlation::read_id(text).ok().flatten(),
            )),
            Err(_) => match correlation::read_ack(text).filter(|_| P::CORRELATE_ALL) {
                Some(id) => Ok(Incoming::Ack(id)),
                None => Err(ClientError::Decode {
                    text: text.to_owned(),
                    source,
                }),
            },
        },
    }
}

fn message_is_reply<P: Protocol>(wire: &str) -> bool {
    P::MESSAGES.iter().any(|m| m.reply() == Some(wire))
}

fn decode_error(text: String, why: &str) -> ClientError {
    let source = <serde_json::Error as serde::de::Error>::custom(why);
    ClientError::Decode { text, source }
}
