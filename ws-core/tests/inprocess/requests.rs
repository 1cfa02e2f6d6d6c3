//! Request/reply and the typed client (`ws_core::client`) on the `Rpc`
//! protocol: the reply carries the request's id on the wire, keeps its place
//! among the frames, times out on the client's side; errors of a request
//! carry its id; requests of the server.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use ws_core::CorrelationId;
use ws_core::Protocol;
use ws_core::axum::http::StatusCode;
use ws_core::client::ClientError;

use crate::support::rpc::{Rpc, raw, rpc, server};

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
    // An id that is neither an unsigned integer nor a short string is
    // refused, as an invalid message, without an id.
    let longest = "x".repeat(ws_core::correlation::MAX_ID_LEN);
    for bad in [
        json!(-1),
        json!(1.5),
        json!({"ref": 1}),
        json!(format!("{longest}x")),
    ] {
        client
            .send(json!({"type": "ping", "n": 1, "id": bad}))
            .await;
        let refused = client.recv().await;
        assert_eq!(refused["type"], "error");
        assert_eq!(refused["code"], "invalid_message");
        assert!(refused.get("id").is_none(), "{refused}");
    }
    // The longest string id is echoed.
    client
        .send(json!({"type": "ping", "n": 1, "id": longest}))
        .await;
    assert_eq!(client.recv().await["id"], json!(longest));
}

/// A string id (a Phoenix `ref`) is echoed as it came, the same JSON
/// token: never turned into a number, nor a number into a string.
#[tokio::test]
async fn string_ids_are_echoed_verbatim() {
    let server = server().await;
    let mut client = raw(&server).await;
    for (sent, echoed) in [
        (r#""seven""#, r#""seven""#),
        (r#""7""#, r#""7""#),
        (r#"7"#, r#"7"#),
        (r#""""#, r#""""#),
        (r#""é \"q\" ✓""#, r#""é \"q\" ✓""#),
        (r#""\u0041""#, r#""A""#),
    ] {
        client
            .send_raw(Message::text(format!(
                r#"{{"type":"ping","n":1,"id":{sent}}}"#
            )))
            .await;
        let pong = match client.next_frame("the pong").await {
            Some(Ok(Message::Text(text))) => text.to_string(),
            other => panic!("expected the pong, got {other:?}"),
        };
        assert_eq!(pong, format!(r#"{{"id":{echoed},"type":"pong","n":2}}"#));
    }
    // Errors of a request carry its string id too.
    client
        .send(json!({"type": "refuse", "how": "reply", "id": "r-3"}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type": "error", "id": "r-3", "code": "not_allowed", "message": "you may not"})
    );

    // The typed client: the caller's string id, and `ErrorFrame::id`.
    let mut typed = server.client().await;
    let id = CorrelationId::try_from("ref-1").unwrap();
    let pong = typed.request_with_id(rpc::Ping { n: 1 }, id).await;
    assert_eq!(pong.unwrap(), rpc::Pong { n: 2 });
    let refused = typed
        .request_with_id(
            rpc::Refuse {
                how: "reply".into(),
            },
            id,
        )
        .await;
    match refused {
        Err(ClientError::Server(frame)) => assert_eq!(frame.id, Some(id)),
        other => panic!("expected the error frame, got {other:?}"),
    }
    let frame = typed
        .ask_error(rpc::Refuse {
            how: "reply".into(),
        })
        .await;
    assert_eq!(
        frame.id.and_then(|id| id.as_u64()),
        Some(1),
        "the client's own first id"
    );
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
