//! Several nodes sharing one Redis: each node a manager with the Redis
//! backend, its own axum server and its own clients, in one test process.
//! Redis: see [`crate::support::redis`].

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ws_core::{Manager, Protocol, PubSubMode, RedisBackend};

use crate::support::redis::{Redis, prefix, up};
use crate::support::{Client, Server, Test, test};

pub(crate) fn room_channel(prefix: &str, room: &str) -> String {
    format!("{prefix}:{}:room:{{{room}}}", Test::NAME)
}

pub(crate) fn user_channel(prefix: &str, user: &str) -> String {
    format!("{prefix}:{}:user:{{{user}}}", Test::NAME)
}

fn all_channel(prefix: &str) -> String {
    format!("{prefix}:{}:all", Test::NAME)
}

fn manager(redis: &Redis, prefix: &str, mode: PubSubMode) -> Manager<Test> {
    let backend = RedisBackend::new(&redis.url)
        .unwrap()
        .prefix(prefix)
        .pubsub(mode)
        .presence_ttl(Duration::from_secs(1))
        .reconnect_max(Duration::from_millis(300));
    Manager::<Test>::builder()
        .send_queue(4096)
        .backend(backend)
        .build()
}

/// A node: a manager with the Redis backend, served on 127.0.0.1:0, once
/// its backend is up.
async fn node_with(redis: &Redis, prefix: &str, mode: PubSubMode) -> Server {
    let server = Server::with_manager(manager(redis, prefix, mode)).await;
    up(&server).await;
    server
}

async fn three_nodes(redis: &Redis, prefix: &str) -> [Server; 3] {
    [
        node(redis, prefix).await,
        node(redis, prefix).await,
        node(redis, prefix).await,
    ]
}

async fn two_clients_each(nodes: &[Server]) -> Vec<Client> {
    let mut clients = Vec::new();
    for node in nodes {
        clients.push(node.connect().await);
        clients.push(node.connect().await);
    }
    clients
}

pub(crate) async fn node(redis: &Redis, prefix: &str) -> Server {
    node_with(redis, prefix, PubSubMode::Auto).await
}

pub(crate) fn say(room: &str, text: &str) -> Value {
    json!({"type": "say", "room": room, "text": text})
}

