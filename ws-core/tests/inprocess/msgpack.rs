//! The MessagePack codec (issue 12 §2), on the chat example: negotiated by
//! `Sec-WebSocket-Protocol`, every frame the server sends in it (errors,
//! replies, history's `epoch` and `offset` included), a mixed room encoded
//! once per codec, and malformed MessagePack refused like malformed JSON.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ws_core::client::{Client as TypedClient, ClientError};
use ws_core::{Codec, OnInvalid};

use crate::support::chat::protocol::chat;
use crate::support::chat::{Chat, serve};
use crate::support::{Client, WAIT, next_message};

/// A client that speaks MessagePack (what it asked for, see `offering`).
struct Packed {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Packed {
    async fn connect(addr: SocketAddr) -> Packed {
        let (packed, selected) = Packed::offering(addr, "chat.v1.msgpack").await;
        assert_eq!(selected.as_deref(), Some("chat.v1.msgpack"));
        packed
    }

    /// Connects offering `offered`; the subprotocol the server selected.
    async fn offering(addr: SocketAddr, offered: &str) -> (Packed, Option<String>) {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", offered.parse().unwrap());
        let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        let selected = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        (Packed { ws }, selected)
    }

    async fn send(&mut self, message: Value) {
        let bytes = rmp_serde::to_vec_named(&message).unwrap();
        self.ws.send(Message::binary(bytes)).await.unwrap();
    }

    /// The next frame, which must be binary MessagePack, as JSON.
    async fn recv(&mut self) -> Value {
        match next_message(&mut self.ws, WAIT).await {
            Message::Binary(bytes) => rmp_serde::from_slice(&bytes).unwrap(),
            other => panic!("expected a MessagePack frame, got {other:?}"),
        }
    }

    /// The next frame's raw MessagePack.
    async fn recv_raw(&mut self) -> Vec<u8> {
        match timeout(WAIT, self.ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Binary(bytes) => bytes.to_vec(),
            other => panic!("expected a MessagePack frame, got {other:?}"),
        }
    }

    async fn closed(&mut self) -> (u16, String) {
        loop {
            match timeout(WAIT, self.ws.next()).await.unwrap() {
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return (code.into(), reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    }
}

/// Whether `bytes` holds the MessagePack string `key` (as a map's key).
fn has_key(bytes: &[u8], key: &str) -> bool {
    let mut encoded = vec![0xa0 | key.len() as u8];
    encoded.extend_from_slice(key.as_bytes());
    bytes.windows(encoded.len()).any(|w| w == encoded)
}

#[tokio::test]
async fn every_frame_kind_round_trips_in_messagepack() {
    let (addr, _manager) = serve(|b| b).await;
    let mut ann = Packed::connect(addr).await;

    // A reply to a join, with the room's epoch and offset.
    ann.send(json!({"type": "join", "room": "lobby"})).await;
    let joined = ann.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let epoch = joined["epoch"].as_str().expect("a string epoch").to_owned();
    assert_eq!(joined["offset"], 0);

    // A recorded broadcast: the reserved fields the history adds are in
    // the map, by name, with an integer offset.
    ann.send(json!({"type": "say", "room": "lobby", "text": "hi"}))
        .await;
    let raw = ann.recv_raw().await;
    for key in ["type", "room", "text", "from", "epoch", "offset"] {
        assert!(has_key(&raw, key), "no `{key}` in {raw:?}");
    }
    let said: Value = rmp_serde::from_slice(&raw).unwrap();
    assert_eq!(
        said,
        json!({"type": "said", "room": "lobby", "text": "hi", "from": said["from"], "epoch": epoch, "offset": 1})
    );

    // A message back to the sender.
    ann.send(json!({"type": "echo", "text": "é ✓"})).await;
    assert_eq!(ann.recv().await, json!({"type": "echo", "text": "é ✓"}));

    // A request's reply carries its correlation id.
    ann.send(json!({"type": "count", "room": "lobby", "id": 7}))
        .await;
    assert_eq!(
        ann.recv().await,
        json!({"type": "members", "room": "lobby", "count": 1, "id": 7})
    );
    // A string id comes back a MessagePack string, the same bytes.
    ann.send(json!({"type": "count", "room": "lobby", "id": "ref-7"}))
        .await;
    let raw = ann.recv_raw().await;
    assert!(has_key(&raw, "ref-7"), "no string id in {raw:?}");
    assert_eq!(
        rmp_serde::from_slice::<Value>(&raw).unwrap(),
        json!({"type": "members", "room": "lobby", "count": 1, "id": "ref-7"})
    );

    // Error frames: a message of no type, and MessagePack that is not
    // a message at all; the error of a request carries its id.
    ann.send(json!({"type": "nope"})).await;
    let error = ann.recv().await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("invalid_message"))
    );
    ann.send(json!({"type": "count", "id": 8})).await;
    let error = ann.recv().await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_u64()),
        (Some("invalid_message"), Some(8))
    );
    ann.send(json!({"type": "count", "id": "8"})).await;
    let error = ann.recv().await;
    assert_eq!(
        (error["code"].as_str(), error["id"].as_str()),
        (Some("invalid_message"), Some("8"))
    );
    // An id of another kind (a MessagePack binary) is refused, without it.
    ann.send(json!({"type": "count", "room": "lobby", "id": [1]}))
        .await;
    let error = ann.recv().await;
    assert_eq!(error["code"], "invalid_message", "{error}");
    assert!(error.get("id").is_none(), "{error}");
    for bad in [
        &b"\xc1"[..],
        b"\x82\xa4type",
        b"\x81\xc4\x01a\x01",
        b"\xa4echo\xc0",
    ] {
        ann.ws.send(Message::binary(bad.to_vec())).await.unwrap();
        let error = ann.recv().await;
        assert_eq!(error["code"], "invalid_message", "for {bad:?}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("MessagePack")),
            "{error}"
        );
    }

