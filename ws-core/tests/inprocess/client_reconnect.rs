//! The Rust client reconnects by itself (issue 10, "Clients"): a
//! `ws_core::client::Client` of the chat example's protocol, whose TCP
//! connection is cut by a proxy between it and a real chat server, rejoins
//! its rooms from the last positions it saw and ends with every message
//! exactly once, in order.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;
use ws_core::client::{Client, ClientError, ConnectionState, Event, ReconnectPolicy};
use ws_core::history::Unrecovered;

use crate::support::chat::protocol::{Chat, chat};
use crate::support::chat::{serve, serve_at};
use crate::support::{self, WAIT};

/// A TCP proxy in front of a server: the network between a client and it,
/// which [`cut`](Proxy::cut) fails (a reset both ways, no close frame) and
/// [`freeze`](Proxy::freeze) silences (nothing forwarded, nothing closed).
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    cuts: watch::Sender<u64>,
    freezes: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let (cuts, _) = watch::channel(0);
        let (freezes, _) = watch::channel(0);
        let accept = {
            let (upstream, cuts, freezes) = (Arc::clone(&upstream), cuts.clone(), freezes.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let to = *upstream.lock().unwrap();
                    let mut cut = cuts.subscribe();
                    let mut freeze = freezes.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(to).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                            _ = cut.changed() => {}
                            // A half-open path: both sockets stay open and
                            // nothing more is forwarded, either way, until
                            // the proxy cuts them.
                            _ = freeze.changed() => {
                                let _ = cut.changed().await;
                            }
                        }
                        let _ = inbound.set_zero_linger();
                        let _ = outbound.set_zero_linger();
                    });
                }
            })
        };
        Proxy {
            addr,
            upstream,
            cuts,
            freezes,
            accept,
        }
    }

    /// Resets every connection through the proxy, both ways.
    pub(crate) fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Stops forwarding on every connection through the proxy, both ways,
    /// without closing any: a path that died silently. New connections are
    /// forwarded.
    pub(crate) fn freeze(&self) {
        self.freezes.send_modify(|n| *n += 1);
    }

    /// Sends the next connections to `upstream`.
    pub(crate) fn point_to(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Fast to retry: the tests wait for reconnects, not for the defaults.
fn policy() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(50))
        .max_delay(Duration::from_millis(500))
}

/// A reconnecting chat client that rejoins with `join {room, since}`.
async fn subscriber(addr: SocketAddr) -> Client<Chat> {
    Client::<Chat>::builder(&format!("ws://{addr}/ws"))
        .reconnect(policy())
        .rejoin(|room, since| chat::Join {
            room: room.to_owned(),
            since,
        })
        .connect()
        .await
        .unwrap()
}

async fn event(client: &mut Client<Chat>) -> Event<Chat> {
    timeout(WAIT, client.next_event())
        .await
        .expect("an event within the wait")
        .unwrap()
}

/// Joins `room` and checks the answer: a recovery event, then `joined`.
async fn join(client: &mut Client<Chat>, room: &str) {
    client.join(room).await.unwrap();
    let Event::Recovery(recovery) = event(client).await else {
        panic!("the join's answer first")
    };
    assert_eq!((recovery.room.as_str(), recovery.recovered), (room, false));
    assert_eq!(recovery.reason, None);
    assert!(matches!(
        event(client).await,
        Event::Message(Chat::Joined { .. })
    ));
}

/// The next `said`'s text, through any state changes and recoveries, which are
/// returned beside it.
async fn next_said(client: &mut Client<Chat>, seen: &mut Vec<Event<Chat>>) -> String {
    loop {
        match event(client).await {
            Event::Message(Chat::Said { text, .. }) => return text,
            Event::Message(Chat::Joined { .. }) => {}
            other => seen.push(other),
        }
    }
}

/// Nothing more comes: the echo of a probe is the next event.
async fn quiet(client: &mut Client<Chat>) {
    client
        .send(chat::Echo {
            text: "probe".into(),
        })
        .await
        .unwrap();
    match event(client).await {
        Event::Message(Chat::Echo { text }) => assert_eq!(text, "probe"),
        other => panic!("expected nothing before the probe's echo: {other:?}"),
    }
}

/// The states in `events`, a run of `Reconnecting` (failed attempts) as one.
fn states(events: &[Event<Chat>]) -> Vec<ConnectionState> {
    let mut states: Vec<ConnectionState> = Vec::new();
    for event in events {
        if let Event::State(change) = event
            && states.last() != Some(&change.state)
        {
            states.push(change.state);
        }
    }
    states
}

