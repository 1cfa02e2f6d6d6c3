//! Application code that panics while a connection is set up or its
//! session replaced is answered, never a connection dropped without a
//! word (issue 21 §6): a panic in `authenticate` or in a session accessor
//! (`user`, `expires_at`, `presence`) answers the upgrade with HTTP 500;
//! one in the `refresh` hook, or in the accessors of the session it
//! returns (read by `set_session`, outside the hook), closes the connection
//! with 1011, and the node goes on serving.
//!
//! The auth example's own case: `UNIX_EPOCH + Duration::from_secs(exp)`
//! panics for a validly signed `exp` of 2^63 or more.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::{self, Message};
use ws_core::axum::http::request::Parts;
use ws_core::axum::http::{StatusCode, header};
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::testing::TestServer;
use ws_core::{Ctx, HandlerResult, Manager, RefreshRefused, Session, UserId, ws_protocol};

use crate::support::{WAIT, bearer, eventually};

/// A session whose accessors panic as its token says: `ok`, `user`,
/// `expires` (the auth example's overflow, for real) or `presence`.
pub struct Brittle {
    token: String,
}

impl Session for Brittle {
    fn user(&self) -> Option<UserId> {
        assert_ne!(self.token, "user", "a session accessor that panics");
        Some(UserId::from("ada"))
    }

    fn expires_at(&self) -> Option<SystemTime> {
        // What the auth example computed for a validly signed `exp`.
        let exp = if self.token == "expires" {
            u64::MAX
        } else {
            3_600
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        Some(UNIX_EPOCH + now + Duration::from_secs(exp))
    }

    fn presence(&self) -> Option<serde_json::Value> {
        assert_ne!(self.token, "presence", "a session accessor that panics");
        None
    }
}

#[ws_protocol(session = Brittle, heartbeat = "off", idle_timeout = "off")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fragile {
    /// Echoed back.
    #[ws(client, server)]
    Echo { text: String },
    /// The handler sets a session with this token.
    #[ws(client)]
    Adopt { token: String },
}

struct App;

impl FragileHandler for App {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Brittle, Response> {
        let token = bearer(request).ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())?;
        assert_ne!(token, "authenticate", "authenticate panics");
        Ok(Brittle {
            token: token.to_owned(),
        })
    }

    async fn refresh(&self, _: &Ctx<Fragile>, token: String) -> Result<Brittle, RefreshRefused> {
        assert_ne!(token, "refresh", "the refresh hook panics");
        Ok(Brittle { token })
    }

    async fn echo(&self, ctx: &Ctx<Fragile>, msg: fragile::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }

    async fn adopt(&self, ctx: &Ctx<Fragile>, msg: fragile::Adopt) -> HandlerResult {
        ctx.set_session(Brittle { token: msg.token })?;
        Ok(())
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer<Fragile>, token: &str) -> Result<Socket, StatusCode> {
    use tungstenite::client::IntoClientRequest;
    let mut request = server.url("").into_client_request().unwrap();
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("no answer to the upgrade within the wait")
    {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status()),
        Err(other) => panic!("the upgrade failed without an answer: {other}"),
    }
}

/// The close code the server ends `socket` with.
async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                return frame.map_or(1005, |frame| frame.code.into());
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}

/// The server still answers: a new connection echoes.
async fn still_serves(server: &TestServer<Fragile>) {
    let mut socket = connect(server, "ok")
        .await
        .expect("a healthy token connects");
    let echo = json!({"type": "echo", "text": "still here"});
    socket.send(Message::text(echo.to_string())).await.unwrap();
    match tokio::time::timeout(WAIT, socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                echo
            );
        }
        other => panic!("no echo: {other:?}"),
    }
}

#[tokio::test]
async fn a_panic_while_connecting_answers_500() {
    let server = TestServer::start(Manager::<Fragile>::new(), Arc::new(App)).await;
    for token in ["authenticate", "user", "expires", "presence"] {
        assert_eq!(
            connect(&server, token).await.err(),
            Some(StatusCode::INTERNAL_SERVER_ERROR),
            "{token}"
        );
    }
    // Nothing was admitted, and every slot is free again.
    assert_eq!(server.manager().connections(), 0);
    assert_eq!(server.manager().admitted(), 0);
    still_serves(&server).await;
}

#[tokio::test]
async fn a_panic_while_refreshing_or_setting_a_session_closes_1011() {
    let server = TestServer::start(Manager::<Fragile>::new(), Arc::new(App)).await;
    let cases = [
        json!({"type": "refresh", "token": "refresh"}),
        json!({"type": "refresh", "token": "expires"}),
        json!({"type": "refresh", "token": "user"}),
        json!({"type": "refresh", "token": "presence"}),
        json!({"type": "adopt", "token": "expires"}),
    ];
    for frame in cases {
        let mut socket = connect(&server, "ok").await.unwrap();
        socket.send(Message::text(frame.to_string())).await.unwrap();
        assert_eq!(close_code(&mut socket).await, 1011, "{frame}");
    }
    eventually("every connection gone", || {
        server.manager().connections() == 0
    })
    .await;
    // A refresh whose session reads well is still taken.
    let mut socket = connect(&server, "ok").await.unwrap();
    let refresh = json!({"type": "refresh", "token": "ok"}).to_string();
    socket.send(Message::text(refresh)).await.unwrap();
    still_serves(&server).await;
    drop(socket);
}
