//! The broadcast and manager API a real application needs: early replies
//! (`Ctx::reply`) and the per-connection order they rely on; exclusions
//! that add up and take rooms; closing other connections, users and rooms;
//! `correlate = "all"` acks; a waiting send for producers.

use std::sync::Arc;

use serde_json::json;
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::testing::TestServer;
use ws_core::{ConnId, Ctx, HandlerResult, Manager, UserId, ws_protocol};

use crate::support::Client;

/// A lobby: rooms joined by request.
#[ws_protocol(path = "/lobby", session = Option<UserId>)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Lobby {
    /// Joins a room; answered early, before the room hears of it.
    #[ws(client, reply = Joined)]
    Join { room: String },
    /// Joins a room; answered when the handler returns, after the room.
    #[ws(client, reply = Joined)]
    JoinLate { room: String },
    /// Replies twice: the second is refused.
    #[ws(client, reply = Joined)]
    Twice { room: String },
    /// The answer to a join.
    #[ws(server)]
    Joined { room: String },
    /// To the whole room, the newcomer included.
    #[ws(server)]
    Arrived { room: String, conn: u64 },
    /// Asks for this connection's id.
    #[ws(client, reply = You)]
    Hello,
    /// This connection's id.
    #[ws(server)]
    You { conn: u64 },
    /// From the test, through the manager.
    #[ws(server)]
    Notice { text: String },
}

struct App;

impl App {
    async fn announce(ctx: &Ctx<Lobby>, room: &str) -> HandlerResult {
        ctx.join(room).await?;
        ctx.to_room(room).send(lobby::Arrived {
            room: room.to_owned(),
            conn: ctx.id().get(),
        })?;
        Ok(())
    }
}

impl LobbyHandler for App {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Option<UserId>, Response> {
        let query = request.uri.query().unwrap_or("");
        Ok(query.strip_prefix("user=").map(UserId::from))
    }

    async fn hello(&self, ctx: &Ctx<Lobby>, _msg: lobby::Hello) -> HandlerResult<lobby::You> {
        Ok(lobby::You {
            conn: ctx.id().get(),
        })
    }

    async fn join(&self, ctx: &Ctx<Lobby>, msg: lobby::Join) -> HandlerResult<lobby::Joined> {
        let joined = ctx.reply(lobby::Joined {
            room: msg.room.clone(),
        })?;
        App::announce(ctx, &msg.room).await?;
        Ok(joined)
    }

    async fn join_late(
        &self,
        ctx: &Ctx<Lobby>,
        msg: lobby::JoinLate,
    ) -> HandlerResult<lobby::Joined> {
        App::announce(ctx, &msg.room).await?;
        Ok(lobby::Joined { room: msg.room })
    }

    async fn twice(&self, ctx: &Ctx<Lobby>, msg: lobby::Twice) -> HandlerResult<lobby::Joined> {
        ctx.reply(lobby::Joined {
            room: msg.room.clone(),
        })?;
        // Refused (`AlreadyReplied`): the client gets `internal`, uncorrelated.
        Ok(ctx.reply(lobby::Joined { room: msg.room })?)
    }
}

async fn server() -> TestServer<Lobby> {
    TestServer::start(Manager::<Lobby>::new(), Arc::new(App)).await
}

#[tokio::test]
async fn an_early_reply_goes_before_what_the_handler_sends_after_it() {
    let server = server().await;
    let mut a = Client::connect(&server.url("")).await;
    a.send(json!({"type": "join", "room": "r", "id": 1})).await;
    assert_eq!(
        a.recv().await,
        json!({"id": 1, "type": "joined", "room": "r"})
    );
    assert_eq!(a.recv().await["type"], "arrived");

    let mut b = Client::connect(&server.url("")).await;
    b.send(json!({"type": "join", "room": "r", "id": 7})).await;
    // The reply first, with the request's id; then the room's broadcast,
    // which the newcomer is a member of by then; and no second reply.
    assert_eq!(
        b.recv().await,
        json!({"id": 7, "type": "joined", "room": "r"})
    );
    assert_eq!(b.recv().await["type"], "arrived");
    b.quiet_rpc().await;
    assert_eq!(a.recv().await["type"], "arrived");
}

