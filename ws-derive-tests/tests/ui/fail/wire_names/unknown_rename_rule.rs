use ws_core::{Ctx, HandlerResult, ws_protocol};

// serde reports the rule; nothing of `#[ws_protocol]` fails after it.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

struct App;

impl ChatHandler for App {
    async fn join(&self, _ctx: &Ctx<Chat>, _msg: chat::Join) -> HandlerResult {
        Ok(())
    }
}

fn main() {
    let _ = Chat::from(chat::Join { room: String::new() });
}
