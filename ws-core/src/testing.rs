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
//! # }
//! ```

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::client::{Client, ClientError};
use crate::close::CloseInfo;
use crate::connection::upgrade::endpoint;
use crate::handler::ErrorFrame;
use crate::manager::Manager;
use crate::protocol::{ClientMessage, Protocol, Request, Variant};
use crate::route::Route;

/// How long the assertions wait for a message; generous, so that only a
/// broken test waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`TestClient::refute_receive`] listens.
pub const QUIET: Duration = Duration::from_millis(100);

/// A protocol served on an ephemeral port of 127.0.0.1 at [`Protocol::PATH`];
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
        let router = axum::Router::new().route(P::PATH, endpoint(manager.clone(), handler));
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
        self.client_at("").await
    }

    /// A connected client whose URL has `query` appended (`"?user=ann"`).
    ///
    /// # Panics
    /// If the connection is refused.
    pub async fn client_at(&self, query: &str) -> TestClient<P> {
        let url = self.url(query);
        match Client::connect(&url).await {
            Ok(client) => TestClient {
                client: client.with_timeout(TIMEOUT),
            },
            Err(error) => panic!("{error}"),
        }
    }

    /// The error a connect to this server with `query` fails with.
    ///
    /// # Panics
    /// If the connection is accepted.
    pub async fn refused(&self, query: &str) -> ClientError {
        match Client::<P>::connect(&self.url(query)).await {
            Ok(_) => panic!("expected {} to be refused", self.url(query)),
            Err(error) => error,
        }
    }
}

impl<P> Drop for TestServer<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A [`Client`] with assertions; the client's own (fallible) methods are
/// reachable through `Deref`.
pub struct TestClient<P> {
    client: Client<P>,
}

impl<P: Protocol> TestClient<P> {
    /// Sends `message`.
    ///
    /// # Panics
    /// If it cannot be sent.
    pub async fn push(&mut self, message: impl ClientMessage<P>) {
        if let Err(error) = self.client.send(message).await {
            panic!("send failed: {error}");
        }
    }

    /// Sends `request` and returns its reply.
    ///
    /// # Panics
    /// If no reply comes within [`TIMEOUT`], or an error frame does.
    pub async fn ask<R: Request<P>>(&mut self, request: R) -> R::Reply {
        match self.client.request(request).await {
            Ok(reply) => reply,
            Err(error) => panic!("request failed: {error}"),
        }
    }

    /// Sends `request` and returns the error frame it is answered with.
    ///
    /// # Panics
    /// If a reply comes instead, or nothing within [`TIMEOUT`].
    pub async fn ask_error<R: Request<P>>(&mut self, request: R) -> ErrorFrame {
        match self.client.request(request).await {
            Err(ClientError::Server(frame)) => frame,
            Ok(_) => panic!(
                "expected an error frame, got the reply `{}`",
                <R::Reply as Variant<P>>::WIRE
            ),
            Err(error) => panic!("expected an error frame: {error}"),
        }
    }

    /// The next message, as the enum.
    ///
    /// # Panics
    /// If none comes within [`TIMEOUT`], or an error frame does.
    pub async fn receive(&mut self) -> P {
        match self.client.recv_timeout(TIMEOUT).await {
            Ok(message) => message,
            Err(error) => panic!("expected a message: {error}"),
        }
    }

    /// The next message, which must be an `M`.
    ///
    /// # Panics
    /// If it is another message, or none comes within [`TIMEOUT`].
    pub async fn expect<M: Variant<P>>(&mut self) -> M {
        let message = self.receive().await;
        match M::from_message(message) {
            Ok(expected) => expected,
            Err(other) => panic!("expected a `{}` message, got {}", M::WIRE, json(&other)),
        }
    }

    /// Asserts the next message equals `expected`.
    ///
    /// # Panics
    /// If it does not, or none comes within [`TIMEOUT`].
    pub async fn assert_receive(&mut self, expected: impl Into<P>)
    where
        P: PartialEq,
    {
        let expected = expected.into();
        let got = self.receive().await;
        assert!(
            got == expected,
            "expected {}, got {}",
            json(&expected),
            json(&got)
        );
    }

    /// The next frame, which must be an [`ErrorFrame`].
    ///
    /// # Panics
    /// If a message comes instead, or nothing within [`TIMEOUT`].
    pub async fn expect_error(&mut self) -> ErrorFrame {
        match self.client.recv_timeout(TIMEOUT).await {
            Err(ClientError::Server(frame)) => frame,
            Ok(message) => panic!("expected an error frame, got {}", json(&message)),
            Err(error) => panic!("expected an error frame: {error}"),
        }
    }

    /// Asserts nothing arrives for [`QUIET`].
    ///
    /// # Panics
    /// If something does.
    pub async fn refute_receive(&mut self) {
        match self.client.recv_timeout(QUIET).await {
            Err(ClientError::Timeout { .. }) => {}
            Ok(message) => panic!("expected silence, got {}", json(&message)),
            Err(error) => panic!("expected silence, got: {error}"),
        }
    }

    /// Waits for the server to close the connection; its close frame.
    ///
    /// # Panics
    /// If the server does not close within [`TIMEOUT`], or sends no close frame.
    pub async fn expect_close(&mut self) -> CloseInfo {
        match tokio::time::timeout(TIMEOUT, self.client.closed()).await {
            Ok(Ok(Some(info))) => info,
            Ok(Ok(None)) => panic!("the connection ended without a close frame"),
            Ok(Err(error)) => panic!("expected a close frame: {error}"),
            Err(_) => panic!("no close within {TIMEOUT:?}"),
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
