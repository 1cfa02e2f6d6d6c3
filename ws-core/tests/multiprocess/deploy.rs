//! A deploy: the chat example on SIGTERM stops admitting, closes every
//! client with 1012 (service restart) after what was queued for it, and
//! exits 0.

use serde_json::json;

use crate::support::Client;
use crate::support::process::ChatProcess;

#[tokio::test]
async fn sigterm_closes_clients_with_1012_and_exits_0() {
    let mut chat = ChatProcess::start("127.0.0.1:0", &[]).await;
    let mut client = Client::connect(&format!("ws://{}/ws?user=ann", chat.addr)).await;
    client.join("deploy").await;
    // The example answers a join with `joined` (its history contract).
    let joined = client.recv().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    client
        .send(json!({"type": "say", "room": "deploy", "text": "before"}))
        .await;
    let said = client.recv().await;
    assert_eq!(said["text"], "before", "{said}");

    chat.sigterm();
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1012, "server restarting"));

    // The process ends by itself, with status 0, having said so.
    let status = chat.exit().await;
    assert_eq!(status.code(), Some(0));
    let rest = chat.rest_of_stdout().await;
    assert!(
        rest.iter()
            .any(|l| l == "chat stopped: 1 connections closed, 0 forcibly"),
        "{rest:?}"
    );
}
