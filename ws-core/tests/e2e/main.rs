//! End-to-end tests: a real axum server on 127.0.0.1 and real WebSocket
//! clients. One test binary, one module per concern.

mod admission;
mod chat_example;
mod claims;
mod client_reconnect;
mod closing;
mod cluster;
mod config;
mod deflate;
mod deploy;
mod drops;
mod exhaustion;
mod expiry;
mod flow;
mod frontend;
mod harness;
mod history;
mod history_cluster;
mod invalid;
mod manager_api;
mod model;
mod msgpack;
mod operating;
mod origin;
mod overflow;
mod peer_limits;
mod presence;
mod reconnect;
mod reliability;
mod routing;
mod schema;
mod server_requests;
mod session;
mod storm;
mod support;
mod telemetry;
