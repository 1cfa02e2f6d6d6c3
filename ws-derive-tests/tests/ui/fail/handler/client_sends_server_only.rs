use ws_core::{ClientMessage, Request, ws_protocol};

#[ws_protocol]
#[serde(tag = "type")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(server)]
    Joined { room: String },
}

fn client_sends<M: ClientMessage<Chat>>(_message: M) {}

fn request<R: Request<Chat>>(_request: R) {}

fn main() {
    client_sends(chat::Joined { room: "r".into() });
    request(chat::Join { room: "r".into() });
}
