// A session other than `()` is made only by `authenticate`: it has no
// default, and leaving it out names it.
use ws_core::{Ctx, HandlerResult, UserId, ws_protocol};

#[ws_protocol(session = Option<UserId>)]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

struct App;

impl GameHandler for App {
    async fn start(&self, _ctx: &Ctx<Game>, _msg: game::Start) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
