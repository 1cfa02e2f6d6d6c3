use serde::{Deserialize, Serialize};
use ws_core::ws_protocol;

#[ws_protocol]
#[derive(Debug, Serialize, Clone, Deserialize)]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
}

fn main() {
    // The other derives are kept.
    let _ = chat::Join { room: String::new() }.clone();
}
