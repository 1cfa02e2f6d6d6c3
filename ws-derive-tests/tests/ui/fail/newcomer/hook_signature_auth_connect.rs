// `on_connect` returns a `HandlerResult` (an error closes the connection);
// leaving it out, or returning the user, is a wrong signature.
use ws_core::axum::http::request::Parts;
use ws_core::{Ctx, UserId, ws_protocol};

#[ws_protocol]
pub enum Game {
    #[ws(server)]
    Tick { round: u32 },
}

struct App;

impl GameHandler for App {
    async fn authenticate(&self, _request: &mut Parts, _state: &()) -> Option<UserId> {
        None
    }

    async fn on_connect(&self, _ctx: &Ctx<Game>) {}
}

fn main() {}
