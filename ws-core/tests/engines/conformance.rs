//! The engine conformance suite: one set of test bodies, each the contract
//! of `backend/engine.rs` seen from clients on real sockets, run against
//! every engine. An engine is one more [`Kind`], its
//! [`Engine::backend`] and [`Engine::listening`], and one more line in the
//! `conformance!` list at the bottom.
//!
//! Engines: Redis (one `redis-server`, classic and sharded pub/sub) and
//! Redis Cluster (the process's shared cluster of three masters and three
//! replicas, see [`crate::support::redis_cluster`]), and NATS JetStream
//! (the process's own `nats-server`, whose monitoring tells who subscribes,
//! see [`Nats::monitored`]). Each test runs under a prefix of its own, so
//! the tests of one engine share its servers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ws_core::{Backend, Manager, Protocol, PubSubMode, RedisBackend};

use crate::cluster::{in_order, join_all, markers, next, send_numbers, whisper_twice};
use crate::nats::Nats;
use crate::support::chat::{Chat, serve};
use crate::support::history::{assert_said, join};
use crate::support::redis::{Redis, prefix};
use crate::support::redis_cluster::RedisCluster;
use crate::support::{Client, Server, Test};

/// The engines under test.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Redis(PubSubMode),
    RedisCluster,
    Nats,
}

