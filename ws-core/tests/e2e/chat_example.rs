//! The chat example's protocol and handlers, compiled into the e2e suite
//! (as ws-bench does) so its wire contract is tested in-process, on real
//! sockets.

#[path = "../../../examples/chat/app.rs"]
pub mod app;
#[path = "../../../examples/chat/protocol.rs"]
pub mod protocol;

use std::net::SocketAddr;
use std::sync::Arc;

use ws_core::axum::Router;
use ws_core::{Manager, ManagerBuilder, endpoint};

pub use protocol::Chat;

/// A chat server on 127.0.0.1:0 with `configure` applied to its builder.
pub async fn serve(
    configure: impl FnOnce(ManagerBuilder<Chat>) -> ManagerBuilder<Chat>,
) -> (SocketAddr, Manager<Chat>) {
    let manager = configure(Manager::<Chat>::builder()).build();
    let router = Router::new().route("/ws", endpoint(manager.clone(), Arc::new(app::App)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ws_core::serve(listener, router));
    (addr, manager)
}

/// A chat server on `addr` (a port chosen earlier, e.g. one a client is
/// already trying), with `configure` applied to its builder.
pub async fn serve_at(
    addr: SocketAddr,
    configure: impl FnOnce(ManagerBuilder<Chat>) -> ManagerBuilder<Chat>,
) -> Manager<Chat> {
    let manager = configure(Manager::<Chat>::builder()).build();
    let router = Router::new().route("/ws", endpoint(manager.clone(), Arc::new(app::App)));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(ws_core::serve(listener, router));
    manager
}
