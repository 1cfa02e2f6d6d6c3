//! The documents a frontend gets of a protocol: the correlation id and the
//! refresh frames in the JSON Schema, in AsyncAPI and in TypeScript, and
//! the subprotocols AsyncAPI names, checked against a real server.

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ws_core::schema::{Direction, for_direction};
use ws_core::{Protocol, Tagging};

use crate::support::Client as RawClient;
use crate::support::next_message;
use crate::support::rpc::{Rpc, server};

/// An AsyncAPI message that carries the correlation id.
fn assert_correlated(message: &Value) {
    assert_eq!(
        message["correlationId"]["$ref"], "#/components/correlationIds/id",
        "{message}"
    );
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
    // An integer or a short string; nothing else.
    assert!(client.is_valid(&json!({"type": "ping", "n": 1, "id": "7"})));
    assert!(!client.is_valid(&json!({"type": "ping", "n": 1, "id": -1})));
    assert!(!client.is_valid(&json!({"type": "ping", "n": 1, "id": 1.5})));
    assert!(!client.is_valid(&json!({"type": "ping", "n": 1, "id": "x".repeat(65)})));
    assert!(server.is_valid(&json!({"id": "r-7", "type": "error", "code": "c", "message": "m"})));
    assert!(
        !server
            .is_valid(&json!({"id": "x".repeat(65), "type": "error", "code": "c", "message": "m"}))
    );
    assert!(server.is_valid(&json!({"id": 7, "type": "pong", "n": 2})));
    assert!(server.is_valid(&json!({"id": 7, "type": "error", "code": "c", "message": "m"})));
    assert!(!server.is_valid(&json!({"type": "error", "code": "c"})));

    let ping = ws_core::schema::messages::<Rpc>(&schema, Direction::Client)
        .into_iter()
        .find(|m| m.info.wire() == "ping")
        .and_then(|m| m.schema)
        .unwrap();
    assert_eq!(ping["x-reply"], "pong");
    assert_eq!(
        ping["properties"]["id"]["type"],
        json!(["integer", "string"])
    );
    assert_eq!(
        ping["properties"]["id"]["maxLength"],
        ws_core::correlation::MAX_ID_LEN
    );
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
    assert_correlated(&messages["ping"]);
    assert_correlated(&messages["pong"]);
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
    assert_correlated(ack);
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
    assert_correlated(&messages["start_game"]);
    assert_correlated(&messages["error"]);
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
        "  id?: number | string;\n",
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
        let answer = match next_message(&mut ws, crate::support::WAIT).await {
            Message::Binary(bytes) if binary => rmp_serde::from_slice::<Value>(&bytes).unwrap(),
            Message::Text(text) if !binary => serde_json::from_str(&text).unwrap(),
            other => panic!("{first}: unexpected {other:?}"),
        };
        assert_eq!(answer, json!({"type": "pong", "n": 2, "id": 3}), "{first}");
    }
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
