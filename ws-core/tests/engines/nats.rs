//! Several nodes sharing one NATS JetStream: each node a manager with the
//! NATS backend, its own axum server and its own clients, in one test
//! process. The NATS is the one at `NATS_URL` (default
//! `nats://127.0.0.1:4222`, started with `-js`), each test under a prefix
//! of its own whose streams and bucket it removes at the end; the restart
//! test starts a `nats-server -js` of its own on a free port.
//!
//! The bodies take a [`Nats`] and make their nodes from it, so that a
//! suite parameterised by engine can call them as they are. What every
//! engine must do (a user's and everyone's fan-out, `except`, ...) is the
//! conformance suite's, NATS included; here is what NATS checks beyond
//! it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ws_core::{Manager, NatsBackend};

use crate::cluster::{join_all, markers, next, say};
use crate::support::chat::protocol::chat::Said;
use crate::support::chat::{Chat, serve};
use crate::support::history::{assert_said, cut, join};
use crate::support::redis::prefix;
use crate::support::redis_cluster::free_port;
use crate::support::{Client, Server, Test};

/// A NATS for one test, under a prefix of its own: the shared one, or a
/// `nats-server` of the test's own (killed when dropped). Dropped, it
/// removes the prefix's streams and bucket.
pub struct Nats {
    pub url: String,
    pub prefix: String,
    own: Option<(Child, u16, PathBuf)>,
    /// The monitoring port, on [`Nats::monitored`].
    monitor: Option<u16>,
}

/// The process's monitored `nats-server`: its client and monitoring ports.
/// Both processes live as long as the test process.
struct Monitored {
    port: u16,
    monitor: u16,
    _server: Child,
    _watchdog: Child,
}

impl Nats {
    /// The NATS at `NATS_URL`, or at 127.0.0.1:4222.
    pub fn shared(name: &str) -> Nats {
        let url = std::env::var("NATS_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
        Nats {
            url,
            prefix: prefix(name).replace('-', "_"),
            own: None,
            monitor: None,
        }
    }

    /// One `nats-server -js` for every test of the process that asks
    /// (started by the first), with its monitoring port open: who
    /// subscribes to a subject is asked of it ([`Nats::subscribers`]).
    /// The store and the server go with the process.
    pub fn monitored(name: &str) -> Nats {
        static SHARED: std::sync::OnceLock<Monitored> = std::sync::OnceLock::new();
        let server = SHARED.get_or_init(|| {
            let (port, monitor) = (free_port(), free_port());
            let store = std::env::temp_dir().join(format!("ws-nats-{}-{port}", std::process::id()));
            let child = Self::spawn(port, &store, Some(monitor));
            // A static is never dropped: should this process end, the
            // server and its store go with it.
            let script = format!(
                "while kill -0 {} 2>/dev/null; do sleep 0.5; done; kill -9 {} 2>/dev/null; rm -rf '{}'",
                std::process::id(),
                child.id(),
                store.display()
            );
            let watchdog = Command::new("sh")
                .args(["-c", &script])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("a watchdog for nats-server");
            Monitored {
                port,
                monitor,
                _server: child,
                _watchdog: watchdog,
            }
        });
        Nats {
            url: format!("nats://127.0.0.1:{}", server.port),
            prefix: prefix(name).replace('-', "_"),
            own: None,
            monitor: Some(server.monitor),
        }
    }

    /// How many connections (nodes: one each) subscribe to `subject` now,
    /// as the server's monitoring (`/connz?subs=1`) says.
    pub async fn subscribers(&self, subject: &str) -> usize {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let port = self.monitor.expect("a monitored nats-server");
        let mut http = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        http.write_all(b"GET /connz?subs=1&limit=100000 HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        http.read_to_string(&mut response).await.unwrap();
        let (_, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let connz: Value = serde_json::from_str(body).unwrap();
        connz["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|connection| {
                connection["subscriptions_list"]
                    .as_array()
                    .is_some_and(|subs| subs.iter().any(|s| s == subject))
            })
            .count()
    }

    /// A `nats-server -js` of our own on a free port, its store in a
    /// fresh folder (kept across [`Nats::restart`]).
    pub fn own(name: &str) -> Nats {
        let port = free_port();
        let store = std::env::temp_dir().join(format!("ws-nats-{}-{port}", std::process::id()));
        let mut nats = Nats {
            url: format!("nats://127.0.0.1:{port}"),
            prefix: prefix(name).replace('-', "_"),
            own: None,
            monitor: None,
        };
        nats.own = Some((Self::spawn(port, &store, None), port, store));
        nats
    }

    fn spawn(port: u16, store: &std::path::Path, monitor: Option<u16>) -> Child {
        let mut command = Command::new("nats-server");
        command
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store);
        if let Some(monitor) = monitor {
            command.args(["-m", &monitor.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("this test needs nats-server (Debian: apt-get install nats-server)");
        // Listening once a TCP connection is accepted (at most 10 s).
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Stops our server (a SIGKILL) and starts it again on the same port
    /// and store.
    pub fn restart(&mut self) {
        let (child, port, store) = self.own.as_mut().expect("a nats-server of our own");
        let _ = child.kill();
        let _ = child.wait();
        *child = Self::spawn(*port, store, None);
    }

    pub fn backend(&self) -> NatsBackend {
        NatsBackend::new(&self.url)
            .unwrap()
            .prefix(self.prefix.as_str())
            .presence_ttl(Duration::from_secs(1))
            .response_timeout(Duration::from_millis(500))
            .reconnect_max(Duration::from_millis(200))
    }

    /// Removes the prefix's streams and bucket.
    async fn clean(url: String, prefix: String) -> Result<(), async_nats::Error> {
        use futures_util::TryStreamExt;
        let client = async_nats::connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let names: Vec<String> = js.stream_names().try_collect().await?;
        // The histories, and the presence bucket's stream.
        let ours = |name: &&String| {
            name.starts_with(&format!("{prefix}_")) || name.starts_with(&format!("KV_{prefix}_"))
        };
        for name in names.iter().filter(ours) {
            js.delete_stream(name).await?;
        }
        Ok(())
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some((mut child, _, store)) = self.own.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(store);
            return;
        }
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // Drop may run inside a runtime: the clean-up gets one of its own.
        let cleaned = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    tokio::time::timeout(Duration::from_secs(10), Nats::clean(url, prefix)).await
                })
        })
        .join();
        if !matches!(cleaned, Ok(Ok(Ok(())))) {
            eprintln!("the streams under `{}` stay in NATS", self.prefix);
        }
    }
}

