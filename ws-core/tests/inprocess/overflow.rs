//! Each overflow policy of the bounded send queue. The test handler
//! enqueues a whole burst without yielding, so the writer cannot drain in
//! between and the queue's bound decides deterministically.

use serde_json::json;
use ws_core::{Config, Overflow};

use crate::support::Server;

fn queue_of_4(policy: Overflow) -> Config {
    Config::DEFAULT.with_send_queue(4).with_on_full(policy)
}

async fn seqs_after_burst(policy: Overflow) -> (Vec<u64>, ws_core::Stats) {
    let server = Server::start(queue_of_4(policy)).await;
    let mut a = server.connect().await;
    a.send(json!({"type": "burst", "count": 10})).await;
    a.sync().await;
    let seqs = a
        .received
        .iter()
        .filter(|m| m["type"] == "seq")
        .map(|m| m["n"].as_u64().unwrap())
        .collect();
    (seqs, server.manager.stats())
}

#[tokio::test]
async fn drop_newest_keeps_the_first_messages() {
    let (seqs, stats) = seqs_after_burst(Overflow::DropNewest).await;
    assert_eq!(seqs, [0, 1, 2, 3]);
    assert_eq!(stats.dropped, 6);
    assert_eq!(stats.evicted, 0);
}

#[tokio::test]
async fn drop_oldest_keeps_the_last_messages() {
    let (seqs, stats) = seqs_after_burst(Overflow::DropOldest).await;
    assert_eq!(seqs, [6, 7, 8, 9]);
    assert_eq!(stats.dropped, 6);
}

#[tokio::test]
async fn close_evicts_the_slow_connection_with_1013() {
    let server = Server::start(queue_of_4(Overflow::Close)).await;
    let mut slow = server.connect().await;
    let mut bystander = server.connect().await;
    slow.send(json!({"type": "burst", "count": 10})).await;
    assert_eq!(slow.closed().await, (1013, "send queue full".to_owned()));
    server
        .until("evicted connection gone", |m| m.connections() == 1)
        .await;
    assert_eq!(server.manager.stats().evicted, 1);
    let disconnect = &server.disconnects()[0];
    assert_eq!(disconnect.server_close.as_ref().map(|c| c.code), Some(1013));
    bystander.sync().await;
}
