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

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::UrlError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::close::CloseInfo;
use crate::codec::Codec;
use crate::correlation;
use crate::handler::ErrorFrame;
use crate::protocol::{ClientMessage, Protocol, Request, ServerRequest, Variant};

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

/// A frame from the server, decoded, with its correlation id.
enum Incoming<P> {
    Message(P, Option<u64>),
    Error(ErrorFrame, Option<u64>),
    /// `{"type":"ack","id":..}` (`correlate = "all"`).
    Ack(u64),
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
    /// ([`ClientError::Connect`]). [`Codec::Json`] asks for nothing.
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
        let mut request = url
            .into_client_request()
            .map_err(|error| ClientError::connect(url, error))?;
        request.headers_mut().extend(headers);
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
        Ok(Self {
            codec,
            ws,
            buffered: VecDeque::new(),
            next_id: 1,
            answers: HashMap::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            closed: None,
            handshake: response.into_parts().0.headers,
            protocol: PhantomData,
        })
    }

    /// The codec this client speaks (see [`connect_with`](Self::connect_with)).
    pub fn codec(&self) -> Codec {
        self.codec
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
        let text = text.into();
        let frame = match self.codec {
            Codec::Json => Message::text(text),
            Codec::MessagePack => {
                let mut packed = Vec::with_capacity(text.len());
                crate::codec::pack_into(text.as_bytes(), &mut packed).map_err(|error| {
                    ClientError::Encode(<serde_json::Error as serde::ser::Error>::custom(error))
                })?;
                Message::binary(packed)
            }
        };
        self.ws.send(frame).await?;
        Ok(())
    }

    /// The next message from the server; an [`ErrorFrame`] is
    /// [`ClientError::Server`]. Waits as long as it takes.
    pub async fn recv(&mut self) -> Result<P, ClientError> {
        loop {
            let incoming = match self.buffered.pop_front() {
                Some(incoming) => incoming,
                None => self.read().await?,
            };
            match incoming {
                Incoming::Message(message, _) => return Ok(message),
                Incoming::Error(frame, _) => return Err(ClientError::Server(frame)),
                // An ack no one waits for any more (its wait timed out).
                Incoming::Ack(_) => continue,
            }
        }
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
                Ok(incoming) => incoming?,
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
    pub async fn close(mut self) -> Result<(), ClientError> {
        if self.closed.is_some() {
            return Ok(());
        }
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
        if let Some(info) = &self.closed {
            return Err(ClientError::Closed(info.clone()));
        }
        loop {
            let frame = match self.ws.next().await {
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
                    match crate::codec::unpack(bytes) {
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
            let incoming = decode::<P>(text)?;
            let Incoming::Message(message, id) = incoming else {
                return Ok(incoming);
            };
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
