//! One connection's HTTP: hyper's HTTP/1.1 server (upgrades to WebSocket
//! by `101`) or its HTTP/2 server (WebSockets by extended CONNECT, RFC
//! 8441), the version told by the connection preface or by ALPN, driven
//! until it ends or the server stops.

use std::convert::Infallible;
use std::fmt::Display;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::{Accepted, Connection, OverTls};

/// The HTTP version a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    Http1,
    Http2,
}

/// What an HTTP/2 client sends first (RFC 9113 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The receive window of one HTTP/2 stream (one WebSocket): what the peer
/// may send ahead of the WebSocket's reader.
const STREAM_WINDOW: u32 = 256 * 1024;

/// The receive window of a whole HTTP/2 connection: sixteen streams'
/// worth, so that a WebSocket whose reader is slow (a busy handler)
/// stalls itself but not the other WebSockets on the connection. Hyper's
/// default gives the connection the window of one stream.
const CONNECTION_WINDOW: u32 = 16 * STREAM_WINDOW;

/// How often an HTTP/2 connection is pinged (hyper closes it when a ping
/// goes unanswered for 20 s). Over HTTP/1.1 a WebSocket that ends closes
/// its socket; an HTTP/2 connection outlives its streams, so a peer that
/// vanished would otherwise hold it, and its task, for good.
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Tells HTTP/2 with prior knowledge from HTTP/1 by the first bytes, which
/// stay in the socket for hyper to read. `None`: the peer closed first.
///
/// Every HTTP/1 request line differs from the preface within its first two
/// bytes, so only a client that does send the preface can make this wait
/// for more than its first segment.
pub(super) async fn sniff(tcp: &TcpStream) -> io::Result<Option<Version>> {
    let mut first = [0; PREFACE.len()];
    loop {
        let n = tcp.peek(&mut first).await?;
        if n == 0 {
            return Ok(None);
        }
        if first[..n] != PREFACE[..n] {
            return Ok(Some(Version::Http1));
        }
        if n == PREFACE.len() {
            return Ok(Some(Version::Http2));
        }
        // Part of the preface: a peek would return at once with the same
        // bytes, so wait a little for the rest (the caller's deadline
        // bounds the whole).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Serves the connection's requests until it ends; `stop` shuts it down
/// gracefully.
pub(super) async fn serve<I>(connection: Connection, io: I, version: Version, tls: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection {
        peer,
        accepted,
        app,
        handshake_timeout,
        stop,
    } = connection;
    let deadline = accepted.0 + handshake_timeout;
    let io = TokioIo::new(io);
    match version {
        Version::Http1 => {
            let mut http = http1::Builder::new();
            // What is left of the deadline after the TLS handshake.
            http.timer(TokioTimer::new())
                .header_read_timeout(deadline.saturating_duration_since(Instant::now()));
            let service = Routed {
                app,
                peer,
                accepted: Some(accepted),
                requested: None,
                tls,
            };
            let connection = http.serve_connection(io, service).with_upgrades();
            drive(connection, |c| c.graceful_shutdown(), stop, None, peer).await;
        }
        Version::Http2 => {
            let mut http = http2::Builder::new(TokioExecutor::new());
            http.timer(TokioTimer::new())
                .enable_connect_protocol()
                .keep_alive_interval(KEEP_ALIVE)
                .initial_stream_window_size(STREAM_WINDOW)
                .initial_connection_window_size(CONNECTION_WINDOW);
            let requested = Arc::new(AtomicBool::new(false));
            let service = Routed {
                app,
                peer,
                accepted: None,
                requested: Some(Arc::clone(&requested)),
                tls,
            };
            let connection = http.serve_connection(io, service);
            let deadlines = Some(Deadlines {
                first_request: deadline,
                requested,
                grace: handshake_timeout,
            });
            drive(connection, |c| c.graceful_shutdown(), stop, deadlines, peer).await;
        }
    }
}

/// The router as hyper's service, every request with the peer's address
/// and the instant its handshake deadline counts from: the connection's
/// accept for HTTP/1 (`accepted`), the request's arrival for HTTP/2, where
/// streams open all through the connection's life. `requested` is set by
/// the first request.
#[derive(Clone)]
struct Routed {
    app: Router,
    peer: SocketAddr,
    accepted: Option<Accepted>,
    requested: Option<Arc<AtomicBool>>,
    /// The connection is TLS that `serve` terminated.
    tls: bool,
}

impl hyper::service::Service<Request<Incoming>> for Routed {
    type Response = Response;
    type Error = Infallible;
    type Future = TowerToHyperServiceFuture<Router, Request>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(requested) = &self.requested {
            requested.store(true, Ordering::Relaxed);
        }
        let since = self.accepted.unwrap_or_else(|| Accepted(Instant::now()));
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        request.extensions_mut().insert(since);
        if self.tls {
            request.extensions_mut().insert(OverTls);
        }
        TowerToHyperService::new(self.app.clone()).call(request)
    }
}

/// The deadlines of an HTTP/2 connection, which, unlike HTTP/1.1's,
/// carries WebSockets past its handshakes.
struct Deadlines {
    /// The first request must have arrived by then (set by [`Routed`]).
    first_request: Instant,
    requested: Arc<AtomicBool>,
    /// After the server stops, what the connection's streams have to
    /// finish before it is closed.
    grace: Duration,
}

/// What the timer of [`drive`] is set for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timer {
    Off,
    FirstRequest,
    Stopped,
}

/// Drives `connection` to its end. When the server stops it is shut down
/// gracefully (HTTP/2: `GOAWAY`, then the open streams finish within
/// `grace`, or are cut: the manager's shutdown, which closes its
/// WebSockets, runs before the stop); an HTTP/2 connection that has sent
/// no request by its deadline is dropped.
async fn drive<C, E>(
    connection: C,
    shutdown: impl Fn(Pin<&mut C>),
    mut stop: watch::Receiver<bool>,
    http2: Option<Deadlines>,
    peer: SocketAddr,
) where
    C: Future<Output = Result<(), E>>,
    E: Display,
{
    tokio::pin!(connection);
    let timer = sleep_until(
        http2
            .as_ref()
            .map_or_else(Instant::now, |d| d.first_request),
    );
    tokio::pin!(timer);
    let mut set_for = if http2.is_some() {
        Timer::FirstRequest
    } else {
        Timer::Off
    };
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::trace!(%error, %peer, "connection ended");
                }
                break;
            }
            Ok(()) = stop.changed() => {
                shutdown(connection.as_mut());
                if let Some(http2) = &http2 {
                    timer.as_mut().reset(Instant::now() + http2.grace);
                    set_for = Timer::Stopped;
                }
            }
            () = &mut timer, if set_for != Timer::Off => {
                let requested = http2
                    .as_ref()
                    .is_some_and(|d| d.requested.load(Ordering::Relaxed));
                match set_for {
                    // Nothing is open on it, so nothing to finish: dropped,
                    // not shut down gracefully (hyper's GOAWAY waits for
                    // a PING the idle peer need not answer).
                    Timer::FirstRequest if !requested => {
                        tracing::trace!(%peer, "no HTTP/2 request within the handshake timeout");
                        break;
                    }
                    Timer::Stopped => {
                        tracing::debug!(%peer, "HTTP/2 connection cut: its streams outlived the shutdown");
                        break;
                    }
                    _ => set_for = Timer::Off,
                }
            }
        }
    }
    drop(stop);
}
