//! Request/reply, the typed client and the test harness (`ws_core::client`,
//! `ws_core::testing`), and the documents a frontend gets: the correlation
//! id on the wire, in the JSON Schema, in AsyncAPI and in TypeScript.
//!
//! With `WS_FRONTEND_OUT=DIR` set, `export_rpc_documents` writes this
//! protocol's `asyncapi.json` and `rpc.ts` into DIR, for `frontend/check.sh`
//! to check with the real tools (the chat example declares no replies).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ws_core::axum::http::StatusCode;
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::client::ClientError;
use ws_core::schema::{Direction, for_direction};
use ws_core::testing::TestServer;
use ws_core::{
    Ctx, HandlerError, HandlerResult, Manager, Protocol, RefreshRefused, Session, Tagging,
    ws_protocol,
};

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

struct App;

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

async fn server() -> TestServer<Rpc> {
    TestServer::start(Manager::<Rpc>::new(), Arc::new(App)).await
}

async fn raw(server: &TestServer<Rpc>) -> RawClient {
    RawClient::connect(&server.url("")).await
}

#[tokio::test]
async fn a_request_gets_its_typed_reply() {
    let server = server().await;
    let mut client = server.client().await;
    assert_eq!(client.ask(rpc::Ping { n: 1 }).await, rpc::Pong { n: 2 });
    assert_eq!(client.ask(rpc::Add { a: 2, b: 40 }).await.value, 42);
    assert_eq!(client.ask(rpc::Echo { text: "e".into() }).await.text, "e");
    client.refute_receive().await;
}

#[tokio::test]
async fn the_reply_carries_the_request_id_on_the_wire() {
    let server = server().await;
    let mut client = raw(&server).await;
    client.send(json!({"type": "ping", "n": 1, "id": 42})).await;
    assert_eq!(
        client.recv().await,
        json!({"id": 42, "type": "pong", "n": 2})
    );
    // Without an id the reply comes uncorrelated.
    client.send(json!({"type": "ping", "n": 5})).await;
    assert_eq!(client.recv().await, json!({"type": "pong", "n": 6}));
    // A message without a reply ignores an id, and its answer has none.
    client
        .send(json!({"type": "note", "text": "t", "id": 7}))
        .await;
    assert_eq!(client.recv().await, json!({"type": "noted", "text": "t"}));
    // An id that is not an unsigned integer is refused.
    client
        .send(json!({"type": "ping", "n": 1, "id": "seven"}))
        .await;
    let refused = client.recv().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "invalid_message");
}

