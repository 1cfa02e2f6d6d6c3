// `authenticate` takes the request's head mutably (for axum's extractors)
// and the router's state: the signature of before is refused.
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::ws_protocol;

#[ws_protocol]
pub enum Game {
    #[ws(server)]
    Hello { from: String },
}

struct App;

impl GameHandler for App {
    async fn authenticate(&self, _request: &Parts) -> Result<(), Response> {
        Ok(())
    }
}

fn main() {}
