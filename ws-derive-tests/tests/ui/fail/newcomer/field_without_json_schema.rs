// A nested type with serde's derives but not schemars' `JsonSchema`.
use ws_core::ws_protocol;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Role {
    name: String,
}

#[ws_protocol]
pub enum Game {
    #[ws(server)]
    Assigned { role: Role },
}

fn main() {}
