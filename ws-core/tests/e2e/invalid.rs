//! Malformed input: a typed error frame (or close 1007), never a panic,
//! never an effect on other clients.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use ws_core::{Config, OnInvalid};

use crate::support::Server;

#[tokio::test]
async fn malformed_messages_get_typed_errors_and_others_are_unaffected() {
    let server = Server::default().await;
    let mut bad = server.connect().await;
    let mut good = server.connect().await;
    good.join("r").await;
    good.sync().await;

    let cases = [
        ("not json", "invalid_message"),
        (r#"{"type":"nope"}"#, "invalid_message"),
        (r#"{"type":"join"}"#, "invalid_message"),
        (r#"{"type":"join","room":7}"#, "invalid_message"),
        (r#"{"room":"r"}"#, "invalid_message"),
        (r#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["#, "invalid_message"),
        (r#"{"type":"said","room":"r","text":"forged","from":1}"#, "wrong_direction"),
    ];
    for (text, code) in cases {
        bad.send_raw(Message::text(text)).await;
        let error = bad.recv().await;
        assert_eq!(error["type"], "error", "for {text}");
        assert_eq!(error["code"], code, "for {text}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    bad.send_raw(Message::binary(vec![0, 159, 146, 150])).await;
    assert_eq!(bad.recv().await["code"], "binary_not_supported");

    // Extra fields are tolerated, as serde does by default.
    bad.send(json!({"type": "echo", "text": "still here", "extra": true})).await;
    assert_eq!(bad.recv().await["text"], "still here");

    good.send(json!({"type": "say", "room": "r", "text": "unaffected"})).await;
    assert_eq!(good.recv().await["text"], "unaffected");
    // Nothing forged reached the room.
    good.silent().await;
}

#[tokio::test]
async fn with_on_invalid_close_a_malformed_message_closes_with_1007() {
    let server = Server::start(Config::DEFAULT.with_on_invalid(OnInvalid::Close)).await;
    let mut bad = server.connect().await;
    let mut good = server.connect().await;
    bad.send_raw(Message::text("{oops")).await;
    assert_eq!(bad.closed().await.0, 1007);
    let mut binary = server.connect().await;
    binary.send_raw(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(binary.closed().await.0, 1003);
    good.sync().await;
}
