//! Requests of the server to a client (`#[ws(server, reply = Answer)]`):
//! the typed answer, a timeout, the connection closing while one waits,
//! and answers that no request waits for.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::timeout;
use ws_core::testing::TestServer;
use ws_core::{ConnId, Ctx, HandlerResult, Manager, RequestError, ws_protocol};

use crate::support::{Client, WAIT};

#[ws_protocol(path = "/asks", heartbeat = "off", idle_timeout = "off")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Asks {
    /// The server asks whether the player is ready.
    #[ws(server, reply = Ready)]
    AreYouReady { round: u32 },
    /// The player's answer; never routed to the handler.
    #[ws(client)]
    Ready { ready: bool },
    /// A request of the client, whose ids live beside the server's.
    #[ws(client, reply = Pong)]
    Ping { n: u32 },
    #[ws(server)]
    Pong { n: u32 },
    /// Asks the handler to ask the client (through `Ctx::request`).
    #[ws(client)]
    Start,
    /// What the client answered to the handler's request.
    #[ws(server)]
    Verdict { ready: Option<bool> },
}

struct App {
    connected: mpsc::UnboundedSender<ConnId>,
}

impl AsksHandler for App {
    async fn on_connect(&self, ctx: &Ctx<Asks>) -> HandlerResult {
        let _ = self.connected.send(ctx.id());
        Ok(())
    }

    async fn ping(&self, _ctx: &Ctx<Asks>, msg: asks::Ping) -> HandlerResult<asks::Pong> {
        Ok(asks::Pong { n: msg.n })
    }

    async fn start(&self, ctx: &Ctx<Asks>, _msg: asks::Start) -> HandlerResult {
        // Spawned: the answer is a message of this connection, handled after
        // this handler returns.
        let ask = ctx.request(asks::AreYouReady { round: 9 }, WAIT);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let ready = ask.await.ok().map(|answer| answer.ready);
            let _ = ctx.send(asks::Verdict { ready });
        });
        Ok(())
    }
}

async fn server() -> (TestServer<Asks>, mpsc::UnboundedReceiver<ConnId>) {
    let (connected, ids) = mpsc::unbounded_channel();
    let server = TestServer::start(Manager::<Asks>::new(), Arc::new(App { connected })).await;
    (server, ids)
}

async fn connect(
    server: &TestServer<Asks>,
    ids: &mut mpsc::UnboundedReceiver<ConnId>,
) -> (Client, ConnId) {
    let client = Client::connect(&server.url("")).await;
    let id = timeout(WAIT, ids.recv()).await.unwrap().unwrap();
    (client, id)
}

/// The server asks connection `id` whether it is ready for `round`.
fn are_you_ready(
    server: &TestServer<Asks>,
    id: ConnId,
    round: u32,
    wait: Duration,
) -> impl Future<Output = Result<asks::Ready, RequestError>> + use<'_> {
    let asked = asks::AreYouReady { round };
    server.manager().to_conn(id).request(asked, wait)
}

#[tokio::test]
async fn a_request_gets_its_typed_answer() {
    let (server, mut ids) = server().await;
    let (mut client, id) = connect(&server, &mut ids).await;
    let ask = are_you_ready(&server, id, 1, WAIT);
    let request = client.recv().await;
    assert_eq!(request["type"], "are_you_ready");
    assert_eq!(request["round"], 1);
    let n = request["id"].as_u64().expect("the request carries an id");
    // A request of the client with the same id is its own: it is routed,
    // and does not complete the server's request.
    client.send(json!({"type": "ping", "n": 5, "id": n})).await;
    assert_eq!(
        client.recv().await,
        json!({"id": n, "type": "pong", "n": 5})
    );
    client
        .send(json!({"type": "ready", "ready": true, "id": n}))
        .await;
    let answer = ask.await.unwrap();
    assert!(answer.ready);
    // Matched, so no error frame: the next thing the client gets is this.
    client.send(json!({"type": "ping", "n": 6})).await;
    assert_eq!(client.recv().await["n"], 6);

    // From a handler, through `Ctx::request`; ids count up per connection.
    client.send(json!({"type": "start"})).await;
    let request = client.recv().await;
    assert_eq!(request["type"], "are_you_ready");
    assert_eq!(request["round"], 9);
    assert_eq!(request["id"], n + 1);
    client
        .send(json!({"type": "ready", "ready": false, "id": n + 1}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type": "verdict", "ready": false})
    );
}

#[tokio::test]
async fn an_unanswered_request_times_out_and_a_late_answer_is_refused() {
    let (server, mut ids) = server().await;
    let (mut client, id) = connect(&server, &mut ids).await;
    let patience = Duration::from_millis(50);
    let ask = are_you_ready(&server, id, 2, patience);
    let n = client.recv().await["id"].as_u64().unwrap();
    match timeout(WAIT, ask).await.unwrap() {
        Err(RequestError::Timeout(after)) => assert_eq!(after, patience),
        other => panic!("expected a timeout, got {other:?}"),
    }
    client
        .send(json!({"type": "ready", "ready": true, "id": n}))
        .await;
    let refused = client.recv().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "unexpected_reply");
    assert_eq!(refused["id"], n);
}

