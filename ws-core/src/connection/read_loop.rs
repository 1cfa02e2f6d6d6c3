//! The read loop: waits for the next frame and hands it to
//! [`dispatch`](super::dispatch) (decode, route, handler), one at a time, so
//! a connection's messages are handled in the order they arrived. Besides
//! frames it waits for the timers: the idle timeout, and the session's
//! expiry.
//!
//! The session's expiry and the queue's closing (a kick, the shutdown, an
//! overflow) end the loop whatever it waits on: the next frame, the writer
//! draining a backed-up queue, or a handler.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, sleep_until};

use super::dispatch::Dispatch;
use crate::context::Ctx;
use crate::handler::RefreshRequired;
use crate::queue::SendQueue;
use crate::route::Route;
use crate::send;
use crate::session::expiry_time;
use crate::wire::close::{CloseInfo, close_code};
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
    let dispatch = Dispatch::<P, H, S>::new(ctx, handler);
    let mut idle = config.idle_timeout().map(Idle::new);
    let mut expiry = Expiry::new(ctx);
    let queue = &ctx.conn().queue;
    loop {
        if queue.is_backed_up() {
            let wait = Box::pin(wait_for_writer(queue, config.stall_timeout()));
            match expiry.race(wait, ctx).await {
                Err(end) | Ok(Some(end)) => return end,
                Ok(None) => {}
            }
            // The pause was the server's doing, not the peer's silence.
            if let Some(idle) = idle.as_mut() {
                idle.last_seen = Instant::now();
            }
        }
        let next = match next_event(stream, queue, idle.as_mut(), &mut expiry).await {
            Event::Frame(next) => next,
            Event::Idle => {
                return ReadEnd::Close(CloseInfo::new(close_code::GOING_AWAY, "idle timeout"));
            }
            Event::Closing => return ReadEnd::Closing,
            Event::Expiry => match expiry.fired_now(ctx) {
                Some(close) => return ReadEnd::Revoke(close),
                None => continue,
            },
        };
        let message = match next {
            None => return ReadEnd::Vanished,
            Some(Err(end)) => return end,
            Some(Ok(message)) => message,
        };
        if let Some(end) = dispatch.frame(message, &mut expiry).await {
            return end;
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
    expiry: &mut Expiry,
) -> Event<S::Item> {
    let mut idle = idle;
    let next = tokio::select! {
        biased;
        // Before the frame: an expired session or a closed queue gets
        // nothing more handled.
        () = expiry.fired() => return Event::Expiry,
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

/// The session's expiry timer, armed only for a session that has one: it
/// fires `refresh_before` ahead (a [`RefreshRequired`] frame), then at the
/// expiry (close 4001), unless a new session re-arms it first. No wait of
/// the connection's outlives its session: each is [raced](Expiry::race)
/// against this timer.
pub(crate) struct Expiry {
    timer: Option<Timer>,
    /// How long before the expiry the client is asked for a refresh.
    lead: Duration,
}

impl Expiry {
    pub(crate) fn new<P: crate::Protocol>(ctx: &Ctx<P>) -> Self {
        let lead = ctx.manager().config().refresh_before();
        Self {
            timer: Timer::sync(None, ctx, lead),
            lead,
        }
    }

    /// Re-arms the timer for the connection's current session, if it was
    /// replaced.
    pub(crate) fn sync<P: crate::Protocol>(&mut self, ctx: &Ctx<P>) {
        self.timer = Timer::sync(self.timer.take(), ctx, self.lead);
    }

    /// Resolves when the timer fires; never without a session expiry.
    async fn fired(&mut self) {
        match &mut self.timer {
            Some(timer) => timer.sleep.as_mut().await,
            None => std::future::pending().await,
        }
    }

    /// The timer fired: asks for a refresh, re-arms for a session that
    /// replaced the one it was armed for, or says the session has expired.
    fn fired_now<P: crate::Protocol>(&mut self, ctx: &Ctx<P>) -> Option<CloseInfo> {
        // The session may have been replaced from another task since the
        // timer was armed: it then counts, not the old one.
        let armed = self.timer.as_ref().map(|timer| timer.armed);
        self.sync(ctx);
        let current = self.timer.as_mut()?;
        if Some(current.armed) != armed {
            // Armed afresh for the new session: its own timer decides.
            return None;
        }
        current.fired(ctx)
    }

    /// `work` (a wait for the writer, a handler, the refresh hook) raced
    /// against the session's expiry: `Err` when it expired first. A
    /// `refresh_required` due meanwhile is sent and the work goes on.
    pub(crate) async fn race<P: crate::Protocol, F: Future + Unpin>(
        &mut self,
        mut work: F,
        ctx: &Ctx<P>,
    ) -> Result<F::Output, ReadEnd> {
        loop {
            tokio::select! {
                biased;
                // Checked first: an expired session gets nothing more done.
                () = self.fired() => {
                    if let Some(close) = self.fired_now(ctx) {
                        return Err(ReadEnd::Revoke(close));
                    }
                }
                output = &mut work => return Ok(output),
            }
        }
    }
}

/// The timer of one session's expiry.
struct Timer {
    /// The [`Conn::expires`](crate::registry::Conn) this timer was armed for.
    armed: u64,
    /// When the session expires, on the runtime's clock.
    at: Instant,
    /// Whether the `refresh_required` frame has gone out.
    asked: bool,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Timer {
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
            sleep: Box::pin(sleep_until(ask)),
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
        if let Ok(frame) = send::encode(&frame, None) {
            ctx.answer(&frame);
        }
        self.sleep.as_mut().reset(self.at);
        None
    }
}
