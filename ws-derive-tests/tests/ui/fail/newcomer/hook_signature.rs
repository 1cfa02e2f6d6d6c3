// `on_disconnect` returns nothing; a result here is a wrong signature.
use ws_core::{Ctx, Disconnect, HandlerResult, ws_protocol};

#[ws_protocol]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

struct App;

impl GameHandler for App {
    async fn start(&self, _ctx: &Ctx<Game>, _msg: game::Start) -> HandlerResult {
        Ok(())
    }

    async fn on_disconnect(&self, _ctx: &Ctx<Game>, _disconnect: &Disconnect) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
