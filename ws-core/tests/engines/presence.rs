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
