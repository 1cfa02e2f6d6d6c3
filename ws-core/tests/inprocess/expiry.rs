//! Session expiry and refresh (issue 11 §3): a session that expires is
//! asked for a refresh `refresh_before` ahead; a valid refresh replaces it
//! in place (rooms and queue untouched) and re-arms the timer, a missed
//! one closes with 4001, a refused one with 4003.
//!
//! Tokens are `USER:TTL_MS`: valid for TTL_MS from when the server reads
//! them; anything else is refused. No test measures a duration: each waits
//! for events (refreshes counted by the server, frames, closes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ws_core::axum::http::request::Parts;
use ws_core::axum::http::{HeaderValue, StatusCode, header};
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::client::{Client, ClientError};
use ws_core::testing::TestServer;
use ws_core::{
    Ctx, HandlerResult, Manager, RefreshRefused, Session, UserId, close_code, ws_protocol,
};

use crate::support::{WAIT, bearer, eventually};

/// A signed-in user until `exp`.
pub struct Pass {
    user: UserId,
    exp: SystemTime,
}

impl Session for Pass {
    fn user(&self) -> Option<UserId> {
        Some(self.user.clone())
    }

    fn expires_at(&self) -> Option<SystemTime> {
        Some(self.exp)
    }
}

fn pass(token: &str) -> Option<Pass> {
    let (user, ttl) = token.split_once(':')?;
    let ttl: u64 = ttl.parse().ok()?;
    Some(Pass {
        user: UserId::from(user),
        exp: SystemTime::now() + Duration::from_millis(ttl),
    })
}

#[ws_protocol(session = Pass, refresh_before = "1s", heartbeat = "off")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Timed {
    #[ws(client, reply = Joined)]
    Join { room: String },
    #[ws(server)]
    Joined { room: String },
    #[ws(client)]
    Say { room: String, seq: u64 },
    #[ws(server)]
    Said { room: String, seq: u64 },
    #[ws(client, reply = Pong)]
    Ping,
    #[ws(server)]
    Pong { user: String },
    /// A large room message, to back a reader's queue up.
    #[ws(client)]
    Blast { room: String, seq: u64, pad: String },
    #[ws(server)]
    Blasted { room: String, seq: u64, pad: String },
    /// A handler that takes `ms` to answer.
    #[ws(client, reply = Woke)]
    Nap { ms: u64 },
    #[ws(server)]
    Woke,
}

#[derive(Default)]
struct Gatekeeper {
    /// Refreshes the `refresh` hook accepted.
    refreshes: AtomicUsize,
}

impl TimedHandler for Gatekeeper {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Pass, Response> {
        let token = bearer(request).unwrap_or("");
        pass(token).ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())
    }

    async fn refresh(&self, _: &Ctx<Timed>, token: String) -> Result<Pass, RefreshRefused> {
        let pass = pass(&token).ok_or(RefreshRefused::new("invalid token"))?;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(pass)
    }

    async fn join(&self, ctx: &Ctx<Timed>, msg: timed::Join) -> HandlerResult<timed::Joined> {
        ctx.join(&msg.room).await?;
        Ok(timed::Joined { room: msg.room })
    }

    async fn say(&self, ctx: &Ctx<Timed>, msg: timed::Say) -> HandlerResult {
        ctx.to_room(&msg.room).send(timed::Said {
            room: msg.room.clone(),
            seq: msg.seq,
        })?;
        Ok(())
    }

    async fn ping(&self, ctx: &Ctx<Timed>, _: timed::Ping) -> HandlerResult<timed::Pong> {
        let user = ctx.session().user.to_string();
        Ok(timed::Pong { user })
    }

    async fn nap(&self, _: &Ctx<Timed>, msg: timed::Nap) -> HandlerResult<timed::Woke> {
        tokio::time::sleep(Duration::from_millis(msg.ms)).await;
        Ok(timed::Woke)
    }

    async fn blast(&self, ctx: &Ctx<Timed>, msg: timed::Blast) -> HandlerResult {
        let timed::Blast { room, seq, pad } = msg;
        ctx.to_room(&room).send(timed::Blasted {
            room: room.clone(),
            seq,
            pad,
        })?;
        Ok(())
    }
}

async fn start() -> (TestServer<Timed>, Arc<Gatekeeper>) {
    let keeper = Arc::new(Gatekeeper::default());
    let server = TestServer::start(Manager::<Timed>::new(), Arc::clone(&keeper)).await;
    (server, keeper)
}

