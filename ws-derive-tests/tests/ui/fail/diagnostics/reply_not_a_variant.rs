use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
#[serde(tag = "type")]
pub enum Game {
    #[ws(client, reply = Status)]
    Ask,
    #[ws(server)]
    State { n: u32 },
}

struct App;
impl GameHandler for App {
    async fn ask(&self, _ctx: &Ctx<Game>, _msg: game::Ask) -> HandlerResult<game::State> {
        Ok(game::State { n: 1 })
    }
}

fn main() {}
