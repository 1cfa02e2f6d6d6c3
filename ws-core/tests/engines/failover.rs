//! A Redis Cluster master killed under traffic (issue 25): a cluster of the
//! test's own (three masters, three replicas), two chat nodes, a publisher
//! on one and a subscriber on the other; the master of the room's slot is
//! SIGKILLed while messages flow. Its replica takes over, the nodes carry
//! on, and every resume across the failover is answered truthfully:
//! `recovered: true` with nothing missing, or `false` with a reason, never
//! a silent gap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ws_core::{Manager, Protocol, RedisBackend};

use crate::support::Client;
use crate::support::chat::{Chat, serve};
use crate::support::history::join;
use crate::support::redis::prefix;
use crate::support::redis_cluster::RedisCluster;

async fn node(cluster: &RedisCluster, prefix: &str) -> (SocketAddr, Manager<Chat>) {
    let urls = cluster.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let backend = RedisBackend::cluster(&urls)
        .unwrap()
        .prefix(prefix)
        .presence_ttl(Duration::from_secs(1))
        .response_timeout(Duration::from_millis(500))
        .reconnect_max(Duration::from_millis(300));
    let node = serve(|b| b.backend(backend)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !node.1.backend_status().unwrap().up {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backend is not up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node
}

/// The subscriber's next `said`, or `None` once its connection ended (a
/// close frame, such as 1013 after the node lost the cluster, or a reset).
async fn next_said(client: &mut Client) -> Option<Value> {
    loop {
        match client.next_frame("a said or a close").await {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] == "said" {
                    return Some(message);
                }
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_traffic_fails_over_and_every_resume_is_truthful() {
    /// Messages said after the failover that the subscriber must get.
    const AFTER: u64 = 100;
    let mut cluster = RedisCluster::start();
    let prefix = prefix("failover");
    let nodes = [node(&cluster, &prefix).await, node(&cluster, &prefix).await];
    let channel = format!("{prefix}:{}:room:{{lobby}}", Chat::NAME);
    let master = cluster.master_of(&channel);

    let (mut subscriber, joined) = join(nodes[1].0, "lobby", None).await;
    let mut epoch = joined["epoch"].as_str().unwrap().to_owned();
    let mut last = joined["offset"].as_u64().unwrap();

    // The publisher, on the other node, says a number every 2 ms until
    // told to stop; not a member, so nothing closes it.
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (addr, stop, published) = (nodes[0].0, Arc::clone(&stop), Arc::clone(&published));
        tokio::spawn(async move {
            let mut client = Client::connect(&format!("ws://{addr}/ws")).await;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                client
                    .send(json!({"type": "say", "room": "lobby", "text": n.to_string()}))
                    .await;
                n += 1;
                published.store(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            n
        })
    };

    let mut on = 1;
    let (mut killed, mut failed_over) = (false, false);
    let (mut after, mut resumes, mut told) = (0u64, 0u32, Vec::new());
    let (mut seen, mut since) = (0u64, u64::MAX);
    while after < AFTER {
        let Some(said) = next_said(&mut subscriber).await else {
            // Cut off (the node lost the cluster and closed the room's
            // members, 1013): resume on the other node.
            on = 1 - on;
            resumes += 1;
            let (resumed, joined) = join(nodes[on].0, "lobby", Some((&epoch, last))).await;
            if joined["recovered"] == true {
                assert_eq!(joined["epoch"], json!(epoch), "{joined}");
            } else {
                assert!(
                    matches!(
                        joined["reason"].as_str(),
                        Some("epoch_changed" | "too_far_behind")
                    ),
                    "not recovered, and no reason: {joined}"
                );
                told.push(joined["reason"].clone());
                epoch = joined["epoch"].as_str().unwrap().to_owned();
                last = joined["offset"].as_u64().unwrap();
            }
            subscriber = resumed;
            continue;
        };
        // Live or replayed, always the next offset of the epoch the
        // subscriber was last told, or a new epoch, which says itself that
        // the history it followed ended (a node that saw the room's master
        // go may deliver the history the new master began before it
        // closes the room's members): a gap inside an epoch fails.
        if said["epoch"] != json!(epoch) {
            told.push(json!(format!("live epoch change at {said}")));
            epoch = said["epoch"].as_str().unwrap().to_owned();
            last = said["offset"].as_u64().unwrap() - 1;
        }
        assert_eq!(
            said["offset"].as_u64(),
            Some(last + 1),
            "a silent gap: {said}"
        );
        last += 1;
        seen += 1;
        if !killed && seen == 200 {
            cluster.kill(master);
            killed = true;
        }
        if killed && !failed_over {
            failed_over = cluster.is_ok();
            if failed_over {
                since = published.load(Ordering::Relaxed);
            }
        }
        // Said once the cluster was whole again: the nodes carry on.
        let text: u64 = said["text"].as_str().unwrap().parse().unwrap();
        if failed_over && text >= since {
            after += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let said = publisher.await.unwrap();
    let promoted = cluster.master_of(&channel);
    assert_ne!(promoted, master, "a replica took over the room's slot");
    assert!(
        said > seen,
        "the publisher went on: {said} said, {seen} seen"
    );
    // The history the subscriber followed ended with the master (see
    // `history.rs`: a promoted replica may lack its last records), and the
    // subscriber was told, by a resume's answer or by the new epoch.
    assert!(!told.is_empty(), "the failover went untold");
    for (_, manager) in &nodes {
        assert!(manager.backend_status().unwrap().up);
    }
    eprintln!("failover: {resumes} resumes, told {told:?}, {seen} messages seen");
}