#[tokio::test]
async fn a_reply_returned_goes_after_what_the_handler_sent() {
    let server = server().await;
    let mut a = Client::connect(&server.url("")).await;
    a.send(json!({"type": "join_late", "room": "r", "id": 3}))
        .await;
    assert_eq!(a.recv().await["type"], "arrived");
    assert_eq!(
        a.recv().await,
        json!({"id": 3, "type": "joined", "room": "r"})
    );
}

#[tokio::test]
async fn a_request_is_answered_once() {
    let server = server().await;
    let mut a = Client::connect(&server.url("")).await;
    a.send(json!({"type": "twice", "room": "r", "id": 4})).await;
    assert_eq!(
        a.recv().await,
        json!({"id": 4, "type": "joined", "room": "r"})
    );
    // The failure after the answer reaches the client without the id.
    let error = a.recv().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "internal");
    assert!(error.get("id").is_none(), "{error}");
    a.quiet_rpc().await;
}

impl Client {
    /// Nothing more is owed to this client: a request sent now is the next
    /// thing answered (the server handles a connection's messages in order,
    /// and a send by the test has queued before it returned).
    async fn quiet_rpc(&mut self) -> u64 {
        self.send(json!({"type": "hello", "id": 999})).await;
        let you = self.recv().await;
        assert_eq!(
            you["type"], "you",
            "expected nothing before the probe's reply"
        );
        assert_eq!(you["id"], 999);
        you["conn"].as_u64().unwrap()
    }
}

/// `n` clients of `server` (as `user`, if given) in `room`; their ids.
async fn members(
    server: &TestServer<Lobby>,
    room: &str,
    user: Option<&str>,
    n: usize,
) -> Vec<(Client, ConnId)> {
    let query = user.map(|u| format!("?user={u}")).unwrap_or_default();
    let mut clients = Vec::new();
    for _ in 0..n {
        let mut client = Client::connect(&server.url(&query)).await;
        client
            .send(json!({"type": "join_late", "room": room}))
            .await;
        assert_eq!(client.recv().await["type"], "arrived");
        assert_eq!(client.recv().await["type"], "joined");
        let id = client.quiet_rpc().await;
        clients.push((client, id));
    }
    // Each newcomer's arrival reached the members before it; drain those.
    for (i, (client, _)) in clients.iter_mut().enumerate() {
        for _ in i + 1..n {
            assert_eq!(client.recv().await["type"], "arrived");
        }
    }
    let ids = server.manager().room_members(room);
    clients
        .into_iter()
        .map(|(client, n)| {
            let id = *ids.iter().find(|id| id.get() == n).expect("a member");
            (client, id)
        })
        .collect()
}

fn notice(text: &str) -> lobby::Notice {
    lobby::Notice { text: text.into() }
}

/// Which of `clients` got the notice `text`, each then checked quiet.
async fn got(clients: &mut [(Client, ConnId)], expected: &[bool], text: &str) {
    for ((client, _), &expected) in clients.iter_mut().zip(expected) {
        if expected {
            assert_eq!(client.recv().await, json!({"type": "notice", "text": text}));
        }
        client.quiet_rpc().await;
    }
}

