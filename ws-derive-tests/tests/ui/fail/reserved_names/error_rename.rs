use ws_core::ws_protocol;

// The same through `rename` and `alias`, and with another tag: the error
// frames are tagged `"type"` whatever the protocol's tag is.
#[ws_protocol]
#[serde(tag = "kind")]
pub enum Game {
    #[ws(client)]
    Start,
    #[ws(server)]
    #[serde(rename = "error")]
    Failed { reason: String },
    #[ws(server)]
    #[serde(alias = "error")]
    Refused,
}

fn main() {}
