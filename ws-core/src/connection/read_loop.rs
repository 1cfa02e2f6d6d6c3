//! The read loop: frames in, decoded, routed to the handler one at a time
//! (so a connection's messages are handled in the order they arrived), with
//! the idle timeout and every inbound failure mapped to a close code.
//!
//! The session's expiry and the queue's closing (a kick, the shutdown, an
//! overflow) end the loop whatever it waits on: the next frame, the writer
//! draining a backed-up queue, or a handler.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use std::future::Future;

use futures_util::{FutureExt, Stream, StreamExt};
use governor::RateLimiter;
use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use tokio::time::{Instant, sleep_until};

use crate::config::{OnInvalid, OnRateLimit, RateLimit};
use crate::context::Ctx;
use crate::correlation;
use crate::handler::{HandlerError, RefreshFrame, RefreshRequired, error_code};
use crate::queue::SendQueue;
use crate::rate::quota;
use crate::route::Route;
use crate::session::expiry_time;
use crate::wire::close::{CloseInfo, close_code};
use crate::wire::codec::Codec;
use crate::wire::parse::Message;

/// Why the read loop stopped.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer sent a close frame (with its code and reason, if any).
    PeerClosed(Option<CloseInfo>),
    /// The stream ended or failed without a close frame.
    Vanished,
    /// The server closes the connection with this frame, after what is
    /// queued.
    Close(CloseInfo),
    /// The server closes the connection with this frame, and what is queued
    /// is not sent: the session that entitled the peer to it has expired.
    Revoke(CloseInfo),
    /// Someone else closed the connection's queue (a kick, the shutdown, an
    /// overflow), with its own close frame.
    Closing,
}

pub(crate) async fn read_loop<P, H, S, T>(stream: &mut T, ctx: &Ctx<P>, handler: &H) -> ReadEnd
where
    P: Route<H, S>,
    T: Stream<Item = Result<Message, ReadEnd>> + Unpin,
{
    let config = ctx.manager().config();
    let limiter = config.rate_limit().map(limiter);
    let mut idle = config.idle_timeout().map(Idle::new);
    let lead = config.refresh_before();
    let mut expiry = Expiry::sync(None, ctx, lead);
    let queue = &ctx.conn().queue;
    'frames: loop {
        if queue.is_backed_up() {
            let wait = Box::pin(wait_for_writer(queue, config.stall_timeout()));
            match until_expired(wait, &mut expiry, ctx, lead).await {
                Err(end) | Ok(Some(end)) => return end,
                Ok(None) => {}
            }
            // The pause was the server's doing, not the peer's silence.
            if let Some(idle) = idle.as_mut() {
                idle.last_seen = Instant::now();
            }
        }
        let next = match next_event(stream, queue, idle.as_mut(), expiry.as_mut()).await {
            Event::Frame(next) => next,
            Event::Idle => {
                return ReadEnd::Close(CloseInfo::new(close_code::GOING_AWAY, "idle timeout"));
            }
            Event::Closing => return ReadEnd::Closing,
            Event::Expiry => match expiry_fired_now(&mut expiry, ctx, lead) {
                Some(close) => return ReadEnd::Revoke(close),
                None => continue 'frames,
            },
        };
        let message = match next {
            None => return ReadEnd::Vanished,
            Some(Err(end)) => return end,
            Some(Ok(message)) => message,
        };
        // Pings count too: each one owes the peer a pong. A ping has no
        // error frame to answer with, so a ping over the limit closes.
        let counted = matches!(
            message,
            Message::Text(_) | Message::Binary(_) | Message::Ping(_)
        );
        if counted && limiter.as_ref().is_some_and(|l| l.check().is_err()) {
            ctx.manager().counters().rate_limited();
            let is_ping = matches!(message, Message::Ping(_));
            match config.on_rate_limit() {
                OnRateLimit::Error if !is_ping => {
                    // Read only now: a message within the limit pays nothing.
                    let id = id_of::<P>(ctx, &message);
                    let dropped = "rate limit exceeded; message dropped";
                    send_error(ctx, error_code::RATE_LIMITED, dropped, id);
                    continue;
                }
                OnRateLimit::Error | OnRateLimit::Close => {
                    return ReadEnd::Close(CloseInfo::new(
                        close_code::POLICY,
                        "rate limit exceeded",
                    ));
                }
            }
        }
        let unpacked;
        let refused = 'refused: {
            let text = match &message {
                Message::Text(text) => text.as_str(),
                // A MessagePack message is decoded as the JSON it transcodes
                // to: the same typed decoding, errors and correlation ids.
                Message::Binary(bytes) if ctx.conn().codec == Codec::MessagePack => {
                    match crate::wire::codec::unpack(bytes) {
                        Ok(json) => {
                            unpacked = json;
                            unpacked.as_str()
                        }
                        Err(error) => {
                            break 'refused Refused {
                                close: close_code::INVALID_PAYLOAD,
                                code: error_code::INVALID_MESSAGE,
                                message: error.to_string(),
                                id: None,
                            };
                        }
                    }
                }
                Message::Binary(_) => {
                    break 'refused Refused {
                        close: close_code::UNSUPPORTED,
                        code: error_code::BINARY_NOT_SUPPORTED,
                        message: "binary frames are not supported; send JSON text, or \
                                  negotiate MessagePack in Sec-WebSocket-Protocol"
                            .to_owned(),
                        id: None,
                    };
                }
                // Pings are answered by the parser; any frame
                // counts as activity for the idle timeout.
                Message::Ping(_) | Message::Pong(_) => continue 'frames,
                // The parser has queued the close reply already.
                Message::Close(close) => return ReadEnd::PeerClosed(close.clone()),
            };
            match decode::<P>(text) {
                Ok((message, id)) if message.answers_server_request() => {
                    answer(ctx, message, id);
                    continue 'frames;
                }
                // Boxed: the handler's future is as large as the largest
                // handler, and inline it would be carried by every idle
                // connection (one allocation per message instead).
                Ok((message, id)) => {
                    let handled = Box::pin(route::<P, H, S>(ctx, handler, message, id));
                    match until_expired(handled, &mut expiry, ctx, lead).await {
                        Err(end) => return end,
                        Ok(Some(close)) => return ReadEnd::Close(close),
                        Ok(None) => {
                            // A handler may have replaced the session.
                            expiry = Expiry::sync(expiry, ctx, lead);
                            continue 'frames;
                        }
                    }
                }
                // The refresh frame is not one of the protocol's messages:
                // looked for only once a message failed to decode, so valid
                // messages pay nothing for it.
                Err(refused) => match serde_json::from_str::<RefreshFrame>(text) {
                    Ok(frame) => {
                        let refreshed = Box::pin(refresh::<P, H, S>(ctx, handler, frame.token));
                        match until_expired(refreshed, &mut expiry, ctx, lead).await {
                            Err(end) => return end,
                            Ok(Some(close)) => return ReadEnd::Close(close),
                            Ok(None) => {
                                expiry = Expiry::sync(expiry, ctx, lead);
                                continue 'frames;
                            }
                        }
                    }
                    Err(_) => refused,
                },
            }
        };
        ctx.manager().counters().invalid();
        match config.on_invalid() {
            OnInvalid::Error => send_error(ctx, refused.code, &refused.message, refused.id),
            OnInvalid::Close => {
                return ReadEnd::Close(CloseInfo::new(refused.close, refused.message));
            }
        }
    }
}

