//! In-process end-to-end tests: a real axum server on 127.0.0.1 and real
//! WebSocket clients in this one process, with no Redis and no other
//! process. One module per concern. (`authorize` asks the machine's
//! PostgreSQL, as an app's `authorize_join` would.)

#[path = "../support/mod.rs"]
mod support;

mod admission;
mod authorize;
mod client_reconnect;
mod closing;
mod config;
mod deflate;
mod documents;
mod expiry;
mod flow;
mod history;
mod invalid;
mod manager_api;
mod msgpack;
mod origin;
mod overflow;
mod panics;
mod peer_limits;
mod presence;
mod reliability;
mod requests;
mod routing;
mod schema;
mod server_requests;
mod session;
mod telemetry;
mod test_server;
mod transports;
