//! The read loop: frames in, decoded, routed to the handler one at a time
//! (so a connection's messages are handled in the order they arrived), with
//! the idle timeout and every inbound failure mapped to a close code.

use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::extract::ws::Message;
use futures_util::{FutureExt, Stream, StreamExt};
use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite;

use crate::close::{CloseInfo, close_code};
use crate::config::{OnInvalid, OnRateLimit, RateLimit};
use crate::context::Ctx;
use crate::handler::{HandlerError, error_code};
use crate::protocol::Route;

/// Why the read loop stopped.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer sent a close frame (with its code and reason, if any).
    PeerClosed(Option<CloseInfo>),
    /// The stream ended or failed without a close frame.
    Vanished,
    /// The server closes the connection with this frame.
    Close(CloseInfo),
}

pub(crate) async fn read_loop<P, H, S>(stream: &mut S, ctx: &Ctx<P>, handler: &H) -> ReadEnd
where
    P: Route<H>,
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let config = ctx.manager().config();
    let idle = config.idle_timeout();
    let limiter = config.rate_limit().map(limiter);
    loop {
        let Some(next) = next_within(stream, idle).await else {
            return ReadEnd::Close(CloseInfo::new(close_code::GOING_AWAY, "idle timeout"));
        };
        let message = match next {
            None => return ReadEnd::Vanished,
            Some(Err(error)) => return read_error(error),
            Some(Ok(message)) => message,
        };
        let is_data = matches!(message, Message::Text(_) | Message::Binary(_));
        if is_data && limiter.as_ref().is_some_and(|l| l.check().is_err()) {
            ctx.manager().counters().rate_limited();
            match config.on_rate_limit() {
                OnRateLimit::Error => {
                    ctx.send_error(error_code::RATE_LIMITED, "rate limit exceeded; message dropped");
                    continue;
                }
                OnRateLimit::Close => {
                    return ReadEnd::Close(CloseInfo::new(close_code::POLICY, "rate limit exceeded"));
                }
            }
        }
        let refused = match message {
            Message::Text(text) => match decode::<P>(&text) {
                Ok(message) => match route(ctx, handler, message).await {
                    Some(close) => return ReadEnd::Close(close),
                    None => continue,
                },
                Err(refused) => refused,
            },
            Message::Binary(_) => Refused {
                close: close_code::UNSUPPORTED,
                code: error_code::BINARY_NOT_SUPPORTED,
                message: "binary frames are not supported; send JSON text".to_owned(),
            },
            // Pings are answered by the protocol library; any frame counts
            // as activity for the idle timeout.
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(frame) => {
                return ReadEnd::PeerClosed(
                    frame.map(|frame| CloseInfo::new(frame.code, frame.reason.as_str())),
                );
            }
        };
        ctx.manager().counters().invalid();
        match config.on_invalid() {
            OnInvalid::Error => ctx.send_error(refused.code, &refused.message),
            OnInvalid::Close => return ReadEnd::Close(CloseInfo::new(refused.close, refused.message)),
        }
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

fn limiter(limit: RateLimit) -> Limiter {
    let period = (limit.per() / limit.messages()).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(limit.burst()).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst);
    RateLimiter::direct(quota)
}

/// The next frame, or `None` when the peer stayed silent past `idle`.
async fn next_within<S: Stream + Unpin>(
    stream: &mut S,
    idle: Option<Duration>,
) -> Option<Option<S::Item>> {
    match idle {
        Some(idle) => timeout(idle, stream.next()).await.ok(),
        None => Some(stream.next().await),
    }
}

/// An inbound message the protocol does not accept.
struct Refused {
    close: u16,
    code: &'static str,
    message: String,
}

fn decode<P: crate::Protocol>(text: &str) -> Result<P, Refused> {
    let message: P = serde_json::from_str(text).map_err(|error| Refused {
        close: close_code::INVALID_PAYLOAD,
        code: error_code::INVALID_MESSAGE,
        message: error.to_string(),
    })?;
    if !message.is_from_client() {
        return Err(Refused {
            close: close_code::INVALID_PAYLOAD,
            code: error_code::WRONG_DIRECTION,
            message: format!(
                "message type `{}` is sent by the server, not by clients",
                message.message_type()
            ),
        });
    }
    Ok(message)
}

/// Runs the handler; `Some` when the connection must close.
async fn route<P: Route<H>, H>(ctx: &Ctx<P>, handler: &H, message: P) -> Option<CloseInfo> {
    let message_type = message.message_type();
    let outcome = AssertUnwindSafe(P::route(handler, ctx, message))
        .catch_unwind()
        .await;
    match outcome {
        Ok(result) => handler_outcome(ctx, message_type, result),
        Err(_) => {
            tracing::error!(conn = %ctx.id(), message_type, "handler panicked; closing with 1011");
            Some(CloseInfo::new(close_code::INTERNAL, "internal error"))
        }
    }
}

/// Applies a handler's (or hook's) result; `Some` when the connection must close.
pub(crate) fn handler_outcome<P: crate::Protocol>(
    ctx: &Ctx<P>,
    during: &str,
    result: Result<(), HandlerError>,
) -> Option<CloseInfo> {
    match result {
        Ok(()) => None,
        Err(HandlerError::Reply { code, message }) => {
            ctx.send_error(&code, &message);
            None
        }
        Err(HandlerError::Close(close)) => Some(close),
        Err(HandlerError::Internal(error)) => {
            tracing::error!(conn = %ctx.id(), during, %error, "handler failed");
            ctx.send_error(error_code::INTERNAL, "internal error");
            None
        }
    }
}

fn read_error(error: axum::Error) -> ReadEnd {
    let close = |code, reason: &str| ReadEnd::Close(CloseInfo::new(code, reason));
    match error.into_inner().downcast::<tungstenite::Error>() {
        Ok(error) => match *error {
            tungstenite::Error::Capacity(_) => close(close_code::TOO_BIG, "message too big"),
            tungstenite::Error::Utf8(_) => close(close_code::INVALID_PAYLOAD, "invalid UTF-8"),
            tungstenite::Error::Protocol(_) => close(close_code::PROTOCOL_ERROR, "protocol error"),
            _ => ReadEnd::Vanished,
        },
        Err(_) => ReadEnd::Vanished,
    }
}
