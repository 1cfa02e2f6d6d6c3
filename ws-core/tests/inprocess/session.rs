//! Typed sessions (issue 11 §1): `authenticate` creates the session, handlers
//! read it and replace it, the user index follows its user, and the
//! `authorize_join` hook decides who joins a room and so who replays its
//! history.

use std::sync::Arc;

use serde_json::json;
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::history::Position;
use ws_core::testing::TestServer;
use ws_core::{Config, Ctx, HandlerResult, JoinRefused, Manager, UserId, ws_protocol};

use crate::support::Server;

#[tokio::test]
async fn authenticate_creates_the_session_that_handlers_read() {
    let server = Server::default().await;
    let mut ann = server.connect_as("ann&vip").await;
    ann.send(json!({"type": "whoami", "id": 1})).await;
    let me = ann.recv().await;
    assert_eq!(
        me,
        json!({"type": "me", "user": "ann", "vip": true, "id": 1})
    );

    let mut anon = server.connect().await;
    anon.send(json!({"type": "whoami", "id": 2})).await;
    let me = anon.recv().await;
    assert_eq!(
        me,
        json!({"type": "me", "user": null, "vip": false, "id": 2})
    );
}

#[tokio::test]
async fn a_new_session_moves_the_user_and_keeps_the_rooms() {
    let server = Server::default().await;
    let mut ann = server.connect_as("ann&vip").await;
    let mut other = server.connect().await;
    ann.join("lobby").await;

    ann.send(json!({"type": "login", "user": "bob"})).await;
    ann.send(json!({"type": "whoami", "id": 1})).await;
    // The handler kept the rest of the session (`vip`) and changed the user.
    assert_eq!(
        ann.recv().await,
        json!({"type": "me", "user": "bob", "vip": true, "id": 1})
    );
    assert_eq!(server.manager.user_connections("ann"), 0);
    assert_eq!(server.manager.user_connections("bob"), 1);

    // Still in its room, and reached under its new user.
    other
        .send(json!({"type": "say", "room": "lobby", "text": "in here"}))
        .await;
    assert_eq!(ann.recv().await["text"], "in here");
    other
        .send(json!({"type": "whisper", "user": "bob", "text": "found you"}))
        .await;
    assert_eq!(ann.recv().await["text"], "found you");
    ann.quiet().await;
}

