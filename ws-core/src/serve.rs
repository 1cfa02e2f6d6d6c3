//! Serving a router with the socket options and timeouts WebSockets want.
//!
//! `axum::serve` sets no timer on hyper, so hyper's header-read timeout never
//! fires: a peer that sends half a request head holds a descriptor and a task
//! for as long as it keeps the socket open. This accept loop runs hyper's
//! HTTP/1 server with a timer, a header-read deadline, `TCP_NODELAY`, the
//! peer address as [`ConnectInfo`], and a back-off on accept errors.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;

/// When the connection was accepted: the handshake deadline counts from here.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accepted(pub(crate) tokio::time::Instant);

/// Serves `app` on `listener`: `TCP_NODELAY` on every accepted socket
/// (without it, small frames can wait 40 ms for Nagle's algorithm), the
/// peer's address as [`ConnectInfo<SocketAddr>`](ConnectInfo) (which the
/// per-IP limits read), and a request head that has not fully arrived
/// within the handshake timeout (default
/// [`Config::DEFAULT`]'s [`handshake_timeout`](Config::handshake_timeout),
/// 10 s) drops the connection. The endpoint then holds the rest of the
/// handshake, `authenticate` included, to the same deadline.
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
pub fn serve(listener: TcpListener, app: Router) -> Serve {
    Serve {
        pending: Some(Pending {
            listener,
            app,
            handshake_timeout: Config::DEFAULT.handshake_timeout(),
            signal: None,
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
}

impl Serve {
    fn pending(&mut self) -> &mut Pending {
        self.pending
            .as_mut()
            .expect("options are set before the server is first polled")
    }

    /// The time a connection has to send its whole request head. Pass the
    /// protocol's [`Config::handshake_timeout`], so that the endpoint and
    /// the server agree.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.pending().handshake_timeout = timeout;
        self
    }

    /// Stops accepting when `signal` completes, lets the HTTP connections in
    /// progress finish (each within the handshake timeout) and then
    /// returns. Upgraded WebSockets are the manager's: call
    /// [`Manager::shutdown`](crate::Manager::shutdown) for them.
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
        let accepted = Accepted(tokio::time::Instant::now());
        let app = app.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(accepted);
            TowerToHyperService::new(app.clone()).call(request)
        });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(handshake_timeout);
            let connection = http
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::trace!(%error, %peer, "connection ended");
                        }
                        break;
                    }
                    Ok(()) = stop.changed() => connection.as_mut().graceful_shutdown(),
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
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
