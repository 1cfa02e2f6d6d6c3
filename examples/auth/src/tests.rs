//! The example over real sockets: tokens in each place they may travel,
//! refusals before the 101, and rooms limited to those the token names.

use std::sync::Arc;
use std::time::Duration;

use ws_core::Manager;
use ws_core::axum::http::StatusCode;
use ws_core::testing::TestServer;

use super::*;

const SECRET: &[u8] = b"test secret";
const HOUR: Duration = Duration::from_secs(3600);

async fn server() -> (TestServer<Rooms>, Arc<Keys>) {
    server_with(true).await
}

/// The example's server; `demo_tokens` as its `--demo-tokens`.
async fn server_with(demo_tokens: bool) -> (TestServer<Rooms>, Arc<Keys>) {
    let keys = Arc::new(Keys::new(SECRET).unwrap());
    let manager = Manager::<Rooms>::new();
    let state = AppState {
        keys: Arc::clone(&keys),
        manager: manager.clone(),
    };
    let app = Arc::new(App {
        keys: Arc::clone(&keys),
    });
    let server = TestServer::with_state(manager, app, routes(demo_tokens), state).await;
    (server, keys)
}

#[tokio::test]
async fn a_token_is_read_from_the_header_a_cookie_or_the_query() {
    let (server, keys) = server().await;
    let token = keys.sign("ann", &["lobby"], HOUR);
    let expires = keys.verify(&token).unwrap().exp;
    let connects = [
        server
            .connect()
            .header("authorization", &format!("Bearer {token}")),
        server
            .connect()
            .cookie("theme", "dark")
            .cookie("token", &token),
        server.connect().query(&format!("?token={token}")),
    ];
    let mut held = Vec::new();
    for connect in connects {
        let mut ann = connect.client().await;
        let me = ann.ask(rooms::Whoami).await;
        assert_eq!(
            me,
            rooms::Me {
                user: "ann".into(),
                expires
            }
        );
        held.push(ann);
    }
    assert_eq!(server.manager().user_connections("ann"), 3);
}

#[tokio::test]
async fn a_missing_forged_or_expired_token_is_refused_before_the_101() {
    let (server, keys) = server().await;
    let refusal = server.refused("").await;
    assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
    assert!(refusal.body.starts_with("no token"), "{}", refusal.body);

    let forged = Keys::new(b"another secret")
        .unwrap()
        .sign("ann", &["lobby"], HOUR);
    let refusal = server.refused(&format!("?token={forged}")).await;
    assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal.body, "invalid token");

    // `alg: none` and garbage: the same fixed answer, nothing of the
    // library's own error text.
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbm4iLCJyb29tcyI6W10sImV4cCI6OTk5OTk5OTk5OX0.";
    for token in [none, "garbage", "a.b.c"] {
        let refusal = server.refused(&format!("?token={token}")).await;
        assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refusal.body, "invalid token", "{token}");
    }

    // Signed with the right key, expired an hour ago.
    let claims = Claims {
        sub: "ann".into(),
        rooms: vec!["lobby".into()],
        exp: keys.verify(&keys.sign("ann", &[], HOUR)).unwrap().exp - 2 * 3600,
    };
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    let refusal = server.refused(&format!("?token={expired}")).await;
    assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal.body, "token expired");
    assert_eq!(server.manager().connections(), 0);
}

#[tokio::test]
async fn only_the_rooms_the_token_names_can_be_joined() {
    let (server, keys) = server().await;
    let ann_token = keys.sign("ann", &["lobby"], HOUR);
    let mut ann = server
        .connect()
        .query(&format!("?token={ann_token}"))
        .client()
        .await;

    ann.push(rooms::Join {
        room: "staff".into(),
    })
    .await;
    let refused = ann.expect_error().await;
    assert_eq!(refused.code, "join_refused");
    assert_eq!(refused.message, "your token does not name room `staff`");

    ann.push(rooms::Join {
        room: "lobby".into(),
    })
    .await;
    ann.assert_receive(rooms::Joined {
        room: "lobby".into(),
    })
    .await;
    ann.push(rooms::Say {
        room: "lobby".into(),
        text: "hi".into(),
    })
    .await;
    // The sender's name comes from the session, not from the message.
    ann.assert_receive(rooms::Said {
        room: "lobby".into(),
        from: "ann".into(),
        text: "hi".into(),
    })
    .await;
    assert_eq!(server.manager().room_size("staff"), 0);
}

#[tokio::test]
async fn the_token_route_issues_tokens_the_endpoint_accepts() {
    let (server, _) = server().await;
    let response = server.get("/token?user=bob").await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.into_body();
    let mut bob = server
        .connect()
        .query(&format!("?token={token}"))
        .client()
        .await;
    bob.push(rooms::Join { room: "bob".into() }).await;
    bob.assert_receive(rooms::Joined { room: "bob".into() })
        .await;
}