#[tokio::test]
async fn exclusions_add_up_and_take_rooms() {
    let server = server().await;
    let mut clients = members(&server, "r", None, 4).await;
    // The last two also watch.
    for (client, _) in &mut clients[2..] {
        client
            .send(json!({"type": "join_late", "room": "spectators"}))
            .await;
        assert_eq!(client.recv().await["type"], "arrived");
        assert_eq!(client.recv().await["type"], "joined");
    }
    assert_eq!(clients[2].0.recv().await["type"], "arrived"); // the fourth's
    let ids: Vec<ConnId> = clients.iter().map(|(_, id)| *id).collect();
    let manager = server.manager();

    let sent = manager
        .to_room("r")
        .except(ids[0])
        .except(ids[1])
        .send(notice("two ids"));
    assert_eq!(sent.unwrap().queued, 2);
    got(&mut clients, &[false, false, true, true], "two ids").await;

    let sent = manager
        .to_room("r")
        .except("spectators")
        .send(notice("a room"));
    assert_eq!(sent.unwrap().queued, 2);
    got(&mut clients, &[true, true, false, false], "a room").await;

    let room = String::from("spectators");
    let sent = manager
        .to_all()
        .except(ids[0])
        .except(&room)
        .send(notice("both"));
    assert_eq!(sent.unwrap().queued, 1);
    got(&mut clients, &[false, true, false, false], "both").await;

    // A room that does not exist excludes nobody.
    let sent = manager.to_room("r").except("nobody").send(notice("all"));
    assert_eq!(sent.unwrap().queued, 4);
    got(&mut clients, &[true, true, true, true], "all").await;
}

#[tokio::test]
async fn a_connection_a_user_and_a_room_can_be_closed() {
    let server = server().await;
    let manager = server.manager();
    let mut bobs = members(&server, "r", Some("bob"), 2).await;
    let mut alices = members(&server, "r", Some("alice"), 2).await;
    for (bob, _) in &mut bobs {
        assert_eq!(bob.recv().await["type"], "arrived");
        assert_eq!(bob.recv().await["type"], "arrived");
    }

    // One connection, by id, after what is queued for it.
    manager.to_conn(alices[0].1).send(notice("before")).unwrap();
    assert!(manager.close(alices[0].1, 4001, "kicked"));
    assert_eq!(alices[0].0.recv().await["text"], "before");
    assert_eq!(alices[0].0.closed().await, (4001, "kicked".into()));
    // Already closing (or gone): nothing to close.
    assert!(!manager.close(alices[0].1, 4001, "again"));

    // Every connection of a user, and no one else's.
    assert_eq!(manager.to_user("bob").close(4002, "taken over").unwrap(), 2);
    for (bob, _) in &mut bobs {
        assert_eq!(bob.closed().await, (4002, "taken over".into()));
    }
    alices[1].0.quiet_rpc().await;

    // A room, minus one.
    let mut watchers = members(&server, "w", None, 2).await;
    let keep = watchers[1].1;
    assert_eq!(
        manager
            .to_room("w")
            .except(keep)
            .close(4003, "closed")
            .unwrap(),
        1
    );
    assert_eq!(watchers[0].0.closed().await, (4003, "closed".into()));
    watchers[1].0.quiet_rpc().await;
}

/// Every client message correlated: answered by an `ack`, an early reply or
/// an error, with its `id`.
#[ws_protocol(
    path = "/game",
    correlate = "all",
    heartbeat = "off",
    idle_timeout = "off"
)]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Arena {
    /// Fails for the lobby `closed`.
    #[ws(client)]
    StartGame { lobby: String },
    /// Answered early with `Started`.
    #[ws(client)]
    Ready { player: u32 },
    /// The game started.
    #[ws(server)]
    Started { player: u32 },
}

struct GameApp;

impl ArenaHandler for GameApp {
    async fn start_game(&self, _ctx: &Ctx<Arena>, msg: arena::StartGame) -> HandlerResult {
        if msg.lobby == "closed" {
            return Err(ws_core::HandlerError::reply(
                "lobby_closed",
                "that lobby is closed",
            ));
        }
        Ok(())
    }

    async fn ready(&self, ctx: &Ctx<Arena>, msg: arena::Ready) -> HandlerResult {
        ctx.reply(arena::Started { player: msg.player })?;
        Ok(())
    }
}

async fn game() -> TestServer<Arena> {
    TestServer::start(Manager::<Arena>::new(), Arc::new(GameApp)).await
}

