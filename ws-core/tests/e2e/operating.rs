//! The chat example as an operator runs it: `/metrics` in the Prometheus
//! format with every documented name, `/health`, and logs that say when the
//! Redis backend is down and when it is back. The real binary, on real
//! sockets.

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};
use tokio::time::timeout;
use ws_core::axum::body::Body;
use ws_core::axum::http::{Request, StatusCode};
use ws_core::telemetry::metric;

use crate::cluster::Redis;
use crate::config::chat_example;
use crate::support::{Client, WAIT};

/// The chat example on 127.0.0.1:0 with `args`; killed when dropped.
pub(crate) struct Chat {
    child: Child,
    pub(crate) addr: SocketAddr,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Chat {
    pub(crate) async fn start(args: &[&str]) -> Chat {
        let mut child = Command::new(chat_example())
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run the chat example");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = timeout(WAIT, stdout.next_line())
            .await
            .expect("the chat example did not start within the wait")
            .unwrap()
            .expect("the chat example exited before listening");
        let addr = line
            .strip_prefix("chat listening on http://")
            .or_else(|| line.strip_prefix("chat listening on https://"))
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .parse()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        Chat {
            child,
            addr,
            stderr,
        }
    }

    /// The next log line that contains `needle`; fails after [`WAIT`].
    async fn log_line(&mut self, needle: &str) -> String {
        let search = async {
            while let Some(line) = self.stderr.next_line().await.unwrap() {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("the chat example's log ended without `{needle}`");
        };
        timeout(WAIT, search)
            .await
            .unwrap_or_else(|_| panic!("no log line with `{needle}` within {WAIT:?}"))
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(connection);
            let request = Request::get(path)
                .header("host", self.addr.to_string())
                .body(Body::empty())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let status = response.status();
            let body = ws_core::axum::body::to_bytes(Body::new(response.into_body()), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        };
        timeout(WAIT, exchange)
            .await
            .expect("no HTTP answer within the wait")
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn metrics_and_health_of_the_chat_example() {
    let chat = Chat::start(&[]).await;
    // Traffic, so that every counter and histogram has a sample.
    let mut ann = Client::connect(&format!("ws://{}/ws?user=ann", chat.addr)).await;
    ann.send(json!({"type": "join", "room": "r"})).await;
    // The example answers a join with `joined` (its history contract).
    let joined = ann.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    ann.send(json!({"type": "say", "room": "r", "text": "hi"}))
        .await;
    assert_eq!(ann.recv().await["text"], "hi");

    let (status, health) = chat.get("/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["status"].as_str(), health["connections"].as_u64()),
        (Some("ok"), Some(1))
    );

    let (status, text) = chat.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    // The README's table (and `telemetry::metric`), with the Prometheus
    // type each kind is exported as (a `metrics` histogram is a summary).
    let documented = [
        (metric::CONNECTIONS, "gauge"),
        (metric::ADMITTED, "counter"),
        (metric::REJECTED, "counter"),
        (metric::EVICTED, "counter"),
        (metric::QUEUED, "counter"),
        (metric::DROPPED, "counter"),
        (metric::RATE_LIMITED, "counter"),
        (metric::INVALID, "counter"),
        (metric::QUEUE_DEPTH, "summary"),
        (metric::BROADCAST_RECIPIENTS, "summary"),
        (metric::BROADCAST_SECONDS, "summary"),
    ];
    for (name, kind) in documented {
        assert!(
            text.lines()
                .any(|line| line == format!("# TYPE {name} {kind}")),
            "`{name}` ({kind}) is not in /metrics:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("{}{{protocol=\"Chat\"}} 1", metric::CONNECTIONS)),
        "{text}"
    );
}

#[tokio::test]
async fn the_chat_example_warns_when_redis_is_down_and_when_it_is_back() {
    // The example listens only once its Redis is connected (a Redis that
    // never comes is `drops::the_chat_example_listens_only_once_its_redis_is_connected`):
    // here Redis goes away while it runs, and comes back on the same port.
    let mut redis = Redis::own();
    let mut chat = Chat::start(&["--redis", redis.url()]).await;
    redis.kill();
    let down = chat.log_line("redis backend: unavailable").await;
    assert!(
        down.contains("WARN") && down.contains("unavailable"),
        "{down}"
    );
    redis.start();
    // The backoff is at most 2 s; the wait is 10 s.
    let back = chat.log_line("redis backend: reconnected").await;
    assert!(
        back.contains("WARN") && back.contains("reconnected"),
        "{back}"
    );
}
