//! What one peer may hold: connections per user, whichever way the user was
//! set (at admission or by a login message) and however often it changes;
//! rooms per connection and the length of their names. Each refusal is a
//! typed error frame, and the registry's counts stay exact.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::future::join_all;
use serde_json::{Value, json};
use ws_core::Config;
use ws_core::axum::http::StatusCode;

use crate::support::{Client, Server};

fn login(user: &str) -> Value {
    json!({"type": "login", "user": user})
}

/// Sends an echo and asserts it is the very next message: nothing (no
/// error frame) came back for what was sent before it.
async fn nothing_before_sync(client: &mut Client) {
    client.send(json!({"type": "echo", "text": "sync"})).await;
    assert_eq!(client.recv().await, json!({"type": "echo", "text": "sync"}));
}

/// The next message is an error frame with `code`; its message.
async fn refused_with(client: &mut Client, code: &str) -> String {
    let frame = client.recv().await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], code, "{frame}");
    frame["message"].as_str().unwrap().to_owned()
}

/// Sends a login and says whether it was accepted.
async fn logs_in(client: &mut Client, user: &str) -> bool {
    client.send(login(user)).await;
    client.send(json!({"type": "echo", "text": "sync"})).await;
    let first = client.recv().await;
    if first["type"] == "echo" {
        return true;
    }
    assert_eq!(first["code"], "too_many_user_connections", "{first}");
    assert_eq!(client.recv().await["type"], "echo");
    false
}

#[tokio::test]
async fn a_login_by_message_is_capped_like_one_from_authenticate() {
    let server = Server::start(Config::DEFAULT.with_max_per_user(1)).await;
    let _erin = server.connect_as("erin").await;
    let mut anon = server.connect().await;

    anon.send(login("erin")).await;
    let message = refused_with(&mut anon, "too_many_user_connections").await;
    assert!(message.contains('1'), "names the cap: {message}");
    assert_eq!(server.manager.user_connections("erin"), 1);

    // A user set by a message counts at admission too.
    anon.send(login("frank")).await;
    nothing_before_sync(&mut anon).await;
    let (status, _) = Client::refused(&server.url("?user=frank")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.manager.user_connections("frank"), 1);
    assert_eq!(server.manager.admitted(), 2, "a refusal consumed nothing");
}

#[tokio::test]
async fn switching_users_moves_the_count() {
    let server = Server::start(Config::DEFAULT.with_max_per_user(1)).await;
    let mut a = server.connect_as("erin").await;
    let mut b = server.connect().await;
    assert!(!logs_in(&mut b, "erin").await);

    // `a` leaves erin for gina: erin's place is free, gina's taken.
    assert!(logs_in(&mut a, "gina").await);
    assert_eq!(server.manager.user_connections("erin"), 0);
    assert_eq!(server.manager.user_connections("gina"), 1);
    assert!(logs_in(&mut b, "erin").await);
    let (status, _) = Client::refused(&server.url("?user=gina")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = Client::refused(&server.url("?user=erin")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // A refused switch keeps the old user: `b` is still erin's.
    assert!(!logs_in(&mut b, "gina").await);
    b.send(json!({"type": "whisper", "user": "erin", "text": "still"}))
        .await;
    assert_eq!(b.recv().await["text"], "still");
    assert_eq!(server.manager.users(), 2);

    // Disconnecting frees the user the connection had last.
    a.close(1000, "").await;
    server
        .until("gina's place freed", |m| m.user_connections("gina") == 0)
        .await;
    let mut c = server.connect_as("gina").await;
    c.sync().await;
}

/// Rounds of many clients logging in as one user at the same moment, with
/// connects authenticated as that user racing them: exactly the cap wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_never_pass_the_cap() {
    const CLIENTS: usize = 24;
    const CONNECTS: usize = 6;
    const ROUNDS: usize = 8;
    let server = Arc::new(Server::start(Config::DEFAULT.with_max_per_user(1)).await);
    let mut clients: Vec<Client> = join_all((0..CLIENTS).map(|_| server.connect())).await;
    for round in 0..ROUNDS {
        let user = format!("zed{round}");
        let logins = clients.iter_mut().map(|client| logs_in(client, &user));
        let connects = (0..CONNECTS).map(|_| {
            let url = server.url(&format!("?user={user}"));
            async move {
                match tokio_tungstenite::connect_async(&url).await {
                    Ok((ws, _)) => Some(ws),
                    Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
                        None
                    }
                    Err(other) => panic!("connect failed: {other}"),
                }
            }
        });
        let (logged_in, connected) = tokio::join!(join_all(logins), join_all(connects));
        let wins = logged_in.iter().filter(|won| **won).count()
            + connected.iter().filter(|ws| ws.is_some()).count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one of the racers is {user}"
        );
        // An admitted connection registers after its 101; wait for it.
        server
            .until("the winner registered", |m| m.user_connections(&user) == 1)
            .await;
        drop(connected);
    }
    drop(clients);
    server
        .until("every count back to zero", |m| {
            m.admitted() == 0 && m.users() == 0
        })
        .await;
}

