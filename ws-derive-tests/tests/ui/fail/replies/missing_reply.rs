use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(client, reply = Pong)]
    Ping { n: u32 },
    #[ws(server)]
    Pong { n: u32 },
}

struct App;

impl ChatHandler for App {
    async fn ping(&self, ctx: &Ctx<Chat>, msg: chat::Ping) -> HandlerResult {
        ctx.send(chat::Pong { n: msg.n })?;
        Ok(())
    }
}

fn main() {}
