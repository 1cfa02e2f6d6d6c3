//! The HTTP side: the WebSocket handshake (an HTTP/1.1 upgrade, or an
//! HTTP/2 extended CONNECT, RFC 8441) is checked, the client IP's
//! handshake rate (429) and a slot are checked and reserved (503 past a cap,
//! consuming nothing), the authentication hook runs within what is left of
//! `handshake_timeout`, and only then is the 101 (HTTP/2: 200) sent. All of
//! it happens before the upgrade, so a refused client never costs a task or a socket buffer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use futures_util::FutureExt;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::origin::Scheme;
use super::{Admitted, ConnId, Gate};
use crate::context::JoinGate;
use crate::manager::Manager;
use crate::protocol::Protocol;
use crate::route::Route;
use crate::serve::{Accepted, OverTls};
use crate::session::{Read, erase};
use crate::wire::codec::Codec;

/// The axum route that serves protocol `P` with `handler`.
///
/// Mount it at any path of an existing router; the router's own state is
/// untouched (the handler holds what it needs). It answers `GET` (the
/// HTTP/1.1 upgrade) and `CONNECT` (a WebSocket over HTTP/2 by extended
/// CONNECT, RFC 8441, which [`serve`](crate::serve) enables), both into the
/// same connection machinery.
///
/// ```
/// use std::sync::Arc;
/// use ws_core::{ws_protocol, endpoint, Ctx, HandlerResult, Manager};
///
/// #[ws_protocol(max_connections = 1_000)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Echo {
///     #[ws(client, server)]
///     Echo { text: String },
/// }
///
/// struct App;
/// impl EchoHandler for App {
///     async fn echo(&self, ctx: &Ctx<Echo>, msg: echo::Echo) -> HandlerResult {
///         ctx.send(msg)?;
///         Ok(())
///     }
/// }
///
/// let manager = Manager::<Echo>::new();
/// let app: axum::Router = axum::Router::new()
///     .route("/ws", endpoint(manager.clone(), Arc::new(App)))
///     .route("/health", axum::routing::get(|| async { "ok" }));
/// ```
pub fn endpoint<P, H, S>(manager: Manager<P>, handler: Arc<H>) -> MethodRouter<S>
where
    P: Route<H, S>,
    H: Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    let gate: Arc<dyn JoinGate<P>> = Arc::new(Gate::<H, S>::new(Arc::clone(&handler)));
    on(
        MethodFilter::GET.or(MethodFilter::CONNECT),
        move |State(state): State<S>, request: Request| {
            upgrade(
                manager.clone(),
                Arc::clone(&handler),
                Arc::clone(&gate),
                state,
                request,
            )
        },
    )
}

async fn upgrade<P, H, S>(
    manager: Manager<P>,
    handler: Arc<H>,
    gate: Arc<dyn JoinGate<P>>,
    state: S,
    mut request: Request,
) -> Response
where
    P: Route<H, S>,
    H: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let handshake = match handshake(&request) {
        Ok(handshake) => handshake,
        Err(refusal) => return refusal,
    };
    let selected = codec::<P>(request.headers());
    let deflate = crate::wire::deflate::agree(manager.config(), request.headers());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, _body) = request.into_parts();
    // The request head took part of the handshake's time already.
    let timeout = manager.config().handshake_timeout();
    let deadline = parts
        .extensions
        .get::<Accepted>()
        .map_or_else(Instant::now, |accepted| accepted.0)
        + timeout;
    let admission = manager.admission();
    let host = admission.per_ip().requested_host(&parts);
    // TLS that `serve` terminated, or what a trusted proxy says, else
    // plain HTTP.
    let scheme = if parts.extensions.get::<OverTls>().is_some() {
        Scheme::Https
    } else {
        admission
            .per_ip()
            .forwarded_proto(&parts)
            .map_or(Scheme::Http, Scheme::forwarded)
    };
    let origins = manager.config().allowed_origins();
    if !super::origin::allowed(&parts.headers, host, scheme, origins) {
        manager.counters().rejected();
        return (
            StatusCode::FORBIDDEN,
            "origin not allowed: not this server's scheme, host and port; add it to \
             `allowed_origins` (behind a TLS proxy, list the proxy in `trusted_proxies` \
             so that its X-Forwarded-Proto counts)",
        )
            .into_response();
    }
    let ip = admission.per_ip().client_of(&parts);
    if let Some(ip) = ip
        && !admission.per_ip().allow_handshake(ip)
    {
        manager.counters().rejected();
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "too many handshakes from this address",
        );
    }
    let Some(mut slot) = admission.try_admit() else {
        manager.counters().rejected();
        if manager.is_shutting_down() {
            return unavailable("shutting down");
        }
        return unavailable("connection limit reached");
    };
    if let Some(ip) = ip
        && !admission.admit_ip(&mut slot, ip)
    {
        manager.counters().rejected();
        return unavailable("connection limit for this address reached");
    }
    // User code: a panic in `authenticate` or in the session's accessors
    // is answered (500), not a connection dropped without a word.
    let authenticate = AssertUnwindSafe(P::authenticate(&handler, &mut parts, &state));
    let authenticated = timeout_at(deadline, authenticate.catch_unwind()).await;
    let session = match authenticated {
        Ok(Ok(Ok(session))) => session,
        Ok(Ok(Err(response))) => return response,
        Ok(Err(_)) => return internal_error(&manager, "authenticate panicked"),
        Err(_) => {
            manager.counters().rejected();
            return unavailable("authentication timed out");
        }
    };
    let Some(read) = Read::guarded(&session) else {
        return internal_error(&manager, "a session accessor panicked");
    };
    // The same cap as `Ctx::set_session`, counted in the same place.
    let seat = match read.user.map(|user| manager.registry().reserve(user)) {
        None => None,
        Some(Ok(seat)) => Some(seat),
        Some(Err(_)) => {
            manager.counters().rejected();
            return unavailable("connection limit for this user reached");
        }
    };
    manager.counters().admitted();
    let id = ConnId::next();
    // Boxed: moved into the connection's task and on into `run`, inline it
    // would be kept twice in the task's state for the connection's life.
    let admitted = Box::new(Admitted {
        gate,
        expires: read.expires,
        presence: read.presence,
        session: erase(session),
        seat,
        slot,
        id,
        codec: selected.unwrap_or_default(),
        deflate,
    });
    // The task's future is `run` itself: a block around it would keep its
    // own copy of what it hands on, for the connection's whole life.
    tokio::spawn(super::run::<P, H, S>(
        on_upgrade, manager, handler, admitted,
    ));
    let mut response = match handshake {
        Handshake::Upgrade { accept } => (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (header::SEC_WEBSOCKET_ACCEPT, accept),
            ],
        )
            .into_response(),
        // RFC 8441 5: a 2xx opens the stream to WebSocket frames; no key,
        // no accept.
        Handshake::Connect => StatusCode::OK.into_response(),
    };
    if let Some(codec) = selected {
        // A name the client offered, so a valid header value.
        if let Ok(name) = HeaderValue::from_str(&codec.subprotocol(P::SUBPROTOCOL)) {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, name);
        }
    }
    if let Some(deflate) = deflate {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_EXTENSIONS, deflate.agreed());
    }
    // For middleware (access logs, the test harness); an extension never
    // reaches the wire.
    response.extensions_mut().insert(id);
    response
}