/// The next message of type `kind`, skipping others (e.g. error frames).
pub(crate) async fn next(client: &mut Client, kind: &str) -> Value {
    loop {
        let message = client.recv().await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// [`quiet_everywhere`] for every node and every client of a test.
async fn all_quiet(redis: &Redis, prefix: &str, nodes: &[Server], clients: &mut [Client]) {
    let nodes: Vec<&Server> = nodes.iter().collect();
    let mut clients: Vec<&mut Client> = clients.iter_mut().collect();
    quiet_everywhere(redis, prefix, &nodes, &mut clients).await;
}

/// Asserts that nothing more reaches `clients` from any of `nodes`, by
/// completed work rather than a time window: each node broadcasts a marker to
/// everyone once the test's sends are done (each node must have a client,
/// so that it subscribes to `all`). A node publishes in the order it
/// sends, on one connection, and Redis forwards in that order, so anything
/// stray or duplicated that a node sent earlier arrives before its marker.
pub(crate) async fn quiet_everywhere(
    redis: &Redis,
    prefix: &str,
    nodes: &[&Server],
    clients: &mut [&mut Client],
) {
    redis
        .until_subscribers(&all_channel(prefix), true, nodes.len())
        .await;
    markers(nodes, clients).await;
}

/// Each of `nodes` broadcasts a marker to everyone; every one of `clients`
/// must get the markers, and nothing else, before them.
pub(crate) async fn markers(nodes: &[&Server], clients: &mut [&mut Client]) {
    for (i, node) in nodes.iter().enumerate() {
        let marker = test::Said {
            room: String::new(),
            text: "marker".into(),
            from: i as u64,
        };
        node.manager.to_all().send(marker).unwrap();
    }
    for client in clients.iter_mut() {
        let mut seen = vec![false; nodes.len()];
        while seen.contains(&false) {
            let message = client.recv().await;
            assert_eq!(
                message["text"], "marker",
                "expected nothing but the markers, got {message}"
            );
            seen[message["from"].as_u64().unwrap() as usize] = true;
        }
    }
}

/// Each of `senders` says 0 to `n - 1` in room `r`, as fast as it can.
pub(crate) fn send_numbers(senders: [Client; 2], n: usize) -> Vec<tokio::task::JoinHandle<Client>> {
    senders
        .into_iter()
        .map(|mut sender| {
            tokio::spawn(async move {
                for i in 0..n {
                    sender.send(say("r", &i.to_string())).await;
                }
                sender
            })
        })
        .collect()
}

/// `client` gets the `n` numbers of each of two senders, each sender's in
/// order.
pub(crate) async fn in_order(client: &mut Client, n: usize) {
    let mut seen: std::collections::HashMap<u64, usize> = Default::default();
    for _ in 0..2 * n {
        let said = next(client, "said").await;
        let from = said["from"].as_u64().unwrap();
        let got: usize = said["text"].as_str().unwrap().parse().unwrap();
        let expected = seen.entry(from).or_default();
        assert_eq!(got, *expected, "sender {from}: out of order");
        *expected += 1;
    }
    assert_eq!(seen.len(), 2);
    assert!(seen.values().all(|&got| got == n));
}

/// `bob` whispers "one" and "two" to alice; each of her connections gets
/// both, in order.
pub(crate) async fn whisper_twice(bob: &mut Client, alices: [&mut Client; 2]) {
    for text in ["one", "two"] {
        bob.send(json!({"type": "whisper", "user": "alice", "text": text}))
            .await;
    }
    for alice in alices {
        assert_eq!(next(alice, "said").await["text"], "one");
        assert_eq!(next(alice, "said").await["text"], "two");
    }
}

pub(crate) async fn join_all(clients: &mut [&mut Client], room: &str) {
    for client in clients.iter_mut() {
        client.join(room).await;
        client.sync().await;
    }
}

#[tokio::test]
async fn a_room_spans_two_nodes_and_each_member_gets_each_message_once() {
    let redis = Redis::any();
    let prefix = prefix("room");
    let (a, b) = (node(&redis, &prefix).await, node(&redis, &prefix).await);
    let (mut a1, mut a2) = (a.connect().await, a.connect().await);
    let (mut b1, mut b_outsider) = (b.connect().await, b.connect().await);
    join_all(&mut [&mut a1, &mut a2, &mut b1], "r").await;
    assert_eq!(
        b.manager.backend_status().unwrap().sharded,
        Some(true),
        "Redis 7 has sharded pub/sub"
    );
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 2)
        .await;

    a1.send(say("r", "from a")).await;
    b1.send(say("r", "from b")).await;
    for client in [&mut a1, &mut a2, &mut b1] {
        let mut texts = vec![
            next(client, "said").await["text"].clone(),
            next(client, "said").await["text"].clone(),
        ];
        texts.sort_by_key(|t| t.to_string());
        assert_eq!(texts, [json!("from a"), json!("from b")]);
    }
    // Exactly once: nothing more for anyone, nothing for the outsider.
    quiet_everywhere(
        &redis,
        &prefix,
        &[&a, &b],
        &mut [&mut a1, &mut a2, &mut b1, &mut b_outsider],
    )
    .await;
    let (sa, sb) = (
        a.manager.backend_status().unwrap(),
        b.manager.backend_status().unwrap(),
    );
    // One `said` and one marker each.
    assert_eq!((sa.published, sb.published), (2, 2));
    // Each node got the other's two, and dropped its own echoes.
    assert_eq!((sa.received, sb.received), (2, 2));
    assert_eq!(sa.publish_failed + sb.publish_failed, 0);
    assert!(sb.lag.is_some_and(|lag| lag < Duration::from_secs(5)));
}

#[tokio::test]
async fn three_nodes_except_sender_skips_only_the_sender() {
    let redis = Redis::any();
    let prefix = prefix("except");
    let nodes = three_nodes(&redis, &prefix).await;
    let mut clients = two_clients_each(&nodes).await;
    for client in &mut clients {
        client.join("r").await;
        client.sync().await;
    }
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 3)
        .await;

    clients[0]
        .send(json!({"type": "shout", "room": "r", "text": "others"}))
        .await;
    for client in &mut clients[1..] {
        assert_eq!(next(client, "said").await["text"], "others");
    }
    all_quiet(&redis, &prefix, &nodes, &mut clients).await;
}

