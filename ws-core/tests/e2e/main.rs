//! End-to-end tests: a real axum server on 127.0.0.1 and real WebSocket
//! clients. One test binary, one module per concern.

mod admission;
mod chat_example;
mod closing;
mod cluster;
mod config;
mod exhaustion;
mod flow;
mod frontend;
mod history;
mod invalid;
mod overflow;
mod peer_limits;
mod reliability;
mod routing;
mod schema;
mod support;
mod telemetry;