/// What a node listens to, for [`Engine::listening`].
pub enum Listen<'a> {
    Room(&'a str),
    User(&'a str),
    All,
}

/// One test's view of an engine: its servers and the test's name space.
pub struct Engine {
    pub kind: Kind,
    pub prefix: String,
    redis: Option<Redis>,
    nats: Option<Nats>,
}

impl Engine {
    pub fn new(kind: Kind, test: &str) -> Engine {
        let (mut redis, mut nats) = (None, None);
        match kind {
            Kind::Redis(_) => redis = Some(Redis::any()),
            Kind::RedisCluster => {
                RedisCluster::shared();
            }
            Kind::Nats => nats = Some(Nats::monitored(test)),
        }
        let prefix = match &nats {
            // Subjects and stream names: no `-`.
            Some(nats) => nats.prefix.clone(),
            None => prefix(test),
        };
        Engine {
            kind,
            prefix,
            redis,
            nats,
        }
    }

    /// The engine's backend for a node, with a presence TTL of 1 s and
    /// quick reconnections.
    pub fn backend(&self) -> Backend {
        let backend = match self.kind {
            Kind::Redis(mode) => RedisBackend::new(self.redis.as_ref().unwrap().url())
                .unwrap()
                .pubsub(mode),
            Kind::RedisCluster => {
                let urls = RedisCluster::shared().urls();
                let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
                RedisBackend::cluster(&urls).unwrap()
            }
            // Its prefix, a presence TTL of 1 s, quick reconnections.
            Kind::Nats => return self.nats.as_ref().unwrap().backend().into(),
        };
        backend
            .prefix(&self.prefix)
            .presence_ttl(Duration::from_secs(1))
            .response_timeout(Duration::from_millis(500))
            .reconnect_max(Duration::from_millis(300))
            .into()
    }

    /// Waits until `n` nodes listen to `what` of `protocol`: what is sent
    /// from then on reaches all of them.
    pub async fn listening(&self, protocol: &str, what: Listen<'_>, n: usize) {
        if let Kind::Nats = self.kind {
            return self.nats_listening(protocol, what, n).await;
        }
        let channel = match what {
            Listen::Room(room) => format!("{}:{protocol}:room:{{{room}}}", self.prefix),
            Listen::User(user) => format!("{}:{protocol}:user:{{{user}}}", self.prefix),
            Listen::All => format!("{}:{protocol}:all", self.prefix),
        };
        match self.kind {
            Kind::Redis(mode) => {
                let sharded = mode != PubSubMode::Classic;
                let redis = self.redis.as_ref().unwrap();
                redis.until_subscribers(&channel, sharded, n).await;
            }
            Kind::Nats => unreachable!(),
            Kind::RedisCluster => {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let now = RedisCluster::shared().shard_subscribers(&channel);
                    if now == n {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{channel}: {now} of {n} listen");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// [`Engine::listening`] on NATS: the subject's subscribers, as the
    /// server's monitoring says.
    async fn nats_listening(&self, protocol: &str, what: Listen<'_>, n: usize) {
        use base64::Engine as _;
        let token = |name: &str| {
            format!(
                "_{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
            )
        };
        let subject = match what {
            Listen::Room(room) => format!("{}.{protocol}.room.{}", self.prefix, token(room)),
            Listen::User(user) => format!("{}.{protocol}.user.{}", self.prefix, token(user)),
            Listen::All => format!("{}.{protocol}.all", self.prefix),
        };
        let nats = self.nats.as_ref().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = nats.subscribers(&subject).await;
            if now == n {
                break;
            }
            assert!(Instant::now() < deadline, "{subject}: {now} of {n} listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// On a cluster, asserts that the channels of `rooms` of `protocol`
    /// are served by more than one master: the tests of a room span the
    /// cluster.
    pub fn assert_spread(&self, protocol: &str, rooms: &[&str]) {
        if let Kind::RedisCluster = self.kind {
            let cluster = RedisCluster::shared();
            let mut masters: Vec<u16> = rooms
                .iter()
                .map(|room| {
                    cluster.master_of(&format!("{}:{protocol}:room:{{{room}}}", self.prefix))
                })
                .collect();
            masters.sort_unstable();
            masters.dedup();
            assert!(masters.len() > 1, "{rooms:?} all on one master");
        }
    }

    /// A node of the test protocol, once its backend is up.
    pub async fn node(&self) -> Server {
        let manager = Manager::<Test>::builder()
            .send_queue(4096)
            .backend(self.backend())
            .build();
        let server = Server::with_manager(manager).await;
        until_up(|| server.manager.backend_status().unwrap().up).await;
        server
    }

    /// A chat node (history of 1,000 messages per room), once its backend
    /// is up.
    pub async fn chat(&self) -> (SocketAddr, Manager<Chat>) {
        let node = serve(|b| b.backend(self.backend())).await;
        until_up(|| node.1.backend_status().unwrap().up).await;
        node
    }

    /// A node of the test protocol in a runtime of its own, to be killed
    /// without a word (by dropping it).
    pub async fn doomed(&self) -> Doomed {
        let runtime = crate::model::engine::own_runtime();
        let backend = self.backend();
        let server = runtime
            .spawn(async move {
                let manager = Manager::<Test>::builder().backend(backend).build();
                Server::with_manager(manager).await
            })
            .await
            .unwrap();
        until_up(|| server.manager.backend_status().unwrap().up).await;
        Doomed {
            server,
            runtime: Some(runtime),
        }
    }
}

async fn until_up(up: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !up() {
        assert!(Instant::now() < deadline, "the backend is not up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A node whose every task goes at once when it is dropped, as a SIGKILL
/// would: nothing of it runs again, nothing is said to anyone.
pub struct Doomed {
    pub server: Server,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Doomed {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn say(room: &str, text: &str) -> Value {
    json!({"type": "say", "room": room, "text": text})
}

/// Asserts that nothing more reaches `clients` from `nodes`, by completed
/// work: each node broadcasts a marker to everyone (each node must have a
/// client), and whatever a node sent earlier arrives before its marker.
async fn quiet(engine: &Engine, nodes: &[&Server], clients: &mut [&mut Client]) {
    engine.listening(Test::NAME, Listen::All, nodes.len()).await;
    markers(nodes, clients).await;
}

/// Rooms whose channels hash to different slots: on a cluster, to
/// different masters (of three, two of four names cannot share one).
const ROOMS: [&str; 4] = ["red", "green", "blue", "amber"];

pub async fn room_fan_out_reaches_each_member_once(engine: Engine) {
    engine.assert_spread(Test::NAME, &ROOMS);
    let (a, b) = (engine.node().await, engine.node().await);
    for room in ROOMS {
        let (mut a1, mut a2) = (a.connect().await, a.connect().await);
        let (mut b1, mut outsider) = (b.connect().await, b.connect().await);
        join_all(&mut [&mut a1, &mut a2, &mut b1], room).await;
        engine.listening(Test::NAME, Listen::Room(room), 2).await;
        a1.send(say(room, "from a")).await;
        b1.send(say(room, "from b")).await;
        for client in [&mut a1, &mut a2, &mut b1] {
            let mut texts = vec![
                next(client, "said").await["text"].clone(),
                next(client, "said").await["text"].clone(),
            ];
            texts.sort_by_key(|t| t.to_string());
            assert_eq!(texts, [json!("from a"), json!("from b")], "{room}");
        }
        quiet(
            &engine,
            &[&a, &b],
            &mut [&mut a1, &mut a2, &mut b1, &mut outsider],
        )
        .await;
    }
}

pub async fn except_skips_only_the_sender(engine: Engine) {
    let nodes = [
        engine.node().await,
        engine.node().await,
        engine.node().await,
    ];
    let mut clients = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            let mut client = node.connect().await;
            client.join_synced("r").await;
            clients.push(client);
        }
    }
    engine.listening(Test::NAME, Listen::Room("r"), 3).await;
    clients[0]
        .send(json!({"type": "shout", "room": "r", "text": "others"}))
        .await;
    for client in &mut clients[1..] {
        assert_eq!(next(client, "said").await["text"], "others");
    }
    let nodes: Vec<&Server> = nodes.iter().collect();
    let mut clients: Vec<&mut Client> = clients.iter_mut().collect();
    quiet(&engine, &nodes, &mut clients).await;
}

pub async fn a_user_and_everyone_span_the_nodes(engine: Engine) {
    let nodes = [
        engine.node().await,
        engine.node().await,
        engine.node().await,
    ];
    let mut alice_a = nodes[0].connect_as("alice").await;
    let mut alice_b = nodes[1].connect_as("alice").await;
    let mut bob = nodes[2].connect_as("bob").await;
    engine.listening(Test::NAME, Listen::User("alice"), 2).await;
    whisper_twice(&mut bob, [&mut alice_a, &mut alice_b]).await;
    engine.listening(Test::NAME, Listen::All, 3).await;
    alice_b
        .send(json!({"type": "announce", "text": "everyone"}))
        .await;
    for client in [&mut alice_a, &mut alice_b, &mut bob] {
        assert_eq!(next(client, "said").await["text"], "everyone");
    }
    let nodes: Vec<&Server> = nodes.iter().collect();
    quiet(&engine, &nodes, &mut [&mut alice_a, &mut alice_b, &mut bob]).await;
}

pub async fn each_senders_messages_arrive_in_order(engine: Engine) {
    const N: usize = 200;
    let nodes = [
        engine.node().await,
        engine.node().await,
        engine.node().await,
    ];
    let (mut s1, mut s2) = (nodes[0].connect().await, nodes[1].connect().await);
    let mut reader = nodes[2].connect().await;
    join_all(&mut [&mut s1, &mut s2, &mut reader], "r").await;
    engine.listening(Test::NAME, Listen::Room("r"), 3).await;
    let senders = send_numbers([s1, s2], N);
    in_order(&mut reader, N).await;
    for sender in senders {
        sender.await.unwrap();
    }
}

/// A kick (a close frame to a user) from one node closes the user's
/// connections on the others.
pub async fn a_close_crosses_the_nodes(engine: Engine) {
    let (a, b) = (engine.node().await, engine.node().await);
    let mut alice = b.connect_as("alice").await;
    engine.listening(Test::NAME, Listen::User("alice"), 1).await;
    a.manager.to_user("alice").close(4003, "kicked").unwrap();
    assert_eq!(alice.closed().await, (4003, "kicked".to_owned()));
}

/// Offsets grow by exactly 1 per message whichever node records it, the
/// epoch is one across the nodes, and a resume from any position on the
/// other node replays what follows it, no gap, no repeat, then goes on live.
pub async fn history_offsets_and_resume_across_nodes(engine: Engine) {
    engine.assert_spread(Chat::NAME, &ROOMS);
    let (a, b) = (engine.chat().await, engine.chat().await);
    for room in ROOMS {
        let (mut on_a, joined_a) = join(a.0, room, None).await;
        let (mut on_b, joined_b) = join(b.0, room, None).await;
        let epoch = joined_a["epoch"].as_str().unwrap().to_owned();
        assert_eq!(
            joined_b["epoch"], epoch,
            "{room}: one epoch across the nodes"
        );
        assert_eq!(
            (joined_a["offset"].as_u64(), joined_b["offset"].as_u64()),
            (Some(0), Some(0))
        );
        // Both nodes record, one after the other (the texts count up).
        for n in 0..20u64 {
            let from = if n % 2 == 0 { &mut on_a } else { &mut on_b };
            from.send(json!({"type": "say", "room": room, "text": n.to_string()}))
                .await;
            for client in [&mut on_a, &mut on_b] {
                let said = next(client, "said").await;
                assert_said(&said, &epoch, n + 1);
            }
        }
        // From the middle, on the other node than the one it joined on.
        let (mut resumed, joined) = join(a.0, room, Some((&epoch, 7))).await;
        assert_eq!(joined["recovered"], true, "{joined}");
        assert_eq!(joined["offset"], 20);
        for offset in 8..=20 {
            assert_said(&next(&mut resumed, "said").await, &epoch, offset);
        }
        on_b.send(json!({"type": "say", "room": room, "text": "20"}))
            .await;
        assert_said(&next(&mut resumed, "said").await, &epoch, 21);
        // A position of another history is told so.
        let (_, stale) = join(b.0, room, Some(("0123456789abcdef", 3))).await;
        assert_eq!(stale["recovered"], false, "{stale}");
    }
}

/// Who is in a room sums the nodes; a node killed without a word drops
/// out within the presence TTL (1 s here).
pub async fn presence_spans_the_nodes_and_a_dead_node_leaves_it(engine: Engine) {
    let a = engine.node().await;
    let b = engine.doomed().await;
    let mut alice = a.connect_as("alice").await;
    alice.join_synced("r").await;
    let mut bob = Client::connect(&b.server.url("?user=bob")).await;
    bob.join_synced("r").await;
    let users = |page: &ws_core::presence::Presence| {
        page.users
            .iter()
            .map(|p| p.user.to_string())
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = a.manager.presence("r").await.unwrap();
        if users(&page) == ["alice", "bob"] {
            break;
        }
        assert!(Instant::now() < deadline, "presence: {:?}", users(&page));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Instant::now();
    drop(b); // killed
    loop {
        let page = a.manager.presence("r").await.unwrap();
        if users(&page) == ["alice"] {
            break;
        }
        // The TTL, and generous slack for a loaded machine.
        assert!(
            killed.elapsed() < Duration::from_secs(6),
            "kept a dead node: {:?}",
            users(&page)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(bob);
}

/// The suite's tests for each engine, one module per engine.
macro_rules! conformance {
    ($($engine:ident: $kind:expr;)*) => {$(
        mod $engine {
            use super::*;
            conformance!(@tests $kind;
                room_fan_out_reaches_each_member_once,
                except_skips_only_the_sender,
                a_user_and_everyone_span_the_nodes,
                each_senders_messages_arrive_in_order,
                a_close_crosses_the_nodes,
                history_offsets_and_resume_across_nodes,
                presence_spans_the_nodes_and_a_dead_node_leaves_it
            );
        }
    )*};
    (@tests $kind:expr; $($test:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            super::$test(Engine::new($kind, stringify!($test))).await;
        }
    )*};
}

conformance! {
    redis_classic: Kind::Redis(PubSubMode::Classic);
    redis_sharded: Kind::Redis(PubSubMode::Sharded);
    redis_cluster: Kind::RedisCluster;
    nats: Kind::Nats;
}
