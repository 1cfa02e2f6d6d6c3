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
    let mut good = server.member("r").await;

    let cases = [
        ("not json", "invalid_message"),
        (r#"{"type":"nope"}"#, "invalid_message"),
        (r#"{"type":"join"}"#, "invalid_message"),
        (r#"{"type":"join","room":7}"#, "invalid_message"),
        (r#"{"room":"r"}"#, "invalid_message"),
        (
            r#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["#,
            "invalid_message",
        ),
        (
            r#"{"type":"said","room":"r","text":"forged","from":1}"#,
            "wrong_direction",
        ),
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
    bad.send(json!({"type": "echo", "text": "still here", "extra": true}))
        .await;
    assert_eq!(bad.recv().await["text"], "still here");

    good.send(json!({"type": "say", "room": "r", "text": "unaffected"}))
        .await;
    assert_eq!(good.recv().await["text"], "unaffected");
    // Nothing forged reached the room.
    good.quiet().await;
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

#[tokio::test]
async fn invalid_utf8_truncated_nested_and_oversize_input_never_affects_others() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    let server = Server::start(Config::DEFAULT.with_max_message_size(16 * 1024)).await;
    let mut bystander = server.member("r").await;

    // Truncated, deeply nested, wrong tag, missing field: typed errors, connection kept.
    let mut a = server.connect().await;
    for text in [
        r#"{"type":"say","room":"r","te"#.to_owned(),
        format!("{}{}", "{\"a\":".repeat(2_000), "}".repeat(2_000)),
        r#"{"type":"SAY","room":"r","text":"t"}"#.to_owned(),
        r#"{"type":"say","room":"r"}"#.to_owned(),
        r#"{"type":null}"#.to_owned(),
        String::new(),
    ] {
        a.send_raw(Message::text(text)).await;
        assert_eq!(a.recv().await["code"], "invalid_message");
    }
    a.sync().await;

    // Invalid UTF-8 in a text frame: 1007.
    let mut b = server.connect().await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    b.send_raw(Message::Frame(frame)).await;
    assert_eq!(b.closed().await.0, 1007);

    // Huge: over the message size limit, 1009.
    let mut c = server.connect().await;
    let huge = format!(r#"{{"type":"echo","text":"{}"}}"#, "h".repeat(64 * 1024));
    c.send_raw(Message::text(huge)).await;
    assert_eq!(c.closed().await.0, 1009);

    bystander
        .send(json!({"type": "say", "room": "r", "text": "fine"}))
        .await;
    assert_eq!(bystander.recv().await["text"], "fine");
    assert_eq!(server.manager.connections(), 2);
}

/// What one frame must cause, decided from the frame alone: serde's
/// verdict on the protocol enum, then each variant's documented effect.
#[derive(Debug)]
enum Expected {
    /// Exactly one error frame with this code.
    Error(&'static str),
    /// Exactly this reply.
    Reply(serde_json::Value),
    /// No reply; the sender is now a member of the room.
    Joined(String),
    /// No reply; the bystander (in room `r`) gets this `said` when `room` is `r`.
    Said { room: String, text: String },
    /// No reply and no effect a bystander sees.
    Nothing,
}

fn expected(frame: &Message) -> Expected {
    use crate::support::Test;
    let Message::Text(text) = frame else {
        return Expected::Error("binary_not_supported");
    };
    match serde_json::from_str::<Test>(text) {
        Err(_) => Expected::Error("invalid_message"),
        Ok(Test::Said { .. } | Test::Seq { .. }) => Expected::Error("wrong_direction"),
        Ok(Test::Echo { text }) => Expected::Reply(json!({"type": "echo", "text": text})),
        Ok(Test::Join { room }) => Expected::Joined(room),
        Ok(Test::Say { room, text }) => Expected::Said { room, text },
        // No user of that name is connected; leaving a room not joined.
        Ok(Test::Whisper { .. } | Test::Leave { .. }) => Expected::Nothing,
        Ok(other) => panic!("the generator made {other:?}; give it an expected outcome"),
    }
}

/// One case on a server of its own: a fresh sender and a bystander in room
/// `r`. The sender gets exactly the expected reply and nothing else, the
/// bystander exactly the expected effect.
async fn one_frame_one_outcome(frame: Message) {
    let server = Server::default().await;
    let mut bystander = server.member("r").await;
    let mut client = server.connect().await;
    let expected = expected(&frame);
    client.send_raw(frame).await;
    match &expected {
        Expected::Error(code) => {
            let error = client.recv().await;
            assert_eq!(error["type"], "error", "{expected:?}");
            assert_eq!(error["code"], *code, "{error}");
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        Expected::Reply(reply) => assert_eq!(client.recv().await, *reply),
        Expected::Joined(_) | Expected::Said { .. } | Expected::Nothing => {}
    }
    // Nothing more for the sender: the frame has been handled.
    client.quiet().await;
    match expected {
        Expected::Joined(room) => {
            let members = if room == "r" { 2 } else { 1 };
            assert_eq!(server.manager.room_size(&room), members, "room {room:?}");
        }
        Expected::Said { room, text } if room == "r" => {
            let said = bystander.recv().await;
            assert_eq!(
                (&said["type"], &said["text"]),
                (&json!("said"), &json!(text))
            );
        }
        _ => {}
    }
    bystander.quiet().await;
    assert_eq!(server.manager.connections(), 2);
    server.manager.shutdown(std::time::Duration::ZERO).await;
}

/// Random frames (arbitrary text, mutated messages, binary), each on a fresh
/// connection: exactly one outcome per frame, the one its content calls
/// for, so a failure shrinks to a minimal frame.
#[test]
fn each_random_frame_gets_exactly_its_expected_outcome() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let valid = [
        r#"{"type":"join","room":"r"}"#,
        r#"{"type":"say","room":"r","text":"hello"}"#,
        r#"{"type":"echo","text":"x"}"#,
        r#"{"type":"whisper","user":"u","text":"t"}"#,
        r#"{"type":"said","room":"r","text":"forged","from":1}"#,
    ];
    let mutated = (
        proptest::sample::select(valid.to_vec()),
        any::<u64>(),
        ".{0,8}",
    )
        .prop_map(|(base, seed, insert)| {
            let mut chars: Vec<char> = base.chars().collect();
            let at = (seed as usize) % chars.len();
            let cut = ((seed >> 16) as usize) % 4;
            chars.drain(at..(at + cut).min(chars.len()));
            let mut text: String = chars.into_iter().collect();
            let at = (seed >> 32) as usize % (text.len() + 1);
            if text.is_char_boundary(at) {
                text.insert_str(at, &insert);
            }
            Message::text(text)
        });
    let frames = prop_oneof![
        ".{0,200}".prop_map(Message::text),
        mutated,
        proptest::sample::select(valid.to_vec()).prop_map(Message::text),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Message::binary),
    ];
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 128,
        // Failures are reported with their shrunk input; nothing to persist.
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&frames, |frame| {
            runtime.block_on(one_frame_one_outcome(frame));
            Ok(())
        })
        .unwrap();
}
