use ws_core::{Ctx, HandlerResult, ws_protocol};

// `reply` alone, as if it implied `client`.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(reply = Pong)]
    Ping,
    #[ws(server)]
    Pong,
}

struct App;

// No follow-on error for the handler written as intended.
impl ChatHandler for App {
    async fn ping(&self, _ctx: &Ctx<Chat>, _msg: chat::Ping) -> HandlerResult<chat::Pong> {
        Ok(chat::Pong)
    }
}

fn main() {}
