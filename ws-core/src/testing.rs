//! An in-process test harness, in the spirit of Phoenix's `ChannelTest`
//! (feature `testing`): a protocol served on 127.0.0.1:0 at its path, typed
//! clients, and assertions with short timeouts that panic with what arrived
//! instead.
//!
//! ```
//! use std::sync::Arc;
//! use ws_core::testing::TestServer;
//! use ws_core::{Ctx, HandlerResult, Manager, ws_protocol};
//!
//! #[ws_protocol]
//! #[serde(tag = "type", rename_all = "snake_case")]
//! pub enum Chat {
//!     #[ws(client)]
//!     Say { text: String },
//!     #[ws(server)]
//!     Said { text: String },
//!     #[ws(client, reply = Pong)]
//!     Ping { n: u32 },
//!     #[ws(server)]
//!     Pong { n: u32 },
//! }
//!
//! struct App;
//! impl ChatHandler for App {
//!     async fn say(&self, ctx: &Ctx<Chat>, msg: chat::Say) -> HandlerResult {
//!         ctx.send(chat::Said { text: msg.text })?;
//!         Ok(())
//!     }
//!     async fn ping(&self, _ctx: &Ctx<Chat>, msg: chat::Ping) -> HandlerResult<chat::Pong> {
//!         Ok(chat::Pong { n: msg.n + 1 })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = TestServer::start(Manager::<Chat>::new(), Arc::new(App)).await;
//! let mut client = server.client().await;
//! client.push(chat::Say { text: "hi".into() }).await;
//! assert_eq!(client.expect::<chat::Said>().await.text, "hi");
//! assert_eq!(client.ask(chat::Ping { n: 1 }).await.n, 2);
//! client.refute_receive().await;
//! client.close().await;
//! # }
//! ```
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! ws-core = { version = "0.1", features = ["testing"] }
//! ```
//!
//! The app's own routes, request headers and refusals:
//!
//! ```
//! use std::sync::Arc;
//! use ws_core::axum::http::{HeaderMap, StatusCode, header, request::Parts};
//! use ws_core::axum::response::{IntoResponse, Response};
//! use ws_core::axum::{Router, routing::get};
//! use ws_core::testing::TestServer;
//! use ws_core::{Ctx, HandlerResult, Manager, UserId, ws_protocol};
//!
//! #[ws_protocol(session = Option<UserId>)]
//! #[serde(tag = "type", rename_all = "snake_case")]
//! pub enum Lobby {
//!     #[ws(client)]
//!     Join { lobby: String },
//!     #[ws(server)]
//!     Starting { lobby: String },
//! }
//!
//! struct App;
//! impl LobbyHandler for App {
//!     async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Option<UserId>, Response> {
//!         let cookie = request.headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
//!         match cookie.and_then(|c| c.strip_prefix("name=")) {
//!             Some(name) => Ok(Some(UserId::from(name))),
//!             None => Err(StatusCode::UNAUTHORIZED.into_response()),
//!         }
//!     }
//!     async fn join(&self, ctx: &Ctx<Lobby>, msg: lobby::Join) -> HandlerResult {
//!         ctx.join(&msg.lobby).await?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let manager = Manager::<Lobby>::new();
//! let lobbies = manager.clone();
//! let routes = Router::new().route("/lobbies", get(move || async move { lobbies.rooms().to_string() }));
//! let server = TestServer::with_routes(manager, Arc::new(App), routes).await;
//!
//! let refusal = server.connect().refused().await;
//! assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
//!
//! let mut ann = server.connect().cookie("name", "ann").client().await;
//! ann.push(lobby::Join { lobby: "red".into() }).await;
//! ann.refute_receive().await; // the join is handled: the next lookup sees it
//! assert_eq!(server.manager().user_connections("ann"), 1);
//! // The id handlers see as `ctx.id()`.
//! server.manager().to_conn(ann.id()).send(lobby::Starting { lobby: "red".into() }).unwrap();
//! assert_eq!(ann.expect::<lobby::Starting>().await.lobby, "red");
//!
//! let response = server.get("/lobbies").await;
//! assert_eq!((response.status(), response.body().as_str()), (StatusCode::OK, "1"));
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{self, HeaderMap, HeaderName, HeaderValue, Response, header};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::client::{Client, ClientError, Recorded, Refusal};
use crate::connection::upgrade::endpoint;
use crate::handler::ErrorFrame;
use crate::id::ConnId;
use crate::manager::Manager;
use crate::protocol::{ClientMessage, Protocol, Request, Variant};
use crate::route::Route;
use crate::wire::close::CloseInfo;

