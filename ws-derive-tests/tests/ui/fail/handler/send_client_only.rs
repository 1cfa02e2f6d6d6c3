use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(server)]
    Joined { room: String },
}

struct App;

impl ChatHandler for App {
    async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
        ctx.send(chat::Join { room: msg.room })?;
        Ok(())
    }
}

fn main() {}