/// The codec of the first subprotocol offered that `P` speaks (see
/// [`Codec`]); `None` when none is offered or none is known, and the
/// connection speaks JSON without selecting a subprotocol.
fn codec<P: Protocol>(headers: &axum::http::HeaderMap) -> Option<Codec> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|offered| Codec::negotiate(P::SUBPROTOCOL, offered))
}

/// How the WebSocket is opened.
pub(crate) enum Handshake {
    /// HTTP/1.1: `101 Switching Protocols` with this `Sec-WebSocket-Accept`.
    Upgrade { accept: HeaderValue },
    /// HTTP/2 extended CONNECT (RFC 8441): `200`, and the stream carries
    /// the frames.
    Connect,
}

/// Checks the opening handshake (RFC 6455 4.2.1 over HTTP/1.1, RFC 8441 4
/// and 5 over HTTP/2) and, over HTTP/1.1, computes the accept key; a
/// request that is not a WebSocket handshake gets the HTTP answer.
#[allow(clippy::result_large_err)] // the error is the response itself
pub(crate) fn handshake(request: &Request) -> Result<Handshake, Response> {
    let headers = request.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let refuse = |status: StatusCode, why: &'static str| (status, why).into_response();
    let connect = match request.version() {
        Version::HTTP_11 => false,
        Version::HTTP_2 => true,
        _ => {
            return Err(refuse(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "WebSocket upgrades need HTTP/1.1 or HTTP/2",
            ));
        }
    };
    if connect {
        // RFC 8441 4: a CONNECT with `:protocol websocket`.
        let protocol = request.extensions().get::<hyper::ext::Protocol>();
        if request.method() != Method::CONNECT
            || !protocol.is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
        {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "over HTTP/2 a WebSocket opens with an extended CONNECT and `:protocol: websocket` (RFC 8441)",
            ));
        }
    } else if request.method() != Method::GET {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "over HTTP/1.1 a WebSocket opens with a GET upgrade",
        ));
    } else if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket")
    {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "expected a WebSocket upgrade request",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Err((
            StatusCode::UPGRADE_REQUIRED,
            [(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            )],
            "unsupported WebSocket version; expected 13",
        )
            .into_response());
    }
    let unupgradable = request
        .extensions()
        .get::<hyper::upgrade::OnUpgrade>()
        .is_none();
    if unupgradable {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded",
        ));
    }
    if connect {
        return Ok(Handshake::Connect);
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"));
    };
    // RFC 6455 4.2.1: the base64 of 16 bytes.
    use base64::Engine as _;
    let key_bytes = base64::engine::general_purpose::STANDARD.decode(key.as_bytes());
    if key_bytes.map_or(true, |bytes| bytes.len() != 16) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "malformed Sec-WebSocket-Key; expected the base64 of 16 bytes",
        ));
    }
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map(|accept| Handshake::Upgrade { accept })
        .map_err(|_| refuse(StatusCode::BAD_REQUEST, "malformed Sec-WebSocket-Key"))
}

/// 500 for a panic in the application's code during the handshake
/// (`authenticate`, a session accessor): logged, counted as a rejection,
/// and answered rather than dropped, with nothing of the panic in it.
fn internal_error<P: Protocol>(manager: &Manager<P>, what: &'static str) -> Response {
    tracing::error!(what, "answering the handshake with 500");
    manager.counters().rejected();
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// 503 with `Retry-After`, so well-behaved clients back off.
fn unavailable(why: &'static str) -> Response {
    refused(StatusCode::SERVICE_UNAVAILABLE, why)
}

/// A refusal with `Retry-After`, so well-behaved clients back off.
fn refused(status: StatusCode, why: &'static str) -> Response {
    (
        status,
        [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
        why,
    )
        .into_response()
}
