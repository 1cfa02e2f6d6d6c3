//! The per-connection send queue: bounded, lock-free on the send path, with
//! an overflow policy, drained by the connection's writer.
//!
//! Senders (handlers, broadcasts from any task) push; the writer pops. A push
//! is an atomic length reservation plus a lock-free `SegQueue` push and a
//! waker notification: no lock that another sender or a broadcast contends
//! on. The queue allocates in small blocks as frames arrive, so an idle
//! connection costs nothing here whatever its capacity.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;

use crossbeam_queue::SegQueue;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

use crate::config::Overflow;
use crate::delivery::Pushed;
use crate::wire::Wire;
use crate::wire::close::{CloseInfo, close_code};

const OPEN: u8 = 0;
/// Send what is queued, then the close frame.
const DRAIN: u8 = 1;
/// Discard what is queued and send the close frame.
const ABORT: u8 = 2;

/// How the writer should end, once the queue says so.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Write the queued frames first.
    Drain(Option<CloseInfo>),
    /// Discard the queued frames.
    Abort(Option<CloseInfo>),
}

pub(crate) struct SendQueue {
    frames: SegQueue<Wire>,
    len: AtomicUsize,
    capacity: usize,
    policy: Overflow,
    writer: AtomicWaker,
    /// The read loop, waiting for the writer to drain the queue.
    reader: AtomicWaker,
    /// A history replay, waiting likewise (a waker holds one task).
    replay: AtomicWaker,
    /// Frames the writer has taken, ever: its progress.
    taken: AtomicU64,
    state: AtomicU8,
    /// Written once, by whoever closes first; read once by the writer.
    close: Mutex<Option<CloseInfo>>,
    /// Frames the frame parser answers with (pongs, close replies):
    /// outside the bound and the policy, rare, sent before queued data.
    control: Mutex<Vec<Wire>>,
    has_control: AtomicBool,
    /// Producers waiting for room ([`SendQueue::push_waiting`]): notified
    /// when the writer takes a frame from a full queue, and on close.
    space: tokio::sync::Notify,
}

impl SendQueue {
    pub(crate) fn new(capacity: usize, policy: Overflow) -> Self {
        Self {
            frames: SegQueue::new(),
            len: AtomicUsize::new(0),
            capacity,
            policy,
            writer: AtomicWaker::new(),
            reader: AtomicWaker::new(),
            replay: AtomicWaker::new(),
            taken: AtomicU64::new(0),
            state: AtomicU8::new(OPEN),
            close: Mutex::new(None),
            control: Mutex::new(Vec::new()),
            has_control: AtomicBool::new(false),
            space: tokio::sync::Notify::new(),
        }
    }

    /// Queues a control frame for the writer, whatever the queue's state.
    ///
    /// Bounded: at most [`OWED_PONGS`] pongs wait to be sent; past that, a
    /// new pong replaces the oldest not yet sent (RFC 6455 5.5.3 allows
    /// answering only the most recent ping), so a peer that floods pings and
    /// never reads is owed a few pongs, not one per ping, while a peer that
    /// sends a handful of pings before reading gets a pong for each.
    pub(crate) fn push_control(&self, frame: Wire) {
        let mut control = self.control.lock();
        if is_pong(&frame) {
            let mut pongs = control
                .iter()
                .enumerate()
                .filter(|(_, queued)| is_pong(queued));
            if let Some((oldest, _)) = pongs.next()
                && pongs.count() + 1 >= OWED_PONGS
            {
                control.remove(oldest);
            }
        }
        control.push(frame);
        drop(control);
        self.has_control.store(true, Ordering::Release);
        self.writer.wake();
    }