/// Many clients connect (some authenticated), log in, switch, join rooms
/// and go, all at once, while a sampler checks the cap; afterwards every
/// count is zero and every user can connect up to its cap again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn churn_returns_every_count_to_zero() {
    const CAP: usize = 2;
    const USERS: usize = 4;
    const TASKS: usize = 40;
    const STEPS: usize = 6;
    let server = Arc::new(Server::start(Config::DEFAULT.with_max_per_user(CAP)).await);
    let users: Vec<String> = (0..USERS).map(|u| format!("churn{u}")).collect();
    let done = Arc::new(AtomicBool::new(false));
    let worst = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (server, users, done, worst) = (
            Arc::clone(&server),
            users.clone(),
            Arc::clone(&done),
            Arc::clone(&worst),
        );
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                for user in &users {
                    worst.fetch_max(server.manager.user_connections(user), Ordering::Relaxed);
                }
                tokio::task::yield_now().await;
            }
        })
    };
    // Logins accepted and refused: both must happen, or the cap went untested.
    let outcomes = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let tasks = (0..TASKS).map(|t| {
        let (server, users, outcomes) = (Arc::clone(&server), users.clone(), Arc::clone(&outcomes));
        tokio::spawn(async move {
            let url = match t % 3 {
                0 => server.url(""),
                _ => server.url(&format!("?user={}", users[t % USERS])),
            };
            let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await else {
                return; // refused at the cap
            };
            let mut client = Client {
                ws,
                sent: Vec::new(),
                received: Vec::new(),
            };
            for step in 0..STEPS {
                let user = &users[(t + step) % USERS];
                let accepted = logs_in(&mut client, user).await;
                outcomes[usize::from(accepted)].fetch_add(1, Ordering::Relaxed);
                client.join(&format!("room{}", (t + step) % 5)).await;
            }
            nothing_before_sync(&mut client).await;
            if t % 2 == 0 {
                client.close(1000, "").await;
            } // else the socket just goes
        })
    });
    for task in join_all(tasks).await {
        task.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let [refused, accepted] = &*outcomes;
    let (refused, accepted) = (
        refused.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed),
    );
    // 40 connections alive at once share 4 users × 2 places.
    assert!(
        refused > 0 && accepted > 0,
        "refused {refused}, accepted {accepted}"
    );
    eprintln!("churn: {accepted} logins accepted, {refused} refused");
    assert!(
        worst.load(Ordering::Relaxed) <= CAP,
        "a user held {} connections",
        worst.load(Ordering::Relaxed)
    );
    server
        .until("every count back to zero", |m| {
            m.admitted() == 0 && m.connections() == 0 && m.users() == 0 && m.rooms() == 0
        })
        .await;
    for user in &users {
        assert_eq!(server.manager.user_connections(user), 0);
        // No place leaked: the full cap is there again.
        let mut held = Vec::new();
        for _ in 0..CAP {
            held.push(server.connect_as(user).await);
        }
        let (status, _) = Client::refused(&server.url(&format!("?user={user}"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn joining_past_max_rooms_is_refused_with_too_many_rooms() {
    let server = Server::start(Config::DEFAULT.with_max_rooms(3)).await;
    let mut a = server.connect().await;
    for room in ["r0", "r1", "r2"] {
        a.join(room).await;
    }
    nothing_before_sync(&mut a).await;
    a.join("r3").await;
    let message = refused_with(&mut a, "too_many_rooms").await;
    assert!(message.contains('3'), "names the limit: {message}");
    // Joining a room it is in is no new room.
    a.join("r1").await;
    nothing_before_sync(&mut a).await;
    assert_eq!(server.manager.rooms(), 3);
    assert_eq!(server.manager.room_size("r3"), 0);

    // The limit is per connection, and leaving makes room.
    let mut b = server.connect().await;
    b.join("r3").await;
    nothing_before_sync(&mut b).await;
    a.send(json!({"type": "leave", "room": "r0"})).await;
    a.join("r3").await;
    nothing_before_sync(&mut a).await;
    assert_eq!(server.manager.room_size("r3"), 2);
    a.send(json!({"type": "say", "room": "r3", "text": "hi"}))
        .await;
    assert_eq!(a.recv().await["text"], "hi");
    assert_eq!(b.recv().await["text"], "hi");

    a.close(1000, "").await;
    b.close(1000, "").await;
    server
        .until("every room gone", |m| {
            m.rooms() == 0 && m.connections() == 0
        })
        .await;
}

#[tokio::test]
async fn a_room_name_past_max_room_name_is_refused() {
    let server = Server::start(Config::DEFAULT.with_max_room_name(8)).await;
    let mut a = server.connect().await;
    a.join("123456789").await;
    let message = refused_with(&mut a, "room_name_too_long").await;
    assert!(message.contains('8'), "names the limit: {message}");
    // Bytes, not characters: five `é` are ten bytes.
    a.join("ééééé").await;
    refused_with(&mut a, "room_name_too_long").await;
    a.join("12345678").await;
    nothing_before_sync(&mut a).await;
    assert_eq!(server.manager.rooms(), 1);
    assert_eq!(server.manager.room_size("12345678"), 1);
}

#[tokio::test]
async fn the_defaults_bound_rooms_and_names() {
    let server = Server::start(Config::DEFAULT).await;
    let config = server.manager.config();
    let (max_rooms, max_name) = (config.max_rooms(), config.max_room_name());
    assert_eq!((max_rooms, max_name), (128, 255));
    let mut a = server.connect().await;
    a.join(&"n".repeat(max_name + 1)).await;
    refused_with(&mut a, "room_name_too_long").await;
    for k in 0..max_rooms {
        a.join(&format!("{k:n>width$}", width = max_name)).await;
    }
    nothing_before_sync(&mut a).await;
    a.join("one more").await;
    refused_with(&mut a, "too_many_rooms").await;
    assert_eq!(server.manager.rooms(), max_rooms);
}

#[tokio::test]
async fn zero_means_unlimited_rooms_and_names() {
    let config = Config::DEFAULT.with_max_rooms(0).with_max_room_name(0);
    let server = Server::start(config).await;
    let mut a = server.connect().await;
    // Past both defaults: 200 rooms of 1,000 bytes.
    for k in 0..200 {
        a.join(&format!("{k:x>1000}")).await;
    }
    nothing_before_sync(&mut a).await;
    assert_eq!(server.manager.rooms(), 200);
}
