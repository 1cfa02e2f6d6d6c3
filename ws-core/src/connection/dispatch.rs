//! Dispatch: what the read loop does with one inbound frame. It is rate
//! limited, decoded (JSON text, or MessagePack transcoded to it), checked
//! (a message only the server sends is refused), correlated (its id read
//! when it declares a reply, or with `correlate = "all"`), and routed: to
//! the request of the server that waits for it, to the `refresh` hook, or
//! to the handler, whose outcome is answered on the [`send`](crate::send)
//! path (the ack, or an error frame with the message's id).
//!
//! A message the protocol does not accept is refused with an
//! [`ErrorFrame`](crate::ErrorFrame) or a close, as `on_invalid` says.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use governor::RateLimiter;
use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};

use super::read_loop::{Expiry, ReadEnd};
use crate::config::{OnInvalid, OnRateLimit};
use crate::context::Ctx;
use crate::correlation::{self, CorrelationId};
use crate::handler::{HandlerError, RefreshFrame, error_code};
use crate::rate::quota;
use crate::route::Route;
use crate::send;
use crate::wire::close::{CloseInfo, close_code};
use crate::wire::codec::Codec;
use crate::wire::parse::Message;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// One connection's dispatch: its handler, and the rate limit its messages
/// count against.
pub(crate) struct Dispatch<'a, P, H, S> {
    ctx: &'a Ctx<P>,
    handler: &'a H,
    limiter: Option<Limiter>,
    state: PhantomData<fn() -> S>,
}

impl<'a, P: Route<H, S>, H, S> Dispatch<'a, P, H, S> {
    pub(crate) fn new(ctx: &'a Ctx<P>, handler: &'a H) -> Self {
        let limit = ctx.manager().config().rate_limit();
        Self {
            ctx,
            handler,
            limiter: limit.map(|limit| RateLimiter::direct(quota(limit))),
            state: PhantomData,
        }
    }

    /// Dispatches one inbound frame; the handler or hook it runs is raced
    /// against the session's `expiry`. `Some` when the connection ends.
    pub(crate) async fn frame(&self, message: Message, expiry: &mut Expiry) -> Option<ReadEnd> {
        if self.over_limit(&message) {
            return self.rate_limited(&message);
        }
        let text = match payload(self.ctx, &message) {
            Payload::Json(text) => text,
            Payload::Control => return None,
            Payload::Closed(frame) => return Some(ReadEnd::PeerClosed(frame)),
            Payload::Refused(refused) => return self.refuse(refused),
        };
        match decode::<P>(&text) {
            Ok((message, id)) if message.answers_server_request() => {
                answer(self.ctx, message, id);
                None
            }
            // Boxed: the handler's future is as large as the largest
            // handler, and inline it would be carried by every idle
            // connection (one allocation per message instead).
            Ok((message, id)) => {
                let routed = route::<P, H, S>(self.ctx, self.handler, message, id);
                self.run(Box::pin(routed), expiry).await
            }
            // The refresh frame is not one of the protocol's messages:
            // looked for only once a message failed to decode, so valid
            // messages pay nothing for it.
            Err(refused) => match serde_json::from_str::<RefreshFrame>(&text) {
                Ok(frame) => {
                    let refreshed = refresh::<P, H, S>(self.ctx, self.handler, frame.token);
                    self.run(Box::pin(refreshed), expiry).await
                }
                Err(_) => self.refuse(refused),
            },
        }
    }

    /// Runs a handler or hook until it ends or the session expires.
    async fn run<F>(&self, work: F, expiry: &mut Expiry) -> Option<ReadEnd>
    where
        F: Future<Output = Option<CloseInfo>> + Unpin,
    {
        match expiry.race(work, self.ctx).await {
            Err(end) => Some(end),
            Ok(Some(close)) => Some(ReadEnd::Close(close)),
            Ok(None) => {
                // It may have replaced the session.
                expiry.sync(self.ctx);
                None
            }
        }
    }

    /// Whether `message` is over the rate limit. Pings count too: each one
    /// owes the peer a pong.
    fn over_limit(&self, message: &Message) -> bool {
        let counted = matches!(
            message,
            Message::Text(_) | Message::Binary(_) | Message::Ping(_)
        );
        counted && self.limiter.as_ref().is_some_and(|l| l.check().is_err())
    }

