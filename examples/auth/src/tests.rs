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
    let keys = Arc::new(Keys::new(SECRET).unwrap());
    let manager = Manager::<Rooms>::new();
    let state = AppState {
        keys: Arc::clone(&keys),
        manager: manager.clone(),
    };
    let server = TestServer::with_state(manager, Arc::new(App), routes(), state).await;
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
    assert!(
        refusal.body.contains("InvalidSignature"),
        "{}",
        refusal.body
    );

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
    assert!(
        refusal.body.contains("ExpiredSignature"),
        "{}",
        refusal.body
    );
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
