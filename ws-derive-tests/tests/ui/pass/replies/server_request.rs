//! A request of the server (`#[ws(server, reply = Answer)]`): the typed
//! answer through `ServerRequest`, the id in the documents, and no handler
//! method for the answer, which is never routed.

#![deny(warnings)]

use std::time::Duration;

use ws_core::{
    ConnId, Ctx, HandlerResult, Manager, Protocol, RequestError, ServerRequest, ws_protocol,
};

#[ws_protocol]
#[derive(Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Game {
    #[ws(client)]
    Leave,
    /// The server asks; the client answers with `Confirmed`.
    #[ws(server, reply = Confirmed)]
    Confirm { question: String },
    /// `reply = Self::X`, and a variant of both directions as the answer.
    #[ws(server, reply = Self::Echo)]
    Probe,
    #[ws(client)]
    Confirmed { yes: bool },
    #[ws(client, server)]
    Echo,
}

struct App;

// No `confirmed` or `echo` method: answers complete requests instead.
impl GameHandler for App {
    async fn leave(&self, ctx: &Ctx<Game>, _msg: game::Leave) -> HandlerResult {
        let ask = ctx.request(
            game::Confirm {
                question: "quit?".into(),
            },
            Duration::from_secs(5),
        );
        tokio::spawn(async move {
            let _: Result<game::Confirmed, RequestError> = ask.await;
        });
        Ok(())
    }
}

async fn probe(manager: &Manager<Game>, id: ConnId) -> Result<game::Echo, RequestError> {
    manager
        .to_conn(id)
        .request(game::Probe, Duration::from_secs(1))
        .await
}

fn answer_of<M: ServerRequest<Game>>(_: &M) {}

fn main() {
    let _ = (App, probe);
    answer_of(&game::Probe);
    let confirm = &Game::MESSAGES[1];
    assert_eq!(confirm.reply(), Some("confirmed"));
    // Only requests of clients have their reply read on decode.
    assert_eq!(Game::Confirm { question: String::new() }.reply_type(), None);
    assert!(Game::Confirmed { yes: true }.answers_server_request());
    assert!(!Game::Leave.answers_server_request());
    let schema = Game::json_schema().to_string();
    assert!(schema.contains("\"id\""), "{schema}");
}