/// A node of the `Test` protocol on `nats`, once its backend is up.
async fn node(nats: &Nats) -> Server {
    node_with(nats.backend()).await
}

async fn node_with(backend: NatsBackend) -> Server {
    let manager = Manager::<Test>::builder()
        .send_queue(4096)
        .backend(backend)
        .build();
    let server = Server::with_manager(manager).await;
    server
        .until("the backend is up", |m| m.backend_status().unwrap().up)
        .await;
    server
}

/// A node in a runtime of its own, so that shutting the runtime down
/// ends every task of the node at once, as a SIGKILL would: nothing is
/// withdrawn, nobody is told.
fn node_in_own_runtime(nats: &Nats) -> (tokio::runtime::Runtime, Server) {
    let backend = nats.backend();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(node_with(backend));
        (runtime, server)
    })
    .join()
    .unwrap()
}

/// Waits until every node listens to `channels` channels (confirmed by the
/// server: the count is set after a round trip).
async fn until_listening(nodes: &[&Server], channels: usize) {
    for node in nodes {
        node.until("the node listens", |m| {
            m.backend_status().unwrap().channels == channels
        })
        .await;
    }
}

pub async fn room_fan_out_reaches_each_member_once(nats: &Nats) {
    let (a, b) = (node(nats).await, node(nats).await);
    let (mut a1, mut a2) = (a.connect().await, a.connect().await);
    let (mut b1, mut b_outsider) = (b.connect().await, b.connect().await);
    join_all(&mut [&mut a1, &mut a2, &mut b1], "r.*> é").await;
    // The room and `all` on each node.
    until_listening(&[&a, &b], 2).await;

    a1.send(say("r.*> é", "from a")).await;
    b1.send(say("r.*> é", "from b")).await;
    for client in [&mut a1, &mut a2, &mut b1] {
        let mut texts = vec![
            next(client, "said").await["text"].clone(),
            next(client, "said").await["text"].clone(),
        ];
        texts.sort_by_key(|t| t.to_string());
        assert_eq!(texts, [json!("from a"), json!("from b")]);
    }
    markers(&[&a, &b], &mut [&mut a1, &mut a2, &mut b1, &mut b_outsider]).await;
    let (sa, sb) = (
        a.manager.backend_status().unwrap(),
        b.manager.backend_status().unwrap(),
    );
    // One `said` and one marker each, and each got the other's two.
    assert_eq!((sa.published, sb.published), (2, 2));
    assert_eq!((sa.received, sb.received), (2, 2));
    assert_eq!(sa.publish_failed + sb.publish_failed, 0);
}

