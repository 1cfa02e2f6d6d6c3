//! Presence across in-process nodes sharing a Redis, through the
//! manager's API.

use std::time::Duration;

use crate::support::redis::Redis;

/// The API across two in-process nodes: typed infos travel through Redis,
/// a user's tabs on two nodes add up, pages follow the cursor.
#[tokio::test]
async fn manager_presence_lists_typed_infos_across_nodes_in_pages() {
    use serde::{Deserialize, Serialize};

    use crate::cluster::{join_all, node};
    use crate::support::redis::{prefix, up};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Info {
        status: String,
    }

    let mut redis = Redis::own();
    let prefix = prefix("presence-api");
    let (a, b) = (node(&redis, &prefix).await, node(&redis, &prefix).await);
    let mut tabs = [
        a.connect_as("alice").await,
        a.connect_as("alice").await,
        b.connect_as("alice").await,
        b.connect_as("bob").await,
        b.connect().await, // anonymous: a connection, not a user
    ];
    let [t0, t1, t2, t3, t4] = &mut tabs;
    join_all(&mut [t0, t1, t2, t3, t4], "r").await;
    for id in b.manager.room_members("r") {
        b.manager
            .set_presence(
                id,
                &Info {
                    status: "busy".into(),
                },
            )
            .unwrap();
    }
    let count = b.manager.presence_count("r");
    assert_eq!((count.users, count.connections), (2, 3), "B alone, O(1)");

    let settled = |page: &ws_core::presence::Presence| {
        let seen: Vec<_> = page
            .users
            .iter()
            .map(|p| (p.user.to_string(), p.connections))
            .collect();
        seen == [("alice".to_owned(), 3), ("bob".to_owned(), 1)]
            && page.users[1].info::<Info>()
                == Some(Info {
                    status: "busy".into(),
                })
            && page.next.is_none()
    };
    // Polled until settled, showing the last answer otherwise.
    let until_settled = || async {
        let mut last = None;
        for _ in 0..500 {
            match a.manager.presence("r").await {
                Ok(page) if settled(&page) => return,
                other => last = Some(other),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("presence did not settle: {last:?}");
    };
    until_settled().await;

    // Redis restarts empty: each node writes its copy again on resync.
    redis.restart();
    up(&a).await;
    up(&b).await;
    until_settled().await;

    let first = a.manager.presence_page("r", None, 1).await.unwrap();
    assert_eq!(first.users[0].user.as_str(), "alice");
    let after = first.next.expect("a second page");
    let second = a
        .manager
        .presence_page("r", Some(after.as_str()), 1)
        .await
        .unwrap();
    assert_eq!(second.users[0].user.as_str(), "bob");
    assert!(second.next.is_none());
}

/// The metas of `user` in `room` as `node` lists them, until they are
/// `expected` (JSON texts); fails after the wait, showing the last.
async fn metas_until(node: &crate::support::Server, user: &str, expected: &[&str]) {
    let mut last = None;
    for _ in 0..250 {
        let page = node.manager.presence("r").await;
        let metas = page.as_ref().ok().and_then(|page| {
            let present = page.users.iter().find(|p| p.user.as_str() == user)?;
            Some(
                present
                    .metas_json()
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>(),
            )
        });
        if metas.as_deref().is_some_and(|metas| metas == expected) {
            return;
        }
        last = Some(metas);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{user}'s metas never were {expected:?}; last: {last:?}");
}

/// Presence metas across nodes: each connection keeps its own, a user's
/// entry lists those of all its connections on every node (not one
/// node's), an update on node A is listed on node B and announced there as
/// `updated`, and a node killed without a word takes its connection's meta
/// with it within the TTL (1 s).
#[tokio::test]
async fn presence_metas_merge_per_user_across_nodes_update_and_die_with_their_node() {
    use serde_json::{Value, json};
    use ws_core::presence::PresenceDiff;

    use crate::cluster::{DoomedNode, join_all, node};
    use crate::support::redis::prefix;
    use crate::support::{Client, test};

    let redis = Redis::any();
    let prefix = prefix("presence-metas");
    let (a, b) = (node(&redis, &prefix).await, node(&redis, &prefix).await);
    let doomed = DoomedNode::start(&redis, &prefix);
    let mut on_a = a.connect_as("alice").await;
    let mut on_b = b.connect_as("alice").await;
    let mut bob = b.connect_as("bob").await;
    // The session's meta (`Session::presence`) on the doomed node.
    let mut doomed_tab = Client::connect(&doomed.url("?user=alice&vip")).await;
    join_all(&mut [&mut on_a, &mut on_b, &mut doomed_tab], "r").await;
    // Alice's tabs on A and B set a meta each (each node's only member).
    let set = |node: &crate::support::Server, meta: Value| {
        let members = node.manager.room_members("r");
        assert_eq!(members.len(), 1);
        assert!(node.manager.set_presence(members[0], &meta).unwrap());
    };
    set(&a, json!({"device": "phone"}));
    set(&b, json!({"device": "laptop"}));
    join_all(&mut [&mut bob], "r").await;
    let everything = [
        r#"{"device":"laptop"}"#,
        r#"{"device":"phone"}"#,
        r#"{"vip":true}"#,
    ];
    metas_until(&a, "alice", &everything).await;
    metas_until(&b, "alice", &everything).await;

    // An update on A: listed on B, and announced to B's members.
    assert!(
        b.manager
            .presence_events("r", Duration::from_millis(50), |diff: PresenceDiff| {
                test::Echo {
                    text: json!(
                        diff.updated
                            .iter()
                            .map(|p| (p.user.to_string(), p.metas::<Value>()))
                            .collect::<Vec<_>>()
                    )
                    .to_string(),
                }
            })
            .await
    );
    set(&a, json!({"device": "tablet"}));
    let now = [
        r#"{"device":"laptop"}"#,
        r#"{"device":"tablet"}"#,
        r#"{"vip":true}"#,
    ];
    metas_until(&b, "alice", &now).await;
    let expected = json!([["alice", [
        {"device": "laptop"}, {"device": "tablet"}, {"vip": true}
    ]]]);
    loop {
        let message = bob.recv().await;
        if message["type"] != "echo" {
            continue;
        }
        let updated: Value = serde_json::from_str(message["text"].as_str().unwrap()).unwrap();
        if updated == expected {
            break;
        }
    }

    // The doomed node dies without a word: its tab's meta lapses with it.
    doomed.kill();
    metas_until(&a, "alice", &now[..2]).await;
    drop(doomed_tab);
}
