//! The exported schema describes real traffic: every frame test clients send
//! validates against the client direction, every frame the server sends
//! against the server direction.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ws_core::schema::{Direction, for_direction};

use crate::support::{Client, Server, Test};

fn validator(direction: Direction) -> jsonschema::Validator {
    jsonschema::validator_for(&for_direction(&Test::json_schema(), direction))
        .expect("the exported schema is a valid JSON Schema")
}

fn assert_valid(validator: &jsonschema::Validator, messages: &[Value], what: &str) {
    assert!(!messages.is_empty(), "no {what} to check");
    for message in messages {
        if let Err(error) = validator.validate(message) {
            panic!("{what} {message} does not match the schema: {error}");
        }
    }
}

#[tokio::test]
async fn real_traffic_validates_against_the_exported_schema() {
    let server = Server::default().await;
    let mut a = server.connect_as("ann").await;
    let mut b = server.connect().await;
    a.join("r").await;
    b.join("r").await;
    b.sync().await;
    a.send(json!({"type": "say", "room": "r", "text": "hi"}))
        .await;
    a.send(json!({"type": "shout", "room": "r", "text": "hey"}))
        .await;
    b.send(json!({"type": "whisper", "user": "ann", "text": "psst"}))
        .await;
    a.send(json!({"type": "announce", "text": "all"})).await;
    a.send(json!({"type": "burst", "count": 3})).await;
    a.send(json!({"type": "fail", "how": "reply"})).await;
    a.send(json!({"type": "login", "user": "ann2"})).await;
    a.send(json!({"type": "leave", "room": "r"})).await;
    a.sync().await;
    b.sync().await;
    b.send_raw(Message::text(r#"{"type":"said"}"#)).await;
    b.recv().await;

    let sent: Vec<Value> = [&a, &b]
        .iter()
        .flat_map(|c: &&Client| c.sent.clone())
        .collect();
    let received: Vec<Value> = [&a, &b]
        .iter()
        .flat_map(|c: &&Client| c.received.clone())
        .collect();
    let types: std::collections::BTreeSet<&str> =
        received.iter().filter_map(|m| m["type"].as_str()).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["echo", "error", "said", "seq"]
    );

    assert_valid(&validator(Direction::Client), &sent, "client message");
    assert_valid(&validator(Direction::Server), &received, "server message");

    // And the schema is not vacuous: it refuses what the protocol refuses.
    let client = validator(Direction::Client);
    assert!(!client.is_valid(&json!({"type": "said", "room": "r", "text": "t", "from": 1})));
    assert!(!client.is_valid(&json!({"type": "join"})));
    assert!(!validator(Direction::Server).is_valid(&json!({"type": "join", "room": "r"})));
}

#[test]
fn the_schema_has_const_tags_and_doc_descriptions() {
    let schema = Test::json_schema();
    assert_eq!(schema["title"], "Test");
    assert_eq!(
        schema["description"],
        "Everything the tests send and receive."
    );
    let text = schema.to_string();
    assert!(
        text.contains(r#""const":"join""#),
        "tags are consts: {text}"
    );
    assert!(
        text.contains("Join a room."),
        "variant docs are descriptions"
    );
    assert!(schema["$defs"]["ErrorFrame"].is_object());
}

/// The exported documents carry prose, never the Rust examples of the
/// types they describe (`Position`, `Unrecovered`): no code block, no
/// doctest line. And the protocol's doc describes the TypeScript module,
/// not `PATH`.
#[test]
fn the_exported_documents_carry_no_rust_code() {
    use crate::support::chat::Chat;
    let documents = [
        ("schema", Chat::json_schema().to_string()),
        ("asyncapi", Chat::asyncapi().to_string()),
        ("typescript", Chat::typescript()),
    ];
    for (name, text) in &documents {
        for rust in ["```", "# use", "assert_eq!", "serde_json::"] {
            assert!(!text.contains(rust), "{name} holds `{rust}`");
        }
    }
    let ts = Chat::typescript();
    let path = ts.find("export const PATH").expect("PATH is exported");
    let before = ts[..path].trim_end().lines().last().unwrap_or_default();
    assert_eq!(before, "/** The path the server serves the protocol at. */");
}