    /// Takes the queued control frames.
    pub(crate) fn take_control(&self) -> Vec<Wire> {
        if !self.has_control.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *self.control.lock())
    }

    /// Queues `frame` or applies the overflow policy. Never blocks.
    pub(crate) fn push(&self, frame: Wire) -> Pushed {
        if self.state.load(Ordering::Acquire) != OPEN {
            return Pushed::Closed;
        }
        let before = self.len.fetch_add(1, Ordering::AcqRel);
        let outcome = if before < self.capacity {
            Pushed::Queued
        } else {
            match self.policy {
                Overflow::DropNewest => {
                    self.len.fetch_sub(1, Ordering::AcqRel);
                    return Pushed::DroppedNewest;
                }
                Overflow::Close => {
                    self.len.fetch_sub(1, Ordering::AcqRel);
                    self.close(
                        true,
                        Some(CloseInfo::new(
                            close_code::TRY_AGAIN_LATER,
                            "send queue full",
                        )),
                    );
                    return Pushed::Evicted;
                }
                Overflow::DropOldest => {
                    // The writer may have emptied the queue meanwhile; then
                    // there is nothing to discard and the reservation stands.
                    if self.frames.pop().is_some() {
                        self.len.fetch_sub(1, Ordering::AcqRel);
                        Pushed::DroppedOldest
                    } else {
                        Pushed::Queued
                    }
                }
            }
        };
        self.frames.push(frame);
        self.writer.wake();
        outcome
    }

    /// Queues `frame` once there is room for it, instead of applying the
    /// overflow policy: for producers that would rather wait than drop or
    /// evict. `Closed` if the connection closes first.
    pub(crate) async fn push_waiting(&self, frame: Wire) -> Pushed {
        loop {
            let notified = self.space.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a pop between the check and
            // the wait still wakes it.
            notified.as_mut().enable();
            if self.state.load(Ordering::Acquire) != OPEN {
                return Pushed::Closed;
            }
            // A compare-and-swap, not an add and undo: the length never
            // reads above the capacity because of a waiting producer.
            let mut len = self.len.load(Ordering::Acquire);
            while len < self.capacity {
                match self
                    .len
                    .compare_exchange(len, len + 1, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        self.frames.push(frame);
                        self.writer.wake();
                        return Pushed::Queued;
                    }
                    Err(actual) => len = actual,
                }
            }
            notified.await;
        }
    }

    /// Takes queued frames for the writer, in order, until `max_bytes` are
    /// taken or the queue is empty; returns how many. The length and the
    /// progress counter are updated once for the lot: they share a cache
    /// line with every producer's reservation, so one update per batch
    /// instead of one per frame.
    pub(crate) fn pop_many(&self, max_bytes: usize, mut take: impl FnMut(Wire)) -> usize {
        let mut frames = 0;
        let mut bytes = 0;
        while bytes < max_bytes {
            let Some(frame) = self.frames.pop() else {
                break;
            };
            bytes += frame.len();
            frames += 1;
            take(frame);
        }
        if frames == 0 {
            return 0;
        }
        let before = self.len.fetch_sub(frames, Ordering::AcqRel);
        self.taken.fetch_add(frames as u64, Ordering::Relaxed);
        let low = self.low_water();
        if before > low && before - frames <= low {
            self.reader.wake();
            self.replay.wake();
        }
        if before >= self.capacity {
            self.space.notify_waiters();
        }
        frames
    }

    /// The next frame for the writer ([`pop_many`](Self::pop_many) of one:
    /// every frame has at least its 2-byte header).
    pub(crate) fn pop(&self) -> Option<Wire> {
        let mut next = None;
        self.pop_many(1, |frame| next = Some(frame));
        next
    }

    /// Above this many queued frames the connection stops reading: its own
    /// requests cannot then fill the queue past its capacity, and the
    /// overflow policy stays for what others send it.
    fn high_water(&self) -> usize {
        (self.capacity / 2).max(1)
    }

    /// Reading resumes at this many queued frames.
    fn low_water(&self) -> usize {
        self.capacity / 4
    }

    /// Frames the queue holds before its overflow policy applies.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the read loop should wait for the writer before it reads on.
    pub(crate) fn is_backed_up(&self) -> bool {
        self.len.load(Ordering::Acquire) >= self.high_water()
    }

    /// Frames the writer has taken so far.
    pub(crate) fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Waits until the writer has drained the queue to the low-water mark,
    /// or the queue is closing.
    pub(crate) async fn drained(&self) {
        self.drained_for(&self.reader).await
    }

    /// [`SendQueue::drained`] for a history replay, which runs beside the
    /// read loop and so waits with a waker of its own.
    pub(crate) async fn replay_drained(&self) {
        self.drained_for(&self.replay).await
    }

    async fn drained_for(&self, waker: &AtomicWaker) {
        until(waker, || {
            self.len.load(Ordering::Acquire) <= self.low_water() || self.is_closing()
        })
        .await
    }

    /// Asks the writer to end. The first call decides the close frame; an
    /// abort overrides an earlier drain (a slow client is not waited for).
    pub(crate) fn close(&self, abort: bool, frame: Option<CloseInfo>) {
        let next = if abort { ABORT } else { DRAIN };
        let previous = self.state.fetch_max(next, Ordering::AcqRel);
        if previous == OPEN {
            *self.close.lock() = frame;
        }
        if previous < next {
            self.writer.wake();
            self.reader.wake();
            self.space.notify_waiters();
            self.replay.wake();
        }
    }

    fn has_work(&self) -> bool {
        !self.frames.is_empty() || self.is_closing() || self.has_control.load(Ordering::Acquire)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.state.load(Ordering::Acquire) != OPEN
    }

    /// Waits until there is a frame to write or the queue is closing.
    pub(crate) async fn ready(&self) {
        until(&self.writer, || self.has_work()).await
    }

    /// Waits until the queue is closing: whoever closed it (a kick, the
    /// shutdown, an overflow) has decided the connection's end, and the
    /// read loop stops waiting for anything else.
    pub(crate) async fn closing(&self) {
        until(&self.reader, || self.is_closing()).await
    }

    /// Waits until the queue is aborted.
    pub(crate) async fn aborted(&self) {
        until(&self.writer, || self.state.load(Ordering::Acquire) == ABORT).await
    }

    /// How the writer should end, if it should; an abort discards the queue.
    pub(crate) fn ending(&self) -> Option<Ending> {
        match self.state.load(Ordering::Acquire) {
            OPEN => None,
            DRAIN if !self.frames.is_empty() => None,
            DRAIN => Some(Ending::Drain(self.close.lock().take())),
            _ => {
                while self.pop().is_some() {}
                Some(Ending::Abort(self.close.lock().take()))
            }
        }
    }
}

