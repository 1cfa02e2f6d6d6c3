// A session type must implement `ws_core::Session`: the error names the type
// where it is written.
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::{Ctx, HandlerResult, ws_protocol};

pub struct Claims {
    pub admin: bool,
}

#[ws_protocol(session = Claims)]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

struct App;

impl GameHandler for App {
    async fn authenticate(&self, _request: &mut Parts, _state: &()) -> Result<Claims, Response> {
        Ok(Claims { admin: false })
    }

    async fn start(&self, _ctx: &Ctx<Game>, _msg: game::Start) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
