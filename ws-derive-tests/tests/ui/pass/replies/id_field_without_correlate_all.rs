//! A protocol that uses `id` for its own meaning keeps compiling: only
//! requests and replies reserve it, unless `correlate = "all"` is chosen.

use ws_core::{Ctx, HandlerResult, Protocol, ws_protocol};

#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Lobby {
    /// Kick player `id`.
    #[ws(client)]
    Kick { id: u32 },
    #[ws(client, reply = Pong)]
    Ping,
    #[ws(server)]
    Pong,
}

struct App;
impl LobbyHandler for App {
    async fn kick(&self, _ctx: &Ctx<Lobby>, _msg: lobby::Kick) -> HandlerResult {
        Ok(())
    }
    async fn ping(&self, _ctx: &Ctx<Lobby>, _msg: lobby::Ping) -> HandlerResult<lobby::Pong> {
        Ok(lobby::Pong)
    }
}

fn main() {
    assert!(!Lobby::CORRELATE_ALL);
    let _ = App;
}