#[tokio::test]
async fn every_message_with_an_id_is_acked_or_refused_with_it() {
    let server = game().await;
    let mut client = Client::connect(&server.url("")).await;
    client
        .send(json!({"type": "start_game", "lobby": "a", "id": 3}))
        .await;
    assert_eq!(client.recv().await, json!({"type": "ack", "id": 3}));
    client
        .send(json!({"type": "start_game", "lobby": "closed", "id": 4}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"type": "error", "id": 4, "code": "lobby_closed", "message": "that lobby is closed"})
    );
    // Answered early: the reply carries the id, and there is no ack.
    client
        .send(json!({"type": "ready", "player": 1, "id": 5}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"id": 5, "type": "started", "player": 1})
    );
    // Without an id: no ack.
    client
        .send(json!({"type": "start_game", "lobby": "a"}))
        .await;
    // Refused before any handler: the error still carries the id.
    client.send(json!({"type": "start_game", "id": 6})).await;
    let error = client.recv().await;
    assert_eq!(
        (error["code"].clone(), error["id"].clone()),
        (json!("invalid_message"), json!(6))
    );
    client
        .send(json!({"type": "started", "player": 1, "id": 7}))
        .await;
    let error = client.recv().await;
    assert_eq!(
        (error["code"].clone(), error["id"].clone()),
        (json!("wrong_direction"), json!(7))
    );
    // A string id is acked with it; an id that is neither an unsigned
    // integer nor a short string is refused, uncorrelated.
    client
        .send(json!({"type": "start_game", "lobby": "a", "id": "x"}))
        .await;
    assert_eq!(client.recv().await, json!({"type": "ack", "id": "x"}));
    client
        .send(json!({"type": "start_game", "lobby": "a", "id": -8}))
        .await;
    let error = client.recv().await;
    assert_eq!(error["code"], "invalid_message");
    assert!(error.get("id").is_none(), "{error}");
    client
        .send(json!({"type": "start_game", "lobby": "a", "id": 8}))
        .await;
    assert_eq!(client.recv().await, json!({"type": "ack", "id": 8}));
}

/// A message dropped by the rate limit is answered with its `id`: the
/// client's `send_with_ack` learns of it at once, not at its timeout.
#[tokio::test]
async fn a_rate_limited_message_is_refused_with_its_id() {
    let limit = ws_core::RateLimit::new(2, std::time::Duration::from_secs(60)).with_burst(2);
    let manager = Manager::<Arena>::builder().rate_limit(Some(limit)).build();
    let server = TestServer::start(manager, Arc::new(GameApp)).await;
    let mut client = Client::connect(&server.url("")).await;
    // Integer ids and string ids alike, each echoed as it was sent.
    let ids = [json!(1), json!("2"), json!(3), json!("r-4")];
    for id in &ids {
        client
            .send(json!({"type": "start_game", "lobby": "a", "id": id}))
            .await;
    }
    for id in &ids[..2] {
        assert_eq!(client.recv().await, json!({"type": "ack", "id": id}));
    }
    for id in &ids[2..] {
        let error = client.recv().await;
        assert_eq!(
            (error["code"].clone(), error["id"].clone()),
            (json!("rate_limited"), id.clone()),
            "{error}"
        );
    }
}

#[tokio::test]
async fn the_rust_client_sends_with_ack() {
    let server = game().await;
    let mut client = ws_core::client::Client::<Arena>::connect(&server.url(""))
        .await
        .unwrap();
    let acked = client
        .send_with_ack(arena::StartGame { lobby: "a".into() })
        .await;
    assert_eq!(acked.unwrap(), None);
    let refused = client
        .send_with_ack(arena::StartGame {
            lobby: "closed".into(),
        })
        .await;
    match refused {
        Err(ws_core::client::ClientError::Server(frame)) => assert_eq!(frame.code, "lobby_closed"),
        other => panic!("expected the handler's error, got {other:?}"),
    }
    let early = client.send_with_ack(arena::Ready { player: 2 }).await;
    assert_eq!(early.unwrap(), Some(Arena::Started { player: 2 }));
}

