//! A deploy: the chat example on SIGTERM stops admitting, closes every
//! client with 1012 (service restart) after what was queued for it, and
//! exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::config::chat_example;
use crate::support::{Client, WAIT};

#[tokio::test]
async fn sigterm_closes_clients_with_1012_and_exits_0() {
    let mut chat = Command::new(chat_example())
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the chat example");
    let mut stdout = BufReader::new(chat.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("chat listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let mut client = Client::connect(&format!("ws://{addr}/ws?user=ann")).await;
    client.join("deploy").await;
    // The example answers a join with `joined` (its history contract).
    let joined = client.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    client
        .send(json!({"type": "say", "room": "deploy", "text": "before"}))
        .await;
    let said = client.recv().await;
    assert_eq!(said["text"], "before", "{said}");

    let killed = Command::new("kill")
        .args(["-TERM", &chat.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1012, "server restarting"));

    // The process ends by itself, with status 0, having said so.
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = chat.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = chat.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
    .expect("the chat example did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = stdout.lines().map(Result::unwrap).collect();
    assert!(
        rest.iter()
            .any(|l| l == "chat stopped: 1 connections closed, 0 forcibly"),
        "{rest:?}"
    );
}
