// `authenticate` returns the protocol's session: returning the user, as
// before sessions were typed, names the session type expected.
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::{Session, UserId, ws_protocol};

pub struct Claims {
    pub user: UserId,
}

impl Session for Claims {
    fn user(&self) -> Option<UserId> {
        Some(self.user.clone())
    }
}

#[ws_protocol(session = Claims)]
pub enum Game {
    #[ws(server)]
    Ready {},
}

struct App;

impl GameHandler for App {
    async fn authenticate(&self, _request: &mut Parts, _state: &()) -> Result<Option<UserId>, Response> {
        Ok(None)
    }
}

fn main() {}
