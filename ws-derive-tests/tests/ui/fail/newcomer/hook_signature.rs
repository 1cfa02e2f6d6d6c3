// `on_disconnect` returns nothing; a result here is a wrong signature.
use ws_core::{Ctx, Disconnect, HandlerResult, ws_protocol};

#[ws_protocol]
pub enum Game {
    #[ws(server)]
    Over { winner: String },
}

struct App;

impl GameHandler for App {
    async fn on_disconnect(&self, _ctx: &Ctx<Game>, _disconnect: &Disconnect) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
