// A session other than `()` is made only by `authenticate`: it has no
// default, and leaving it out names it.
use ws_core::{UserId, ws_protocol};

#[ws_protocol(session = Option<UserId>)]
pub enum Game {
    #[ws(server)]
    Welcome {},
}

struct App;

impl GameHandler for App {}

fn main() {}
