use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    Leave { room: String },
}

struct App;

// No follow-on error, whether or not the handler defines `leave`.
impl ChatHandler for App {
    async fn join(&self, _ctx: &Ctx<Chat>, _msg: chat::Join) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
