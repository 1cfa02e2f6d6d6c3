use ws_core::ws_protocol;

// serde's variant-level `untagged`: the variant takes whatever the tagged
// ones refuse.
#[ws_protocol]
pub enum Chat {
    #[ws(client)]
    #[serde(untagged)]
    Raw { text: String },
}

fn main() {}