/// Flow control: the next frame is not read while the connection's own send
/// queue is backed up. Waiting here lets the writer (polled beside the read
/// loop) drain it, so a peer that reads what it asked for is never evicted
/// for its own burst. `Some` when the writer made no progress for `stall`
/// (the peer does not read, and is closed with 1013), or when the queue was
/// closed meanwhile.
pub(crate) async fn wait_for_writer(queue: &SendQueue, stall: Duration) -> Option<ReadEnd> {
    loop {
        let progress = queue.taken();
        if tokio::time::timeout(stall, queue.drained()).await.is_ok() {
            return queue.is_closing().then_some(ReadEnd::Closing);
        }
        if queue.taken() == progress {
            return Some(ReadEnd::Close(CloseInfo::new(
                close_code::TRY_AGAIN_LATER,
                "peer does not read",
            )));
        }
    }
}

/// `work` (a wait for the writer, a handler, the refresh hook) raced
/// against the session's expiry, so that no wait outlives the session:
/// `Err` when it expired first. A `refresh_required` due meanwhile is sent
/// and the work goes on.
async fn until_expired<P: crate::Protocol, F: Future + Unpin>(
    mut work: F,
    expiry: &mut Option<Expiry>,
    ctx: &Ctx<P>,
    lead: Duration,
) -> Result<F::Output, ReadEnd> {
    loop {
        tokio::select! {
            biased;
            // Checked first: an expired session gets nothing more done.
            () = expiry_fired(expiry.as_mut()) => {
                if let Some(close) = expiry_fired_now(expiry, ctx, lead) {
                    return Err(ReadEnd::Revoke(close));
                }
            }
            output = &mut work => return Ok(output),
        }
    }
}

