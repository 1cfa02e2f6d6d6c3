// `session` names a type.
use ws_core::ws_protocol;

#[ws_protocol(session)]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

fn main() {}