/// How long the assertions wait for a message; generous, so that only a
/// broken test waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`TestClient::refute_receive`] listens.
pub const QUIET: Duration = Duration::from_millis(100);

/// The response header through which the harness's server tells a
/// [`TestClient`] its [`ConnId`]. The endpoint puts the id in the 101's
/// extensions, which never reach the wire; only the harness's router copies
/// it into this header, so production clients do not see their ids.
const CONN_ID_HEADER: &str = "x-ws-core-test-conn-id";

/// The largest body [`TestServer::request`] reads.
const MAX_BODY: usize = 16 << 20;

/// A protocol served on an ephemeral port of 127.0.0.1 at [`Protocol::PATH`],
/// beside the app's own routes if given ([`with_routes`](Self::with_routes));
/// the server stops when this is dropped.
pub struct TestServer<P> {
    addr: SocketAddr,
    manager: Manager<P>,
    task: JoinHandle<()>,
}

impl<P: Protocol> TestServer<P> {
    /// Serves `manager` with `handler` on 127.0.0.1:0.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start<H>(manager: Manager<P>, handler: Arc<H>) -> Self
    where
        P: Route<H>,
        H: Send + Sync + 'static,
    {
        Self::with_routes(manager, handler, axum::Router::new()).await
    }

    /// Serves `manager` with `handler` at [`Protocol::PATH`] and `routes`
    /// beside it (e.g. the app's `GET /lobbies`; reach them with
    /// [`get`](Self::get)).
    ///
    /// # Panics
    /// If no port can be bound, or `routes` has a route at [`Protocol::PATH`].
    pub async fn with_routes<H>(manager: Manager<P>, handler: Arc<H>, routes: axum::Router) -> Self
    where
        P: Route<H>,
        H: Send + Sync + 'static,
    {
        Self::with_state(manager, handler, routes, ()).await
    }

