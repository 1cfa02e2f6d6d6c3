//! What a send is for and what became of it: the leaf types shared by the
//! queue (one push), the fan-out (many), the telemetry that counts them and
//! the backend that carries a send to other nodes.

use crate::id::ConnId;

/// What became of one pushed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued for the writer.
    Queued,
    /// The queue was full: this frame was discarded (`drop_newest`).
    DroppedNewest,
    /// The queue was full: the oldest frame was discarded for this one.
    DroppedOldest,
    /// The queue was full: the connection is being closed (`close`).
    Evicted,
    /// The connection is closing; nothing was queued.
    Closed,
}

/// What a send did, recipient by recipient.
///
/// ```
/// # use ws_core::Delivery;
/// fn all_queued(d: Delivery) -> bool { d.dropped == 0 && d.evicted == 0 }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Recipients whose queue took the message.
    pub queued: usize,
    /// Recipients whose full queue discarded a message (`drop_newest`, `drop_oldest`).
    pub dropped: usize,
    /// Recipients closed because their queue was full (`close`).
    pub evicted: usize,
    /// Recipients already closing; nothing was queued for them.
    pub closed: usize,
}

impl Delivery {
    pub(crate) fn count(&mut self, pushed: Pushed) {
        match pushed {
            Pushed::Queued => self.queued += 1,
            // The new message is queued, an old one was dropped.
            Pushed::DroppedOldest => {
                self.queued += 1;
                self.dropped += 1;
            }
            Pushed::DroppedNewest => self.dropped += 1,
            Pushed::Evicted => self.evicted += 1,
            Pushed::Closed => self.closed += 1,
        }
    }
}

/// Where a send goes: one connection, a room, a user's connections or
/// everyone ([`Broadcast`](crate::Broadcast)); a backend publishes it to other nodes.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Conn(ConnId),
    Room(&'a str),
    User(&'a str),
    All,
}