    /// Applies `on_rate_limit` to a message over the limit. A ping has no
    /// error frame to answer with, so a ping over the limit closes.
    fn rate_limited(&self, message: &Message) -> Option<ReadEnd> {
        let ctx = self.ctx;
        ctx.manager().counters().rate_limited();
        match ctx.manager().config().on_rate_limit() {
            OnRateLimit::Error if !matches!(message, Message::Ping(_)) => {
                // Read only now: a message within the limit pays nothing.
                let id = id_of::<P>(ctx, message);
                let dropped = "rate limit exceeded; message dropped";
                ctx.send_error(error_code::RATE_LIMITED, dropped, id);
                None
            }
            OnRateLimit::Error | OnRateLimit::Close => Some(ReadEnd::Close(CloseInfo::new(
                close_code::POLICY,
                "rate limit exceeded",
            ))),
        }
    }

    /// Applies `on_invalid` to a message the protocol does not accept.
    fn refuse(&self, refused: Refused) -> Option<ReadEnd> {
        let ctx = self.ctx;
        ctx.manager().counters().invalid();
        match ctx.manager().config().on_invalid() {
            OnInvalid::Error => {
                ctx.send_error(refused.code, &refused.message, refused.id);
                None
            }
            OnInvalid::Close => Some(ReadEnd::Close(CloseInfo::new(
                refused.close,
                refused.message,
            ))),
        }
    }
}

/// What an inbound frame holds for dispatch.
enum Payload<'m> {
    /// A message's JSON (a MessagePack message as the JSON it transcodes
    /// to: the same typed decoding, errors and correlation ids).
    Json(Cow<'m, str>),
    /// A control frame, which the parser has answered (pings) and which
    /// counts only as activity for the idle timeout.
    Control,
    /// The peer's close frame; the parser has queued the reply.
    Closed(Option<CloseInfo>),
    /// A frame this connection cannot read.
    Refused(Refused),
}

fn payload<'m, P: crate::Protocol>(ctx: &Ctx<P>, message: &'m Message) -> Payload<'m> {
    match message {
        Message::Text(text) => Payload::Json(Cow::Borrowed(text.as_str())),
        Message::Binary(bytes) if ctx.conn().codec == Codec::MessagePack => {
            match crate::wire::codec::unpack(bytes) {
                Ok(json) => Payload::Json(Cow::Owned(json)),
                Err(error) => Payload::Refused(Refused {
                    close: close_code::INVALID_PAYLOAD,
                    code: error_code::INVALID_MESSAGE,
                    message: error.to_string(),
                    id: None,
                }),
            }
        }
        Message::Binary(_) => Payload::Refused(Refused {
            close: close_code::UNSUPPORTED,
            code: error_code::BINARY_NOT_SUPPORTED,
            message: "binary frames are not supported; send JSON text, or \
                      negotiate MessagePack in Sec-WebSocket-Protocol"
                .to_owned(),
            id: None,
        }),
        Message::Ping(_) | Message::Pong(_) => Payload::Control,
        Message::Close(close) => Payload::Closed(close.clone()),
    }
}

/// An inbound message the protocol does not accept.
pub(crate) struct Refused {
    close: u16,
    code: &'static str,
    pub(crate) message: String,
    /// The correlation id it carried, in a protocol that correlates it.
    id: Option<CorrelationId>,
}

/// Whether messages of `P` may carry a correlation id at all.
fn correlates<P: crate::Protocol>() -> bool {
    P::CORRELATE_ALL || P::MESSAGES.iter().any(|m| m.reply().is_some())
}

/// The correlation id a refused text carries, if `P` correlates and one can
/// be read: an error path, so valid messages never pay for the parse.
fn id_in<P: crate::Protocol>(text: &str) -> Option<CorrelationId> {
    correlates::<P>()
        .then(|| correlation::read_id(text).ok().flatten())
        .flatten()
}

/// [`id_in`] for a frame not decoded yet (JSON text, or MessagePack on a
/// connection that negotiated it).
fn id_of<P: crate::Protocol>(ctx: &Ctx<P>, message: &Message) -> Option<CorrelationId> {
    match payload(ctx, message) {
        Payload::Json(text) => id_in::<P>(&text),
        _ => None,
    }
}

