use ws_core::ws_protocol;

// serde's variant-level `untagged`: the variant takes whatever the tagged
// ones refuse.
#[ws_protocol]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chat {
    #[ws(client)]
    Join { room: String },
    #[ws(client)]
    #[serde(untagged)]
    Raw { text: String },
}

fn main() {}
