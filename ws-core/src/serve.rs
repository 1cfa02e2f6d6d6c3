//! Serving a router with the socket options and timeouts WebSockets want.
//!
//! `axum::serve` sets no timer on hyper, so hyper's header-read timeout never
//! fires: a peer that sends half a request head holds a descriptor and a task
//! for as long as it keeps the socket open. This accept loop serves HTTP/1.1
//! and HTTP/2 on one port ([`http`]: the connection preface tells them
//! apart, or ALPN over TLS) with a timer, a header-read deadline,
//! `TCP_NODELAY`, the peer address as [`ConnectInfo`], and a back-off on
//! accept errors; with the `tls` feature, over rustls ([`tls`]).

mod http;
#[cfg(feature = "tls")]
mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

use crate::config::Config;

#[cfg(feature = "tls")]
pub use tls::{Tls, TlsError};

/// When the connection was accepted (for HTTP/2, when the request arrived):
/// the handshake deadline counts from here.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accepted(pub(crate) tokio::time::Instant);

/// The request came over TLS that `serve` terminated: the server's own
/// origin is then `https://` (the origin check compares the scheme).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OverTls;

/// Serves `app` on `listener`: HTTP/1.1 and HTTP/2 on the same port,
/// `TCP_NODELAY` on every accepted socket (without it, small frames can
/// wait 40 ms for Nagle's algorithm), the peer's address as
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) (which the per-IP limits read),
/// and a request head that has not fully arrived within the handshake
/// timeout (default [`Config::DEFAULT`]'s
/// [`handshake_timeout`](Config::handshake_timeout), 10 s) drops the
/// connection. The endpoint then holds the rest of the handshake,
/// `authenticate` included, to the same deadline.
///
/// **HTTP/2.** A connection that opens with HTTP/2's preface (h2c with
/// prior knowledge; over TLS, one that chose `h2` by ALPN) is served by
/// hyper's HTTP/2 server with `SETTINGS_ENABLE_CONNECT_PROTOCOL`, so an
/// [`endpoint`](crate::endpoint) accepts WebSockets opened by an extended
/// CONNECT (RFC 8441) as well as HTTP/1.1 upgrades: many WebSockets on one
/// connection, each an HTTP/2 stream with its own flow control (a
/// 256 KiB receive window per stream and 4 MiB per connection, so that
/// sixteen WebSockets whose handlers read slowly can fill their windows
/// before the connection's is used up) and its own close. Each goes through the same admission, limits, origin policy,
/// `authenticate`, deflate and subprotocols as over HTTP/1.1, and its
/// handshake deadline counts from its own request. An HTTP/2 connection
/// must send its first request within the handshake timeout, and is
/// pinged every 30 s and closed when a ping goes unanswered for 20 s (it
/// outlives its WebSockets, so a peer that vanished would otherwise hold
/// it).
///
/// Accept errors such as `EMFILE` are logged and retried after a pause, not
/// in a busy loop. Without
/// `with_graceful_shutdown` it serves
/// until the process ends.
///
/// ```no_run
/// # use ws_core::{ws_protocol, Manager};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// # async fn run(app: axum::Router, manager: Manager<Chat>) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ws_core::serve(listener, app)
///     .handshake_timeout(manager.config().handshake_timeout())
///     .await
/// # }
/// ```
///
/// **With plain `axum::serve`** none of this is set. Serve
/// `app.into_make_service_with_connect_info::<SocketAddr>()` so that
/// `max_per_ip` and `handshake_rate` see the peer (without `ConnectInfo`
/// they are off, with a warning logged once), and bound the request head
/// yourself, e.g. with a `hyper_util` accept loop that sets
/// `http1::Builder::timer` and `header_read_timeout`: `axum::serve` has no
/// header-read timeout, so half-sent requests are held forever.
///
/// [`ConnectInfo`]: axum::extract::ConnectInfo
pub fn serve(listener: TcpListener, app: Router) -> Serve {
    Serve {
        pending: Some(Pending {
            listener,
            app,
            handshake_timeout: Config::DEFAULT.handshake_timeout(),
            signal: None,
            #[cfg(feature = "tls")]
            tls: None,
        }),
        running: None,
    }
}