#[tokio::test]
async fn answers_no_request_waits_for_are_refused() {
    let (server, mut ids) = server().await;
    let (mut client, _id) = connect(&server, &mut ids).await;
    // Never asked: an unknown id, then no id at all.
    client
        .send(json!({"type": "ready", "ready": true, "id": 77}))
        .await;
    let refused = client.recv().await;
    assert_eq!(refused["code"], "unexpected_reply");
    assert_eq!(refused["id"], 77);
    client.send(json!({"type": "ready", "ready": true})).await;
    let refused = client.recv().await;
    assert_eq!(refused["code"], "unexpected_reply");
    assert!(refused.get("id").is_none(), "{refused}");
    // The server's ids are integers: a string id answers none of its
    // requests, and is echoed in the refusal.
    client
        .send(json!({"type": "ready", "ready": true, "id": "77"}))
        .await;
    let refused = client.recv().await;
    assert_eq!(refused["code"], "unexpected_reply");
    assert_eq!(refused["id"], "77");
    // An id of no kind an id may be is an invalid message, as for requests.
    client
        .send(json!({"type": "ready", "ready": true, "id": -1}))
        .await;
    assert_eq!(client.recv().await["code"], "invalid_message");
}

#[tokio::test]
async fn a_request_fails_when_the_connection_closes() {
    let (server, mut ids) = server().await;
    let (mut client, id) = connect(&server, &mut ids).await;
    let ask = are_you_ready(&server, id, 3, WAIT * 6);
    assert_eq!(client.recv().await["type"], "are_you_ready");
    client.close(1000, "bye").await;
    // Bounded by WAIT, far below the request's own timeout.
    match timeout(WAIT, ask).await.unwrap() {
        Err(RequestError::Closed) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    // Gone: a new request fails at once.
    let again = are_you_ready(&server, id, 4, WAIT);
    assert!(matches!(again.await, Err(RequestError::Closed)));
}

#[tokio::test]
async fn a_request_goes_to_one_connection() {
    let (server, _ids) = server().await;
    let ask = server
        .manager()
        .to_all()
        .request(asks::AreYouReady { round: 5 }, WAIT);
    assert!(matches!(ask.await, Err(RequestError::NotOneConnection)));
}

#[tokio::test]
async fn the_rust_client_answers_with_on_request() {
    let (server, mut ids) = server().await;
    let mut client = ws_core::client::Client::<Asks>::connect(&server.url(""))
        .await
        .unwrap();
    let id = timeout(WAIT, ids.recv()).await.unwrap().unwrap();
    client.on_request(|asked: asks::AreYouReady| asks::Ready {
        ready: asked.round == 1,
    });
    // The server's first request and the client's first request both have
    // id 1: the client answers the one and gets the reply of the other.
    let ask = are_you_ready(&server, id, 1, WAIT);
    let pong = client
        .request_timeout(asks::Ping { n: 8 }, WAIT)
        .await
        .unwrap();
    assert_eq!(pong.n, 8);
    assert!(timeout(WAIT, ask).await.unwrap().unwrap().ready);
    // Through `Ctx::request` too; the request never reaches `recv`.
    client.send(asks::Start).await.unwrap();
    assert_eq!(
        client.recv_timeout(WAIT).await.unwrap(),
        Asks::Verdict { ready: Some(false) }
    );
}
