//! Opening a connection: the handshake, with a fresh token, and the
//! attempts with backoff and jitter.

use std::collections::VecDeque;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::UrlError;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::builder::GetToken;
use super::error::{ClientError, Refusal};
use super::event::{ConnectionState, StateChange};
use super::read::Incoming;
use super::reconnect::ReconnectPolicy;
use crate::protocol::Protocol;
use crate::wire::close::CloseInfo;
use crate::wire::codec::Codec;

/// Where and how a client opens its connections.
pub(super) struct Target<'a> {
    pub(super) url: &'a str,
    pub(super) headers: &'a HeaderMap,
    pub(super) get_token: Option<&'a GetToken>,
    pub(super) codec: Codec,
}

/// Where attempts report to: the client's state and events, and its jitter.
pub(super) struct Progress<'a, P> {
    pub(super) state: &'a watch::Sender<ConnectionState>,
    pub(super) events: &'a mut VecDeque<Incoming<P>>,
    pub(super) seed: &'a mut u64,
}

impl<P> Progress<'_, P> {
    pub(super) fn change(&mut self, change: StateChange) {
        self.state.send_replace(change.state);
        self.events.push_back(Incoming::State(change));
    }
}

/// Where a run of attempts starts: after a drop, or after a failed first
/// attempt.
pub(super) struct Retry {
    /// The state reported while retrying: `Connecting` or `Reconnecting`.
    pub(super) during: ConnectionState,
    /// What ended the last connection, or failed the last attempt.
    pub(super) close: Option<CloseInfo>,
    /// The last attempt's error, if an attempt failed.
    pub(super) error: Option<ClientError>,
    /// The first attempt's number, for its delay.
    pub(super) attempt: u32,
    /// Attempts failed so far (`max_attempts` counts them).
    pub(super) failures: u32,
}

/// What a run of attempts came to.
pub(super) enum Retried {
    Open(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>, HeaderMap),
    /// Refused for good (a 4xx other than 408 and 429).
    Refused(Box<Refusal>),
    /// `max_attempts` failed: the last close, and the last error if any.
    GaveUp {
        close: Option<CloseInfo>,
        error: Option<ClientError>,
    },
}

impl Target<'_> {
    /// One attempt: a fresh token, then the handshake, within `within`.
    pub(super) async fn open<P: Protocol>(
        &self,
        within: Option<Duration>,
    ) -> Result<(WebSocketStream<MaybeTlsStream<TcpStream>>, HeaderMap), ClientError> {
        let headers = with_token(self.headers, self.get_token).await;
        let Some(within) = within else {
            return open::<P>(self.url, &headers, self.codec).await;
        };
        match timeout(within, open::<P>(self.url, &headers, self.codec)).await {
            Ok(opened) => opened,
            Err(_) => Err(ClientError::Connect {
                url: self.url.to_owned(),
                source: Box::new(tungstenite::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no open within {within:?}"),
                ))),
            }),
        }
    }

    /// Attempts by `policy` until one opens, the server refuses for good,
    /// or `max_attempts` failed. Attempt `n` waits a jittered
    /// [`delay_bound`](ReconnectPolicy::delay_bound)`(n)` first; each
    /// failure moves to the next `n`.
    pub(super) async fn open_retrying<P: Protocol>(
        &self,
        policy: &ReconnectPolicy,
        from: Retry,
        progress: &mut Progress<'_, P>,
    ) -> Retried {
        let Retry {
            during,
            mut close,
            mut error,
            mut attempt,
            mut failures,
        } = from;
        loop {
            if policy.max_attempts.is_some_and(|max| failures >= max) {
                return Retried::GaveUp { close, error };
            }
            let delay = jitter(progress.seed, policy.delay_bound(attempt));
            progress.change(StateChange {
                state: during,
                close: close.clone(),
                attempt: Some(attempt),
                delay: Some(delay),
            });
            tokio::time::sleep(delay).await;
            match self.open::<P>(Some(policy.open_timeout)).await {
                Ok((ws, handshake)) => return Retried::Open(Box::new(ws), handshake),
                Err(ClientError::Refused(refusal)) if !refusal_is_temporary(refusal.status) => {
                    return Retried::Refused(refusal);
                }
                Err(failed) => {
                    close = Some(CloseInfo::new(1006, failed.to_string()));
                    error = Some(failed);
                }
            }
            attempt = attempt.saturating_add(1);
            failures += 1;
        }
    }
}

/// A uniformly random duration in `[0, bound)` (xorshift64*; jitter needs
/// spread, not secrecy).
pub(super) fn jitter(seed: &mut u64, bound: Duration) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let unit = (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
    bound.mul_f64(unit)
}

/// `headers`, with a fresh token from `get_token` as `Authorization:
/// Bearer` (a token that is not a valid header value is left out: the
/// server then refuses the handshake as unauthenticated).
pub(super) async fn with_token(headers: &HeaderMap, get_token: Option<&GetToken>) -> HeaderMap {
    let mut headers = headers.clone();
    if let Some(get_token) = get_token
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", get_token().await))
    {
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

/// Opens a connection: the socket and the headers of the server's 101.
/// A codec other than JSON is asked for as the protocol's subprotocol; a
/// server that does not select it fails the handshake.
pub(super) async fn open<P: Protocol>(
    url: &str,
    headers: &HeaderMap,
    codec: Codec,
) -> Result<(WebSocketStream<MaybeTlsStream<TcpStream>>, HeaderMap), ClientError> {
    let mut request = url
        .into_client_request()
        .map_err(|error| ClientError::connect(url, error))?;
    request.headers_mut().extend(headers.clone());
    if codec != Codec::Json {
        let name = codec.subprotocol(P::SUBPROTOCOL);
        let name = HeaderValue::from_str(&name).map_err(|_| {
            ClientError::connect(
                url,
                tungstenite::Error::Url(UrlError::UnableToConnect(name)),
            )
        })?;
        request
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, name);
    }
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|error| ClientError::connect(url, error))?;
    Ok((ws, response.into_parts().0.headers))
}

/// Whether a refused handshake may succeed later: the server is
/// overloaded, restarting or rate limiting, not refusing this client.
pub(super) fn refusal_is_temporary(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}