#[tokio::test]
async fn a_user_on_two_nodes_gets_each_message_once_per_connection() {
    let redis = Redis::any();
    let prefix = prefix("user");
    let nodes = three_nodes(&redis, &prefix).await;
    let mut alice_a = nodes[0].connect_as("alice").await;
    let mut alice_b = nodes[1].connect_as("alice").await;
    let mut bob = nodes[2].connect_as("bob").await;
    redis
        .until_subscribers(&user_channel(&prefix, "alice"), true, 2)
        .await;

    whisper_twice(&mut bob, [&mut alice_a, &mut alice_b]).await;
    // From a node that has one of alice's connections too.
    alice_a
        .send(json!({"type": "whisper", "user": "alice", "text": "self"}))
        .await;
    for alice in [&mut alice_a, &mut alice_b] {
        assert_eq!(next(alice, "said").await["text"], "self");
    }
    let nodes: Vec<&Server> = nodes.iter().collect();
    quiet_everywhere(
        &redis,
        &prefix,
        &nodes,
        &mut [&mut alice_a, &mut alice_b, &mut bob],
    )
    .await;
}

#[tokio::test]
async fn to_all_reaches_every_connection_on_every_node_once() {
    let redis = Redis::any();
    let prefix = prefix("all");
    let nodes = three_nodes(&redis, &prefix).await;
    let mut clients = two_clients_each(&nodes).await;
    redis
        .until_subscribers(&all_channel(&prefix), true, 3)
        .await;

    clients[2]
        .send(json!({"type": "announce", "text": "everyone"}))
        .await;
    for client in &mut clients {
        assert_eq!(next(client, "said").await["text"], "everyone");
    }
    all_quiet(&redis, &prefix, &nodes, &mut clients).await;
}

#[tokio::test]
async fn messages_of_each_sender_arrive_in_order_on_other_nodes() {
    const N: usize = 300;
    let redis = Redis::any();
    let prefix = prefix("order");
    let nodes = three_nodes(&redis, &prefix).await;
    let (mut s1, mut s2) = (nodes[0].connect().await, nodes[1].connect().await);
    let mut reader = nodes[2].connect().await;
    let mut local_reader = nodes[0].connect().await;
    join_all(&mut [&mut s1, &mut s2, &mut reader, &mut local_reader], "r").await;
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 3)
        .await;

    // Two senders on two nodes at once, each as fast as it can.
    let tasks = send_numbers([s1, s2], N);
    for client in [&mut reader, &mut local_reader] {
        in_order(client, N).await;
    }
    // The senders stay connected, so each node keeps its `all` subscription.
    let mut senders = Vec::new();
    for task in tasks {
        senders.push(task.await.unwrap());
    }
    let nodes: Vec<&Server> = nodes.iter().collect();
    quiet_everywhere(
        &redis,
        &prefix,
        &nodes,
        &mut [&mut reader, &mut local_reader],
    )
    .await;
}

async fn unsubscribes_when_the_last_local_member_leaves(mode: PubSubMode, sharded: bool) {
    let redis = Redis::any();
    let prefix = prefix("unsub");
    let (a, b) = (
        node_with(&redis, &prefix, mode).await,
        node_with(&redis, &prefix, mode).await,
    );
    let room = room_channel(&prefix, "r");
    let (mut a1, mut b1, mut b2) = (a.connect().await, b.connect().await, b.connect().await);
    join_all(&mut [&mut a1, &mut b1, &mut b2], "r").await;
    redis.until_subscribers(&room, sharded, 2).await;
    redis
        .until_subscribers(&all_channel(&prefix), sharded, 2)
        .await;

    // Broadcasts cross in this mode too.
    a1.send(say("r", "hello")).await;
    for client in [&mut b1, &mut b2] {
        assert_eq!(next(client, "said").await["text"], "hello");
    }

    // B keeps its subscription while one local member remains.
    b1.send(json!({"type": "leave", "room": "r"})).await;
    b1.sync().await;
    // B's control task handles membership changes in order: once a later
    // change (a join of `probe`) has reached Redis, a wrong unsubscribe of
    // `r` would have reached it too.
    b1.join("probe").await;
    b1.sync().await;
    redis
        .until_subscribers(&room_channel(&prefix, "probe"), sharded, 1)
        .await;
    assert_eq!(redis.subscribers(&room, sharded).await, 2);
    b2.send(json!({"type": "leave", "room": "r"})).await;
    b2.sync().await;
    redis.until_subscribers(&room, sharded, 1).await;
    // Joining again subscribes again.
    b1.join("r").await;
    b1.sync().await;
    redis.until_subscribers(&room, sharded, 2).await;

    // A disconnect leaves everything: the room, the user, `all`.
    let alice = b.connect_as("alice").await;
    redis
        .until_subscribers(&user_channel(&prefix, "alice"), sharded, 1)
        .await;
    alice.close(1000, "bye").await;
    redis
        .until_subscribers(&user_channel(&prefix, "alice"), sharded, 0)
        .await;
    b1.close(1000, "bye").await;
    b2.close(1000, "bye").await;
    redis.until_subscribers(&room, sharded, 1).await;
    redis
        .until_subscribers(&all_channel(&prefix), sharded, 1)
        .await;
    b.until("B listens to nothing", |m| {
        m.backend_status().unwrap().channels == 0
    })
    .await;
    drop(a1);
    redis.until_subscribers(&room, sharded, 0).await;
    redis
        .until_subscribers(&all_channel(&prefix), sharded, 0)
        .await;
}