fn recoveries(events: &[Event<Chat>]) -> Vec<(bool, Option<Unrecovered>)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Recovery(r) => Some((r.recovered, r.reason)),
            _ => None,
        })
        .collect()
}

/// Says `n` paced messages into `room`, texts counting from 0, on a plain
/// connection that is never cut; returns once all were handled.
fn publish(addr: SocketAddr, room: &'static str, n: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut publisher = support::Client::connect(&format!("ws://{addr}/ws")).await;
        for i in 0..n {
            publisher
                .send(json!({"type": "say", "room": room, "text": i.to_string()}))
                .await;
            if i % 4 == 3 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        publisher.sync().await;
    })
}

/// A subscriber's TCP connection is reset 8 times while a publisher says
/// 1,200 paced messages: each time it reconnects by itself, rejoins from
/// its last position, is told `recovered`, and it ends with every message
/// exactly once, in order. Its state goes Open → Reconnecting → Open at
/// each cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_client_reconnects_resumes_and_gets_every_message_once_in_order() {
    const MESSAGES: u64 = 1_200;
    const CUTS: usize = 8;
    let (addr, _manager) = serve(|b| b).await;
    let proxy = Proxy::start(addr).await;
    let mut sub = subscriber(proxy.addr).await;
    let state = sub.state();
    assert_eq!(*state.borrow(), ConnectionState::Open);
    join(&mut sub, "feed").await;
    let publisher = publish(addr, "feed", MESSAGES);

    let mut seen = Vec::new();
    let every = MESSAGES / (CUTS as u64 + 1);
    for n in 0..MESSAGES {
        let said = next_said(&mut sub, &mut seen).await;
        assert_eq!(said, n.to_string(), "a gap or a duplicate");
        if n % every == every - 1 && n / every < CUTS as u64 {
            proxy.cut();
        }
    }
    publisher.await.unwrap();
    quiet(&mut sub).await;
    let mut expected = Vec::new();
    for _ in 0..CUTS {
        expected.extend([ConnectionState::Reconnecting, ConnectionState::Open]);
    }
    assert_eq!(states(&seen), expected, "{seen:#?}");
    assert_eq!(recoveries(&seen), vec![(true, None); CUTS], "{seen:#?}");
    assert_eq!(*state.borrow(), ConnectionState::Open);
    assert_eq!(sub.since("feed").unwrap().offset, MESSAGES);
}

/// Reconnected to a restarted server that kept no history, the client is
/// told `recovered: false` with `epoch_changed`, takes the new epoch, and
/// continues with the live messages.
#[tokio::test]
async fn a_restart_without_history_is_reported_epoch_changed() {
    let (first, _manager) = serve(|b| b).await;
    let proxy = Proxy::start(first).await;
    let mut sub = subscriber(proxy.addr).await;
    join(&mut sub, "r").await;
    publish(first, "r", 3).await.unwrap();
    let mut seen = Vec::new();
    for n in 0..3 {
        assert_eq!(next_said(&mut sub, &mut seen).await, n.to_string());
    }
    let before = sub.since("r").unwrap().clone();
    assert_eq!(before.offset, 3);

    let (restarted, _manager) = serve(|b| b).await;
    proxy.point_to(restarted);
    proxy.cut();
    // The answer to the rejoin, then live messages of the new epoch.
    loop {
        match event(&mut sub).await {
            Event::Recovery(recovery) => {
                assert!(!recovery.recovered);
                assert_eq!(recovery.reason, Some(Unrecovered::EpochChanged));
                assert_ne!(recovery.epoch, before.epoch);
                assert_eq!(recovery.offset, 0);
                break;
            }
            other => seen.push(other),
        }
    }
    assert_eq!(
        states(&seen),
        [ConnectionState::Reconnecting, ConnectionState::Open]
    );
    assert_ne!(sub.since("r").unwrap().epoch, before.epoch);
    publish(restarted, "r", 1).await.unwrap();
    assert_eq!(next_said(&mut sub, &mut seen).await, "0");
    assert_eq!(sub.since("r").unwrap().offset, 1);
}

