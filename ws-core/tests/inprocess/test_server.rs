//! The test harness (`ws_core::testing`) as an app's tests use it: the app's
//! own routes beside the socket, headers and cookies on connect, typed
//! refusals, `close`, the connection's id, and reads that give up.

use std::sync::{Arc, Mutex};

use ws_core::axum::extract::Json;
use ws_core::axum::http::request::Parts;
use ws_core::axum::http::{StatusCode, header};
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::axum::{Router, routing::get};
use ws_core::client::ClientError;
use ws_core::testing::{TIMEOUT, TestServer};
use ws_core::{ConnId, Ctx, Disconnect, HandlerResult, Manager, UserId, ws_protocol};

use crate::support::bearer;

/// A game lobby.
#[ws_protocol(path = "/game", session = Option<UserId>)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Lobby {
    /// Join a lobby.
    #[ws(client)]
    Join { lobby: String },
    /// Who you are, as the server knows you.
    #[ws(client, reply = You)]
    Whoami {},
    /// The answer to `whoami`.
    #[ws(server)]
    You { conn: u64, user: String },
}

#[derive(Default)]
struct App {
    disconnects: Mutex<Vec<(ConnId, Disconnect)>>,
}

impl LobbyHandler for App {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Option<UserId>, Response> {
        let bearer = bearer(request);
        let cookie = request
            .headers
            .get(header::COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|cookies| cookies.split("; ").find_map(|c| c.strip_prefix("name=")));
        match (bearer, cookie) {
            (Some("let-me-in"), Some(name)) => Ok(Some(UserId::from(name))),
            (Some(_), _) => Err((StatusCode::FORBIDDEN, "bad token").into_response()),
            (None, _) => Err((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "no token",
            )
                .into_response()),
        }
    }

    async fn join(&self, ctx: &Ctx<Lobby>, msg: lobby::Join) -> HandlerResult {
        ctx.join(&msg.lobby).await?;
        Ok(())
    }

    async fn whoami(&self, ctx: &Ctx<Lobby>, _msg: lobby::Whoami) -> HandlerResult<lobby::You> {
        Ok(lobby::You {
            conn: ctx.id().get(),
            user: ctx.user().map(|u| u.to_string()).unwrap_or_default(),
        })
    }

    async fn on_disconnect(&self, ctx: &Ctx<Lobby>, disconnect: &Disconnect) {
        self.disconnects
            .lock()
            .unwrap()
            .push((ctx.id(), disconnect.clone()));
    }
}

async fn server(app: Arc<App>) -> TestServer<Lobby> {
    let manager = Manager::<Lobby>::new();
    let rooms = manager.clone();
    let routes = Router::new().route("/lobbies", get(move || async move { Json(rooms.rooms()) }));
    TestServer::with_routes(manager, app, routes).await
}

/// Ann, let in by `authenticate`.
async fn ann(server: &TestServer<Lobby>) -> ws_core::testing::TestClient<Lobby> {
    server
        .connect()
        .header("authorization", "Bearer let-me-in")
        .cookie("name", "ann")
        .client()
        .await
}

#[tokio::test]
async fn the_apps_own_routes_are_served_beside_the_socket() {
    let server = server(Arc::default()).await;
    let mut ann = ann(&server).await;
    ann.push(lobby::Join {
        lobby: "red".into(),
    })
    .await;
    // A request after the join: handled in order, so the join is done.
    ann.ask(lobby::Whoami {}).await;
    let response = server.get("/lobbies").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "1");
    assert_eq!(
        server.get("/nothing-here").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn headers_and_cookies_reach_authenticate() {
    let server = server(Arc::default()).await;
    let mut ann = server
        .connect()
        .header("authorization", "Bearer let-me-in")
        .cookie("theme", "dark")
        .cookie("name", "ann")
        .client()
        .await;
    let you = ann.ask(lobby::Whoami {}).await;
    assert_eq!(you.user, "ann");
    assert_eq!(server.manager().user_connections("ann"), 1);
}

#[tokio::test]
async fn a_refused_connect_is_typed_with_its_status() {
    let server = server(Arc::default()).await;
    let refusal = server.refused("").await;
    assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(refusal.body, "no token");

    let error = server
        .connect()
        .header("authorization", "Bearer wrong")
        .try_client()
        .await
        .err()
        .expect("a wrong token is refused");
    assert_eq!(error.status(), Some(StatusCode::FORBIDDEN));
    assert!(
        matches!(&error, ClientError::Refused(r) if r.body == "bad token"),
        "{error}"
    );
}

#[tokio::test]
async fn a_client_knows_its_id_and_closes() {
    let app = Arc::new(App::default());
    let server = server(Arc::clone(&app)).await;
    let connect = || {
        server
            .connect()
            .header("authorization", "Bearer let-me-in")
            .cookie("name", "ann")
            .client()
    };
    // Two at once: each learns its own id, not the other's.
    let (mut a, mut b) = tokio::join!(connect(), connect());
    assert_ne!(a.id(), b.id());
    assert_eq!(a.ask(lobby::Whoami {}).await.conn, a.id().get());
    assert_eq!(b.ask(lobby::Whoami {}).await.conn, b.id().get());

    let id = a.id();
    a.close().await;
    crate::support::eventually("on_disconnect ran", || {
        !app.disconnects.lock().unwrap().is_empty()
    })
    .await;
    let disconnects = app.disconnects.lock().unwrap().clone();
    assert_eq!(disconnects.len(), 1);
    assert_eq!(disconnects[0].0, id);
    let peer_close = disconnects[0].1.peer_close.as_ref().map(|close| close.code);
    assert_eq!(peer_close, Some(1000));
    assert_eq!(server.manager().connections(), 1);
}

#[tokio::test]
async fn reads_give_up_after_the_timeout() {
    let server = server(Arc::default()).await;
    let mut ann = ann(&server).await;
    // `Client::recv` would wait forever for a message nobody sends.
    match ann.recv().await {
        Err(ClientError::Timeout { after, .. }) => assert_eq!(after, TIMEOUT),
        other => panic!("expected a timeout, got {other:?}"),
    }
}