#[tokio::test]
async fn sharded_unsubscribes_when_the_last_local_member_leaves() {
    unsubscribes_when_the_last_local_member_leaves(PubSubMode::Auto, true).await;
}

#[tokio::test]
async fn classic_pubsub_works_and_unsubscribes_too() {
    unsubscribes_when_the_last_local_member_leaves(PubSubMode::Classic, false).await;
}

#[tokio::test]
async fn redis_restarted_mid_test_local_delivery_never_stops_and_cross_node_resumes() {
    let mut redis = Redis::own();
    let prefix = prefix("restart");
    let (a, b) = (node(&redis, &prefix).await, node(&redis, &prefix).await);
    let (mut a1, mut a2, mut b1) = (a.connect().await, a.connect().await, b.connect().await);
    let mut b2 = b.connect().await;
    join_all(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "r").await;
    join_all(&mut [&mut b2], "s").await;
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 2)
        .await;

    redis.kill();
    a.until("A sees Redis down", |m| !m.backend_status().unwrap().up)
        .await;
    b.until("B sees Redis down", |m| !m.backend_status().unwrap().up)
        .await;

    // Local delivery goes on; the sender is told the other nodes were missed.
    for i in 0..3 {
        a1.send(say("r", &format!("local {i}"))).await;
        assert_eq!(next(&mut a2, "said").await["text"], format!("local {i}"));
        let error = next(&mut a1, "error").await;
        assert_eq!(error["code"], "internal");
    }
    assert!(a.manager.backend_status().unwrap().publish_failed >= 3);
    // B changes its membership meanwhile: left `s`, joined `t`.
    b2.send(json!({"type": "leave", "room": "s"})).await;
    b2.join("t").await;
    b2.sync().await;

    redis.restart();
    up(&a).await;
    up(&b).await;
    // Resubscribed to exactly what is needed now.
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 2)
        .await;
    redis
        .until_subscribers(&room_channel(&prefix, "t"), true, 1)
        .await;
    assert_eq!(
        redis.subscribers(&room_channel(&prefix, "s"), true).await,
        0
    );
    redis
        .until_subscribers(&all_channel(&prefix), true, 2)
        .await;

    a1.send(say("r", "after")).await;
    for client in [&mut b1, &mut b2, &mut a2] {
        assert_eq!(next(client, "said").await["text"], "after");
    }
    b1.send(say("r", "back")).await;
    assert_eq!(next(&mut a2, "said").await["text"], "back");
    for node in [&a, &b] {
        let status = node.manager.backend_status().unwrap();
        assert!(status.reconnects >= 1, "{status:?}");
    }
}

