use ws_core::ws_protocol;

#[ws_protocol(subprotocol = "chat v1")]
pub enum A {
    #[ws(client)]
    Join,
}

#[ws_protocol(subprotocol = "chat.v1, chat.v2")]
pub enum B {
    #[ws(client)]
    Join,
}

#[ws_protocol(subprotocol = 1)]
pub enum C {
    #[ws(client)]
    Join,
}

fn main() {}