    /// Serves `manager` with `handler` at [`Protocol::PATH`] of `routes`, a
    /// router whose state is `state`: the handler implements
    /// `{Enum}Handler<S>`, and its `authenticate` runs axum's extractors with
    /// `state`, as in production.
    ///
    /// # Panics
    /// As [`with_routes`](Self::with_routes).
    pub async fn with_state<H, S>(
        manager: Manager<P>,
        handler: Arc<H>,
        routes: axum::Router<S>,
        state: S,
    ) -> Self
    where
        P: Route<H, S>,
        H: Send + Sync + 'static,
        S: Clone + Send + Sync + 'static,
    {
        let router = routes
            .route(P::PATH, endpoint(manager.clone(), handler))
            .with_state(state)
            .layer(axum::middleware::map_response(expose_conn_id));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let serve =
            crate::serve(listener, router).handshake_timeout(manager.config().handshake_timeout());
        let task = tokio::spawn(async move {
            let _ = serve.await;
        });
        Self {
            addr,
            manager,
            task,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/PATH`, with `query` (e.g. `"?user=ann"`) appended.
    pub fn url(&self, query: &str) -> String {
        format!("ws://{}{}{query}", self.addr, P::PATH)
    }

    /// The manager the server runs with.
    pub fn manager(&self) -> &Manager<P> {
        &self.manager
    }

    /// A connected client.
    ///
    /// # Panics
    /// If the connection is refused.
    pub async fn client(&self) -> TestClient<P> {
        self.connect().client().await
    }

    /// A connected client whose URL has `query` appended (`"?user=ann"`).
    ///
    /// # Panics
    /// If the connection is refused.
    pub async fn client_at(&self, query: &str) -> TestClient<P> {
        self.connect().query(query).client().await
    }

    /// How a connect to this server with `query` is refused.
    ///
    /// # Panics
    /// If the connection is accepted, or fails otherwise.
    pub async fn refused(&self, query: &str) -> Refusal {
        self.connect().query(query).refused().await
    }

    /// A connect to be made, with a query, headers and cookies.
    pub fn connect(&self) -> Connect<'_, P> {
        Connect {
            server: self,
            query: String::new(),
            headers: HeaderMap::new(),
            cookies: Vec::new(),
        }
    }

    /// `GET path` on the server (the app's routes given to
    /// [`with_routes`](Self::with_routes)); the response with its body as text.
    ///
    /// # Panics
    /// If there is no answer within [`TIMEOUT`].
    pub async fn get(&self, path: &str) -> Response<String> {
        let request = http::Request::get(path)
            .body(String::new())
            .expect("a path is a valid URI");
        self.request(request).await
    }

    /// Sends `request` (its URI a path, e.g. `/lobbies`) over a new HTTP/1.1
    /// connection; the response with its body as text.
    ///
    /// # Panics
    /// If there is no answer within [`TIMEOUT`], or the body is not read.
    pub async fn request(&self, mut request: http::Request<String>) -> Response<String> {
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(self.addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let host = HeaderValue::from_str(&self.addr.to_string()).expect("an address is a host");
            request.headers_mut().entry(header::HOST).or_insert(host);
            let response = sender.send_request(request.map(Body::from)).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(response)
        };
        let response = match tokio::time::timeout(TIMEOUT, exchange).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => panic!("HTTP request failed: {error}"),
            Err(_) => panic!("no HTTP response within {TIMEOUT:?}"),
        };
        let (parts, body) = response.into_parts();
        let body =
            match tokio::time::timeout(TIMEOUT, axum::body::to_bytes(Body::new(body), MAX_BODY))
                .await
            {
                Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                Ok(Err(error)) => panic!("reading the HTTP body failed: {error}"),
                Err(_) => panic!("no HTTP body within {TIMEOUT:?}"),
            };
        Response::from_parts(parts, body)
    }
}

/// Copies the [`ConnId`] the endpoint put in a 101's extensions into
/// [`CONN_ID_HEADER`].
async fn expose_conn_id(mut response: axum::response::Response) -> axum::response::Response {
    if let Some(id) = response.extensions().get::<ConnId>().copied() {
        response
            .headers_mut()
            .insert(CONN_ID_HEADER, HeaderValue::from(id.get()));
    }
    response
}

/// A connect to a [`TestServer`] being set up: [`TestServer::connect`].
#[must_use = "a connect does nothing until `client`, `try_client` or `refused`"]
pub struct Connect<'a, P> {
    server: &'a TestServer<P>,
    query: String,
    headers: HeaderMap,
    cookies: Vec<String>,
}

impl<P: Protocol> Connect<'_, P> {
    /// Appends `query` (`"?user=ann"`) to the URL.
    pub fn query(mut self, query: &str) -> Self {
        self.query.push_str(query);
        self
    }

    /// Adds a request header.
    ///
    /// # Panics
    /// If `name` or `value` is not a valid header name or value.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).unwrap_or_else(|e| panic!("header `{name}`: {e}"));
        let value =
            HeaderValue::try_from(value).unwrap_or_else(|e| panic!("header value `{value}`: {e}"));
        self.headers.append(name, value);
        self
    }

    /// Adds a cookie (all of them travel in one `Cookie` header).
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        self.cookies.push(format!("{name}={value}"));
        self
    }

    /// Connects; the client, or why it could not connect
    /// ([`ClientError::Refused`] for an HTTP answer other than 101).
    pub async fn try_client(self) -> Result<TestClient<P>, ClientError> {
        let url = self.server.url(&self.query);
        let mut headers = self.headers;
        if !self.cookies.is_empty() {
            let cookies = HeaderValue::try_from(self.cookies.join("; "))
                .unwrap_or_else(|e| panic!("cookies: {e}"));
            headers.append(header::COOKIE, cookies);
        }
        let connect = Client::connect_with_headers(&url, headers);
        let client = match tokio::time::timeout(TIMEOUT, connect).await {
            Ok(client) => client?,
            Err(_) => panic!("no answer to the handshake within {TIMEOUT:?}"),
        };
        let id = client
            .handshake_headers()
            .get(CONN_ID_HEADER)
            .and_then(|id| id.to_str().ok()?.parse().ok())
            .map(ConnId::from_raw)
            .expect("the harness's router names the connection in its 101");
        Ok(TestClient {
            client: client.with_timeout(TIMEOUT),
            id,
        })
    }

    /// A connected client.
    ///
    /// # Panics
    /// If the connection is refused or fails.
    pub async fn client(self) -> TestClient<P> {
        match self.try_client().await {
            Ok(client) => client,
            Err(error) => panic!("{error}"),
        }
    }

    /// The HTTP answer the connect is refused with.
    ///
    /// # Panics
    /// If the connection is accepted, or fails otherwise.
    pub async fn refused(self) -> Refusal {
        let url = self.server.url(&self.query);
        match self.try_client().await {
            Ok(_) => panic!("expected {url} to be refused"),
            Err(ClientError::Refused(refusal)) => *refusal,
            Err(error) => panic!("expected {url} to be refused with an HTTP status: {error}"),
        }
    }
}

impl<P> Drop for TestServer<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A [`Client`] with assertions; the client's own (fallible) methods are
/// reachable through `Deref`, and those that read ([`recv`](Self::recv),
/// [`closed`](Self::closed), `request`) give up after [`TIMEOUT`].
pub struct TestClient<P> {
    client: Client<P>,
    id: ConnId,
}

impl<P: Protocol> TestClient<P> {
    /// The connection's id on the server, as handlers see it in
    /// [`Ctx::id`](crate::Ctx::id): for `manager.to_conn(id)` and the like.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// [`Client::recv`] within [`TIMEOUT`] ([`ClientError::Timeout`] after).
    pub async fn recv(&mut self) -> Result<P, ClientError> {
        self.client.recv_timeout(TIMEOUT).await
    }

    /// [`Client::closed`] within [`TIMEOUT`] ([`ClientError::Timeout`] after).
    pub async fn closed(&mut self) -> Result<Option<CloseInfo>, ClientError> {
        match tokio::time::timeout(TIMEOUT, self.client.closed()).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                what: "close frame".into(),
                after: TIMEOUT,
            }),
        }
    }

    /// Closes the connection with 1000 and waits for the server's answer.
    ///
    /// # Panics
    /// If the close fails, or the server does not answer within [`TIMEOUT`];
    /// the message names the caller's line.
    #[track_caller]
    pub fn close(self) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            match tokio::time::timeout(TIMEOUT, self.client.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => panic!("close failed: {error} (at {at})"),
                Err(_) => panic!("no answer to the close within {TIMEOUT:?} (at {at})"),
            }
        }
    }

    /// Sends `message`.
    ///
    /// # Panics
    /// If it cannot be sent; the message names the caller's line.
    #[track_caller]
    pub fn push(&mut self, message: impl ClientMessage<P>) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            if let Err(error) = self.client.send(message).await {
                panic!("send failed: {error} (at {at})");
            }
        }
    }

    /// Sends `request` and returns its reply.
    ///
    /// # Panics
    /// If no reply comes within [`TIMEOUT`], or an error frame does; the
    /// message names the caller's line.
    #[track_caller]
    pub fn ask<R: Request<P>>(&mut self, request: R) -> impl Future<Output = R::Reply> {
        let at = Location::caller();
        async move {
            match self.client.request(request).await {
                Ok(reply) => reply,
                Err(error) => panic!("request failed: {error} (at {at})"),
            }
        }
    }

    /// Sends `request` and returns the error frame it is answered with.
    ///
    /// # Panics
    /// If a reply comes instead, or nothing within [`TIMEOUT`]; the message
    /// names the caller's line.
    #[track_caller]
    pub fn ask_error<R: Request<P>>(&mut self, request: R) -> impl Future<Output = ErrorFrame> {
        let at = Location::caller();
        async move {
            match self.client.request(request).await {
                Err(ClientError::Server(frame)) => frame,
                Ok(_) => panic!(
                    "expected an error frame, got the reply `{}` (at {at})",
                    <R::Reply as Variant<P>>::WIRE
                ),
                Err(error) => panic!("expected an error frame: {error} (at {at})"),
            }
        }
    }

    /// The next message, as the enum.
    ///
    /// # Panics
    /// If none comes within [`TIMEOUT`], or an error frame does; the message
    /// names the caller's line.
    #[track_caller]
    pub fn receive(&mut self) -> impl Future<Output = P> {
        let at = Location::caller();
        self.receive_at(at)
    }

    async fn receive_at(&mut self, at: &'static Location<'static>) -> P {
        match self.client.recv_timeout(TIMEOUT).await {
            Ok(message) => message,
            Err(error) => panic!("expected a message: {error} (at {at})"),
        }
    }

    /// The next message, which must be an `M`.
    ///
    /// # Panics
    /// If it is another message, or none comes within [`TIMEOUT`]; the
    /// message names the caller's line.
    #[track_caller]
    pub fn expect<M: Variant<P>>(&mut self) -> impl Future<Output = M> {
        let at = Location::caller();
        async move {
            let message = self.receive_at(at).await;
            match M::from_message(message) {
                Ok(expected) => expected,
                Err(other) => panic!(
                    "expected a `{}` message, got {} (at {at})",
                    M::WIRE,
                    json(&other)
                ),
            }
        }
    }

    /// The next message, which must be an `M` recorded in its room's
    /// history (`#[ws(server, history)]`), with the `epoch` and `offset`
    /// the server stamped on it.
    ///
    /// ```
    /// use ws_core::{testing::TestClient, ws_protocol};
    ///
    /// #[ws_protocol(history = 100)]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Chat {
    ///     #[ws(server, history)]
    ///     Said { room: String, text: String },
    /// }
    ///
    /// /// A member of a room that the history numbers from 1 in `epoch`.
    /// async fn first_said(member: &mut TestClient<Chat>, epoch: &str) {
    ///     let said = member.expect_recorded::<chat::Said>().await;
    ///     assert_eq!((said.epoch.as_str(), said.offset), (epoch, 1));
    ///     assert_eq!(said.message.room, "lobby");
    /// }
    /// ```
    ///
    /// # Panics
    /// If it is another message, or carries no position (the server keeps
    /// no history), or none comes within [`TIMEOUT`]; the message names the
    /// caller's line.
    #[track_caller]
    pub fn expect_recorded<M: Variant<P>>(&mut self) -> impl Future<Output = Recorded<M>> {
        let at = Location::caller();
        async move {
            let received = self.client.recv_with_position();
            let (message, position) = match tokio::time::timeout(TIMEOUT, received).await {
                Ok(Ok(received)) => received,
                Ok(Err(error)) => panic!("expected a message: {error} (at {at})"),
                Err(_) => panic!(
                    "expected a `{}` message within {TIMEOUT:?} (at {at})",
                    M::WIRE
                ),
            };
            let Some(position) = position else {
                panic!(
                    "expected a recorded `{}` message, got {} without `epoch` and `offset` (at {at})",
                    M::WIRE,
                    json(&message)
                );
            };
            match M::from_message(message) {
                Ok(expected) => Recorded::new(expected, position),
                Err(other) => panic!(
                    "expected a `{}` message, got {} (at {at})",
                    M::WIRE,
                    json(&other)
                ),
            }
        }
    }

    /// Asserts the next message equals `expected`.
    ///
    /// # Panics
    /// If it does not, or none comes within [`TIMEOUT`]; the message names
    /// the caller's line.
    #[track_caller]
    pub fn assert_receive(&mut self, expected: impl Into<P>) -> impl Future<Output = ()>
    where
        P: PartialEq,
    {
        let at = Location::caller();
        let expected = expected.into();
        async move {
            let got = self.receive_at(at).await;
            assert!(
                got == expected,
                "expected {}, got {} (at {at})",
                json(&expected),
                json(&got)
            );
        }
    }

    /// The next frame, which must be an [`ErrorFrame`].
    ///
    /// # Panics
    /// If a message comes instead, or nothing within [`TIMEOUT`]; the
    /// message names the caller's line.
    #[track_caller]
    pub fn expect_error(&mut self) -> impl Future<Output = ErrorFrame> {
        let at = Location::caller();
        async move {
            match self.client.recv_timeout(TIMEOUT).await {
                Err(ClientError::Server(frame)) => frame,
                Ok(message) => {
                    panic!("expected an error frame, got {} (at {at})", json(&message))
                }
                Err(error) => panic!("expected an error frame: {error} (at {at})"),
            }
        }
    }

    /// Asserts nothing arrives for [`QUIET`].
    ///
    /// # Panics
    /// If something does; the message names the caller's line.
    #[track_caller]
    pub fn refute_receive(&mut self) -> impl Future<Output = ()> {
        let at = Location::caller();
        async move {
            match self.client.recv_timeout(QUIET).await {
                Err(ClientError::Timeout { .. }) => {}
                Ok(message) => panic!("expected silence, got {} (at {at})", json(&message)),
                Err(error) => panic!("expected silence, got: {error} (at {at})"),
            }
        }
    }

    /// Waits for the server to close the connection; its close frame.
    ///
    /// # Panics
    /// If the server does not close within [`TIMEOUT`], or sends no close
    /// frame; the message names the caller's line.
    #[track_caller]
    pub fn expect_close(&mut self) -> impl Future<Output = CloseInfo> {
        let at = Location::caller();
        async move {
            match tokio::time::timeout(TIMEOUT, self.client.closed()).await {
                Ok(Ok(Some(info))) => info,
                Ok(Ok(None)) => panic!("the connection ended without a close frame (at {at})"),
                Ok(Err(error)) => panic!("expected a close frame: {error} (at {at})"),
                Err(_) => panic!("no close within {TIMEOUT:?} (at {at})"),
            }
        }
    }

    /// The client itself.
    pub fn into_inner(self) -> Client<P> {
        self.client
    }
}

/// A message as it is on the wire, for panic messages.
fn json<P: Protocol>(message: &P) -> String {
    serde_json::to_string(message).unwrap_or_else(|_| message.message_type().to_owned())
}

impl<P> Deref for TestClient<P> {
    type Target = Client<P>;

    fn deref(&self) -> &Client<P> {
        &self.client
    }
}

impl<P> DerefMut for TestClient<P> {
    fn deref_mut(&mut self) -> &mut Client<P> {
        &mut self.client
    }
}

/// A key prefix of the Redis backend for one test, unique across the tests
/// of every process that shares the Redis; the keys under it are removed
/// when it is dropped, so a test leaves nothing behind in a shared Redis.
///
/// ```no_run
/// use ws_core::testing::TestPrefix;
/// # use ws_core::{Manager, ws_protocol};
/// # #[ws_protocol] #[serde(tag = "type")] pub enum Chat { #[ws(client, server)] Echo { text: String } }
/// # async fn run() -> Result<(), ws_core::BackendError> {
/// let keys = TestPrefix::new("redis://127.0.0.1:6379/");
/// let manager = Manager::<Chat>::builder().backend(keys.backend()?).build();
/// // ... the test ...
/// drop(manager);
/// drop(keys); // the test's keys are gone
/// # Ok(()) }
/// ```
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub struct TestPrefix {
    url: String,
    prefix: String,
}

#[cfg(feature = "redis")]
impl TestPrefix {
    /// A fresh prefix for the Redis at `url`.
    pub fn new(url: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let prefix = format!(
            "test-{}-{nanos:x}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            url: url.to_owned(),
            prefix,
        }
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// A backend for the Redis at the URL, under this prefix.
    ///
    /// # Errors
    /// A malformed URL, as [`RedisBackend::new`](crate::RedisBackend::new).
    pub fn backend(&self) -> Result<crate::RedisBackend, crate::BackendError> {
        Ok(crate::RedisBackend::new(&self.url)?.prefix(self.prefix.as_str()))
    }

    /// The keys under the prefix, now.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub fn keys(&self) -> redis::RedisResult<Vec<String>> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut connection = client.get_connection_with_timeout(TIMEOUT)?;
        let pattern = format!("{}:*", self.prefix);
        let keys: redis::Iter<'_, String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter(&mut connection)?;
        keys.collect()
    }
}

#[cfg(feature = "redis")]
impl Drop for TestPrefix {
    fn drop(&mut self) {
        let removed = self.keys().and_then(|keys| {
            if keys.is_empty() {
                return Ok(());
            }
            let client = redis::Client::open(self.url.as_str())?;
            let mut connection = client.get_connection_with_timeout(TIMEOUT)?;
            redis::cmd("DEL").arg(&keys).exec(&mut connection)
        });
        if let Err(error) = removed {
            eprintln!(
                "TestPrefix: the keys under `{}` stay in Redis: {error}",
                self.prefix
            );
        }
    }
}