/// A publish that Redis answers late is not a failure: Redis runs a
/// pipeline once it is written, so the message reaches the other nodes,
/// and cutting it off at a deadline (as the backend once did) counted a
/// loss that did not happen. Redis is stopped past the response timeout
/// with one message written to it; once it resumes, the other node's
/// member gets that message once and in order, and the sending node counts
/// as failed exactly the sends it refused (told to the sender), no more.
#[tokio::test]
async fn a_publish_answered_late_reaches_the_other_nodes_and_is_not_counted_failed() {
    let redis = Redis::own();
    let prefix = prefix("late");
    let node = || async {
        let backend = RedisBackend::new(&redis.url)
            .unwrap()
            .prefix(&prefix)
            .presence_ttl(Duration::from_secs(1))
            .response_timeout(Duration::from_millis(200))
            .reconnect_max(Duration::from_millis(300));
        let manager = Manager::<Test>::builder().backend(backend).build();
        let server = Server::with_manager(manager).await;
        up(&server).await;
        server
    };
    let (a, b) = (node().await, node().await);
    let (mut ann, mut bob) = (a.connect().await, b.connect().await);
    join_all(&mut [&mut ann, &mut bob], "r").await;
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 2)
        .await;

    redis.signal("STOP");
    ann.send(say("r", "during")).await;
    assert_eq!(next(&mut ann, "said").await["text"], "during");
    // Silent past the response timeout: A counts Redis as lost.
    a.until("A sees Redis silent", |m| !m.backend_status().unwrap().up)
        .await;
    // Whether A had refused it already (it does once it counts Redis as
    // lost, and tells the sender): an error frame before the echo.
    ann.send(json!({"type": "echo", "text": "probe"})).await;
    let mut refused = 0;
    loop {
        let frame = ann.recv().await;
        match frame["type"].as_str() {
            Some("echo") => break,
            Some("error") => refused += 1,
            _ => panic!("unexpected {frame}"),
        }
    }
    redis.signal("CONT");
    up(&a).await;
    up(&b).await;

    ann.send(say("r", "after")).await;
    if refused == 0 {
        assert_eq!(next(&mut bob, "said").await["text"], "during");
    }
    assert_eq!(next(&mut bob, "said").await["text"], "after");
    let status = a.manager.backend_status().unwrap();
    assert_eq!(status.publish_failed, refused, "{status:?}");
}