/// The most pongs a connection is owed at once (see
/// [`SendQueue::push_control`]): the Autobahn TestSuite's cases 2.10 and
/// 2.11 send ten pings before reading and expect ten pongs; a ping flood
/// still costs at most this many 127-byte frames per connection.
pub(crate) const OWED_PONGS: usize = 16;

/// Whether `frame` is exactly one pong frame (server frames are unmasked,
/// and control frames carry at most 125 bytes).
fn is_pong(frame: &[u8]) -> bool {
    const FIN_PONG: u8 = 0x8A;
    matches!(frame, [FIN_PONG, len, ..] if usize::from(*len) + 2 == frame.len())
}

/// Waits until `done`, woken through `waker`. Checked again after the
/// registration: a change between the first check and the registration
/// would otherwise be missed.
async fn until(waker: &AtomicWaker, done: impl Fn() -> bool) {
    poll_fn(|cx| {
        if done() {
            return Poll::Ready(());
        }
        waker.register(cx.waker());
        if done() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Wire {
        Wire::copy_from_slice(s.as_bytes())
    }

    fn drain(q: &SendQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop().map(|t| String::from_utf8(t.to_vec()).unwrap())).collect()
    }

    /// A queue of two pushed four frames: what each push reports, and
    /// which two frames the queue keeps.
    #[test]
    fn a_full_queue_drops_as_its_policy_says() {
        use Pushed::{DroppedNewest, DroppedOldest, Queued};
        for (policy, pushed, kept) in [
            (Overflow::DropNewest, [DroppedNewest; 2], ["a", "b"]),
            (Overflow::DropOldest, [DroppedOldest; 2], ["c", "d"]),
        ] {
            let q = SendQueue::new(2, policy);
            let outcomes = ["a", "b", "c", "d"].map(|s| q.push(text(s)));
            assert_eq!(outcomes, [Queued, Queued, pushed[0], pushed[1]]);
            assert_eq!(drain(&q), kept);
            assert_eq!(q.len.load(Ordering::Acquire), 0);
        }
    }

    #[test]
    fn close_policy_evicts_and_refuses_more() {
        let q = SendQueue::new(1, Overflow::Close);
        assert_eq!(q.push(text("a")), Pushed::Queued);
        assert_eq!(q.push(text("b")), Pushed::Evicted);
        assert_eq!(q.push(text("c")), Pushed::Closed);
        match q.ending() {
            Some(Ending::Abort(Some(info))) => assert_eq!(info.code, 1013),
            other => panic!("unexpected {other:?}"),
        }
        assert!(q.pop().is_none());
    }

    #[test]
    fn drain_waits_for_queued_frames() {
        let q = SendQueue::new(4, Overflow::Close);
        q.push(text("a"));
        q.close(false, None);
        assert!(q.ending().is_none());
        assert_eq!(drain(&q), ["a"]);
        assert!(matches!(q.ending(), Some(Ending::Drain(None))));
    }

    fn pong(n: u8) -> Wire {
        Wire::copy_from_slice(&[0x8A, 0x01, n])
    }

    /// Autobahn 2.10: ten pings before the writer runs, ten pongs, in order.
    #[test]
    fn a_few_pings_are_each_owed_a_pong() {
        let q = SendQueue::new(4, Overflow::Close);
        for n in 0..10 {
            q.push_control(pong(n));
        }
        assert_eq!(q.take_control(), (0..10).map(pong).collect::<Vec<_>>());
    }

    /// A flood is owed the newest [`OWED_PONGS`] pongs, and the close reply
    /// queued among them is kept, in its place.
    #[test]
    fn a_ping_flood_is_owed_a_bounded_backlog_of_the_newest_pongs() {
        let q = SendQueue::new(4, Overflow::Close);
        let close = Wire::from_static(&[0x88, 0x02, 0x03, 0xe8]);
        q.push_control(pong(0));
        q.push_control(close.clone());
        for n in 0..=250 {
            q.push_control(pong(n));
        }
        let owed = q.take_control();
        let mut expected = vec![close];
        expected.extend((251 - OWED_PONGS as u8..=250).map(pong));
        assert_eq!(owed, expected);
        assert_eq!(
            owed.iter().filter(|frame| is_pong(frame)).count(),
            OWED_PONGS
        );
    }
}
