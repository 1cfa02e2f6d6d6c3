//! Flow control and eviction: a client that reads is never evicted for its
//! own burst, a client that does not read is, and every eviction leaves a
//! valid frame stream ending in exactly one close 1013.

use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use ws_core::{Overflow, Protocol};

use crate::support::{RawClient, Server, Test, WAIT, close_payload};

/// What a reading client ends with: the `said` texts in arrival order, and
/// the close code (None when the test stopped reading first).
async fn read_said<S>(stream: &mut S, want: usize, pace: Duration) -> (Vec<String>, Option<u16>)
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let mut texts = Vec::new();
    while texts.len() < want {
        let frame = timeout(WAIT, stream.next())
            .await
            .expect("no frame within the wait")
            .expect("stream ended without a close frame")
            .unwrap_or_else(|error| {
                panic!(
                    "invalid frame stream after {} messages: {error}",
                    texts.len()
                )
            });
        match frame {
            Message::Text(text) => {
                let said: Value = serde_json::from_str(&text).unwrap();
                texts.push(said["text"].as_str().unwrap().to_owned());
                if !pace.is_zero() {
                    tokio::time::sleep(pace).await;
                }
            }
            Message::Close(Some(CloseFrame { code, .. })) => return (texts, Some(code.into())),
            Message::Close(None) => return (texts, Some(1005)),
            _ => {}
        }
    }
    (texts, None)
}

/// Messages `0..n` with a fixed-width number first, padded to `size`.
fn numbered(n: usize, size: usize) -> impl Iterator<Item = String> {
    (0..n).map(move |i| format!("{i:08}{}", "x".repeat(size.saturating_sub(8))))
}

/// Issue: a client that joins a room, reads in its own task and sends N
/// `say` into the room in a tight loop was evicted with 1013 by its own
/// replies. Now all arrive, in order, with a queue of 16 frames; and a
/// client in the same room that never reads is still evicted with 1013.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_client_gets_its_whole_burst() {
    let server = Server::start(Test::CONFIG.with_send_queue(16)).await;
    for n in [300, 3_000, 30_000] {
        let room = format!("burst-{n}");
        let mut bystander = RawClient::connect_with(server.addr, Some(4096)).await;
        bystander
            .send_text(&json!({"type": "join", "room": room}).to_string())
            .await;
        let mut client = server.connect().await;
        client.join(&room).await;
        client.sync().await;
        let (mut sink, mut reader) = client.ws.split();
        let sender = tokio::spawn({
            let room = room.clone();
            async move {
                for text in numbered(n, 200) {
                    let say = json!({"type": "say", "room": room, "text": text}).to_string();
                    sink.send(Message::text(say)).await.unwrap();
                }
                sink
            }
        });
        let (texts, close) = read_said(&mut reader, n, Duration::ZERO).await;
        assert_eq!(
            close,
            None,
            "the reading client was closed after {} of {n}",
            texts.len()
        );
        assert!(
            texts.iter().eq(numbered(n, 200).collect::<Vec<_>>().iter()),
            "{n}: out of order or lost"
        );
        let _sink = sender.await.unwrap();
        eprintln!(
            "burst of {n}: all {} delivered in order, no eviction",
            texts.len()
        );
        if n == 30_000 {
            // 30,000 x ~250 bytes is more than the socket buffers hold.
            let frames = bystander.frames_until_eof().await;
            assert_eq!(
                frames.last().map(|f| f.0),
                Some(0x8),
                "the bystander got no close frame"
            );
            let (code, _) = close_payload(&frames.last().unwrap().1);
            assert_eq!(code, 1013);
        }
    }
}

/// Issue: a reader slower than its room was evicted with a corrupted frame
/// stream (1006, "reserved bits must be 0") depending on where the abort
/// cut a write. At every pace it now ends with exactly 1013, its frames
/// whole, in order and without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_reader_ends_with_a_valid_stream() {
    let config = Test::CONFIG
        .with_send_queue(64)
        .with_on_full(Overflow::Close);
    let server = Server::start(config).await;
    for pace_ms in [1u64, 3, 10] {
        let room = format!("slow-{pace_ms}");
        let mut reader = server.connect().await;
        reader.join(&room).await;
        reader.sync().await;
        let mut flooder = server.connect().await;
        let flood = tokio::spawn({
            let room = room.clone();
            async move {
                for text in numbered(3_000, 30_000) {
                    let say = json!({"type": "say", "room": room, "text": text}).to_string();
                    if flooder.ws.send(Message::text(say)).await.is_err() {
                        break;
                    }
                }
                flooder
            }
        });
        let (texts, close) =
            read_said(&mut reader.ws, usize::MAX, Duration::from_millis(pace_ms)).await;
        let expected: Vec<String> = numbered(texts.len(), 30_000).collect();
        assert!(
            texts == expected,
            "pace {pace_ms} ms: frames out of order or duplicated"
        );
        assert_eq!(close, Some(1013), "pace {pace_ms} ms");
        // Nothing follows the close frame.
        let after = timeout(WAIT, reader.ws.next())
            .await
            .expect("the server kept the socket open");
        assert!(
            matches!(after, None | Some(Err(_))),
            "pace {pace_ms} ms: {after:?}"
        );
        eprintln!(
            "pace {pace_ms} ms: {} frames whole and in order, then close 1013",
            texts.len()
        );
        flood.abort();
    }
}