/// Close 1012 (service restart) and 1001 (going away) are retried at once
/// (attempt 0) and resume; close 1000 from the server and a deliberate
/// `close()` end the client without a reconnect.
#[tokio::test]
async fn restart_codes_reconnect_and_deliberate_closes_do_not() {
    let (addr, manager) = serve(|b| b).await;
    let mut sub = subscriber(addr).await;
    join(&mut sub, "c").await;
    let mut expected = 0;
    for code in [1012, 1001] {
        publish(addr, "c", 2).await.unwrap();
        let mut seen = Vec::new();
        for n in 0..2 {
            assert_eq!(next_said(&mut sub, &mut seen).await, n.to_string());
        }
        expected += 2;
        let [member] = manager.room_members("c")[..] else {
            panic!("one member")
        };
        assert!(manager.close(member, code, "restart"));
        let mut seen = Vec::new();
        loop {
            match event(&mut sub).await {
                Event::Message(Chat::Joined { .. }) => break,
                other => seen.push(other),
            }
        }
        let Event::State(change) = &seen[0] else {
            panic!("{seen:?}")
        };
        assert_eq!(change.state, ConnectionState::Reconnecting);
        assert_eq!(change.close.as_ref().map(|c| c.code), Some(code));
        assert_eq!(change.attempt, Some(0), "retried at once");
        assert_eq!(recoveries(&seen), [(true, None)]);
        assert_eq!(sub.since("c").unwrap().offset, expected);
    }

    // Close 1000 from the server: reported, and the end.
    let [member] = manager.room_members("c")[..] else {
        panic!("one member")
    };
    assert!(manager.close(member, 1000, "bye"));
    let state = sub.state();
    let Event::State(change) = event(&mut sub).await else {
        panic!("the close is reported")
    };
    assert_eq!(change.state, ConnectionState::Closed);
    assert_eq!(change.close.as_ref().map(|c| c.code), Some(1000));
    match sub.next_event().await {
        Err(ws_core::client::ClientError::Closed(Some(info))) => assert_eq!(info.code, 1000),
        other => panic!("expected the close, got {other:?}"),
    }
    assert_eq!(*state.borrow(), ConnectionState::Closed);
    support::eventually("the server let go", || manager.connections() == 0).await;

    // A deliberate close.
    let mut sub = subscriber(addr).await;
    join(&mut sub, "c").await;
    let state = sub.state();
    sub.close().await.unwrap();
    assert_eq!(*state.borrow(), ConnectionState::Closed);
    support::eventually("the server let go", || manager.connections() == 0).await;
}

/// The client's own safety net, against a scripted server on a real
/// socket (a correct server never sends it a duplicate): recorded messages
/// at or before the room's last position are dropped, and the rejoin after
/// a 1012 carries the last position seen.
#[tokio::test]
async fn recorded_messages_already_seen_are_dropped_and_the_rejoin_sends_the_last_position() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        let said = |offset: u64| {
            Message::text(
                json!({"type": "said", "room": "s", "text": offset.to_string(), "from": "x",
                       "epoch": "e", "offset": offset})
                .to_string(),
            )
        };
        let mut joins = Vec::new();
        for round in 0..2 {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            let join = ws.next().await.unwrap().unwrap();
            joins.push(serde_json::from_str::<serde_json::Value>(join.to_text().unwrap()).unwrap());
            let (offset, recovered) = if round == 0 { (0, false) } else { (5, true) };
            let joined = json!({"type": "joined", "room": "s", "epoch": "e", "offset": offset,
                                "recovered": recovered});
            ws.send(Message::text(joined.to_string())).await.unwrap();
            let offsets: &[u64] = if round == 0 {
                &[1, 2, 3, 2, 3, 4]
            } else {
                &[3, 4, 5]
            };
            for &offset in offsets {
                ws.send(said(offset)).await.unwrap();
            }
            if round == 0 {
                let close = CloseFrame {
                    code: 1012.into(),
                    reason: "restart".into(),
                };
                ws.close(Some(close)).await.unwrap();
                // The client answers the close and lets go of the socket
                // before it reconnects.
                while let Some(Ok(_)) = ws.next().await {}
            } else {
                ws.send(Message::text(
                    json!({"type": "echo", "text": "probe"}).to_string(),
                ))
                .await
                .unwrap();
                // Held open until the client has read everything.
                let _ = ws.next().await;
            }
        }
        joins
    });
    let mut sub = subscriber(addr).await;
    join(&mut sub, "s").await;
    let mut seen = Vec::new();
    let mut texts = Vec::new();
    for _ in 0..5 {
        texts.push(next_said(&mut sub, &mut seen).await);
    }
    assert_eq!(texts, ["1", "2", "3", "4", "5"], "each once, in order");
    assert_eq!(recoveries(&seen), [(true, None)]);
    match event(&mut sub).await {
        Event::Message(Chat::Echo { text }) => assert_eq!(text, "probe"),
        other => panic!("expected nothing before the probe: {other:?}"),
    }
    drop(sub);
    let joins = server.await.unwrap();
    assert_eq!(
        joins[0],
        json!({"type": "join", "room": "s", "since": null})
    );
    assert_eq!(
        joins[1],
        json!({"type": "join", "room": "s", "since": {"epoch": "e", "offset": 4}})
    );
}

