//! The HTTP side: the WebSocket handshake is checked, a slot is reserved
//! (503 past the cap, consuming nothing), the authentication hook runs, and
//! only then is the 101 sent. All of it happens before the upgrade, so a
//! refused client never costs a task or a socket buffer.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use crate::manager::Manager;
use crate::protocol::Route;

/// The axum route that serves protocol `P` with `handler`.
///
/// Mount it at any path of an existing router; the router's own state is
/// untouched (the handler holds what it needs).
///
/// ```
/// use std::sync::Arc;
/// use ws_core::{ws_protocol, endpoint, Ctx, HandlerResult, Manager};
///
/// #[ws_protocol(max_connections = 1_000)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Echo {
///     #[ws(client, server)]
///     Echo { text: String },
/// }
///
/// struct App;
/// impl EchoHandler for App {
///     async fn echo(&self, ctx: &Ctx<Echo>, msg: echo::Echo) -> HandlerResult {
///         ctx.send(msg)?;
///         Ok(())
///     }
/// }
///
/// let manager = Manager::<Echo>::new();
/// let app: axum::Router = axum::Router::new()
///     .route("/ws", endpoint(manager.clone(), Arc::new(App)))
///     .route("/health", axum::routing::get(|| async { "ok" }));
/// ```
pub fn endpoint<P, H, S>(manager: Manager<P>, handler: Arc<H>) -> MethodRouter<S>
where
    P: Route<H>,
    H: Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    get(move |request: Request| upgrade(manager.clone(), Arc::clone(&handler), request))
}

async fn upgrade<P, H>(manager: Manager<P>, handler: Arc<H>, request: Request) -> Response
where
    P: Route<H>,
    H: Send + Sync + 'static,
{
    let (mut parts, _body) = request.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(mut slot) = manager.admission().try_admit() else {
        manager.counters().rejected();
        if manager.is_shutting_down() {
            return unavailable("shutting down");
        }
        return unavailable("connection limit reached");
    };
    let user = match P::authenticate(&handler, &parts).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    if let Some(user) = &user
        && !manager.admission().admit_user(&mut slot, user)
    {
        manager.counters().rejected();
        return unavailable("connection limit for this user reached");
    }
    manager.counters().admitted();
    let config = manager.config();
    ws.read_buffer_size(config.read_buffer())
        .write_buffer_size(config.write_buffer())
        .max_message_size(config.max_message_size())
        .max_frame_size(config.max_message_size())
        .on_upgrade(move |socket| super::run(socket, manager, handler, user, slot))
}

/// 503 with `Retry-After`, so well-behaved clients back off.
fn unavailable(why: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
        why,
    )
        .into_response()
}
