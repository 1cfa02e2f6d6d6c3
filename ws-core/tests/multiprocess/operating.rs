//! The chat example as an operator runs it: `/metrics` in the Prometheus
//! format with every documented name, `/health`, and logs that say when the
//! Redis backend is down and when it is back. The real binary, on real
//! sockets.

use std::net::SocketAddr;
use std::process::Command;

use serde_json::{Value, json};
use tokio::time::timeout;
use ws_core::axum::body::Body;
use ws_core::axum::http::{Request, StatusCode};
use ws_core::telemetry::metric;

use crate::support::process::{ChatProcess, chat_example};
use crate::support::redis::Redis;
use crate::support::{Client, WAIT};

/// A GET of `path` on `addr` over HTTP/1.1: its status and body.
async fn get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        let request = Request::get(path)
            .header("host", addr.to_string())
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

#[tokio::test]
async fn metrics_and_health_of_the_chat_example() {
    let chat = ChatProcess::start("127.0.0.1:0", &[]).await;
    // Traffic, so that every counter and histogram has a sample.
    let mut ann = Client::connect(&format!("ws://{}/ws?user=ann", chat.addr)).await;
    ann.send(json!({"type": "join", "room": "r"})).await;
    // The example answers a join with `joined` (its history contract).
    let joined = ann.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    ann.send(json!({"type": "say", "room": "r", "text": "hi"}))
        .await;
    assert_eq!(ann.recv().await["text"], "hi");

    let (status, health) = get(chat.addr, "/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["status"].as_str(), health["connections"].as_u64()),
        (Some("ok"), Some(1))
    );

    let (status, text) = get(chat.addr, "/metrics").await;
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
    let mut chat = ChatProcess::start("127.0.0.1:0", &["--redis", redis.url()]).await;
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

/// The chat example with each of the issue's bad variables: exit status 2
/// and the variable, its value and the accepted form on stderr, before it
/// binds anything.
#[test]
fn the_chat_example_exits_2_naming_the_variable() {
    let chat = chat_example();
    for (variable, value, message) in [
        (
            "CHAT_HEARTBEAT",
            "0s",
            r#"heartbeat must be a non-zero duration like "30s" or "off""#,
        ),
        (
            "CHAT_WRITE_BUFFER",
            "0",
            r#"write_buffer must be a non-zero size like "64KiB""#,
        ),
        (
            "CHAT_MAX_MESSAGE_SIZE",
            "0",
            r#"max_message_size must be a non-zero size like "64KiB" or "1MiB""#,
        ),
        (
            "CHAT_SEND_QUEUE",
            "18446744073709551616",
            r#"send_queue is too large; it must be a whole number of frames of at least 1, like "256""#,
        ),
        (
            "CHAT_IDLE_TIMEOUT",
            "30sec",
            r#"idle_timeout must be a non-zero duration like "60s" or "off""#,
        ),
    ] {
        let output = Command::new(&chat)
            .args(["--addr", "127.0.0.1:0"])
            .env(variable, value)
            .output()
            .expect("run the chat example");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{variable}={value}: {stderr}"
        );
        assert_eq!(
            stderr.trim_end(),
            format!("{variable}={value:?}: {message}")
        );
        assert!(output.stdout.is_empty(), "it must not start listening");
    }
    // A flag goes through the builder's door.
    let output = Command::new(&chat)
        .args(["--addr", "127.0.0.1:0", "--send-queue", "0"])
        .output()
        .expect("run the chat example");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        r#"send_queue must be a whole number of frames of at least 1, like "256""#
    );
}
