//! Presence events of one node: their cost for a room of N, and the first
//! window after a room was empty.

use std::time::Duration;

use crate::support::Client;
use crate::support::chat::app::presence_diff;
use crate::support::chat::{diffs_until, present_user as user, typing_update};

/// The cost of presence events for a room of N: 200 users enter one by
/// one, then leave one by one, with events on. Sent to every member per
/// join and leave they would be 80,400 messages; batched per window, each
/// window in which something changed costs one message per member, so the
/// total is at most N × (windows with a change), and a window of quiet
/// costs nothing. Prints the figures for BENCHMARKS.md.
#[tokio::test]
async fn presence_events_cost_one_message_per_member_per_changed_window() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::support::chat::serve;

    const N: usize = 200;
    let (addr, manager) = serve(|builder| builder).await;
    let windows = Arc::new(AtomicUsize::new(0));
    {
        let windows = Arc::clone(&windows);
        assert!(
            manager
                .presence_events(
                    "crowd",
                    Duration::from_millis(50),
                    move |diff: ws_core::presence::PresenceDiff| {
                        windows.fetch_add(1, Ordering::Relaxed);
                        presence_diff(diff)
                    }
                )
                .await
        );
    }
    let before = manager.stats().queued;
    let mut clients = Vec::new();
    for i in 0..N {
        let mut client = Client::connect(&format!("ws://{addr}/ws?user=u{i:03}")).await;
        client.join("crowd").await;
        assert_eq!(client.recv().await["type"], "joined");
        clients.push(client);
    }
    for client in clients {
        drop(client);
    }
    crate::support::eventually("everyone gone", || manager.room_size("crowd") == 0).await;
    // The leaves of the last members reach no one: the room is empty.
    let events = manager.stats().queued - before - N as u64;
    let windows = windows.load(Ordering::Relaxed);
    println!(
        "presence events, room of {N} entering then leaving one by one: \
         {events} messages in {windows} windows with a change \
         (naive per join and leave: 80,400)"
    );
    assert!(events <= (N * windows) as u64);
    assert!(events < 80_400);
}

/// A user who joins in the first window after the room was empty (so
/// after the members already there read who is in) is announced to them in
/// the next diff: the first sample of an empty room is no silent baseline.
/// On one node (no backend), when the events start on an empty room and
/// when the room has emptied since.
#[tokio::test]
async fn the_first_window_after_an_empty_room_announces_everyone_on_one_node() {
    use crate::support::chat::serve;

    const WINDOW: Duration = Duration::from_millis(300);
    let (addr, manager) = serve(|builder| builder).await;
    assert!(manager.presence_events("r", WINDOW, presence_diff).await);
    let tab = |user: &'static str| async move {
        let mut client = Client::connect(&format!("ws://{addr}/ws?user={user}")).await;
        client.join("r").await;
        assert_eq!(client.recv().await["type"], "joined");
        client
    };
    for (first, second) in [("alice", "bob"), ("carol", "dave")] {
        // Both within one window of the room's first member.
        let mut early = tab(first).await;
        let late = tab(second).await;
        let mut diffs = Vec::new();
        diffs_until(&mut early, "joined", second, &mut diffs).await;
        drop((early, late));
        crate::support::eventually("the room empty", || manager.room_size("r") == 0).await;
        // A sample of the empty room.
        tokio::time::sleep(WINDOW * 3).await;
    }
}

/// A leave the server forces (issue 24) is a leave to presence: the
/// members are told in the next diff, as for the user's own leave, and the
/// user, out of the room, hears no more of it.
#[tokio::test]
async fn a_forced_leave_is_announced_as_a_leave() {
    use crate::support::chat::serve;

    const WINDOW: Duration = Duration::from_millis(100);
    let (addr, manager) = serve(|builder| builder).await;
    assert!(manager.presence_events("r", WINDOW, presence_diff).await);
    let mut tabs = Vec::new();
    for user in ["alice", "alice", "bob"] {
        let mut client = Client::connect(&format!("ws://{addr}/ws?user={user}")).await;
        client.join("r").await;
        assert_eq!(client.recv().await["type"], "joined");
        tabs.push(client);
    }
    let mut diffs = Vec::new();
    diffs_until(&mut tabs[2], "joined", "alice", &mut diffs).await;

    assert_eq!(manager.to_user("alice").leave("r").unwrap(), 2);
    diffs.clear();
    diffs_until(&mut tabs[2], "left", "alice", &mut diffs).await;
    let lefts: usize = diffs
        .iter()
        .map(|diff| crate::support::chat::names(diff, "left").len())
        .sum();
    assert_eq!(lefts, 1, "alice left once: {diffs:?}");
    assert_eq!(manager.room_size("r"), 1);
    // A newcomer is announced to bob, and not to alice: out of the room.
    let mut carol = Client::connect(&format!("ws://{addr}/ws?user=carol")).await;
    carol.join("r").await;
    diffs_until(&mut tabs[2], "joined", "carol", &mut diffs).await;
    for alice in &mut tabs[..2] {
        alice.sync().await;
        let carol = serde_json::json!("carol");
        assert!(
            alice.received.iter().all(|m| m["type"] != "presence_diff"
                || !crate::support::chat::names(m, "joined").contains(&carol)),
            "alice, out of the room, got {:?}",
            alice.received
        );
    }
}

/// A tab of `user` on the chat at `addr`, in `room` (its `joined` read).
async fn chat_tab(addr: std::net::SocketAddr, user: &str, room: &str) -> Client {
    let mut client = Client::connect(&format!("ws://{addr}/ws?user={user}")).await;
    client.join(room).await;
    assert_eq!(client.recv().await["type"], "joined");
    client
}