/// The expiry timer fired: asks for a refresh, re-arms for a session that
/// replaced the one it was armed for, or says the session has expired.
fn expiry_fired_now<P: crate::Protocol>(
    expiry: &mut Option<Expiry>,
    ctx: &Ctx<P>,
    lead: Duration,
) -> Option<CloseInfo> {
    // The session may have been replaced from another task since the timer
    // was armed: it then counts, not the old one.
    let armed = expiry.as_ref().map(|expiry| expiry.armed);
    *expiry = Expiry::sync(expiry.take(), ctx, lead);
    let current = expiry.as_mut()?;
    if Some(current.armed) != armed {
        // Armed afresh for the new session: its own timer decides.
        return None;
    }
    current.fired(ctx)
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

fn limiter(limit: RateLimit) -> Limiter {
    RateLimiter::direct(quota(limit))
}

/// The idle timeout as one timer per connection, moved only when it fires:
/// a frame just records the time, so the per-message cost is a clock read
/// rather than a timer registration.
struct Idle {
    after: Duration,
    last_seen: Instant,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Idle {
    fn new(after: Duration) -> Self {
        let now = Instant::now();
        Self {
            after,
            last_seen: now,
            timer: Box::pin(sleep_until(now + after)),
        }
    }

    /// Resolves when the peer has been silent for `after`.
    async fn expired(&mut self) {
        loop {
            self.timer.as_mut().await;
            let deadline = self.last_seen + self.after;
            if Instant::now() >= deadline {
                return;
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

/// What the read loop waits for.
enum Event<I> {
    /// The next frame (`None`: the stream ended).
    Frame(Option<I>),
    /// The peer stayed silent past the idle timeout.
    Idle,
    /// The session's expiry timer fired.
    Expiry,
    /// The connection's queue was closed by someone else.
    Closing,
}

/// The next frame, or a timer that fired first.
async fn next_event<S: Stream + Unpin>(
    stream: &mut S,
    queue: &SendQueue,
    idle: Option<&mut Idle>,
    expiry: Option<&mut Expiry>,
) -> Event<S::Item> {
    let mut idle = idle;
    let next = tokio::select! {
        biased;
        // Before the frame: an expired session or a closed queue gets
        // nothing more handled.
        () = expiry_fired(expiry) => return Event::Expiry,
        () = queue.closing() => return Event::Closing,
        next = stream.next() => next,
        () = idle_expired(idle.as_deref_mut()) => return Event::Idle,
    };
    if let Some(idle) = idle {
        idle.last_seen = Instant::now();
    }
    Event::Frame(next)
}

async fn idle_expired(idle: Option<&mut Idle>) {
    match idle {
        Some(idle) => idle.expired().await,
        None => std::future::pending().await,
    }
}

async fn expiry_fired(expiry: Option<&mut Expiry>) {
    match expiry {
        Some(expiry) => expiry.timer.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The session's expiry as one timer, armed only for a session that has
/// one: it fires `refresh_before` ahead (a [`RefreshRequired`] frame), then
/// at the expiry (close 4001), unless a new session re-arms it first.
struct Expiry {
    /// The [`Conn::expires`](crate::registry::Conn) this timer was armed for.
    armed: u64,
    /// When the session expires, on the runtime's clock.
    at: Instant,
    /// Whether the `refresh_required` frame has gone out.
    asked: bool,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Expiry {
    /// The timer for the connection's current session: `current` kept if
    /// it was armed for the same expiry, re-armed if the expiry changed,
    /// `None` when the session has none.
    fn sync<P: crate::Protocol>(
        current: Option<Self>,
        ctx: &Ctx<P>,
        lead: Duration,
    ) -> Option<Self> {
        let expires = ctx.conn().expires.load(Ordering::Acquire);
        if current.as_ref().map_or(0, |expiry| expiry.armed) == expires {
            return current;
        }
        let at = expiry_time(expires)?;
        // Wall-clock expiry onto the monotonic clock, once per arming.
        let left = at.duration_since(SystemTime::now()).unwrap_or_default();
        let now = Instant::now();
        // An expiry centuries away is, for a connection, never.
        let at = now
            .checked_add(left)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        let ask = at.checked_sub(lead).map_or(now, |ask| ask.max(now));
        Some(Self {
            armed: expires,
            at,
            asked: false,
            timer: Box::pin(sleep_until(ask)),
        })
    }

    /// The timer fired: asks for a refresh the first time, and waits for
    /// the expiry; `Some` when the session has expired.
    fn fired<P: crate::Protocol>(&mut self, ctx: &Ctx<P>) -> Option<CloseInfo> {
        if self.asked {
            return Some(CloseInfo::new(
                close_code::SESSION_EXPIRED,
                "session expired",
            ));
        }
        self.asked = true;
        let left = self.at.saturating_duration_since(Instant::now());
        let frame = RefreshRequired {
            expires_in_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
        };
        // A struct of one integer always serializes.
        if let Ok(json) = serde_json::to_string(&frame) {
            let pushed = ctx.conn().push_json(&json);
            ctx.manager().counters().pushed(pushed);
        }
        self.timer.as_mut().reset(self.at);
        None
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

/// An inbound message the protocol does not accept.
pub(crate) struct Refused {
    close: u16,
    code: &'static str,
    pub(crate) message: String,
    /// The correlation id it carried, in a protocol that correlates it.
    id: Option<u64>,
}

/// Whether messages of `P` may carry a correlation id at all.
fn correlates<P: crate::Protocol>() -> bool {
    P::CORRELATE_ALL || P::MESSAGES.iter().any(|m| m.reply().is_some())
}

/// The correlation id a refused text carries, if `P` correlates and one can
/// be read: an error path, so valid messages never pay for the parse.
fn id_in<P: crate::Protocol>(text: &str) -> Option<u64> {
    correlates::<P>()
        .then(|| correlation::read_id(text).ok().flatten())
        .flatten()
}

/// [`id_in`] for a frame not decoded yet (JSON text, or MessagePack on a
/// connection that negotiated it).
fn id_of<P: crate::Protocol>(ctx: &Ctx<P>, message: &Message) -> Option<u64> {
    match message {
        Message::Text(text) => id_in::<P>(text),
        Message::Binary(bytes) if ctx.conn().codec == Codec::MessagePack => {
            id_in::<P>(&crate::wire::codec::unpack(bytes).ok()?)
        }
        _ => None,
    }
}

/// The message, and its correlation id if it declares a reply and has one.
pub(crate) fn decode<P: crate::Protocol>(text: &str) -> Result<(P, Option<u64>), Refused> {
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
            "`{}` of a `{}` message must be an unsigned integer",
            correlation::FIELD,
            message.message_type()
        ),
        id: None,
    })?;
    Ok((message, id))
}

/// Hands an answer to the request of the server that waits for it, or
/// refuses it: see [`request`](crate::request).
fn answer<P: crate::Protocol>(ctx: &Ctx<P>, message: P, id: Option<u64>) {
    let wire = message.message_type();
    if ctx.conn().answer(id, wire, message) {
        return;
    }
    let text = format!("no request of the server waits for this `{wire}` answer");
    send_error(ctx, error_code::UNEXPECTED_REPLY, &text, id);
}

/// Runs the handler; `Some` when the connection must close.
pub(crate) async fn route<P: Route<H, S>, H, S>(
    ctx: &Ctx<P>,
    handler: &H,
    message: P,
    id: Option<u64>,
) -> Option<CloseInfo> {
    let message_type = message.message_type();
    let request = message.reply_type().is_some();
    ctx.begin(id, message.reply_type());
    let outcome = AssertUnwindSafe(<P as Route<H, S>>::route(handler, ctx, message, id))
        .catch_unwind()
        .await;
    // A message answered early has had its one answer: a later error goes
    // without the id, which the client no longer waits on.
    let id = id.filter(|_| !ctx.end().replied);
    match outcome {
        // A message with an id that is not a request is acknowledged
        // (`correlate = "all"`): the client learns it was handled.
        Ok(Ok(())) if !request && id.is_some() => {
            let id = id.unwrap_or_default();
            let pushed = ctx.conn().push_json(&correlation::ack_frame(id));
            ctx.manager().counters().pushed(pushed);
            None
        }
        Ok(result) => outcome_with_id(ctx, message_type, result, id),
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
    outcome_with_id(ctx, during, result, None)
}

/// [`handler_outcome`] for a request: its error frame carries the request's
/// correlation id (the reply itself was sent by the generated routing).
fn outcome_with_id<P: crate::Protocol>(
    ctx: &Ctx<P>,
    during: &str,
    result: Result<(), HandlerError>,
    id: Option<u64>,
) -> Option<CloseInfo> {
    let send_error = |code: &str, message: &str| send_error(ctx, code, message, id);
    match result {
        Ok(()) => None,
        Err(HandlerError::Reply { code, message }) => {
            send_error(&code, &message);
            None
        }
        Err(HandlerError::Close(close)) => Some(close),
        Err(HandlerError::Internal(error)) => {
            tracing::error!(conn = %ctx.id(), during, %error, "handler failed");
            send_error(error_code::INTERNAL, "internal error");
            None
        }
    }
}

/// Queues an [`ErrorFrame`](crate::ErrorFrame), with the correlation id of
/// the message it answers if it had one.
fn send_error<P: crate::Protocol>(ctx: &Ctx<P>, code: &str, message: &str, id: Option<u64>) {
    match id {
        None => ctx.send_error(code, message),
        Some(id) => {
            let pushed = ctx
                .conn()
                .push_json(&correlation::error_frame(code, message, id));
            ctx.manager().counters().pushed(pushed);
        }
    }
}
