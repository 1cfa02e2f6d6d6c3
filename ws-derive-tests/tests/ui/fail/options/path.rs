use ws_core::ws_protocol;

#[ws_protocol(path = "ws")]
pub enum A {
    #[ws(client)]
    Join,
}

#[ws_protocol(path = 3)]
pub enum B {
    #[ws(client)]
    Join,
}

fn main() {}