/// A node on a runtime of its own, so that dropping the runtime kills it
/// outright: no cleanup runs, as when a process dies.
pub(crate) struct DoomedNode {
    addr: std::net::SocketAddr,
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl DoomedNode {
    pub(crate) fn start(redis: &Redis, prefix: &str) -> DoomedNode {
        let (url, prefix) = (redis.url.clone(), prefix.to_owned());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let redis = Redis::at(url);
                let server = node(&redis, &prefix).await;
                ready_tx.send(server.addr).unwrap();
            });
            let _ = stop_rx.recv();
            runtime.shutdown_background();
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the node started");
        DoomedNode { addr, stop, thread }
    }

    pub(crate) fn url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    pub(crate) fn kill(self) {
        self.stop.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

#[tokio::test]
async fn presence_counts_across_nodes_and_forgets_a_dead_node() {
    let redis = Redis::any();
    let prefix = prefix("presence");
    let a = node(&redis, &prefix).await;
    let doomed = DoomedNode::start(&redis, &prefix);
    let mut a1 = a.connect_as("alice").await;
    let mut a2 = a.connect().await;
    let mut b1 = Client::connect(&doomed.url("?user=alice")).await;
    let mut b2 = Client::connect(&doomed.url("")).await;
    join_all(&mut [&mut a1, &mut a2, &mut b1, &mut b2], "r").await;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let room = a.manager.cluster_room_size("r").await.unwrap();
        let alice = a.manager.cluster_user_connections("alice").await.unwrap();
        if (room, alice) == (4, 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "presence: room {room}, alice {alice}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.manager.cluster_room_size("nowhere").await.unwrap(), 0);

    // The node dies without a word; its presence lapses within the TTL (1 s).
    let died = Instant::now();
    doomed.kill();
    loop {
        let room = a.manager.cluster_room_size("r").await.unwrap();
        let alice = a.manager.cluster_user_connections("alice").await.unwrap();
        if (room, alice) == (2, 1) {
            break;
        }
        assert!(
            died.elapsed() < Duration::from_secs(5),
            "presence kept a dead node: room {room}, alice {alice}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((b1, b2));

    // An orderly shutdown withdraws the node's presence at once.
    let node = a.manager.backend_status().unwrap().node;
    let key = format!("{prefix}:{}:{{presence}}:{node}", Test::NAME);
    assert!(redis.exists(&key).await);
    a.manager.shutdown(Duration::from_secs(2)).await;
    assert!(!redis.exists(&key).await);
    assert!(!a.manager.backend_status().unwrap().up);
}

#[tokio::test]
async fn without_a_backend_a_manager_reports_none_and_counts_locally() {
    let server = Server::default().await;
    let _c = server.member("r").await;
    assert!(server.manager.backend_status().is_none());
    assert_eq!(server.manager.cluster_room_size("r").await.unwrap(), 1);
}

#[tokio::test]
async fn an_excluded_room_is_skipped_on_every_node() {
    let redis = Redis::any();
    let prefix = prefix("except-room");
    let nodes = three_nodes(&redis, &prefix).await;
    let mut clients = two_clients_each(&nodes).await;
    for client in &mut clients {
        client.join("r").await;
        client.sync().await;
    }
    // One spectator on each of the other nodes.
    for i in [3, 5] {
        clients[i].join("spectators").await;
        clients[i].sync().await;
    }
    redis
        .until_subscribers(&room_channel(&prefix, "r"), true, 3)
        .await;
    redis
        .until_subscribers(&room_channel(&prefix, "spectators"), true, 2)
        .await;

    let said = test::Said {
        room: "r".into(),
        text: "players only".into(),
        from: 0,
    };
    let sent = nodes[0]
        .manager
        .to_room("r")
        .except("spectators")
        .send(said);
    assert_eq!(sent.unwrap().queued, 2);
    for i in [0, 1, 2, 4] {
        assert_eq!(next(&mut clients[i], "said").await["text"], "players only");
    }
    all_quiet(&redis, &prefix, &nodes, &mut clients).await;
}

#[tokio::test]
async fn closing_a_user_closes_its_connections_on_every_node() {
    let redis = Redis::any();
    let prefix = prefix("close-user");
    let nodes = three_nodes(&redis, &prefix).await;
    let mut alice_a = nodes[0].connect_as("alice").await;
    let mut alice_b = nodes[1].connect_as("alice").await;
    let mut bob = nodes[1].connect_as("bob").await;
    // A client on the closing node, so that every node hears `all`.
    let mut carol = nodes[2].connect_as("carol").await;
    redis
        .until_subscribers(&user_channel(&prefix, "alice"), true, 2)
        .await;

    // From a node without any of alice's connections.
    let closed = nodes[2].manager.to_user("alice").close(4001, "banned");
    assert_eq!(closed.unwrap(), 0);
    for alice in [&mut alice_a, &mut alice_b] {
        assert_eq!(alice.closed().await, (4001, "banned".into()));
    }
    for node in &nodes[..2] {
        node.until("alice is gone", |m| m.user_connections("alice") == 0)
            .await;
    }
    let nodes: Vec<&Server> = nodes.iter().collect();
    quiet_everywhere(&redis, &prefix, &nodes[1..], &mut [&mut bob, &mut carol]).await;
}

/// The harness's `TestPrefix` (issue 24): what a test's nodes write under
/// it is gone once it is dropped, so tests that share a Redis leave nothing
/// behind.
#[tokio::test]
async fn a_test_prefix_leaves_no_key_behind() {
    let redis = Redis::own();
    let keys = ws_core::testing::TestPrefix::new(redis.url());
    let prefix = keys.as_str().to_owned();
    let backend = keys.backend().unwrap();
    let server = Server::with_manager(Manager::<Test>::builder().backend(backend).build()).await;
    up(&server).await;
    let mut ann = server.connect_as("ann").await;
    ann.join("lobby").await;
    crate::support::eventually("presence written under the prefix", || {
        keys.keys().is_ok_and(|keys| !keys.is_empty())
    })
    .await;
    drop(ann);
    drop(server);
    drop(keys);
    let pattern = format!("{prefix}:*");
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    let (_, found): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg(&pattern)
        .arg("COUNT")
        .arg(10_000)
        .query(&mut connection)
        .unwrap();
    assert_eq!(found, Vec::<String>::new(), "keys left under {prefix}");
}

/// A joiner is in `Manager::presence` as soon as its join is registered:
/// the node answers for its own users rather than reading back its copy in
/// Redis, which the control task writes a round trip later.
#[tokio::test]
async fn a_joiner_is_in_the_cluster_presence_as_soon_as_it_joined() {
    let redis = Redis::own();
    let prefix = prefix("presence-at-once");
    let (a, b) = (node(&redis, &prefix).await, node(&redis, &prefix).await);
    up(&a).await;
    up(&b).await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        let user = format!("u{i}");
        let mut client = server.connect_as(&user).await;
        client.join("r").await;
        // Asked the moment the join is registered, before the node had a
        // turn to write it to Redis.
        while server.manager.room_size("r") < i / 2 + 1 {
            tokio::task::yield_now().await;
        }
        let page = server.manager.presence("r").await.unwrap();
        assert!(
            page.users.iter().any(|p| p.user.as_str() == user),
            "{user} missing from {page:?}"
        );
        clients.push(client);
    }
}