/// Answers the next handshake on `listener` with `status` and no upgrade,
/// as a server that is starting (503) or refuses (403) does.
async fn refuse_one(listener: &TcpListener, status: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut stream, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the handshake request ended early");
        request.extend_from_slice(&buf[..n]);
    }
    let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    stream.write_all(response.as_bytes()).await.unwrap();
    let _ = stream.shutdown().await;
}

/// A client started before its server connects once the server is up,
/// through each way a server that is not up yet answers: the port closed
/// (connection refused), 503 to the handshake (starting), a close 1013
/// right after it (try again later). The first connect retries the first
/// two as a reconnect would; the 1013 is the first connection's drop. Each
/// failed attempt is reported, then the client joins and works.
#[tokio::test]
async fn a_client_started_before_its_server_connects_once_it_is_up() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;

    // A port with nothing on it yet.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (started, running) = tokio::sync::oneshot::channel();
    let connecting = tokio::spawn(async move {
        let _ = started.send(());
        subscriber(addr).await
    });
    running.await.unwrap();
    // Refused meanwhile: not asserted, the 503s below prove the retrying
    // deterministically; this gives the refused attempts their turn.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Up, not ready: two handshakes answered 503.
    let starting = TcpListener::bind(addr).await.unwrap();
    for _ in 0..2 {
        refuse_one(&starting, "503 Service Unavailable").await;
    }
    // Up, at its limit: the handshake succeeds, then a close 1013.
    let (stream, _) = timeout(WAIT, starting.accept()).await.unwrap().unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    let mut sub = timeout(WAIT, connecting).await.unwrap().unwrap();
    ws.close(Some(CloseFrame {
        code: 1013.into(),
        reason: "try again later".into(),
    }))
    .await
    .unwrap();
    drop(starting);
    // Up: the real server, on the same port.
    let manager = serve_at(addr, |b| b).await;

    let mut seen = Vec::new();
    loop {
        let event = event(&mut sub).await;
        let open_again = matches!(&event, Event::State(c) if c.state == ConnectionState::Open)
            && seen
                .iter()
                .any(|e| matches!(e, Event::State(c) if c.state == ConnectionState::Reconnecting));
        seen.push(event);
        if open_again {
            break;
        }
    }
    let _ = ws.next().await;
    let changes: Vec<_> = seen
        .iter()
        .map(|e| match e {
            Event::State(change) => change.clone(),
            other => panic!("only state changes before the join: {other:?}"),
        })
        .collect();
    // The first connect: failed attempts (refused, then 503 twice), then open.
    let first_open = changes
        .iter()
        .position(|c| c.state == ConnectionState::Open)
        .unwrap();
    let connecting = &changes[..first_open];
    assert!(
        connecting
            .iter()
            .all(|c| c.state == ConnectionState::Connecting),
        "{changes:#?}"
    );
    let refusals = connecting
        .iter()
        .filter(|c| c.close.as_ref().is_some_and(|c| c.reason.contains("503")))
        .count();
    assert_eq!(refusals, 2, "{changes:#?}");
    // Each attempt after the last: the attempts count up.
    for pair in connecting.windows(2) {
        assert_eq!(pair[1].attempt.unwrap(), pair[0].attempt.unwrap() + 1);
    }
    // The 1013: a drop retried after the longer backoff, then open.
    let reconnecting = &changes[first_open + 1];
    assert_eq!(reconnecting.state, ConnectionState::Reconnecting);
    assert_eq!(reconnecting.close.as_ref().map(|c| c.code), Some(1013));
    assert_eq!(reconnecting.attempt, Some(2));
    assert_eq!(changes.last().unwrap().state, ConnectionState::Open);

    join(&mut sub, "early").await;
    publish(addr, "early", 2).await.unwrap();
    let mut seen = Vec::new();
    for n in 0..2 {
        assert_eq!(next_said(&mut sub, &mut seen).await, n.to_string());
    }
    assert!(seen.is_empty(), "{seen:#?}");
    assert_eq!(manager.room_members("early").len(), 1);
}

