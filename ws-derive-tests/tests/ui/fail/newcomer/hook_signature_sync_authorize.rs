// `authorize_join` is async: the synchronous form of earlier versions is a
// wrong signature, and the error says to write `async fn`.
use ws_core::{Ctx, JoinRefused, ws_protocol};

#[ws_protocol]
pub enum Game {
    #[ws(server)]
    Tick { round: u32 },
}

struct App;

impl GameHandler for App {
    fn authorize_join(&self, _ctx: &Ctx<Game>, room: &str) -> Result<(), JoinRefused> {
        match room {
            "lobby" => Ok(()),
            _ => Err(JoinRefused::new("lobby only")),
        }
    }
}

fn main() {}
