use ws_core::{Ctx, HandlerResult, ws_protocol};

// Untagged, `{"room":"r"}` would always be routed as `Join`.
#[ws_protocol]
#[serde(untagged)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    Leave { room: String },
}

struct App;

// No follow-on error: the handler trait is still generated.
impl ChatHandler for App {
    async fn join(&self, _ctx: &Ctx<Chat>, _msg: chat::Join) -> HandlerResult {
        Ok(())
    }
    async fn leave(&self, _ctx: &Ctx<Chat>, _msg: chat::Leave) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