/// `who` of `room` from `client`: the `users` of its `present`.
async fn who(client: &mut Client, room: &str) -> serde_json::Value {
    client
        .send(serde_json::json!({"type": "who", "room": room, "id": 1}))
        .await;
    loop {
        let message = client.recv().await;
        if message["type"] == "present" {
            return message["users"].clone();
        }
    }
}

/// Each connection keeps its own meta; a user's entry lists those of all
/// its connections (sorted by text), the first of them as `info`; setting
/// one again replaces it, a connection that goes takes its meta along,
/// and one over `max_presence_meta` is refused with a typed error, the
/// connection keeping its meta.
#[tokio::test]
async fn metas_are_per_connection_merged_per_user_updated_and_bounded() {
    use serde_json::json;
    use ws_core::presence::PresenceError;

    use crate::support::chat::serve;

    let (addr, manager) = serve(|builder| builder).await;
    let _first = chat_tab(addr, "alice", "r").await;
    let first_id = manager.room_members("r")[0];
    let second = chat_tab(addr, "alice", "r").await;
    let second_id = manager
        .room_members("r")
        .into_iter()
        .find(|id| *id != first_id);
    let ids = [first_id, second_id.unwrap()];
    let metas = |manager: ws_core::Manager<_>| async move {
        let page = manager.presence("r").await.unwrap();
        let alice = &page.users[0];
        (alice.connections, alice.metas::<serde_json::Value>())
    };
    assert_eq!(metas(manager.clone()).await, (2, vec![]), "none set");
    assert!(
        manager
            .set_presence(ids[0], &json!({"device": "phone"}))
            .unwrap()
    );
    assert!(
        manager
            .set_presence(ids[1], &json!({"device": "laptop"}))
            .unwrap()
    );
    assert_eq!(
        metas(manager.clone()).await,
        (
            2,
            vec![json!({"device": "laptop"}), json!({"device": "phone"})]
        )
    );
    let page = manager.presence("r").await.unwrap();
    assert_eq!(page.users[0].info_json(), Some(r#"{"device":"laptop"}"#));
    assert!(
        manager
            .set_presence(ids[1], &json!({"device": "tablet"}))
            .unwrap()
    );
    assert_eq!(
        metas(manager.clone()).await,
        (
            2,
            vec![json!({"device": "phone"}), json!({"device": "tablet"})]
        )
    );
    let max = manager.config().max_presence_meta();
    assert_eq!(max, 1024, "the default");
    let big = "x".repeat(max);
    assert!(matches!(
        manager.set_presence(ids[0], &big),
        Err(PresenceError::TooLarge { size, max: 1024 }) if size == max + 2
    ));
    assert_eq!(
        metas(manager.clone()).await,
        (
            2,
            vec![json!({"device": "phone"}), json!({"device": "tablet"})]
        ),
        "a refused meta changes nothing"
    );
    // The tab whose meta is `tablet` goes, taking its meta along.
    drop(second);
    crate::support::eventually("a tab gone", || manager.room_size("r") == 1).await;
    assert_eq!(
        metas(manager.clone()).await,
        (1, vec![json!({"device": "phone"})])
    );
}

/// The chat's `typing`, through its handler: a client sets its
/// connection's meta; `who` shows the user typing while one of its tabs
/// is, a meta over `max_presence_meta` is an error frame, and with
/// presence events on, each change reaches the members as `updated`
/// (not as a join or a leave).
#[tokio::test]
async fn typing_is_a_meta_shown_in_who_and_sent_as_an_update() {
    use serde_json::json;

    use crate::support::chat::serve;

    let (addr, manager) = serve(|builder| builder).await;
    assert!(
        manager
            .presence_events("r", Duration::from_millis(50), presence_diff)
            .await
    );
    let mut bob = chat_tab(addr, "bob", "r").await;
    let mut alice = chat_tab(addr, "alice", "r").await;
    let mut alice_too = chat_tab(addr, "alice", "r").await;
    // Both arrivals in bob's diffs.
    let mut diffs = Vec::new();
    diffs_until(&mut bob, "joined", "alice", &mut diffs).await;

    let updated = typing_update(&mut alice, "r", true, &mut bob).await;
    assert_eq!(
        updated,
        json!({"type": "presence_diff", "room": "r", "joined": [], "left": [],
               "updated": [user("alice", 2, true)]})
    );
    assert_eq!(
        who(&mut bob, "r").await,
        json!([user("alice", 2, true), user("bob", 1, false)])
    );
    // The other tab stops typing where it never typed: nothing changes.
    alice_too
        .send(json!({"type": "typing", "room": "r", "typing": false}))
        .await;
    assert_eq!(who(&mut alice_too, "r").await[0], user("alice", 2, true));

    // Too large a meta: an error frame, the meta as it was.
    let long = "n".repeat(2000);
    alice
        .send(json!({"type": "typing", "room": long, "typing": true}))
        .await;
    let error = loop {
        let message = alice.recv().await;
        if message["type"] == "error" {
            break message;
        }
    };
    assert_eq!(error["code"], "presence_meta_too_large", "{error}");
    assert_eq!(who(&mut bob, "r").await[0], user("alice", 2, true));

    assert_eq!(
        typing_update(&mut alice, "r", false, &mut bob).await,
        json!({"type": "presence_diff", "room": "r", "joined": [], "left": [],
               "updated": [user("alice", 2, false)]})
    );
    assert_eq!(who(&mut bob, "r").await[0], user("alice", 2, false));
}
