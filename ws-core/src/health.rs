//! A health endpoint for load balancers and orchestrators.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use crate::manager::Manager;
use crate::protocol::Protocol;

/// An axum route answering `200` with the manager's figures while it admits
/// connections, and `503` once [`Manager::shutdown`] has begun (so a load
/// balancer stops sending new clients) or while the connection cap is
/// reached.
///
/// ```
/// # use ws_core::{ws_protocol, Manager, health};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// let manager = Manager::<Chat>::new();
/// let app: axum::Router = axum::Router::new().route("/health", health(manager));
/// ```
///
/// The body: `{"status":"ok","connections":12,"admitted":12,"max_connections":10000,"rooms":3,"users":9}`
/// with `status` one of `ok`, `full`, `shutting_down`.
pub fn health<P, S>(manager: Manager<P>) -> MethodRouter<S>
where
    P: Protocol,
    S: Clone + Send + Sync + 'static,
{
    get(move || {
        let manager = manager.clone();
        async move { report(&manager) }
    })
}

fn report<P: Protocol>(manager: &Manager<P>) -> Response {
    let max = manager.config().max_connections();
    let admitted = manager.admitted();
    let status = if manager.is_shutting_down() {
        "shutting_down"
    } else if max != 0 && admitted >= max {
        "full"
    } else {
        "ok"
    };
    let body = serde_json::json!({
        "status": status,
        "connections": manager.connections(),
        "admitted": admitted,
        "max_connections": max,
        "rooms": manager.rooms(),
        "users": manager.users(),
    });
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
