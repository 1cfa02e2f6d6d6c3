//! [`ClientBuilder`]: a client configured before it connects.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use super::Client;
use super::connect::{Progress, Retried, Retry, Target, refusal_is_temporary};
use super::error::ClientError;
use super::event::{ConnectionState, StateChange};
use super::read::Incoming;
use super::reconnect::{DEFAULT_IDLE_TIMEOUT, ReconnectPolicy};
use crate::history::Position;
use crate::protocol::{ClientMessage, Protocol};
use crate::wire::close::CloseInfo;
use crate::wire::codec::Codec;

/// The message that (re)joins a room, from the room and the position last
/// seen in it.
pub(super) type Rejoin<P> = Box<dyn FnMut(&str, Option<Position>) -> P + Send>;

/// The application's `get_token`: a fresh credential, for every handshake
/// and every `refresh_required`.
pub(super) type GetToken = Arc<
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
    /// The defaults: JSON, reconnecting, [`DEFAULT_IDLE_TIMEOUT`].
    pub(super) fn new(url: &str, timeout: Duration) -> Self {
        Self {
            url: url.to_owned(),
            headers: HeaderMap::new(),
            codec: Codec::Json,
            timeout,
            policy: Some(ReconnectPolicy::default()),
            rejoin: None,
            get_token: None,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }

    /// Where the client gets its credential: `get_token` is awaited before
    /// every handshake (the first and each reconnect), whose request
    /// carries it as `Authorization: Bearer <token>`, and whenever the
    /// server sends a [`RefreshRequired`](crate::RefreshRequired) frame (the session behind the
    /// connection is about to [expire](crate::Session::expires_at)), which
    /// the client answers with a [`RefreshFrame`](crate::RefreshFrame) by itself, between two
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