pub async fn presence_and_close_span_the_nodes(nats: &Nats) {
    let a = node(nats).await;
    let (b_runtime, b) = node_in_own_runtime(nats);
    let mut tabs = [
        a.connect_as("alice").await,
        a.connect_as("alice").await,
        b.connect_as("alice").await,
        b.connect_as("bob").await,
    ];
    let [t0, t1, t2, t3] = &mut tabs;
    join_all(&mut [t0, t1, t2, t3], "r").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = a.manager.presence("r").await;
        let seen: Option<Vec<(String, usize)>> = page.as_ref().ok().map(|page| {
            page.users
                .iter()
                .map(|p| (p.user.to_string(), p.connections))
                .collect()
        });
        let size = a.manager.cluster_room_size("r").await.ok();
        let alice = b.manager.cluster_user_connections("alice").await.ok();
        if seen == Some(vec![("alice".to_owned(), 3), ("bob".to_owned(), 1)])
            && size == Some(4)
            && alice == Some(3)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "presence did not settle: {page:?} {size:?} {alice:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A close of a user from node B reaches alice's tabs on node A.
    b.manager
        .to_user("alice")
        .close(4001, "kicked by the host")
        .unwrap();
    let [t0, t1, t2, t3] = &mut tabs;
    for tab in [t0, t1, t2] {
        assert_eq!(tab.closed().await, (4001, "kicked by the host".to_owned()));
    }
    t3.sync().await;

    // A node that goes without a word (its tasks stop, nothing withdrawn)
    // leaves the counts within the presence TTL.
    b_runtime.shutdown_background();
    // Its manager belonged to the runtime that is gone.
    std::mem::forget(b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.manager.cluster_room_size("r").await.ok() != Some(0) {
        assert!(
            Instant::now() < deadline,
            "node B's presence did not age out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A chat node (history on) on `nats`, once its backend is up.
async fn chat_node(nats: &Nats) -> (SocketAddr, Manager<Chat>) {
    let backend = nats.backend();
    let node = serve(|b| b.backend(backend)).await;
    until_up(&node.1, true).await;
    node
}

async fn until_up(manager: &Manager<Chat>, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while manager.backend_status().unwrap().up != up {
        assert!(Instant::now() < deadline, "the backend is not up={up}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Says `n` numbers in `lobby` from `client`, counting them in `said`.
async fn say_numbers(client: &mut Client, said: &mut u64, n: u64) {
    for _ in 0..n {
        client
            .send(json!({"type": "say", "room": "lobby", "text": said.to_string()}))
            .await;
        *said += 1;
    }
}

pub async fn history_is_recorded_once_and_resumed_on_the_other_node(nats: &Nats) {
    let nodes = [chat_node(nats).await, chat_node(nats).await];
    let (mut ann, joined) = join(nodes[0].0, "lobby", None).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    assert_eq!(joined["offset"], 0, "{joined}");
    let (mut bob, joined) = join(nodes[1].0, "lobby", None).await;
    assert_eq!(
        joined["epoch"],
        epoch.as_str(),
        "one history for both nodes"
    );

    // Both nodes record; each member sees every offset once, in order.
    let mut said = 0;
    say_numbers(&mut ann, &mut said, 5).await;
    for offset in 1..=5 {
        assert_said(&ann.recv().await, &epoch, offset);
        assert_said(&bob.recv().await, &epoch, offset);
    }
    say_numbers(&mut bob, &mut said, 5).await;
    for offset in 6..=10 {
        assert_said(&ann.recv().await, &epoch, offset);
        assert_said(&bob.recv().await, &epoch, offset);
    }

    // Cut at 4, resumed on the other node: the rest, then live.
    cut(bob);
    let (mut bob, joined) = join(nodes[0].0, "lobby", Some((&epoch, 4))).await;
    assert_eq!(
        (&joined["recovered"], &joined["epoch"], &joined["offset"]),
        (&json!(true), &json!(epoch), &json!(10)),
        "{joined}"
    );
    for offset in 5..=10 {
        assert_said(&bob.recv().await, &epoch, offset);
    }
    say_numbers(&mut ann, &mut said, 1).await;
    assert_said(&bob.recv().await, &epoch, 11);
    assert_said(&ann.recv().await, &epoch, 11);

    // A position the history never reached, or of another epoch.
    let (_, joined) = join(nodes[1].0, "lobby", Some((&epoch, 99))).await;
    assert_eq!(joined["recovered"], false, "{joined}");
    assert_eq!(joined["reason"], "epoch_changed", "{joined}");
}

/// Issue 10's test 2 on NATS: 2,000 messages at about 1,000/s from node A,
/// a subscriber cut 8 times and resuming on the other node each time: every
/// message once, in order.
pub async fn a_subscriber_resuming_on_the_other_node_gets_every_message(nats: &Nats) {
    let nodes = [chat_node(nats).await, chat_node(nats).await];
    crate::history_cluster::resume_across(&nodes).await;
}

/// Issue 25: NATS restarts (SIGKILL, then up again on its store) while
/// node A records a message every 2 ms and a subscriber follows on node
/// B. The nodes reconnect by themselves. Whatever the subscriber sees is
/// truthful: within an epoch the offsets follow each other; a close is
/// followed by a resume on the other node that is either recovered (and
/// goes on from the next offset) or not, with a reason. Never a silent
/// gap.
pub async fn a_nats_restart_leaves_resumes_truthful(nats: &mut Nats) {
    const MESSAGES: u64 = 600;
    let nodes = [chat_node(nats).await, chat_node(nats).await];
    let (_ann, _) = join(nodes[0].0, "lobby", None).await;
    let (mut bob, joined) = join(nodes[1].0, "lobby", None).await;
    let mut epoch = joined["epoch"].as_str().unwrap().to_owned();
    let mut last = 0;
    let (a, b) = (nodes[0].1.clone(), nodes[1].1.clone());
    let said = |text: String| Said {
        room: "lobby".into(),
        text,
        from: "a".into(),
    };
    let publisher = tokio::spawn(async move {
        for n in 0..MESSAGES {
            // Refused while NATS is away: the sender is told.
            let _ = a.to_room("lobby").send(said(n.to_string()));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Once both nodes are back: a last message, which must arrive.
        until_up(&a, true).await;
        until_up(&b, true).await;
        a.to_room("lobby").send(said("end".into())).unwrap();
    });
    let (mut on, mut restarted, mut resumes) = (1, false, 0);
    let mut ended = false;
    while !ended {
        let frame = bob.next_frame("a said or a close").await;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                // Interrupted (1013) or cut by the restart: resumed on the
                // other node from the last offset seen.
                on = 1 - on;
                resumes += 1;
                let (resumed, joined) = join(nodes[on].0, "lobby", Some((&epoch, last))).await;
                if joined["recovered"] != true {
                    assert!(joined["reason"].is_string(), "a reason: {joined}");
                    epoch = joined["epoch"].as_str().unwrap().to_owned();
                    last = joined["offset"].as_u64().unwrap();
                } else {
                    assert_eq!(joined["epoch"], epoch.as_str(), "{joined}");
                }
                bob = resumed;
                continue;
            }
            Some(Ok(_)) => continue,
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["type"] != "said" {
            continue;
        }
        let offset = message["offset"].as_u64().unwrap();
        if message["epoch"] == epoch.as_str() {
            assert_eq!(offset, last + 1, "a gap or a duplicate: {message}");
        } else {
            // A new history, told in band: it is the message's own epoch.
            epoch = message["epoch"].as_str().unwrap().to_owned();
        }
        last = offset;
        if !restarted && offset == 100 {
            nats.restart();
            restarted = true;
        }
        ended = message["text"] == "end";
    }
    assert!(restarted);
    publisher.await.unwrap();
    // Bob was on node B when NATS went away: his feed was interrupted.
    assert!(resumes >= 1);
}

#[tokio::test]
async fn nats_room_fan_out_reaches_each_member_once() {
    room_fan_out_reaches_each_member_once(&Nats::shared("nats-room")).await;
}

#[tokio::test]
async fn nats_presence_and_close_span_the_nodes() {
    presence_and_close_span_the_nodes(&Nats::shared("nats-presence")).await;
}

#[tokio::test]
async fn nats_history_is_recorded_once_and_resumed_on_the_other_node() {
    history_is_recorded_once_and_resumed_on_the_other_node(&Nats::shared("nats-history")).await;
}

#[tokio::test]
async fn nats_a_subscriber_resuming_on_the_other_node_gets_every_message() {
    a_subscriber_resuming_on_the_other_node_gets_every_message(&Nats::shared("nats-resume")).await;
}

#[tokio::test]
async fn nats_restart_leaves_resumes_truthful() {
    a_nats_restart_leaves_resumes_truthful(&mut Nats::own("nats-restart")).await;
}