    // JSON text is still understood; the answer is MessagePack.
    ann.ws
        .send(Message::text(r#"{"type":"echo","text":"as text"}"#))
        .await
        .unwrap();
    assert_eq!(ann.recv().await["text"], "as text");

    // A resume replays from the history, in MessagePack too.
    let (mut bob, _) = Packed::offering(addr, "chat.v1.msgpack").await;
    bob.send(json!({"type": "join", "room": "lobby", "since": {"epoch": epoch, "offset": 0}}))
        .await;
    let joined = bob.recv().await;
    assert_eq!(
        (joined["type"].as_str(), joined["recovered"].as_bool()),
        (Some("joined"), Some(true)),
        "{joined}"
    );
    let replayed = bob.recv().await;
    assert_eq!(
        (replayed["text"].as_str(), replayed["offset"].as_u64()),
        (Some("hi"), Some(1))
    );
}

/// A room of JSON and MessagePack members: each gets its own codec, and the
/// message is transcoded once for all the MessagePack members; a send that
/// reaches no MessagePack member is never transcoded.
#[tokio::test]
async fn a_mixed_room_is_encoded_once_per_codec_in_use() {
    let (addr, manager) = serve(|b| b.history(0)).await;
    let mut texts = Vec::new();
    let mut packs = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
        client.send(json!({"type": "join", "room": "mixed"})).await;
        assert_eq!(client.recv().await["type"], "joined");
        texts.push(client);
        let mut packed = Packed::connect(addr).await;
        packed.send(json!({"type": "join", "room": "mixed"})).await;
        assert_eq!(packed.recv().await["type"], "joined");
        packs.push(packed);
    }
    let mut json_only = Client::connect(&format!("ws://{addr}/ws")).await;
    json_only
        .send(json!({"type": "join", "room": "plain"}))
        .await;
    json_only.recv().await;

    let before = manager.stats().packed;
    for n in 0..5 {
        let text = format!("to all {n}");
        texts[0]
            .send(json!({"type": "say", "room": "mixed", "text": text}))
            .await;
        for client in &mut texts {
            assert_eq!(client.recv().await["text"], text);
        }
        for client in &mut packs {
            let said = client.recv().await;
            assert_eq!(
                (said["type"].as_str(), said["text"].as_str()),
                (Some("said"), Some(text.as_str()))
            );
        }
    }
    assert_eq!(manager.stats().packed - before, 5, "once per broadcast");

    // A room without MessagePack members costs no transcoding.
    json_only
        .send(json!({"type": "say", "room": "plain", "text": "plain"}))
        .await;
    assert_eq!(json_only.recv().await["text"], "plain");
    assert_eq!(manager.stats().packed - before, 5);
}

/// What is selected: the first offered name the server speaks; nothing when
/// the client offers nothing or only what the server does not speak (JSON,
/// no `Sec-WebSocket-Protocol` in the 101).
#[tokio::test]
async fn negotiation_selects_an_offered_name_or_none() {
    let (addr, _manager) = serve(|b| b).await;
    let (mut json_client, selected) =
        Packed::offering(addr, "chat.v2.msgpack, chat.v1.json, chat.v1.msgpack").await;
    assert_eq!(selected.as_deref(), Some("chat.v1.json"));
    json_client
        .ws
        .send(Message::text(r#"{"type":"echo","text":"json"}"#))
        .await
        .unwrap();
    match timeout(WAIT, json_client.ws.next()).await.unwrap() {
        Some(Ok(Message::Text(text))) => assert!(text.contains("json")),
        other => panic!("expected a text frame, got {other:?}"),
    }

    for offered in [None, Some("chat.v2.msgpack, graphql-ws")] {
        let (head, mut ws) = raw_handshake(addr, offered).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
            "{head}"
        );
        ws.send(Message::text(r#"{"type":"echo","text":"json"}"#))
            .await
            .unwrap();
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => assert!(text.contains("json")),
            other => panic!("expected a text frame, got {other:?}"),
        }
        // Binary frames are not MessagePack on a JSON connection.
        ws.send(Message::binary(
            rmp_serde::to_vec_named(&json!({"type": "echo", "text": "x"})).unwrap(),
        ))
        .await
        .unwrap();
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                assert!(text.contains("binary_not_supported"), "{text}")
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// A handshake written by hand: a client that sees no subprotocol selected
/// goes on (tungstenite's client would refuse it).
async fn raw_handshake(
    addr: SocketAddr,
    offered: Option<&str>,
) -> (String, WebSocketStream<TcpStream>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let protocol = offered.map_or(String::new(), |o| {
        format!("Sec-WebSocket-Protocol: {o}\r\n")
    });
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{protocol}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        let n = timeout(WAIT, tcp.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(n, 1, "the server closed during the handshake");
        head.push(byte[0]);
    }
    let ws = WebSocketStream::from_raw_socket(tcp, Role::Client, None).await;
    (String::from_utf8(head).unwrap(), ws)
}

/// With `on_invalid = "close"`, malformed MessagePack closes with 1007, as
/// malformed JSON does; other connections are unaffected.
#[tokio::test]
async fn malformed_messagepack_closes_with_1007_under_on_invalid_close() {
    let (addr, _manager) = serve(|b| b.on_invalid(OnInvalid::Close)).await;
    let mut bad = Packed::connect(addr).await;
    let mut good = Packed::connect(addr).await;
    bad.ws
        .send(Message::binary(b"\x82\xa4type".to_vec()))
        .await
        .unwrap();
    let (code, reason) = bad.closed().await;
    assert_eq!(code, 1007, "{reason}");
    assert!(reason.contains("MessagePack"), "{reason}");
    good.send(json!({"type": "echo", "text": "fine"})).await;
    assert_eq!(good.recv().await["text"], "fine");
}

/// The Rust client speaks MessagePack with the same typed API.
#[tokio::test]
async fn the_rust_client_speaks_messagepack() {
    let (addr, _manager) = serve(|b| b).await;
    let url = format!("ws://{addr}/ws");
    let mut client =
        TypedClient::<Chat>::connect_with(&url, Default::default(), Codec::MessagePack)
            .await
            .unwrap();
    assert_eq!(client.codec(), Codec::MessagePack);
    assert_eq!(
        client.handshake_headers()["sec-websocket-protocol"],
        "chat.v1.msgpack"
    );
    client
        .send(chat::Join {
            room: "r".into(),
            since: None,
        })
        .await
        .unwrap();
    assert!(matches!(client.recv().await.unwrap(), Chat::Joined { .. }));
    client
        .send(chat::Say {
            room: "r".into(),
            text: "typed".into(),
        })
        .await
        .unwrap();
    match client.recv().await.unwrap() {
        Chat::Said { text, .. } => assert_eq!(text, "typed"),
        other => panic!("expected said, got {other:?}"),
    }
    let members = client
        .request(chat::Count { room: "r".into() })
        .await
        .unwrap();
    assert_eq!(members.count, 1);
    // An error frame decodes as the typed error.
    client.send_text(r#"{"type":"count"}"#).await.unwrap();
    match client.recv_timeout(Duration::from_secs(10)).await {
        Err(ClientError::Server(frame)) => assert_eq!(frame.code, "invalid_message"),
        other => panic!("expected the server's error, got {other:?}"),
    }
    client.close().await.unwrap();

    // A server that does not speak the codec asked for fails the connect.
    let error = TypedClient::<crate::support::Test>::connect_with(
        &url,
        Default::default(),
        Codec::MessagePack,
    )
    .await
    .err()
    .expect("no subprotocol selected");
    assert!(matches!(error, ClientError::Connect { .. }), "{error}");
}

/// A MessagePack request over the rate limit is refused with its `id`, as
/// a JSON one is.
#[tokio::test]
async fn a_rate_limited_messagepack_request_is_refused_with_its_id() {
    let limit = ws_core::RateLimit::new(2, Duration::from_secs(60)).with_burst(2);
    let (addr, _manager) = serve(|b| b.rate_limit(Some(limit))).await;
    let mut client = Packed::connect(addr).await;
    for id in 1..=3 {
        client
            .send(json!({"type": "count", "room": "r", "id": id}))
            .await;
    }
    for id in 1..=2 {
        let members = client.recv().await;
        assert_eq!(
            (&members["type"], &members["id"]),
            (&json!("members"), &json!(id))
        );
    }
    let error = client.recv().await;
    assert_eq!(
        (&error["code"], &error["id"]),
        (&json!("rate_limited"), &json!(3)),
        "{error}"
    );
}
