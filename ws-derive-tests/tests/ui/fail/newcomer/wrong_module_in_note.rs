// A protocol whose module is `game`: the note must not say `chat::Said`.
use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
    #[ws(server)]
    Started { lobby: String },
}

struct App;

impl GameHandler for App {
    async fn start(&self, ctx: &Ctx<Game>, msg: game::Start) -> HandlerResult {
        ctx.to_room(&msg.lobby.clone()).send(msg)?;
        Ok(())
    }
}

fn main() {}