/// The message, and its correlation id if it declares a reply and has one.
pub(crate) fn decode<P: crate::Protocol>(
    text: &str,
) -> Result<(P, Option<CorrelationId>), Refused> {
    // A refusal answers with the id when one can be read.
    let id_of = || id_in::<P>(text);
    let message: P = serde_json::from_str(text).map_err(|error| Refused {
        close: close_code::INVALID_PAYLOAD,
        code: error_code::INVALID_MESSAGE,
        message: error.to_string(),
        id: id_of(),
    })?;
    if !message.is_from_client() {
        return Err(Refused {
            close: close_code::INVALID_PAYLOAD,
            code: error_code::WRONG_DIRECTION,
            message: format!(
                "message type `{}` is sent by the server, not by clients",
                message.message_type()
            ),
            id: id_of(),
        });
    }
    // Only requests (or, with `correlate = "all"`, every message) pay for a
    // second (shallow) parse.
    if !P::CORRELATE_ALL && message.reply_type().is_none() && !message.answers_server_request() {
        return Ok((message, None));
    }
    let id = correlation::read_id(text).map_err(|_| Refused {
        close: close_code::INVALID_PAYLOAD,
        code: error_code::INVALID_MESSAGE,
        message: format!(
            "`{}` of a `{}` message must be an unsigned integer or a string of at most {} bytes",
            correlation::FIELD,
            message.message_type(),
            correlation::MAX_ID_LEN
        ),
        id: None,
    })?;
    Ok((message, id))
}

/// Hands an answer to the request of the server that waits for it, or
/// refuses it: see [`request`](crate::request).
fn answer<P: crate::Protocol>(ctx: &Ctx<P>, message: P, id: Option<CorrelationId>) {
    let wire = message.message_type();
    // The server's requests have integer ids: a string answers none.
    if ctx
        .conn()
        .answer(id.and_then(|id| id.as_u64()), wire, message)
    {
        return;
    }
    let text = format!("no request of the server waits for this `{wire}` answer");
    ctx.send_error(error_code::UNEXPECTED_REPLY, &text, id);
}

/// Runs the handler; `Some` when the connection must close.
pub(crate) async fn route<P: Route<H, S>, H, S>(
    ctx: &Ctx<P>,
    handler: &H,
    message: P,
    id: Option<CorrelationId>,
) -> Option<CloseInfo> {
    let message_type = message.message_type();
    let request = message.reply_type().is_some();
    ctx.begin(id, message.reply_type());
    let routed = AssertUnwindSafe(<P as Route<H, S>>::route(handler, ctx, message, id))
        .catch_unwind()
        .await;
    // A message answered early has had its one answer: a later error goes
    // without the id, which the client no longer waits on.
    let id = id.filter(|_| !ctx.end().replied);
    match routed {
        // A message with an id that is not a request is acknowledged
        // (`correlate = "all"`): the client learns it was handled.
        Ok(Ok(())) if !request => {
            if let Some(id) = id {
                ctx.answer(&send::ack(id));
            }
            None
        }
        Ok(result) => outcome(ctx, message_type, result, id),
        Err(_) => {
            tracing::error!(conn = %ctx.id(), message_type, "handler panicked; closing with 1011");
            Some(CloseInfo::new(close_code::INTERNAL, "internal error"))
        }
    }
}

/// Applies the result of a handler (or hook, `during` names it); `Some`
/// when the connection must close. The error frame carries `id`, the
/// correlation id of the message handled (its reply, if it is a request,
/// was sent by the generated routing).
pub(crate) fn outcome<P: crate::Protocol>(
    ctx: &Ctx<P>,
    during: &str,
    result: Result<(), HandlerError>,
    id: Option<CorrelationId>,
) -> Option<CloseInfo> {
    match result {
        Ok(()) => None,
        Err(HandlerError::Reply { code, message }) => {
            ctx.send_error(&code, &message, id);
            None
        }
        Err(HandlerError::Close(close)) => Some(close),
        Err(HandlerError::Internal(error)) => {
            tracing::error!(conn = %ctx.id(), during, %error, "handler failed");
            ctx.send_error(error_code::INTERNAL, "internal error", id);
            None
        }
    }
}

/// Runs the handler's `refresh` hook on a client's token and puts the
/// session it returns in place; `Some` when the connection must close.
async fn refresh<P: Route<H, S>, H, S>(
    ctx: &Ctx<P>,
    handler: &H,
    token: String,
) -> Option<CloseInfo> {
    let outcome = AssertUnwindSafe(<P as Route<H, S>>::refresh(handler, ctx, token))
        .catch_unwind()
        .await;
    let refused = |reason: &str| {
        // A close reason is at most 123 bytes; cut on a char boundary.
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Some(CloseInfo::new(close_code::REFRESH_REFUSED, &reason[..end]))
    };
    // `set_session` reads the new session's accessors: user code too.
    let outcome = outcome.and_then(|refreshed| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            refreshed.map(|session| ctx.set_session(session))
        }))
    });
    match outcome {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(error))) => refused(&error.to_string()),
        Ok(Err(refusal)) => refused(refusal.reason()),
        Err(_) => {
            tracing::error!(conn = %ctx.id(), "refresh panicked; closing with 1011");
            Some(CloseInfo::new(close_code::INTERNAL, "internal error"))
        }
    }
}
