use ws_core::{Ctx, HandlerResult, ws_protocol};

#[ws_protocol]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    Say { text: String },
    #[ws(server)]
    Said { text: String },
}

struct App;

impl ChatHandler for App {
    async fn join(&self, _ctx: &Ctx<Chat>, _msg: chat::Join) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
