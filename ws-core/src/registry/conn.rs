//! A registered connection: the state that senders and the registry share.
//! The connection task in [`connection`](crate::connection) drives it; every
//! layer below that holds it as an `Arc<Conn>`.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::Membership;
use crate::delivery::Pushed;
use crate::id::ConnId;
use crate::queue::SendQueue;
use crate::wire::Wire;
use crate::wire::codec::Codec;
use crate::wire::deflate::{Deflate, Shared};

/// The state of one connection that senders and the registry share.
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) queue: SendQueue,
    /// What the connection agreed to if it negotiated permessage-deflate:
    /// its text and binary frames of at least `compress_min_size` bytes go
    /// out compressed, with the window it asked for.
    pub(crate) deflate: Option<Deflate>,
    pub(crate) membership: Mutex<Membership>,
    /// The requests of the server that wait for this client's answer
    /// (`ctx.request`); allocated by the first one.
    pub(crate) requests: Mutex<Requests>,
    /// The codec negotiated in the handshake: what every frame sent to this
    /// connection is encoded in.
    pub(crate) codec: Codec,
    /// The session's expiry ([`expiry_ms`](crate::session::expiry_ms)),
    /// written whenever the session is set, so that the read loop re-arms
    /// its timer with a load rather than the membership's lock.
    pub(crate) expires: AtomicU64,
}

/// The requests a connection has been sent and not yet answered.
#[derive(Default)]
pub(crate) enum Requests {
    /// None sent yet: no table.
    #[default]
    Unused,
    Open(Box<Waiting>),
    /// The connection has ended: a new request fails at once.
    Closed,
}

/// The table of waiting requests, and the next id to give out.
#[derive(Default)]
pub(crate) struct Waiting {
    next: u64,
    by_id: HashMap<u64, Waiter>,
}

/// One waiting request: the wire name of the answer it expects, and where
/// to deliver the decoded answer (the protocol's enum, as `Box<dyn Any>`,
/// because `Conn` does not know the protocol).
pub(crate) struct Waiter {
    answer: &'static str,
    tx: oneshot::Sender<Box<dyn Any + Send>>,
}

/// A waiting request's receiving end; `None` from [`Conn::wait_for`] when
/// the connection has ended.
pub(crate) type Answer = oneshot::Receiver<Box<dyn Any + Send>>;

impl Conn {
    /// Queues a frame of JSON made here, for this connection alone (a
    /// reply, an error, a replayed message), in this connection's codec and
    /// compressed if it negotiated deflate (a send to many shares each form
    /// instead, see `broadcast::enqueue`).
    pub(crate) fn push(&self, frame: Wire) -> Pushed {
        if self.codec == Codec::Json && self.deflate.is_none() {
            // The frame as made: moved, no form to pick.
            return self.queue.push(frame);
        }
        self.queue.push(self.frame_of(&Shared::new(&frame)))
    }

    /// The form of [`Shared`] this connection takes: in its codec,
    /// compressed if it negotiated deflate.
    #[inline]
    pub(crate) fn frame_of(&self, shared: &Shared<'_>) -> Wire {
        shared.for_conn(self.codec, self.deflate)
    }

    /// Queues a frame shared with other recipients (a broadcast).
    pub(crate) fn push_shared(&self, shared: &Shared<'_>) -> Pushed {
        self.queue.push(self.frame_of(shared))
    }
}

impl Conn {
    /// Registers a request that expects the answer `answer` (a wire name):
    /// its id, and the receiver of the answer. `None` once the connection
    /// has ended.
    pub(crate) fn wait_for(&self, answer: &'static str) -> Option<(u64, Answer)> {
        let mut requests = self.requests.lock();
        let waiting = match &mut *requests {
            Requests::Closed => return None,
            Requests::Open(waiting) => waiting,
            Requests::Unused => {
                *requests = Requests::Open(Box::default());
                let Requests::Open(waiting) = &mut *requests else {
                    unreachable!("just opened")
                };
                waiting
            }
        };
        waiting.next += 1;
        let id = waiting.next;
        let (tx, rx) = oneshot::channel();
        waiting.by_id.insert(id, Waiter { answer, tx });
        Some((id, rx))
    }

    /// Forgets request `id` (answered, timed out or abandoned): a late
    /// answer is then unexpected.
    pub(crate) fn forget(&self, id: u64) {
        if let Requests::Open(waiting) = &mut *self.requests.lock() {
            waiting.by_id.remove(&id);
        }
    }

    /// Hands `message` (of wire name `wire`) to the request `id` that waits
    /// for it; false if no request of this connection waits for it.
    pub(crate) fn answer<M: Any + Send>(&self, id: Option<u64>, wire: &str, message: M) -> bool {
        let Some(id) = id else { return false };
        let mut requests = self.requests.lock();
        let Requests::Open(waiting) = &mut *requests else {
            return false;
        };
        if waiting.by_id.get(&id).is_none_or(|w| w.answer != wire) {
            return false;
        }
        let Some(waiter) = waiting.by_id.remove(&id) else {
            return false;
        };
        // A waiter that gave up meanwhile (its future was dropped) still
        // counts as matched: the answer was expected when it came.
        let _ = waiter.tx.send(Box::new(message));
        true
    }

    /// Ends every waiting request (their receivers see the connection
    /// closed) and refuses new ones.
    pub(crate) fn close_requests(&self) {
        *self.requests.lock() = Requests::Closed;
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
