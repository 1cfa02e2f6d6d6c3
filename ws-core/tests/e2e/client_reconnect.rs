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
use ws_core::client::{Client, ConnectionState, Event, ReconnectPolicy};
use ws_core::history::Unrecovered;

use crate::chat_example::protocol::{Chat, chat};
use crate::chat_example::serve;
use crate::support::{self, WAIT};

/// A TCP proxy in front of a server: the network between a client and it,
/// which [`cut`](Proxy::cut) fails (a reset both ways, no close frame).
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    cuts: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let (cuts, _) = watch::channel(0);
        let accept = {
            let (upstream, cuts) = (Arc::clone(&upstream), cuts.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let to = *upstream.lock().unwrap();
                    let mut cut = cuts.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(to).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut.changed() => {
                                let _ = inbound.set_zero_linger();
                                let _ = outbound.set_zero_linger();
                            }
                        }
                    });
                }
            })
        };
        Proxy {
            addr,
            upstream,
            cuts,
            accept,
        }
    }

    /// Resets every connection through the proxy, both ways.
    pub(crate) fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
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
