//! `Rpc`: a protocol of requests and replies in both directions, with a
//! session that expires and refreshes, served by `ws_core::testing`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ws_core::axum::http::StatusCode;
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::testing::TestServer;
use ws_core::{Ctx, HandlerError, HandlerResult, Manager, RefreshRefused, Session, ws_protocol};

use crate::support::Client as RawClient;

/// A session that expires when the handshake's `?access_token=NAME:TTL_MS`
/// says (the TypeScript client's `getToken`); none without one.
#[derive(Default)]
pub struct Ticket {
    exp: Option<SystemTime>,
}

impl Session for Ticket {
    fn expires_at(&self) -> Option<SystemTime> {
        self.exp
    }
}

/// `NAME:TTL_MS`, valid for TTL_MS from now; anything else is refused.
fn ticket(token: &str) -> Option<Ticket> {
    let (_, ttl) = token.split_once(':')?;
    let ttl = Duration::from_millis(ttl.parse().ok()?);
    Some(Ticket {
        exp: Some(SystemTime::now() + ttl),
    })
}

/// Requests and replies.
#[ws_protocol(
    path = "/rpc",
    heartbeat = "off",
    idle_timeout = "off",
    session = Ticket,
    refresh_before = "1s"
)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rpc {
    /// Answered with `n + 1`.
    #[ws(client, reply = Pong)]
    Ping { n: u32 },
    /// The answer to a ping.
    #[ws(server)]
    Pong { n: u32 },
    /// Add two numbers.
    #[ws(client, reply = Sum)]
    Add { a: i64, b: i64 },
    /// The sum.
    #[ws(server)]
    Sum {
        /// `a + b`.
        value: i64,
    },
    /// Answered after `delay_ms`.
    #[ws(client, reply = Pong)]
    Slow { n: u32, delay_ms: u64 },
    /// Fails: `reply`, `internal` or `close`.
    #[ws(client, reply = Pong)]
    Refuse { how: String },
    /// Sends a note first, then the reply.
    #[ws(client, reply = Pong)]
    Chatty { n: u32 },
    /// No reply: answered with a note.
    #[ws(client)]
    Note { text: String },
    /// A note.
    #[ws(server)]
    Noted { text: String },
    /// Both directions, and its own reply.
    #[ws(client, server, reply = Echo)]
    Echo { text: String },
    /// A request of the server: the client answers with `given`.
    #[ws(server, reply = Given)]
    Give { hint: u32 },
    /// The answer to `give`.
    #[ws(client)]
    Given { n: u32 },
    /// Has the server ask `give`; the outcome comes back as a note.
    #[ws(client)]
    AskMe { hint: u32 },
}

pub struct App;

impl RpcHandler for App {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Ticket, Response> {
        let query = request.uri.query().unwrap_or("");
        match query
            .split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
        {
            None => Ok(Ticket::default()),
            Some(token) => {
                let token = token.replace("%3A", ":").replace("%3a", ":");
                ticket(&token).ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())
            }
        }
    }

    async fn refresh(&self, _: &Ctx<Rpc>, token: String) -> Result<Ticket, RefreshRefused> {
        ticket(&token).ok_or(RefreshRefused::new("invalid token"))
    }

    async fn ping(&self, _ctx: &Ctx<Rpc>, msg: rpc::Ping) -> HandlerResult<rpc::Pong> {
        Ok(rpc::Pong { n: msg.n + 1 })
    }

    async fn add(&self, _ctx: &Ctx<Rpc>, rpc::Add { a, b }: rpc::Add) -> HandlerResult<rpc::Sum> {
        Ok(rpc::Sum { value: a + b })
    }

    async fn slow(&self, _ctx: &Ctx<Rpc>, msg: rpc::Slow) -> HandlerResult<rpc::Pong> {
        tokio::time::sleep(Duration::from_millis(msg.delay_ms)).await;
        Ok(rpc::Pong { n: msg.n })
    }

    async fn refuse(&self, _ctx: &Ctx<Rpc>, msg: rpc::Refuse) -> HandlerResult<rpc::Pong> {
        match msg.how.as_str() {
            "reply" => Err(HandlerError::reply("not_allowed", "you may not")),
            "close" => Err(HandlerError::close(4000, "handler closed")),
            _ => Err(std::io::Error::other("disk on fire"))?,
        }
    }

    async fn chatty(&self, ctx: &Ctx<Rpc>, msg: rpc::Chatty) -> HandlerResult<rpc::Pong> {
        ctx.send(rpc::Noted {
            text: "before the reply".into(),
        })?;
        Ok(rpc::Pong { n: msg.n })
    }

    async fn note(&self, ctx: &Ctx<Rpc>, msg: rpc::Note) -> HandlerResult {
        ctx.send(rpc::Noted { text: msg.text })?;
        Ok(())
    }

    async fn echo(&self, _ctx: &Ctx<Rpc>, msg: rpc::Echo) -> HandlerResult<rpc::Echo> {
        Ok(msg)
    }

    async fn ask_me(&self, ctx: &Ctx<Rpc>, msg: rpc::AskMe) -> HandlerResult {
        // Spawned: the answer is a later message of this connection.
        let ask = ctx.request(rpc::Give { hint: msg.hint }, Duration::from_secs(5));
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let text = match ask.await {
                Ok(given) => format!("given {}", given.n),
                Err(error) => error.to_string(),
            };
            let _ = ctx.send(rpc::Noted { text });
        });
        Ok(())
    }
}

pub async fn server() -> TestServer<Rpc> {
    TestServer::start(Manager::<Rpc>::new(), Arc::new(App)).await
}

pub async fn raw(server: &TestServer<Rpc>) -> RawClient {
    RawClient::connect(&server.url("")).await
}