/// The future [`serve`] returns; set options before awaiting or spawning it.
#[must_use = "a server does nothing until awaited or spawned"]
pub struct Serve {
    /// The options, until the first poll starts the accept loop with them.
    pending: Option<Pending>,
    running: Option<Pin<Box<dyn Future<Output = io::Result<()>> + Send>>>,
}

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Pending {
    listener: TcpListener,
    app: Router,
    handshake_timeout: Duration,
    signal: Option<Signal>,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

impl Serve {
    fn pending(&mut self) -> &mut Pending {
        self.pending
            .as_mut()
            .expect("options are set before the server is first polled")
    }

    /// The time a connection has to send its whole request head (over
    /// TLS, the TLS handshake included). Pass the protocol's
    /// [`Config::handshake_timeout`], so that the endpoint and the server
    /// agree.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.pending().handshake_timeout = timeout;
        self
    }

    /// Serves HTTPS and `wss://` only, with `tls`'s certificate: HTTP/2
    /// and HTTP/1.1 offered by ALPN (`h2`, then `http/1.1`), the TLS
    /// handshake held to the handshake timeout, and the certificate and key
    /// files reloaded when they change (see [`Tls`]).
    ///
    /// ```no_run
    /// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = ws_core::Tls::from_pem_files("cert.pem", "key.pem")?;
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
    /// ws_core::serve(listener, app).tls(tls).await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: Tls) -> Self {
        self.pending().tls = Some(tls);
        self
    }

    /// Stops accepting when `signal` completes, lets the HTTP connections in
    /// progress finish (each within the handshake timeout) and then
    /// returns. Upgraded WebSockets are the manager's: call
    /// [`Manager::shutdown`](crate::Manager::shutdown) for them, within
    /// `signal`, as [`shutdown_signal`]'s example does. An HTTP/2
    /// connection carries its WebSockets: it gets `GOAWAY` and the
    /// handshake timeout for them to end, then is closed, cutting those
    /// left.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.pending().signal = Some(Box::pin(signal));
        self
    }
}

impl Future for Serve {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.running.is_none()
            && let Some(pending) = this.pending.take()
        {
            this.running = Some(Box::pin(accept_loop(pending)));
        }
        match &mut this.running {
            Some(running) => running.as_mut().poll(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

async fn accept_loop(pending: Pending) -> io::Result<()> {
    let Pending {
        listener,
        app,
        handshake_timeout,
        signal,
        #[cfg(feature = "tls")]
        mut tls,
    } = pending;
    let mut signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
    // Every connection task holds a receiver: `closed()` on the sender
    // resolves when the last has ended. The sender's value tells them to
    // shut down gracefully.
    let (stop_tx, stop_rx) = watch::channel(false);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_error(error).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let connection = Connection {
            peer,
            accepted: Accepted(Instant::now()),
            app: app.clone(),
            handshake_timeout,
            stop: stop_rx.clone(),
        };
        // The certificate in force when the connection was accepted.
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut tls {
            tokio::spawn(connection.serve_tls(tcp, tls.acceptor()));
            continue;
        }
        tokio::spawn(connection.serve(tcp));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
}

/// One accepted connection, before its protocol is known.
struct Connection {
    peer: SocketAddr,
    accepted: Accepted,
    app: Router,
    handshake_timeout: Duration,
    /// Changes to `true` when the server stops; dropped when the
    /// connection ends.
    stop: watch::Receiver<bool>,
}

impl Connection {
    fn deadline(&self) -> Instant {
        self.accepted.0 + self.handshake_timeout
    }

    /// Plaintext: the first bytes tell HTTP/2's preface (h2c with prior
    /// knowledge) from an HTTP/1 request line.
    async fn serve(self, tcp: TcpStream) {
        match timeout_at(self.deadline(), http::sniff(&tcp)).await {
            Ok(Ok(Some(version))) => http::serve(self, tcp, version, false).await,
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::trace!(%error, peer = %self.peer, "connection ended"),
            Err(_) => tracing::trace!(peer = %self.peer, "no request within the handshake timeout"),
        }
    }

    /// TLS: the handshake within the handshake timeout, then HTTP/2 if the
    /// client chose `h2` by ALPN, else HTTP/1.1.
    #[cfg(feature = "tls")]
    async fn serve_tls(self, tcp: TcpStream, acceptor: tokio_rustls::TlsAcceptor) {
        match timeout_at(self.deadline(), acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => {
                let version = if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                    http::Version::Http2
                } else {
                    http::Version::Http1
                };
                http::serve(self, stream, version, true).await;
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, peer = %self.peer, "TLS handshake failed");
            }
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }
}

/// `EMFILE` and the like: the process may free descriptors soon, so wait
/// rather than spin; a peer that reset before the accept is not an error.
async fn accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Completes when the process is asked to stop: SIGTERM (what a deploy or
/// an orchestrator sends) or SIGINT (Ctrl-C).
///
/// The deploy one-liner: on the signal the manager stops admitting (503),
/// sends every connection close 1012 (service restart: clients reconnect)
/// after what is already queued for it, and waits up to a deadline; then the
/// listener stops and `serve` returns, so `main` can exit 0.
///
/// ```no_run
/// # use std::time::Duration;
/// # use ws_core::{ws_protocol, CloseInfo, Manager, close_code};
/// # #[ws_protocol]
/// # #[serde(tag = "type")]
/// # pub enum Chat { #[ws(server)] Notice { text: String } }
/// # async fn run(app: axum::Router, manager: Manager<Chat>) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ws_core::serve(listener, app)
///     .with_graceful_shutdown(async move {
///         ws_core::shutdown_signal().await;
///         let restart = CloseInfo::new(close_code::SERVICE_RESTART, "server restarting");
///         manager.shutdown_with(restart, Duration::from_secs(10)).await;
///     })
///     .await
/// # }
/// ```
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