/// A client whose every token is valid for `ttl_ms` (under 1 s, so every
/// session is asked for a refresh at once).
async fn client(server: &TestServer<Timed>, user: &'static str, ttl_ms: u64) -> Client<Timed> {
    Client::<Timed>::builder(&server.url(""))
        .no_reconnect()
        .get_token(move || async move { format!("{user}:{ttl_ms}") })
        .connect()
        .await
        .unwrap()
}

/// ann on sessions of 1.2 s, joined to room `r`: the client, and when its
/// first session expires.
async fn ann_in_r(server: &TestServer<Timed>) -> (Client<Timed>, SystemTime) {
    let first_expiry = SystemTime::now() + Duration::from_millis(1200);
    let mut ann = client(server, "ann", 1200).await;
    ann.request(timed::Join { room: "r".into() }).await.unwrap();
    (ann, first_expiry)
}

/// Asserts that the typed client's next event is a close with `code`.
async fn assert_closed_with(client: &mut Client<Timed>, code: u16) {
    match client.recv().await {
        Err(ClientError::Closed(Some(close))) => assert_eq!(close.code, code),
        other => panic!("expected close {code}, got {other:?}"),
    }
}

/// A raw socket, to see the framework's frames the typed client answers
/// by itself.
async fn raw(
    server: &TestServer<Timed>,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = server.url("").into_client_request().unwrap();
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    request.headers_mut().insert(header::AUTHORIZATION, bearer);
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Result<Value, Option<(u16, String)>> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame")
        {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

#[tokio::test]
async fn a_refresh_keeps_the_connection_and_its_rooms() {
    let (server, keeper) = start().await;
    let (mut ann, first_expiry) = ann_in_r(&server).await;

    // Each session lives 1.2 s and is asked for a refresh 1 s ahead:
    // refreshes go on past the first session's expiry, each re-arming the
    // timer from the new one.
    while keeper.refreshes.load(Ordering::SeqCst) < 3 || SystemTime::now() < first_expiry {
        let pong = ann.request(timed::Ping).await.unwrap();
        assert_eq!(pong.user, "ann");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_eq!(server.manager().room_size("r"), 1);
    assert_eq!(server.manager().user_connections("ann"), 1);
    let mut bob = client(&server, "bob", 60_000).await;
    bob.send(timed::Say {
        room: "r".into(),
        seq: 7,
    })
    .await
    .unwrap();
    match ann.recv().await.unwrap() {
        Timed::Said { room, seq } => assert_eq!((room.as_str(), seq), ("r", 7)),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_missed_refresh_closes_with_4001() {
    let (server, keeper) = start().await;
    let mut ws = raw(&server, "ann:300").await;
    let asked = next_json(&mut ws).await.unwrap();
    assert_eq!(asked["type"], "refresh_required");
    assert!(asked["expires_in_ms"].as_u64().unwrap() <= 300);
    // Not answered.
    let (code, reason) = next_json(&mut ws).await.unwrap_err().unwrap();
    assert_eq!(code, close_code::SESSION_EXPIRED);
    assert_eq!(reason, "session expired");
    assert_eq!(keeper.refreshes.load(Ordering::SeqCst), 0);

    // The typed client without `get_token` ignores the frame, and sees
    // the same close.
    let mut bob = Client::<Timed>::builder(&server.url(""))
        .no_reconnect()
        .headers(
            [(
                header::AUTHORIZATION,
                HeaderValue::from_static("Bearer bob:300"),
            )]
            .into_iter()
            .collect(),
        )
        .connect()
        .await
        .unwrap();
    assert_closed_with(&mut bob, 4001).await;
}

#[tokio::test]
async fn a_refresh_with_a_bad_token_closes_with_4003() {
    let (server, keeper) = start().await;
    let mut ws = raw(&server, "ann:60000").await;
    // Unasked refreshes are taken too: a client may refresh early.
    ws.send(Message::text(
        json!({"type": "refresh", "token": "forged"}).to_string(),
    ))
    .await
    .unwrap();
    let (code, reason) = next_json(&mut ws).await.unwrap_err().unwrap();
    assert_eq!(code, close_code::REFRESH_REFUSED);
    assert_eq!(reason, "invalid token");

    // The typed client's `get_token` gives a token the server refuses.
    let tokens = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tokens);
    let mut bob = Client::<Timed>::builder(&server.url(""))
        .no_reconnect()
        .get_token(move || {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            async move { if first { "bob:500" } else { "expired" }.to_owned() }
        })
        .connect()
        .await
        .unwrap();
    assert_closed_with(&mut bob, 4003).await;
    assert_eq!(
        tokens.load(Ordering::SeqCst),
        2,
        "one handshake, one refresh"
    );
    assert_eq!(keeper.refreshes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_client_with_get_token_comes_back_after_its_session_expired() {
    let (server, _keeper) = start().await;
    let tokens = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tokens);
    let mut ann = Client::<Timed>::builder(&server.url(""))
        .get_token(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { "ann:300".to_owned() }
        })
        .connect()
        .await
        .unwrap();
    // Not reading, it cannot answer `refresh_required`: the server closes
    // it with 4001 at the expiry.
    eventually("ann's session expired", || {
        server.manager().user_connections("ann") == 0
    })
    .await;
    // A send finds the socket dead (`Interrupted`, as after any drop); the
    // next use reconnects with a fresh token.
    let pong = match ann.request(timed::Ping).await {
        Err(ClientError::Interrupted(_)) => ann.request(timed::Ping).await.unwrap(),
        other => other.unwrap(),
    };
    assert_eq!(pong.user, "ann");
    assert!(tokens.load(Ordering::SeqCst) >= 2, "a token per handshake");
}

#[tokio::test]
async fn a_refresh_racing_a_broadcast_loses_nothing() {
    let (server, keeper) = start().await;
    let (mut ann, first_expiry) = ann_in_r(&server).await;

    // bob publishes to ann's room without pause until ann has refreshed
    // three times and outlived its first session, then says `u64::MAX`.
    let keeper_seen = Arc::clone(&keeper);
    let mut bob = client(&server, "bob", 60_000).await;
    let publisher = tokio::spawn(async move {
        let mut seq = 0;
        while keeper_seen.refreshes.load(Ordering::SeqCst) < 3 || SystemTime::now() < first_expiry {
            bob.send(timed::Say {
                room: "r".into(),
                seq,
            })
            .await
            .unwrap();
            seq += 1;
            // Paced (ann's queue is not under test here), never idle.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        bob.send(timed::Say {
            room: "r".into(),
            seq: u64::MAX,
        })
        .await
        .unwrap();
        seq
    });

    let mut expected = 0;
    loop {
        match ann.recv().await.unwrap() {
            Timed::Said { seq: u64::MAX, .. } => break,
            Timed::Said { seq, .. } => {
                assert_eq!(seq, expected, "in order, none lost");
                expected += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let sent = publisher.await.unwrap();
    assert_eq!(expected, sent, "every message arrived");
    assert!(keeper.refreshes.load(Ordering::SeqCst) >= 3);
    eventually("ann still in the room", || {
        server.manager().room_size("r") == 1
    })
    .await;
}

/// A raw, authenticated socket with a small receive buffer that the test
/// reads frame by frame: the server's queue for it backs up soon.
async fn slow_reader(server: &TestServer<Timed>, token: &str) -> crate::support::RawClient {
    let path = <Timed as ws_core::Protocol>::PATH;
    let auth = format!("Authorization: Bearer {token}\r\n");
    crate::support::RawClient::handshake(server.addr(), path, &auth, Some(4096)).await
}

/// A server whose queues drop rather than evict and whose stall limit is
/// far past the test, so that only what the test does closes a peer.
async fn patient_server() -> TestServer<Timed> {
    let manager = Manager::<Timed>::builder()
        .send_queue(64)
        .on_full(ws_core::Overflow::DropOldest)
        .stall_timeout(Duration::from_secs(60))
        .build();
    TestServer::start(manager, Arc::new(Gatekeeper::default())).await
}

/// `token`'s slow reader in room `r` with its queue backed up: bob fills
/// the queue (and the kernel's buffers before it), then the reader sends
/// a message, and its read loop now waits for its writer, which waits for
/// the reader to read.
async fn backed_up(server: &TestServer<Timed>, token: &str) -> crate::support::RawClient {
    let mut reader = slow_reader(server, token).await;
    reader.send_text(r#"{"type":"join","room":"r"}"#).await;
    eventually("the reader joined", || server.manager().room_size("r") == 1).await;
    let mut bob = client(server, "bob", 60_000).await;
    for seq in 0..600 {
        bob.send(blast(seq)).await.unwrap();
    }
    bob.request(timed::Ping).await.unwrap();
    reader.send_text(r#"{"type":"ping"}"#).await;
    reader
}

fn blast(seq: u64) -> timed::Blast {
    timed::Blast {
        room: "r".into(),
        seq,
        pad: "x".repeat(16 * 1024),
    }
}

/// Asserts that within 2 s (well before the writer's close grace, 5 s)
/// ann is gone from its user and its room `r`.
async fn assert_ann_freed_within_2s(server: &TestServer<Timed>, after: &str) {
    let freed = || {
        let m = server.manager();
        m.user_connections("ann") == 0 && m.room_size("r") == 0
    };
    for _ in 0..100 {
        if freed() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed(), "2 s {after} ann still holds its seat or its room");
}

/// Issue 21 §1: the read loop pauses while the connection's own queue is
/// backed up; the session's expiry must still fire then. An expired
/// session receives nothing posted after its expiry, whatever its queue
/// holds, and gives up its rooms and its seat at once: before the writer's
/// close grace, and long before the stall timeout, while it reads nothing.
#[tokio::test]
async fn an_expired_session_with_a_backed_up_queue_receives_nothing_after_its_expiry() {
    let server = patient_server().await;
    let ttl = Duration::from_millis(1500);
    let expiry = SystemTime::now() + ttl;
    let ann = backed_up(&server, &format!("ann:{}", ttl.as_millis())).await;
    let mut bob = client(&server, "bob", 60_000).await;

    // Past the expiry (and a margin for the timer), ann still reads
    // nothing: it is gone from its room and its user at once.
    let margin = Duration::from_millis(200);
    let wait = (expiry + margin)
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    assert_ann_freed_within_2s(&server, "past its expiry").await;
    for seq in 1_000_000..1_000_100 {
        bob.send(blast(seq)).await.unwrap();
    }
    bob.request(timed::Ping).await.unwrap();

    // Whatever ann reads now: nothing posted after the expiry, and the
    // close that ends it is 4001.
    let mut close = None;
    for (opcode, payload) in ann.frames_until_eof().await {
        match opcode {
            0x1 => {
                let frame: Value = serde_json::from_slice(&payload).unwrap();
                if frame["type"] == "blasted" {
                    let seq = frame["seq"].as_u64().unwrap();
                    assert!(
                        seq < 1_000_000,
                        "message {seq}, posted after the expiry, arrived"
                    );
                }
            }
            0x8 => close = Some(crate::support::close_payload(&payload).0),
            _ => {}
        }
    }
    assert_eq!(close, Some(close_code::SESSION_EXPIRED));
}

/// Issue 21 §1, the other wait: a handler still running at the expiry does
/// not hold the connection open past it (it is cancelled, as by a kick).
#[tokio::test]
async fn a_session_expires_while_its_handler_runs() {
    let (server, _keeper) = start().await;
    let mut ws = raw(&server, "ann:1200").await;
    ws.send(Message::text(
        json!({"type": "nap", "ms": 60_000}).to_string(),
    ))
    .await
    .unwrap();
    let asked = next_json(&mut ws).await.unwrap();
    assert_eq!(asked["type"], "refresh_required");
    // Within the test's wait (10 s), far short of the nap (60 s).
    let (code, _) = next_json(&mut ws).await.unwrap_err().unwrap();
    assert_eq!(code, close_code::SESSION_EXPIRED);
    eventually("ann's seat freed", || {
        server.manager().user_connections("ann") == 0
    })
    .await;
}

/// A kick while the read loop waits for a backed-up writer frees the
/// user's seat at once, before the kicked peer has read its close frame.
#[tokio::test]
async fn a_kicked_connection_with_a_backed_up_queue_leaves_at_once() {
    let server = patient_server().await;
    let ann = backed_up(&server, "ann:60000").await;
    let id = server.manager().room_members("r")[0];
    assert!(server.manager().close(id, 4000, "kicked"));
    assert_ann_freed_within_2s(&server, "after the kick").await;
    let frames = ann.frames_until_eof().await;
    let close = frames.iter().rev().find(|(opcode, _)| *opcode == 0x8);
    let (code, reason) = crate::support::close_payload(&close.expect("a close frame").1);
    assert_eq!((code, reason.as_str()), (4000, "kicked"));
}
