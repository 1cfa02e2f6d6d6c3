use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
#[serde(tag = "type")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(client, reply = Join)]
    Ping,
}

struct App;

impl ChatHandler for App {
    async fn join(&self, _ctx: &Ctx<Chat>, _msg: chat::Join) -> HandlerResult {
        Ok(())
    }

    // Without a valid reply the method returns `HandlerResult`.
    async fn ping(&self, _ctx: &Ctx<Chat>, _msg: chat::Ping) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
