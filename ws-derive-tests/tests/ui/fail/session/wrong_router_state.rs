// A handler for a router without state mounted on a `Router<AppState>`:
// the error says which handler trait to implement.
use std::sync::Arc;

use ws_core::axum::Router;
use ws_core::{Ctx, HandlerResult, Manager, endpoint, ws_protocol};

#[ws_protocol]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

#[derive(Clone)]
struct AppState;

struct App;

impl GameHandler for App {
    async fn start(&self, _ctx: &Ctx<Game>, _msg: game::Start) -> HandlerResult {
        Ok(())
    }
}

fn main() {
    let app: Router<AppState> =
        Router::new().route("/ws", endpoint(Manager::<Game>::new(), Arc::new(App)));
    let _app: Router = app.with_state(AppState);
}
