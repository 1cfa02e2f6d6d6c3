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

    // No follow-on error: the method returns the reply as declared.
    async fn ping(&self, _ctx: &Ctx<Chat>, _msg: chat::Ping) -> HandlerResult<chat::Join> {
        Ok(chat::Join { room: "r".into() })
    }
}

fn main() {}