#[test]
fn the_typescript_client_sends_with_ack() {
    let ts = Arena::typescript();
    // Any client message but the refresh, which the server acknowledges not.
    assert!(
        ts.contains("sendWithAck(message: Exclude<ClientMessage, RefreshFrame>"),
        "{ts}"
    );
    assert!(ts.contains("export interface AckFrame {"), "{ts}");
    assert!(
        ts.contains(
            "export type ServerMessage = Started | ErrorFrame | AckFrame | RefreshRequired;"
        ),
        "{ts}"
    );
    // Not for protocols that correlate requests only.
    assert!(!Lobby::typescript().contains("sendWithAck"));
}

/// A manager whose connections hold 4 frames and are evicted past them.
async fn tight() -> TestServer<Lobby> {
    let manager = Manager::<Lobby>::builder()
        .send_queue(4)
        .on_full(ws_core::Overflow::Close)
        .build();
    TestServer::start(manager, Arc::new(App)).await
}

/// The id of `client`'s connection, found through a room of its own.
async fn own_id(server: &TestServer<Lobby>, client: &mut Client) -> ConnId {
    let n = client.quiet_rpc().await;
    let room = format!("own-{n}");
    client
        .send(json!({"type": "join_late", "room": room}))
        .await;
    assert_eq!(client.recv().await["type"], "arrived");
    assert_eq!(client.recv().await["type"], "joined");
    server.manager().room_members(&room)[0]
}

/// `n` as a notice of `size` bytes.
fn numbered(n: u64, size: usize) -> lobby::Notice {
    let mut text = format!("{n:08}");
    text.extend(std::iter::repeat_n('.', size - 8));
    lobby::Notice { text }
}

#[tokio::test]
async fn a_waiting_send_paces_the_producer_instead_of_evicting() {
    let server = tight().await;
    let mut client = Client::connect(&server.url("")).await;
    let id = own_id(&server, &mut client).await;
    // 2,000 frames of 16 KiB (31 MiB) through a queue of 4: more than the
    // socket buffers of loopback hold (a few MiB), and 500 times the queue,
    // so a producer that did not wait for this reader would evict it (with
    // `send` in place of `send_waiting`, this test fails with 1013).
    const N: u64 = 2_000;
    const SIZE: usize = 16 * 1024;
    let manager = server.manager().clone();
    let producer = tokio::spawn(async move {
        let mut queued = 0;
        for n in 0..N {
            let sent = manager.to_conn(id).send_waiting(numbered(n, SIZE)).await;
            queued += sent.unwrap().queued;
        }
        queued
    });
    for n in 0..N {
        let notice = client.recv().await;
        assert_eq!(notice["text"].as_str().unwrap()[..8], format!("{n:08}"));
    }
    assert_eq!(producer.await.unwrap(), N as usize);
    assert_eq!(server.manager().stats().evicted, 0);
    client.quiet_rpc().await;
}

#[tokio::test]
async fn a_waiting_send_ends_when_its_recipient_closes() {
    let server = tight().await;
    let mut client = Client::connect(&server.url("")).await;
    let id = own_id(&server, &mut client).await;
    let manager = server.manager().clone();
    let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent = Arc::clone(&progress);
    // The client reads nothing: once the socket buffers and the queue are
    // full (a few MiB; the limit below is 250 MiB), the producer waits.
    let producer = tokio::spawn(async move {
        for n in 0..1_000 {
            let delivery = manager
                .to_conn(id)
                .send_waiting(numbered(n, 256 * 1024))
                .await
                .unwrap();
            if delivery.queued == 0 {
                return (n, delivery);
            }
            sent.store(n + 1, std::sync::atomic::Ordering::SeqCst);
        }
        panic!("a client that reads nothing took 250 MiB through a queue of 4");
    });
    crate::support::eventually("the producer has filled the queue", || {
        progress.load(std::sync::atomic::Ordering::SeqCst) >= 4
    })
    .await;
    // Closing the connection ends the wait.
    assert!(server.manager().close(id, 4000, "bye"));
    let (sent, delivery) = tokio::time::timeout(crate::support::WAIT, producer)
        .await
        .expect("the waiting send ended")
        .unwrap();
    assert!((4..1_000).contains(&sent), "{sent}");
    assert_eq!(delivery.closed, 1);
    assert_eq!(client.closed().await, (4000, "bye".into()));
}