/// Presence takes its info from the session (`Session::presence`): at the
/// upgrade, and again when a handler replaces the session.
#[tokio::test]
async fn presence_shows_what_the_session_says() {
    let server = Server::default().await;
    let mut vic = server.connect_as("vic&vip").await;
    let mut ann = server.connect_as("ann").await;
    vic.join("lobby").await;
    ann.join("lobby").await;
    vic.sync().await;
    ann.sync().await;
    let infos = |page: ws_core::presence::Presence| {
        page.users
            .iter()
            .map(|p| (p.user.to_string(), p.info_json().map(str::to_owned)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        infos(server.manager.presence("lobby").await.unwrap()),
        [
            ("ann".to_owned(), None),
            ("vic".to_owned(), Some(r#"{"vip":true}"#.to_owned()))
        ]
    );
    // A new session that shows something replaces the info.
    ann.send(json!({"type": "login", "user": "zed"})).await;
    ann.sync().await;
    let after = infos(server.manager.presence("lobby").await.unwrap());
    assert_eq!(
        after[0],
        ("vic".to_owned(), Some(r#"{"vip":true}"#.to_owned()))
    );
    assert_eq!(after[1].0, "zed");
}

#[tokio::test]
async fn a_session_refused_by_the_cap_leaves_the_old_one() {
    let server = Server::start(Config::DEFAULT.with_max_per_user(1)).await;
    let _bob = server.connect_as("bob").await;
    let mut ann = server.connect_as("ann").await;
    ann.send(json!({"type": "login", "user": "bob"})).await;
    assert_eq!(ann.recv().await["code"], "too_many_user_connections");
    ann.send(json!({"type": "whoami", "id": 1})).await;
    assert_eq!(
        ann.recv().await["user"],
        "ann",
        "the session did not change"
    );
    assert_eq!(server.manager.user_connections("ann"), 1);
    assert_eq!(server.manager.user_connections("bob"), 1);
}

#[tokio::test]
async fn a_refused_join_is_typed_and_joins_nothing() {
    let server = Server::default().await;
    let mut ann = server.connect_as("ann").await;
    ann.send(json!({"type": "join", "room": "vip-lounge"}))
        .await;
    let refused = ann.recv().await;
    assert_eq!(
        refused,
        json!({"type": "error", "code": "join_refused", "message": "vip rooms are for vips"})
    );
    assert_eq!(server.manager.room_size("vip-lounge"), 0);

    // The hook sees the session: a VIP joins, and hears the room.
    let mut vip = server.connect_as("vic&vip").await;
    vip.join("vip-lounge").await;
    vip.quiet().await;
    assert_eq!(server.manager.room_size("vip-lounge"), 1);
    ann.send(json!({"type": "say", "room": "vip-lounge", "text": "psst"}))
        .await;
    assert_eq!(vip.recv().await["text"], "psst");
    ann.sync().await;
    ann.quiet().await;
}

/// A protocol with history, whose room `vault` only `admin` and `bob` may
/// join: the hook is asked before anything of the room is replayed.
#[ws_protocol(history = 100, session = Option<UserId>, heartbeat = "off")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Vault {
    #[ws(client)]
    Join {
        room: String,
        since: Option<Position>,
    },
    #[ws(server)]
    Joined {
        room: String,
        epoch: String,
        recovered: bool,
    },
    #[ws(client)]
    Say { room: String, text: String },
    #[ws(server, history)]
    Said { room: String, text: String },
    #[ws(client, server)]
    Echo { text: String },
}

struct Keeper;

impl VaultHandler for Keeper {
    async fn authenticate(&self, request: &mut Parts, _: &()) -> Result<Option<UserId>, Response> {
        let query = request.uri.query().unwrap_or("");
        Ok(query.strip_prefix("user=").map(UserId::from))
    }

    async fn authorize_join(&self, ctx: &Ctx<Vault>, room: &str) -> Result<(), JoinRefused> {
        let allowed = matches!(ctx.session().as_deref(), Some("admin" | "bob"));
        if room == "vault" && !allowed {
            return Err(JoinRefused::new("the vault is closed"));
        }
        Ok(())
    }

    async fn join(&self, ctx: &Ctx<Vault>, msg: vault::Join) -> HandlerResult {
        let joining = ctx.join_from(&msg.room, msg.since.as_ref()).await?;
        let resume = joining.resume();
        ctx.send(vault::Joined {
            room: msg.room,
            epoch: resume.epoch.to_string(),
            recovered: resume.recovered,
        })?;
        Ok(())
    }

    async fn say(&self, ctx: &Ctx<Vault>, msg: vault::Say) -> HandlerResult {
        ctx.to_room(&msg.room).send(vault::Said {
            room: msg.room.clone(),
            text: msg.text,
        })?;
        Ok(())
    }

    async fn echo(&self, ctx: &Ctx<Vault>, msg: vault::Echo) -> HandlerResult {
        ctx.send(msg)?;
        Ok(())
    }
}

#[tokio::test]
async fn a_refused_resume_replays_nothing_of_the_room() {
    let server = TestServer::start(Manager::<Vault>::new(), Arc::new(Keeper)).await;
    let mut admin = server.connect().query("?user=admin").client().await;
    admin
        .push(vault::Join {
            room: "vault".into(),
            since: None,
        })
        .await;
    let joined = admin.expect::<vault::Joined>().await;
    for text in ["one", "two", "three"] {
        admin
            .push(vault::Say {
                room: "vault".into(),
                text: text.into(),
            })
            .await;
        assert_eq!(admin.expect::<vault::Said>().await.text, text);
    }
    let since = Position {
        epoch: joined.epoch.clone(),
        offset: 0,
    };

    // eve resumes from the start: refused before any replay.
    let mut eve = server.connect().query("?user=eve").client().await;
    eve.push(vault::Join {
        room: "vault".into(),
        since: Some(since.clone()),
    })
    .await;
    let refused = eve.expect_error().await;
    assert_eq!(refused.code, "join_refused");
    assert_eq!(refused.message, "the vault is closed");
    eve.push(vault::Echo {
        text: "after".into(),
    })
    .await;
    assert_eq!(
        eve.expect::<vault::Echo>().await.text,
        "after",
        "nothing replayed"
    );
    assert_eq!(server.manager().room_size("vault"), 1);

    // bob may: the same resume replays all three.
    let mut bob = server.connect().query("?user=bob").client().await;
    bob.push(vault::Join {
        room: "vault".into(),
        since: Some(since),
    })
    .await;
    assert!(bob.expect::<vault::Joined>().await.recovered);
    for text in ["one", "two", "three"] {
        assert_eq!(bob.expect::<vault::Said>().await.text, text);
    }
}