#[tokio::test]
async fn the_token_route_is_served_only_with_demo_tokens() {
    let (server, _) = server_with(false).await;
    assert_eq!(
        server.get("/token?user=bob").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// A validly signed `exp` past what `SystemTime` holds: the session's
/// `expires_at` is computed with checked arithmetic (no expiry), where an
/// addition would panic.
#[tokio::test]
async fn an_exp_past_the_end_of_time_connects() {
    let (server, _) = server().await;
    for exp in [1 << 63, u64::MAX] {
        let claims = Claims {
            sub: "ann".into(),
            rooms: vec!["lobby".into()],
            exp,
        };
        assert_eq!(claims.expires_at(), None);
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        let mut ann = server
            .connect()
            .query(&format!("?token={token}"))
            .client()
            .await;
        let me = ann.ask(rooms::Whoami).await;
        assert_eq!(me.expires, exp);
    }
}

/// A refresh whose token names fewer rooms takes the connection out of the
/// others: it receives nothing more from them.
#[tokio::test]
async fn a_refresh_that_narrows_the_rooms_leaves_the_others() {
    let (server, keys) = server().await;
    let both = keys.sign("ann", &["lobby", "annex"], HOUR);
    let annex_only = keys.sign("ann", &["annex"], HOUR);
    let mut ann = ws_core::client::Client::<Rooms>::builder(&server.url(&format!("?token={both}")))
        .no_reconnect()
        .connect()
        .await
        .unwrap();
    for room in ["lobby", "annex"] {
        ann.send(rooms::Join { room: room.into() }).await.unwrap();
        assert_eq!(
            ann.recv().await.unwrap(),
            Rooms::Joined { room: room.into() }
        );
    }
    ann.send_text(format!(r#"{{"type":"refresh","token":"{annex_only}"}}"#))
        .await
        .unwrap();
    // The refresh is handled before the next message.
    let me = ann.request(rooms::Whoami).await.unwrap();
    assert_eq!(me.user, "ann");
    assert_eq!(server.manager().room_size("lobby"), 0);
    assert_eq!(server.manager().room_size("annex"), 1);
    let mut bob = server
        .connect()
        .query(&format!(
            "?token={}",
            keys.sign("bob", &["lobby", "annex"], HOUR)
        ))
        .client()
        .await;
    for room in ["lobby", "annex"] {
        bob.push(rooms::Join { room: room.into() }).await;
        bob.assert_receive(rooms::Joined { room: room.into() })
            .await;
    }
    for room in ["lobby", "annex"] {
        bob.push(rooms::Say {
            room: room.into(),
            text: format!("to {room}"),
        })
        .await;
    }
    // Only the annex's message reaches ann.
    assert_eq!(
        ann.recv().await.unwrap(),
        Rooms::Said {
            room: "annex".into(),
            from: "bob".into(),
            text: "to annex".into()
        }
    );
    assert_eq!(server.manager().room_size("lobby"), 1);
}

#[tokio::test]
async fn a_refresh_with_a_new_token_extends_the_session_in_place() {
    let (server, keys) = server().await;
    // Inside `refresh_before` (30 s): asked for a refresh at once.
    let short = keys.sign("ann", &["lobby"], Duration::from_secs(20));
    let long = keys.sign("ann", &["lobby", "annex"], HOUR);
    let renewed = keys.verify(&long).unwrap().exp;
    let tokens = Arc::new(std::sync::Mutex::new(vec![long, short]));
    let mut ann = ws_core::client::Client::<Rooms>::builder(&server.url(""))
        .no_reconnect()
        .get_token(move || {
            let token = tokens.lock().unwrap().pop().expect("two tokens");
            async move { token }
        })
        .connect()
        .await
        .unwrap();
    ann.send(rooms::Join {
        room: "lobby".into(),
    })
    .await
    .unwrap();
    // The refresh is answered while the client reads; the session changes
    // under the same connection.
    loop {
        match ann.request(rooms::Whoami).await.unwrap() {
            me if me.expires == renewed => break,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    // The new token's rooms count, and the old room is kept.
    ann.send(rooms::Join {
        room: "annex".into(),
    })
    .await
    .unwrap();
    loop {
        match ann.recv().await.unwrap() {
            Rooms::Joined { room } if room == "annex" => break,
            Rooms::Joined { room } => assert_eq!(room, "lobby"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(server.manager().room_size("lobby"), 1);
    assert_eq!(server.manager().user_connections("ann"), 1);
}

#[tokio::test]
async fn a_refresh_with_another_users_token_closes_with_4003() {
    let (server, keys) = server().await;
    let mut ws = ws_core::client::Client::<Rooms>::builder(&server.url(""))
        .no_reconnect()
        .headers(
            [(
                ws_core::axum::http::header::AUTHORIZATION,
                format!("Bearer {}", keys.sign("ann", &["lobby"], HOUR))
                    .parse()
                    .unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .connect()
        .await
        .unwrap();
    let bob = keys.sign("bob", &["lobby"], HOUR);
    ws.send_text(format!(r#"{{"type":"refresh","token":"{bob}"}}"#))
        .await
        .unwrap();
    match ws.recv().await {
        Err(ws_core::client::ClientError::Closed(Some(close))) => {
            assert_eq!(
                (close.code, close.reason.as_str()),
                (4003, "a refresh keeps the user")
            );
        }
        other => panic!("expected close 4003, got {other:?}"),
    }
}
