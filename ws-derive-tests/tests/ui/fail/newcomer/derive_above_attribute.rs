// serde's derives written above `#[ws_protocol]`, which derives them itself.
use ws_core::ws_protocol;

#[derive(serde::Serialize, serde::Deserialize)]
#[ws_protocol]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

fn main() {}
