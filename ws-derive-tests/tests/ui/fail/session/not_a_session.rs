// A session type must implement `ws_core::Session`: the error names the type
// where it is written.
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::ws_protocol;

pub struct Claims {
    pub admin: bool,
}

#[ws_protocol(session = Claims)]
pub enum Game {
    #[ws(server)]
    Kicked { reason: String },
}

struct App;

impl GameHandler for App {
    async fn authenticate(&self, _request: &mut Parts, _state: &()) -> Result<Claims, Response> {
        Ok(Claims { admin: false })
    }
}

fn main() {}
