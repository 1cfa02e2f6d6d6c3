//! A WebSocket echo for protocol conformance suites (the Autobahn
//! TestSuite's fuzzing client): every text and binary message is sent back
//! as it came. Feature `conformance`.
//!
//! Not a second implementation: the route checks the handshake and
//! negotiates permessage-deflate as [`endpoint`](crate::endpoint) does, and
//! each connection is read by the frame parser every connection uses, with
//! its limits and close codes, and written by the same queue, control
//! frames (pongs, close replies) and writer. Only what sits between them
//! differs: an echo instead of a protocol's decoding and routing, and no
//! manager (no admission, registry, rooms or hooks).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use ws_core::{Config, axum::Router};
//! let config = Config::DEFAULT.with_max_message_size(16 << 20);
//! let app = Router::new().route("/", ws_core::conformance::echo(config));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! ws_core::serve(listener, app).await
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::time::timeout;

use crate::config::Config;
use crate::connection::inbound::Frames;
use crate::connection::io::Socket;
use crate::connection::read_loop::{ReadEnd, wait_for_writer};
use crate::connection::upgrade::{Handshake, handshake};
use crate::connection::writer::{CLOSE_GRACE, write_loop};
use crate::id::ConnId;
use crate::queue::SendQueue;
use crate::rate::InflateBudget;
use crate::registry::{Conn, Membership};
use crate::wire::codec::Codec;
use crate::wire::frame::{OPCODE_BINARY, OPCODE_TEXT, encode};
use crate::wire::parse::Message;

/// The axum route of the echo, with `config`'s frame and queue options
/// (`max_message_size`, `read_buffer`, `write_buffer`, `send_queue`,
/// `on_full`, `stall_timeout`, `compression`, `compress_min_size`,
/// `heartbeat`); the options of a manager (admission, rooms) do not apply.
pub fn echo(config: Config) -> MethodRouter {
    let echo = Arc::new(Echo {
        inflate: InflateBudget::new(&config),
        config,
    });
    get(move |request: Request| upgrade(Arc::clone(&echo), request))
}

/// What every connection of the echo shares.
struct Echo {
    config: Config,
    /// The node's inflation budget, as a manager holds it.
    inflate: InflateBudget,
}

async fn upgrade(echo: Arc<Echo>, mut request: Request) -> Response {
    let config = &echo.config;
    let accept = match handshake(&request) {
        Ok(Handshake::Upgrade { accept }) => accept,
        // The suite speaks HTTP/1.1; an HTTP/2 stream is not echoed.
        Ok(Handshake::Connect) => return StatusCode::NOT_IMPLEMENTED.into_response(),
        Err(refusal) => return refusal,
    };
    let deflate = crate::wire::deflate::agree(config, request.headers());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let conn = Arc::new(Conn {
        id: ConnId::next(),
        queue: SendQueue::new(config.send_queue(), config.on_full()),
        deflate,
        membership: Mutex::new(Membership::new(crate::session::erase(()), None)),
        requests: Mutex::default(),
        codec: Codec::Json,
        expires: Default::default(),
    });
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            converse(&Socket::new(TokioIo::new(upgraded)), &conn, &echo).await;
        }
    });
    let mut response = (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response();
    if let Some(deflate) = deflate {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_EXTENSIONS, deflate.agreed());
    }
    response
}

/// The echo and the writer side by side, then the close, as a protocol's
/// connection has them.
async fn converse(socket: &Socket, conn: &Arc<Conn>, echo: &Echo) {
    let config = &echo.config;
    let mut sink = socket.half();
    let mut frames = Frames::new(socket.half(), Arc::clone(conn), config, &echo.inflate);
    let depth = metrics::Histogram::noop();
    let reader = echo_loop(&mut frames, conn, config.stall_timeout());
    let writer = write_loop(
        &mut sink,
        &conn.queue,
        config.heartbeat(),
        config.write_buffer(),
        &depth,
    );
    tokio::pin!(reader, writer);
    tokio::select! {
        end = &mut reader => {
            // After the peer's close nothing more may be sent: abort.
            let (abort, intended) = match end {
                ReadEnd::Close(frame) | ReadEnd::Revoke(frame) => (false, Some(frame)),
                ReadEnd::Closing => (false, None),
                ReadEnd::PeerClosed(_) | ReadEnd::Vanished => (true, None),
            };
            conn.queue.close(abort, intended);
            let _ = timeout(2 * CLOSE_GRACE, writer).await;
        }
        _ = &mut writer => {}
    }
}

/// Every text and binary message back to the peer, in order; with the
/// flow control of the read loop (nothing more is read while the queue is
/// backed up).
async fn echo_loop(frames: &mut Frames<'_>, conn: &Conn, stall: Duration) -> ReadEnd {
    loop {
        if conn.queue.is_backed_up()
            && let Some(end) = wait_for_writer(&conn.queue, stall).await
        {
            return end;
        }
        let echo = match frames.next().await {
            None => return ReadEnd::Vanished,
            Some(Err(end)) => return end,
            Some(Ok(Message::Text(text))) => encode(OPCODE_TEXT, text.as_bytes()),
            Some(Ok(Message::Binary(data))) => encode(OPCODE_BINARY, &data),
            Some(Ok(Message::Close(close))) => return ReadEnd::PeerClosed(close),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
        };
        conn.push(echo);
    }
}
