//! A typed client of a protocol, on tokio-tungstenite (feature `client`).
//!
//! [`Client::send`] takes the structs of `#[ws(client)]` variants only
//! ([`ClientMessage`]), [`Client::recv`] returns the protocol's enum,
//! [`Client::request`] sends a message that declares a reply with a fresh
//! correlation id and returns the reply's struct ([`Request::Reply`]).
//! An [`ErrorFrame`](crate::ErrorFrame) from the server is [`ClientError::Server`].
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
//! [`Event::Recovery`] (`recovered`, or the [`Unrecovered`](crate::history::Unrecovered) reason).
//! Recorded messages at or before a room's last offset are dropped, so
//! none reaches the application twice. Conventions, as the TypeScript
//! client's: a recorded message names its room in a `room` field; a join's
//! answer has `room`, `epoch`, `offset` and `recovered` (the chat
//! example's `joined`).
//!
//! A request or ack awaited when the connection drops fails with
//! [`ClientError::Interrupted`]: whether the server handled it is unknown.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::marker::PhantomData;
use std::time::Duration;

use axum::http::HeaderMap;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::correlation::{self, CorrelationId};
use crate::history::Position;
use crate::protocol::{ClientMessage, Protocol, Request, ServerRequest, Variant};
use crate::wire::close::CloseInfo;
use crate::wire::codec::Codec;

mod builder;
mod connect;
mod error;
mod event;
mod read;
mod reconnect;

pub use builder::ClientBuilder;
use builder::{GetToken, Rejoin};
pub use error::{ClientError, Refusal};
pub use event::{ConnectionState, Event, Recorded, Recovery, StateChange};
use read::Incoming;
pub use reconnect::{DEFAULT_IDLE_TIMEOUT, RECONNECT_CODES, ReconnectPolicy};

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
        ClientBuilder::new(url, Self::DEFAULT_TIMEOUT)
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

    /// The next message from the server; an [`ErrorFrame`](crate::ErrorFrame) is
    /// [`ClientError::Server`]. Waits as long as it takes; a client with a
    /// [`ReconnectPolicy`] reconnects meanwhile if it must (what happened
    /// is in [`next_event`](Self::next_event) and [`state`](Self::state)).
    pub async fn recv(&mut self) -> Result<P, ClientError> {
        self.recv_with_position().await.map(|(message, _)| message)
    }

    /// [`recv`](Self::recv), with the message's position in its room's
    /// history: for a recorded message (`#[ws(server, history)]`), the
    /// `epoch` and `offset` the server stamped on it; `None` for any other
    /// message, or when the server keeps no history. (See [`Recorded`] for
    /// the harness's typed form.)
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, client::Client};
    /// # #[ws_protocol(history = 100)]
    /// # #[derive(Debug)]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Chat { #[ws(server, history)] Said { room: String, text: String } }
    /// # async fn demo(client: &mut Client<Chat>) -> Result<(), ws_core::client::ClientError> {
    /// let (said, position) = client.recv_with_position().await?;
    /// if let Some(position) = position {
    ///     println!("{said:?} at {} of epoch {}", position.offset, position.epoch);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recv_with_position(&mut self) -> Result<(P, Option<Position>), ClientError> {
        loop {
            if let (Event::Message(message), position) = self.next_placed().await? {
                return Ok((message, position));
            }
        }
    }

    /// The next message or event: [`Event::State`] when the connection
    /// drops, reconnects or ends, [`Event::Recovery`] when a join is
    /// answered, in the order they happened. An [`ErrorFrame`](crate::ErrorFrame) is
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
        self.next_placed().await.map(|(event, _)| event)
    }

    /// [`next_event`](Self::next_event), with a recorded message's position.
    async fn next_placed(&mut self) -> Result<(Event<P>, Option<Position>), ClientError> {
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
                Incoming::Message(message, _, position) => {
                    return Ok((Event::Message(message), position));
                }
                Incoming::Error(frame, _) => return Err(ClientError::Server(frame)),
                // An ack no one waits for any more (its wait timed out).
                Incoming::Ack(_) => continue,
                Incoming::State(change) => return Ok((Event::State(change), None)),
                Incoming::Recovery(recovery) => return Ok((Event::Recovery(recovery), None)),
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
        let id = self.fresh_id();
        self.request_as(request, id, after).await
    }

    /// [`request`](Self::request) with a correlation id of the caller's: an
    /// integer, or a string of at most
    /// [`MAX_ID_LEN`](crate::correlation::MAX_ID_LEN) bytes, which the
    /// server echoes as it was sent (a string id never meets the client's
    /// own ids, which are integers counted from 1).
    ///
    /// ```no_run
    /// # use ws_core::{ws_protocol, client::Client, CorrelationId};
    /// # #[ws_protocol]
    /// # #[serde(tag = "type", rename_all = "snake_case")]
    /// # pub enum Rpc { #[ws(client, reply = Pong)] Ping { n: u32 }, #[ws(server)] Pong { n: u32 } }
    /// # async fn demo(client: &mut Client<Rpc>) -> Result<(), ws_core::client::ClientError> {
    /// let id = CorrelationId::try_from("ref-1").unwrap();
    /// let pong = client.request_with_id(rpc::Ping { n: 1 }, id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn request_with_id<R: Request<P>>(
        &mut self,
        request: R,
        id: impl Into<CorrelationId>,
    ) -> Result<R::Reply, ClientError> {
        let after = self.timeout;
        self.request_as(request, id.into(), after).await
    }

    /// Sends `request` with `id` and waits up to `after` for its reply.
    async fn request_as<R: Request<P>>(
        &mut self,
        request: R,
        id: CorrelationId,
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
        match self.correlated(message, id, what, after).await? {
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
        let (id, after) = (self.fresh_id(), self.timeout);
        self.correlated(message, id, what, after).await
    }

    /// The next of the client's own correlation ids.
    fn fresh_id(&mut self) -> CorrelationId {
        let id = self.next_id;
        self.next_id += 1;
        CorrelationId::Int(id)
    }

    /// Sends `message` with correlation id `id` and waits up to `after`
    /// for the one answer with that id: `Ok(None)` for an ack, a message, or
    /// the error frame as [`ClientError::Server`]. Other messages that
    /// arrive meanwhile are kept for [`recv`](Self::recv).
    async fn correlated(
        &mut self,
        message: P,
        id: CorrelationId,
        what: String,
        after: Duration,
    ) -> Result<Option<P>, ClientError> {
        let deadline = Instant::now() + after;
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
                Incoming::Message(reply, Some(got), _) if got == id => return Ok(Some(reply)),
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
}