/// The users `manager` lists in `room`'s presence, by name.
async fn present(manager: &Manager<Lobby>, room: &str) -> Vec<String> {
    let page = manager.presence(room).await.unwrap();
    page.users.iter().map(|p| p.user.to_string()).collect()
}

/// Issue 24: the server makes others leave a room: one connection, a
/// user's connections, a whole room, minus exclusions; presence shows it
/// as a voluntary leave, and the client is told nothing.
#[tokio::test]
async fn a_connection_a_user_and_a_room_can_be_made_to_leave() {
    let server = server().await;
    let manager = server.manager();
    let mut clients = members(&server, "r", Some("alice"), 2).await;
    clients.extend(members(&server, "r", Some("bob"), 2).await);
    for (alice, _) in &mut clients[..2] {
        assert_eq!(alice.recv().await["type"], "arrived");
        assert_eq!(alice.recv().await["type"], "arrived");
    }
    let ids: Vec<ConnId> = clients.iter().map(|(_, id)| *id).collect();
    assert_eq!(present(manager, "r").await, ["alice", "bob"]);

    // One connection, by id: the other of the same user stays.
    assert!(manager.leave(ids[0], "r"));
    assert!(!manager.leave(ids[0], "r"), "not a member any more");
    assert_eq!(manager.room_size("r"), 3);
    assert_eq!(present(manager, "r").await, ["alice", "bob"]);
    manager.to_room("r").send(notice("three")).unwrap();
    got(&mut clients, &[false, true, true, true], "three").await;

    // Every connection of a user, but one excluded by id.
    let left = manager.to_user("bob").except(ids[3]).leave("r");
    assert_eq!(left.unwrap(), 1);
    manager.to_room("r").send(notice("two")).unwrap();
    got(&mut clients, &[false, true, false, true], "two").await;

    // Every connection of a user: it is gone from the room's presence.
    assert_eq!(manager.to_user("alice").leave("r").unwrap(), 1);
    assert_eq!(present(manager, "r").await, ["bob"]);

    // A whole room: it is gone.
    assert_eq!(manager.to_room("r").leave("r").unwrap(), 1);
    assert_eq!(manager.room_size("r"), 0);
    assert!(present(manager, "r").await.is_empty());
    assert_eq!(manager.to_room("r").send(notice("none")).unwrap().queued, 0);
    got(&mut clients, &[false, false, false, false], "none").await;
}

/// Issue 24: the server makes others join a room, and the room's sends
/// reach them from then on.
#[tokio::test]
async fn a_user_can_be_made_to_join_a_room() {
    let server = server().await;
    let manager = server.manager();
    let mut clients = members(&server, "r", Some("carol"), 2).await;
    clients.extend(members(&server, "elsewhere", None, 1).await);
    let ids: Vec<ConnId> = clients.iter().map(|(_, id)| *id).collect();

    assert_eq!(manager.to_user("carol").join("vip").unwrap(), 2);
    assert_eq!(manager.to_user("carol").join("vip").unwrap(), 0, "members");
    assert_eq!(present(manager, "vip").await, ["carol"]);
    manager.to_room("vip").send(notice("vip")).unwrap();
    got(&mut clients, &[true, true, false], "vip").await;

    // One connection, by id; an anonymous one is in no presence.
    assert_eq!(manager.join(ids[2], "vip"), Ok(true));
    assert_eq!(manager.join(ids[2], "vip"), Ok(false));
    assert_eq!(manager.room_size("vip"), 3);
    assert_eq!(present(manager, "vip").await, ["carol"]);
    // Every member but those of another room.
    let joined = manager.to_room("vip").except("elsewhere").join("inner");
    assert_eq!(joined.unwrap(), 2);
    manager.to_room("inner").send(notice("inner")).unwrap();
    got(&mut clients, &[true, true, false], "inner").await;
}
