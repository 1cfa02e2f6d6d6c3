//! The broadcast and manager API a real application needs: early replies
//! (`Ctx::reply`) and the per-connection order they rely on.

use std::sync::Arc;

use serde_json::json;
use ws_core::testing::TestServer;
use ws_core::{Ctx, HandlerResult, Manager, ws_protocol};

use crate::support::Client;

/// A lobby: rooms joined by request.
#[ws_protocol(path = "/lobby", heartbeat = "off", idle_timeout = "off")]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Lobby {
    /// Joins a room; answered early, before the room hears of it.
    #[ws(client, reply = Joined)]
    Join { room: String },
    /// Joins a room; answered when the handler returns, after the room.
    #[ws(client, reply = Joined)]
    JoinLate { room: String },
    /// Replies twice: the second is refused.
    #[ws(client, reply = Joined)]
    Twice { room: String },
    /// The answer to a join.
    #[ws(server)]
    Joined { room: String },
    /// To the whole room, the newcomer included.
    #[ws(server)]
    Arrived { room: String, conn: u64 },
}

struct App;

impl App {
    fn announce(ctx: &Ctx<Lobby>, room: &str) -> HandlerResult {
        ctx.join(room)?;
        ctx.to_room(room).send(lobby::Arrived {
            room: room.to_owned(),
            conn: ctx.id().get(),
        })?;
        Ok(())
    }
}

impl LobbyHandler for App {
    async fn join(&self, ctx: &Ctx<Lobby>, msg: lobby::Join) -> HandlerResult<lobby::Joined> {
        let joined = ctx.reply(lobby::Joined {
            room: msg.room.clone(),
        })?;
        App::announce(ctx, &msg.room)?;
        Ok(joined)
    }

    async fn join_late(
        &self,
        ctx: &Ctx<Lobby>,
        msg: lobby::JoinLate,
    ) -> HandlerResult<lobby::Joined> {
        App::announce(ctx, &msg.room)?;
        Ok(lobby::Joined { room: msg.room })
    }

    async fn twice(&self, ctx: &Ctx<Lobby>, msg: lobby::Twice) -> HandlerResult<lobby::Joined> {
        ctx.reply(lobby::Joined {
            room: msg.room.clone(),
        })?;
        // Refused (`AlreadyReplied`): the client gets `internal`, uncorrelated.
        Ok(ctx.reply(lobby::Joined { room: msg.room })?)
    }
}

async fn server() -> TestServer<Lobby> {
    TestServer::start(Manager::<Lobby>::new(), Arc::new(App)).await
}

#[tokio::test]
async fn an_early_reply_goes_before_what_the_handler_sends_after_it() {
    let server = server().await;
    let mut a = Client::connect(&server.url("")).await;
    a.send(json!({"type": "join", "room": "r", "id": 1})).await;
    assert_eq!(
        a.recv().await,
        json!({"id": 1, "type": "joined", "room": "r"})
    );
    assert_eq!(a.recv().await["type"], "arrived");

    let mut b = Client::connect(&server.url("")).await;
    b.send(json!({"type": "join", "room": "r", "id": 7})).await;
    // The reply first, with the request's id; then the room's broadcast,
    // which the newcomer is a member of by then; and no second reply.
    assert_eq!(
        b.recv().await,
        json!({"id": 7, "type": "joined", "room": "r"})
    );
    assert_eq!(b.recv().await["type"], "arrived");
    b.quiet_rpc().await;
    assert_eq!(a.recv().await["type"], "arrived");
}

#[tokio::test]
async fn a_reply_returned_goes_after_what_the_handler_sent() {
    let server = server().await;
    let mut a = Client::connect(&server.url("")).await;
    a.send(json!({"type": "join_late", "room": "r", "id": 3}))
        .await;
    assert_eq!(a.recv().await["type"], "arrived");
    assert_eq!(
        a.recv().await,
        json!({"id": 3, "type": "joined", "room": "r"})
    );
}

#[tokio::test]
async fn a_request_is_answered_once() {
    let server = server().await;
    let mut a = Client::connect(&server.url("")).await;
    a.send(json!({"type": "twice", "room": "r", "id": 4})).await;
    assert_eq!(
        a.recv().await,
        json!({"id": 4, "type": "joined", "room": "r"})
    );
    // The failure after the answer reaches the client without the id.
    let error = a.recv().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "internal");
    assert!(error.get("id").is_none(), "{error}");
    a.quiet_rpc().await;
}

impl Client {
    /// Nothing more is owed to this client: a request sent now is the next
    /// thing answered (the server handles a connection's messages in order).
    async fn quiet_rpc(&mut self) {
        self.send(json!({"type": "join", "room": "quiet-probe", "id": 999}))
            .await;
        assert_eq!(
            self.recv().await,
            json!({"id": 999, "type": "joined", "room": "quiet-probe"}),
            "expected nothing before the probe's reply"
        );
    }
}
