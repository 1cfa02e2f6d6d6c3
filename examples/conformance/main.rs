//! The echo server the Autobahn TestSuite's fuzzing client runs against
//! (`conformance/autobahn.sh`): ws-core's own frame parser, queue and
//! writer, with an echo in place of a protocol (see `ws_core::conformance`).
//!
//! ```text
//! cargo run --release -p ws-core --features conformance --example conformance -- 127.0.0.1:9001
//! ```
//!
//! Listens on the address given (default `127.0.0.1:0`, a free port) and
//! prints `listening on ADDR` once it accepts connections.

use ws_core::axum::Router;
use ws_core::{Config, serve};

/// The suite's largest messages are 16 MiB (cases 9.1.6, 9.2.6).
const MAX_MESSAGE: usize = 32 << 20;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let config = Config::DEFAULT
        .with_max_message_size(MAX_MESSAGE)
        // Every message compressed, whatever its size (cases 12 and 13).
        .with_compress_min_size(0)
        // The suite counts its own pings and pongs: none of the server's.
        .with_heartbeat(None)
        // The suite measures the protocol, not the policies that bound what
        // a peer may cost: 9.3 and 9.4 send 4 MiB in fragments of 64 bytes,
        // and 12.x and 13.x inflate hundreds of MiB as fast as they can.
        .with_max_fragments(0)
        .with_fragment_timeout(None)
        .with_inflate_rate(None)
        .with_inflate_node_rate(None);
    let app = Router::new().route("/", ws_core::conformance::echo(config));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    serve(listener, app).await
}
