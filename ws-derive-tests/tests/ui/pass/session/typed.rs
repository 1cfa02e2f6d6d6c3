// A session type with a comma in its generics, a handler for every router
// state, `authorize_join`, and sessions read and replaced, compiling clean.
#![deny(warnings)]

use std::marker::PhantomData;
use std::sync::Arc;

use ws_core::axum::Router;
use ws_core::axum::extract::{FromRequestParts, Query};
use ws_core::axum::http::request::Parts;
use ws_core::axum::response::{IntoResponse, Response};
use ws_core::{Ctx, HandlerResult, JoinRefused, Manager, Session, UserId, endpoint, ws_protocol};

pub struct Pair<A, B> {
    user: Option<UserId>,
    _kinds: PhantomData<(A, B)>,
}

impl<A: Send + Sync + 'static, B: Send + Sync + 'static> Session for Pair<A, B> {
    fn user(&self) -> Option<UserId> {
        self.user.clone()
    }
}

#[ws_protocol(session = Pair<u8, u16>, max_per_user = 2)]
pub enum Game {
    #[ws(client)]
    Start { lobby: String },
}

struct App;

#[derive(serde::Deserialize)]
struct Login {
    user: Option<String>,
}

impl<S: Send + Sync + 'static> GameHandler<S> for App {
    async fn authenticate(&self, request: &mut Parts, state: &S) -> Result<Pair<u8, u16>, Response> {
        let Query(login) = Query::<Login>::from_request_parts(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Pair {
            user: login.user.map(UserId::from),
            _kinds: PhantomData,
        })
    }

    async fn authorize_join(&self, ctx: &Ctx<Game>, room: &str) -> Result<(), JoinRefused> {
        match ctx.session().user() {
            Some(_) => Ok(()),
            None => Err(JoinRefused::new(format!("sign in to join `{room}`"))),
        }
    }

    async fn start(&self, ctx: &Ctx<Game>, msg: game::Start) -> HandlerResult {
        ctx.join(&msg.lobby).await?;
        ctx.set_session(Pair {
            user: None,
            _kinds: PhantomData,
        })?;
        Ok(())
    }
}

#[derive(Clone)]
struct AppState;

fn main() {
    let _plain: Router = Router::new().route("/ws", endpoint(Manager::<Game>::new(), Arc::new(App)));
    let _stateful: Router = Router::new()
        .route("/ws", endpoint(Manager::<Game>::new(), Arc::new(App)))
        .with_state(AppState);
}
