//! What goes wrong talking to a server.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use tokio_tungstenite::tungstenite;

use crate::handler::ErrorFrame;
use crate::wire::close::CloseInfo;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered the opening handshake with an HTTP response
    /// other than 101 (e.g. 401 from `authenticate`, 503 at the cap).
    #[error("{} refused the connection with {}", .0.url, .0.status)]
    Refused(Box<Refusal>),
    /// The connection could not be opened (no server, bad URL, bad handshake).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL given.
        url: String,
        /// What failed.
        #[source]
        source: Box<tungstenite::Error>,
    },
    /// The connection failed after it was open.
    #[error("the connection failed: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// A message could not be encoded as JSON.
    #[error("the message could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The server sent a frame that is not a message of the protocol.
    #[error("the server sent `{text}`, which is not a message of the protocol: {source}")]
    Decode {
        /// The frame as received (binary frames lossily).
        text: String,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
    /// The server refused a message, or its handler failed.
    #[error("the server answered with an error: {} ({})", .0.code, .0.message)]
    Server(ErrorFrame),
    /// Nothing (or not the reply) arrived in time.
    #[error("no {what} within {after:?}")]
    Timeout {
        /// What was awaited: `message` or ``reply to `ping` ``.
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// The reply with the request's id was another message than the declared reply.
    #[error("the reply to `{request}` was a `{got}` message, not `{expected}`")]
    UnexpectedReply {
        /// The request's wire name.
        request: &'static str,
        /// The declared reply's wire name.
        expected: &'static str,
        /// What came instead.
        got: &'static str,
    },
    /// The connection is closed; the server's close frame, if it sent one.
    #[error("the connection is closed{}", match .0 { Some(c) => format!(" ({} {})", c.code, c.reason), None => String::new() })]
    Closed(Option<CloseInfo>),
    /// The connection dropped while a reply or an ack was awaited (or a
    /// message was being sent); whether the server handled the message is
    /// unknown. A client with a [`ReconnectPolicy`](super::ReconnectPolicy) reconnects on its next
    /// use.
    #[error("the connection dropped{}", match .0 { Some(c) => format!(" ({} {})", c.code, c.reason), None => String::new() })]
    Interrupted(Option<CloseInfo>),
    /// [`Client::join`](super::Client::join) needs a rejoin hook ([`ClientBuilder::rejoin`](super::ClientBuilder::rejoin)).
    #[error("`join` needs a rejoin hook: set one with `ClientBuilder::rejoin`")]
    NoRejoin,
}

/// The HTTP answer to an opening handshake that was refused.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Refusal {
    /// The URL given.
    pub url: String,
    /// The response's status, e.g. `401 Unauthorized`.
    pub status: StatusCode,
    /// The response's headers (`Retry-After`, `WWW-Authenticate`, ...).
    pub headers: HeaderMap,
    /// The response's body, lossily as UTF-8.
    pub body: String,
}

impl ClientError {
    /// The HTTP status a refused connection was answered with.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused(refusal) => Some(refusal.status),
            _ => None,
        }
    }

    pub(super) fn connect(url: &str, error: tungstenite::Error) -> Self {
        match error {
            tungstenite::Error::Http(response) => {
                let (parts, body) = (*response).into_parts();
                Self::Refused(Box::new(Refusal {
                    url: url.to_owned(),
                    status: parts.status,
                    headers: parts.headers,
                    body: String::from_utf8_lossy(body.as_deref().unwrap_or_default()).into_owned(),
                }))
            }
            other => Self::Connect {
                url: url.to_owned(),
                source: Box::new(other),
            },
        }
    }
}

impl From<tungstenite::Error> for ClientError {
    fn from(error: tungstenite::Error) -> Self {
        match error {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                Self::Closed(None)
            }
            other => Self::WebSocket(Box::new(other)),
        }
    }
}
