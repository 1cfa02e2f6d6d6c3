use ws_core::ws_protocol;

#[ws_protocol]
pub enum Chat<T> {
    #[ws(client)]
    Join { room: T },
}

fn main() {}