#[tokio::test]
async fn errors_of_a_request_carry_its_id() {
    let server = server().await;
    let mut client = raw(&server).await;
    client
        .send(json!({"type": "refuse", "how": "reply", "id": 3}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type": "error", "id": 3, "code": "not_allowed", "message": "you may not"})
    );
    client
        .send(json!({"type": "refuse", "how": "internal", "id": 4}))
        .await;
    let internal = client.recv().await;
    assert_eq!(
        (internal["id"].as_u64(), internal["code"].as_str()),
        (Some(4), Some("internal"))
    );

    let mut typed = server.client().await;
    let frame = typed
        .ask_error(rpc::Refuse {
            how: "reply".into(),
        })
        .await;
    assert_eq!(
        (frame.code.as_str(), frame.message.as_str()),
        ("not_allowed", "you may not")
    );
    match typed
        .request(rpc::Refuse {
            how: "close".into(),
        })
        .await
    {
        Err(ClientError::Closed(Some(close))) => assert_eq!(close.code, 4000),
        other => panic!("expected the close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reply_keeps_its_place_among_the_frames() {
    let server = server().await;
    let mut client = server.client().await;
    // The note is queued before the reply and kept for `recv` while the
    // request waits for its reply.
    assert_eq!(client.ask(rpc::Chatty { n: 9 }).await, rpc::Pong { n: 9 });
    assert_eq!(client.expect::<rpc::Noted>().await.text, "before the reply");

    let mut raw = raw(&server).await;
    raw.send(json!({"type": "chatty", "n": 1, "id": 1})).await;
    assert_eq!(raw.recv().await["type"], "noted");
    assert_eq!(raw.recv().await, json!({"id": 1, "type": "pong", "n": 1}));
}

#[tokio::test]
async fn a_request_times_out_on_the_client_side() {
    let server = server().await;
    let mut client = server.client().await;
    let slow = rpc::Slow {
        n: 1,
        delay_ms: 300,
    };
    match client
        .request_timeout(slow, Duration::from_millis(30))
        .await
    {
        Err(ClientError::Timeout { what, after }) => {
            assert_eq!(what, "reply to `slow`");
            assert_eq!(after, Duration::from_millis(30));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The late reply still arrives, as an ordinary message; the next
    // request is correlated with its own id.
    assert_eq!(client.expect::<rpc::Pong>().await, rpc::Pong { n: 1 });
    assert_eq!(client.ask(rpc::Ping { n: 10 }).await.n, 11);
}

#[tokio::test]
async fn typed_send_receive_and_errors() {
    let server = server().await;
    let mut client = server.client().await;
    client
        .push(rpc::Note {
            text: "hello".into(),
        })
        .await;
    client
        .assert_receive(rpc::Noted {
            text: "hello".into(),
        })
        .await;

    // A server-only message cannot be sent with `push` (it does not
    // compile); as raw text it is refused.
    client.send_text(r#"{"type":"pong","n":1}"#).await.unwrap();
    assert_eq!(client.expect_error().await.code, "wrong_direction");
    match client.recv_timeout(Duration::from_millis(20)).await {
        Err(ClientError::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(server.manager().connections(), 1);
    client.into_inner().close().await.unwrap();
}

#[tokio::test]
async fn the_harness_serves_at_the_protocol_path() {
    let server = server().await;
    assert_eq!(Rpc::PATH, "/rpc");
    assert!(server.url("?x=1").ends_with("/rpc?x=1"));
    match ws_core::client::Client::<Rpc>::connect(&format!("ws://{}/ws", server.addr())).await {
        // Nothing is served at /ws: an HTTP answer, so a typed refusal.
        Err(error @ ClientError::Refused(_)) => {
            assert_eq!(error.status(), Some(StatusCode::NOT_FOUND), "{error}");
        }
        other => panic!("expected a refused connect, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_metadata_names_the_replies() {
    assert_eq!(Rpc::TAGGING, Tagging::Internal { tag: "type" });
    let ping = &Rpc::MESSAGES[0];
    assert_eq!((ping.wire(), ping.reply()), ("ping", Some("pong")));
    assert_eq!(ping.description(), Some("Answered with `n + 1`."));
    assert!(Rpc::MESSAGES[1].is_reply_in(Rpc::MESSAGES));
    assert_eq!(Rpc::Ping { n: 1 }.reply_type(), Some("pong"));
    assert_eq!(
        Rpc::Note {
            text: String::new()
        }
        .reply_type(),
        None
    );
}

#[test]
fn the_schema_has_the_correlation_id() {
    let schema = Rpc::json_schema();
    let client = jsonschema::validator_for(&for_direction(&schema, Direction::Client)).unwrap();
    let server = jsonschema::validator_for(&for_direction(&schema, Direction::Server)).unwrap();
    assert!(client.is_valid(&json!({"type": "ping", "n": 1, "id": 7})));
    assert!(client.is_valid(&json!({"type": "ping", "n": 1})));
    assert!(!client.is_valid(&json!({"type": "ping", "n": 1, "id": "7"})));
    assert!(server.is_valid(&json!({"id": 7, "type": "pong", "n": 2})));
    assert!(server.is_valid(&json!({"id": 7, "type": "error", "code": "c", "message": "m"})));
    assert!(!server.is_valid(&json!({"type": "error", "code": "c"})));

    let ping = ws_core::schema::messages::<Rpc>(&schema, Direction::Client)
        .into_iter()
        .find(|m| m.info.wire() == "ping")
        .and_then(|m| m.schema)
        .unwrap();
    assert_eq!(ping["x-reply"], "pong");
    assert_eq!(ping["properties"]["id"]["type"], "integer");
    let note = &schema["$defs"]["RpcClient"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["properties"]["type"]["const"] == "note")
        .unwrap()["properties"];
    assert!(
        note.get("id").is_none(),
        "messages without replies have no id: {note}"
    );
}

#[test]
fn asyncapi_links_requests_and_replies() {
    let doc = Rpc::asyncapi();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["info"]["title"], "Rpc");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let channel = &doc["channels"]["Rpc"];
    assert_eq!(channel["address"], "/rpc");
    let ping = &doc["operations"]["receivePing"];
    assert_eq!(ping["action"], "receive");
    assert_eq!(ping["summary"], "Answered with `n + 1`.");
    assert_eq!(
        ping["reply"]["messages"][0]["$ref"],
        "#/channels/Rpc/messages/pong"
    );
    assert_eq!(doc["operations"]["sendPong"]["action"], "send");
    assert_eq!(doc["operations"]["sendError"]["action"], "send");
    assert!(
        doc["operations"]["sendNote"].is_null(),
        "client messages are received"
    );
    // Both directions: one message, two operations.
    assert_eq!(
        doc["operations"]["receiveEcho"]["messages"],
        doc["operations"]["sendEcho"]["messages"]
    );
    let messages = &doc["components"]["messages"];
    assert_eq!(
        messages["ping"]["payload"]["properties"]["type"]["const"],
        "ping"
    );
    assert_eq!(
        messages["ping"]["correlationId"]["$ref"],
        "#/components/correlationIds/id"
    );
    assert_eq!(
        messages["pong"]["correlationId"]["$ref"],
        "#/components/correlationIds/id"
    );
    assert!(messages["note"]["correlationId"].is_null());
    assert_eq!(
        doc["components"]["correlationIds"]["id"]["location"],
        "$message.payload#/id"
    );
    assert_eq!(
        messages["sum"]["payload"]["properties"]["value"]["description"],
        "`a + b`."
    );
    // Every `$ref` resolves inside the document.
    assert_refs_resolve(&doc, &doc);
}

/// With `correlate = "all"`, AsyncAPI lists the `ack` as the JSON Schema and
/// TypeScript do: a message with `AckFrame` as its payload, sent, and the
/// reply of every client message that declares none.
#[test]
fn asyncapi_lists_the_ack_with_correlate_all() {
    use crate::manager_api::Arena;
    let doc = Arena::asyncapi();
    let messages = &doc["components"]["messages"];
    let ack = &messages["ack"];
    assert_eq!(ack["title"], "AckFrame", "{ack}");
    assert_eq!(ack["payload"], Arena::json_schema()["$defs"]["AckFrame"]);
    assert_eq!(ack["payload"]["properties"]["type"]["const"], "ack");
    assert_eq!(
        ack["correlationId"]["$ref"],
        "#/components/correlationIds/id"
    );
    assert_eq!(
        doc["channels"]["Arena"]["messages"]["ack"]["$ref"],
        "#/components/messages/ack"
    );
    let send_ack = &doc["operations"]["sendAck"];
    assert_eq!(send_ack["action"], "send");
    assert_eq!(
        send_ack["messages"][0]["$ref"],
        "#/channels/Arena/messages/ack"
    );
    assert_eq!(
        doc["operations"]["receiveStartGame"]["reply"]["messages"][0]["$ref"],
        "#/channels/Arena/messages/ack"
    );
    // Every client message carries the id, and so does the error frame.
    assert_eq!(
        messages["start_game"]["correlationId"]["$ref"],
        "#/components/correlationIds/id"
    );
    assert_eq!(
        messages["error"]["correlationId"]["$ref"],
        "#/components/correlationIds/id"
    );
    assert_eq!(
        doc["components"]["correlationIds"]["id"]["location"],
        "$message.payload#/id"
    );
    // Inlined as the ack's payload, not also a shared schema.
    assert!(doc["components"]["schemas"]["AckFrame"].is_null());

    // Without `correlate = "all"`, no ack.
    let doc = Rpc::asyncapi();
    assert!(doc["components"]["messages"]["ack"].is_null());
    assert!(doc["operations"]["sendAck"].is_null());
    assert!(doc["operations"]["receiveNote"]["reply"].is_null());
}

fn assert_refs_resolve(doc: &Value, value: &Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                let pointer = reference.strip_prefix('#').expect("a local ref");
                assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
            }
            object.values().for_each(|v| assert_refs_resolve(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| assert_refs_resolve(doc, v)),
        _ => {}
    }
}

/// A request of the server carries the `id` in both documents, and its
/// operation names the client's answer as its reply.
#[test]
fn documents_describe_requests_of_the_server() {
    let schema = Rpc::json_schema();
    let text = schema.to_string();
    assert!(
        text.contains("Correlation id, chosen by the server: the client answers with `given`"),
        "{text}"
    );
    assert!(
        text.contains("Correlation id: the id of the request of the server this answers."),
        "{text}"
    );
    let doc = Rpc::asyncapi();
    let give = &doc["operations"]["sendGive"];
    assert_eq!(give["action"], "send");
    assert_eq!(
        give["reply"]["messages"][0]["$ref"],
        "#/channels/Rpc/messages/given"
    );
    for message in ["give", "given"] {
        assert_eq!(
            doc["components"]["messages"][message]["correlationId"]["$ref"],
            "#/components/correlationIds/id",
            "{message}"
        );
    }
    // No handler method for the answer: it is never routed.
    assert!(doc["operations"]["receiveGiven"]["reply"].is_null());
}

#[test]
fn typescript_types_the_requests() {
    let ts = Rpc::typescript();
    for needle in [
        "export const PATH = \"/rpc\";",
        "/** Answered with `n + 1`. */\nexport interface Ping {\n  type: \"ping\";\n",
        "  id?: number;\n",
        "export type ClientMessage = Ping | Add | Slow | Refuse | Chatty | Note | Echo | Given | AskMe | RefreshFrame;",
        "export type ServerMessage = Pong | Sum | Noted | Echo | Give | ErrorFrame | RefreshRequired;",
        "export interface Answers {\n  give: Given;\n}",
        "onRequest<T extends keyof Answers>(",
        "static readonly serverRequests: ReadonlySet<unknown> = new Set<unknown>([\"give\"]);",
        "export interface Replies {\n  ping: Pong;\n  add: Sum;\n  slow: Pong;\n  refuse: Pong;\n  chatty: Pong;\n  echo: Echo;\n}",
        "export class RpcClient {",
        "request<T extends keyof Replies>(",
    ] {
        assert!(ts.contains(needle), "missing {needle:?} in:\n{ts}");
    }
}

/// The session refresh is in the documents as the error frame is: the
/// frames a real server sends and reads validate against the exported
/// schema, whose directions include them.
#[tokio::test]
async fn the_schema_describes_the_refresh_frames_on_the_wire() {
    let schema = Rpc::json_schema();
    let client = jsonschema::validator_for(&for_direction(&schema, Direction::Client)).unwrap();
    let server_side =
        jsonschema::validator_for(&for_direction(&schema, Direction::Server)).unwrap();

    let server = server().await;
    // Lives 1.5 s; the server asks 1 s ahead.
    let mut ann = RawClient::connect(&server.url("?access_token=ann%3A1500")).await;
    let asked = ann.recv().await;
    assert_eq!(asked["type"], "refresh_required", "{asked}");
    if let Err(error) = server_side.validate(&asked) {
        panic!("{asked} does not match the server direction: {error}");
    }
    let refresh = serde_json::to_value(ws_core::RefreshFrame {
        token: "ann:60000".into(),
    })
    .unwrap();
    if let Err(error) = client.validate(&refresh) {
        panic!("{refresh} does not match the client direction: {error}");
    }
    ann.send(refresh).await;
    // Accepted: nothing comes back, and the connection goes on.
    ann.send(json!({"type": "ping", "n": 1, "id": 1})).await;
    assert_eq!(ann.recv().await, json!({"type": "pong", "n": 2, "id": 1}));

    // The schemas are the frames', not any object with the tag.
    assert!(!client.is_valid(&json!({"type": "refresh"})));
    assert!(!client.is_valid(&json!({"type": "refresh", "token": 7})));
    assert!(!server_side.is_valid(&json!({"type": "refresh_required"})));
    assert!(!server_side.is_valid(&json!({"type": "refresh_required", "expires_in_ms": -1})));
    // Each in its own direction only.
    assert!(!server_side.is_valid(&json!({"type": "refresh", "token": "t"})));
    assert!(!client.is_valid(&json!({"type": "refresh_required", "expires_in_ms": 1})));
    // The examples are the Rust types' own serialization.
    for (def, parsed) in [
        (
            "RefreshRequired",
            serde_json::from_value::<ws_core::RefreshRequired>(
                schema["$defs"]["RefreshRequired"]["examples"][0].clone(),
            )
            .map(drop),
        ),
        (
            "RefreshFrame",
            serde_json::from_value::<ws_core::RefreshFrame>(
                schema["$defs"]["RefreshFrame"]["examples"][0].clone(),
            )
            .map(drop),
        ),
    ] {
        assert!(parsed.is_ok(), "{def}'s example: {parsed:?}");
    }
}

/// AsyncAPI lists the refresh frames like the error frame: in every
/// document (a protocol does not know whether its sessions expire), sent
/// and received, their payloads the JSON Schema's, without a correlation id
/// and so without a `reply`.
#[test]
fn asyncapi_lists_the_refresh_frames() {
    use crate::manager_api::Arena;
    for (doc, schema, channel) in [
        (Rpc::asyncapi(), Rpc::json_schema(), "Rpc"),
        // A protocol whose session is `()`: listed all the same.
        (Arena::asyncapi(), Arena::json_schema(), "Arena"),
    ] {
        let messages = &doc["components"]["messages"];
        for (id, def, action, operation) in [
            (
                "refresh_required",
                "RefreshRequired",
                "send",
                "sendRefreshRequired",
            ),
            ("refresh", "RefreshFrame", "receive", "receiveRefresh"),
        ] {
            let message = &messages[id];
            assert_eq!(message["name"], id, "{message}");
            assert_eq!(message["title"], def, "{message}");
            assert_eq!(message["payload"], schema["$defs"][def], "{channel} {id}");
            assert_eq!(message["payload"]["properties"]["type"]["const"], id);
            assert!(message["correlationId"].is_null(), "{message}");
            assert_eq!(
                doc["channels"][channel]["messages"][id]["$ref"],
                format!("#/components/messages/{id}")
            );
            let op = &doc["operations"][operation];
            assert_eq!(op["action"], action, "{op}");
            assert_eq!(
                op["messages"][0]["$ref"],
                format!("#/channels/{channel}/messages/{id}")
            );
            assert!(op["reply"].is_null(), "{op}");
            // Inlined as the payload, not also a shared schema.
            assert!(doc["components"]["schemas"][def].is_null());
        }
        assert!(
            doc["operations"]["sendRefreshRequired"]["description"]
                .as_str()
                .unwrap()
                .contains("4001"),
            "the close code of a missed refresh"
        );
        assert_refs_resolve(&doc, &doc);
    }
}

/// The TypeScript unions include the refresh frames; `on` cannot select
/// `refresh_required`, which the client answers itself.
#[test]
fn typescript_types_the_refresh_frames() {
    let ts = Rpc::typescript();
    for needle in [
        "export interface RefreshRequired {\n  type: \"refresh_required\";\n",
        "  expires_in_ms: number;\n",
        "export interface RefreshFrame {\n  type: \"refresh\";\n",
        "  token: string;\n",
        "const frame: RefreshFrame = { type: \"refresh\", token };",
    ] {
        assert!(ts.contains(needle), "missing {needle:?} in:\n{ts}");
    }
    let tagged = ts
        .lines()
        .find(|line| line.starts_with("export type TaggedServerMessage = "))
        .unwrap();
    assert!(tagged.contains("ErrorFrame"), "{tagged}");
    assert!(!tagged.contains("RefreshRequired"), "{tagged}");
}

/// AsyncAPI names the subprotocols in the WebSocket channel binding's
/// handshake headers, and each name it gives is one a real server selects.
#[tokio::test]
async fn asyncapi_lists_the_subprotocols_the_server_selects() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let doc = Rpc::asyncapi();
    let binding = &doc["channels"]["Rpc"]["bindings"]["ws"];
    assert_eq!(binding["method"], "GET");
    assert_eq!(binding["bindingVersion"], "0.1.0");
    assert_eq!(binding["headers"]["type"], "object");
    let header = &binding["headers"]["properties"]["Sec-WebSocket-Protocol"];
    assert_eq!(header["type"], "string");
    let examples: Vec<&str> = header["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(Rpc::SUBPROTOCOL, "rpc.v1");
    assert_eq!(
        examples,
        [
            "rpc.v1.json",
            "rpc.v1.msgpack",
            "rpc.v1.msgpack, rpc.v1.json"
        ]
    );
    let description = header["description"].as_str().unwrap();
    assert!(description.contains("`rpc.v1.msgpack`"), "{description}");
    assert!(
        doc["info"]["description"]
            .as_str()
            .unwrap()
            .contains("`rpc.v1.msgpack`"),
        "{}",
        doc["info"]["description"]
    );

    // What the document says is what the server does: each example offered
    // alone or as a list selects its first name, and the codec follows.
    let server = server().await;
    for offered in examples {
        let mut request = server.url("").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", offered.parse().unwrap());
        let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        let selected = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        let first = offered.split(',').next().unwrap().trim();
        assert_eq!(selected.as_deref(), Some(first), "offered {offered:?}");
        let ping = json!({"type": "ping", "n": 1, "id": 3});
        let binary = first.ends_with(".msgpack");
        let frame = if binary {
            Message::binary(rmp_serde::to_vec_named(&ping).unwrap())
        } else {
            Message::text(ping.to_string())
        };
        ws.send(frame).await.unwrap();
        let answer = loop {
            match tokio::time::timeout(crate::support::WAIT, ws.next())
                .await
                .expect("no answer within the wait")
                .expect("stream ended")
                .unwrap()
            {
                Message::Binary(bytes) if binary => {
                    break rmp_serde::from_slice::<Value>(&bytes).unwrap();
                }
                Message::Text(text) if !binary => break serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("{first}: unexpected {other:?}"),
            }
        };
        assert_eq!(answer, json!({"type": "pong", "n": 2, "id": 3}), "{first}");
    }
}

/// Writes this protocol's documents for `frontend/check.sh` when
/// `WS_FRONTEND_OUT` names a directory.
#[test]
fn export_rpc_documents() {
    let Some(dir) = std::env::var_os("WS_FRONTEND_OUT") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap() + "\n";
    std::fs::write(dir.join("asyncapi.json"), pretty(&Rpc::asyncapi())).unwrap();
    std::fs::write(dir.join("schema.json"), pretty(&Rpc::json_schema())).unwrap();
    std::fs::write(dir.join("rpc.ts"), Rpc::typescript()).unwrap();
}

/// Runs the generated `RpcClient` in Node against this protocol: with
/// `WS_FRONTEND_RUN` naming the compiled `rpc.run.js` (frontend/run/,
/// compiled by `frontend/check.sh`), `node` must exit 0. Without it, the
/// test has nothing to run (plain `cargo test` has no compiled client).
#[tokio::test]
async fn rpc_client_runs_in_node() {
    let Some(script) = std::env::var_os("WS_FRONTEND_RUN") else {
        return;
    };
    let server = server().await;
    let mut node = tokio::process::Command::new("node");
    node.arg(&script).arg(server.url("")).kill_on_drop(true);
    // The runner's own watchdog ends it after 60 s; this one covers a node
    // that does not start at all.
    let output = tokio::time::timeout(Duration::from_secs(90), node.output())
        .await
        .expect("node did not finish within 90 s")
        .unwrap_or_else(|error| panic!("cannot run node {script:?}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the RpcClient run failed ({}):\n{stdout}{stderr}",
        output.status
    );
    assert!(stdout.contains("rpc: all "), "{stdout}");
}
