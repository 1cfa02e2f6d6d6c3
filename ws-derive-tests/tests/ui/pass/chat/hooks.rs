// The three hooks written as `async fn`, as a user writes them: no
// `refining_impl_trait` warning, though the trait returns `impl OnConnect<P>`.
#![deny(warnings)]

use ws_core::axum::http::request::Parts;
use ws_core::axum::response::Response;
use ws_core::{Ctx, Disconnect, HandlerResult, UserId, ws_protocol};

#[ws_protocol(session = Option<UserId>)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

struct App;

impl GameHandler for App {
    async fn start(&self, _ctx: &Ctx<Game>, _msg: game::Start) -> HandlerResult {
        Ok(())
    }

    async fn authenticate(&self, _request: &mut Parts, _: &()) -> Result<Option<UserId>, Response> {
        Ok(Some(UserId::from("ann")))
    }

    async fn on_connect(&self, _ctx: &Ctx<Game>) -> HandlerResult {
        Ok(())
    }

    async fn on_disconnect(&self, _ctx: &Ctx<Game>, _disconnect: &Disconnect) {}
}

/// Hooks written with an explicit future keep compiling too.
struct Explicit;

impl GameHandler for Explicit {
    async fn start(&self, _ctx: &Ctx<Game>, _msg: game::Start) -> HandlerResult {
        Ok(())
    }

    fn authenticate(
        &self,
        _request: &mut Parts,
        _state: &(),
    ) -> impl std::future::Future<Output = Result<Option<UserId>, Response>> + Send {
        async { Ok(None) }
    }

    fn on_connect(
        &self,
        _ctx: &Ctx<Game>,
    ) -> impl std::future::Future<Output = HandlerResult> + Send {
        async { Ok(()) }
    }
}

fn main() {
    let _ = (App, Explicit);
}