/// The first connect stops where a reconnect would: a deliberate refusal
/// (403) fails at once, after one handshake; temporary refusals (503) stop
/// after `max_attempts` handshakes, with the last one's error.
#[tokio::test]
async fn a_first_connect_refused_for_good_or_too_often_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());

    let connecting = tokio::spawn({
        let url = url.clone();
        async move {
            Client::<Chat>::builder(&url)
                .reconnect(policy())
                .connect()
                .await
        }
    });
    refuse_one(&listener, "403 Forbidden").await;
    match timeout(WAIT, connecting).await.unwrap().unwrap() {
        Err(ClientError::Refused(refusal)) => assert_eq!(refusal.status.as_u16(), 403),
        other => panic!("expected the 403 at once: {:?}", other.err()),
    }

    let connecting = tokio::spawn(async move {
        Client::<Chat>::builder(&url)
            .reconnect(policy().max_attempts(Some(3)))
            .connect()
            .await
    });
    for _ in 0..3 {
        refuse_one(&listener, "503 Service Unavailable").await;
    }
    match timeout(WAIT, connecting).await.unwrap().unwrap() {
        Err(ClientError::Refused(refusal)) => assert_eq!(refusal.status.as_u16(), 503),
        // A fourth attempt would wait in the backlog past the wait.
        other => panic!("expected the third 503: {:?}", other.err()),
    }
}

/// A path that goes silent without closing (the proxy stops forwarding,
/// both sockets stay open: half-open TCP) is noticed by the client's idle
/// timeout, since the server's pings stop arriving: it is treated as a
/// drop (1006), the client reconnects, resumes and misses nothing.
#[tokio::test]
async fn a_silent_path_is_taken_for_a_drop_and_resumed() {
    const IDLE: Duration = Duration::from_secs(2);
    let (addr, _manager) = serve(|b| b.heartbeat(Some(Duration::from_millis(100)))).await;
    let proxy = Proxy::start(addr).await;
    let mut sub = Client::<Chat>::builder(&format!("ws://{}/ws", proxy.addr))
        .reconnect(policy())
        .idle_timeout(Some(IDLE))
        .rejoin(|room, since| chat::Join {
            room: room.to_owned(),
            since,
        })
        .connect()
        .await
        .unwrap();
    join(&mut sub, "quiet").await;
    publish(addr, "quiet", 3).await.unwrap();
    let mut seen = Vec::new();
    for n in 0..3 {
        assert_eq!(next_said(&mut sub, &mut seen).await, n.to_string());
    }
    assert!(
        seen.is_empty(),
        "pings every 100 ms keep it open: {seen:#?}"
    );

    proxy.freeze();
    publish(addr, "quiet", 3).await.unwrap();
    for n in 0..3 {
        assert_eq!(next_said(&mut sub, &mut seen).await, n.to_string());
    }
    quiet(&mut sub).await;
    assert_eq!(
        states(&seen),
        [ConnectionState::Reconnecting, ConnectionState::Open],
        "{seen:#?}"
    );
    let Event::State(dropped) = &seen[0] else {
        panic!("{seen:#?}")
    };
    let close = dropped.close.as_ref().unwrap();
    assert_eq!(close.code, 1006);
    assert_eq!(close.reason, format!("nothing received within {IDLE:?}"));
    assert_eq!(dropped.attempt, Some(0), "retried at once");
    assert_eq!(recoveries(&seen), [(true, None)]);
    assert_eq!(sub.since("quiet").unwrap().offset, 6);
}

/// `Client::cut`, the harness's hard cut: no close frame, the server sees a
/// drop; the client reconnects by itself on its next use, rejoins from its
/// last position and is told `recovered`, with every message once, in
/// order, across three cuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cut_by_itself_resumes_where_it_was() {
    const MESSAGES: u64 = 300;
    let (addr, manager) = serve(|b| b).await;
    let mut sub = subscriber(addr).await;
    join(&mut sub, "feed").await;
    let publisher = publish(addr, "feed", MESSAGES);
    let mut seen = Vec::new();
    for n in 0..MESSAGES {
        let said = next_said(&mut sub, &mut seen).await;
        assert_eq!(said, n.to_string(), "a gap or a duplicate");
        if n % 100 == 50 {
            sub.cut().await;
        }
    }
    publisher.await.unwrap();
    quiet(&mut sub).await;
    assert_eq!(recoveries(&seen), vec![(true, None); 3], "{seen:#?}");
    // The cut connections are gone from the server: only the live one is left.
    support::eventually("the cut connections gone", || manager.connections() == 1).await;
}
