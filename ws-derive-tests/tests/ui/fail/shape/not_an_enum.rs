use ws_core::ws_protocol;

#[ws_protocol(send_queue = 8)]
#[serde(tag = "type")]
pub struct Chat {
    room: String,
}

fn main() {}
