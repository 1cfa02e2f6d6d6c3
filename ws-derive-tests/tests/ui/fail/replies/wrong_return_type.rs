use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(server)]
    Pong { n: u32 },
    #[ws(server)]
    Said { text: String },
    #[ws(client, reply = Pong)]
    Ping { n: u32 },
}

struct App;

impl ChatHandler for App {
    async fn ping(&self, _ctx: &Ctx<Chat>, msg: chat::Ping) -> HandlerResult<chat::Said> {
        Ok(chat::Said { text: msg.n.to_string() })
    }
}

fn main() {}
