//! A registered connection: the state that senders and the registry share.
//! The connection task in [`connection`](crate::connection) drives it; every
//! layer below that holds it as an `Arc<Conn>`.

use std::fmt;

use parking_lot::Mutex;

use super::Membership;
use crate::delivery::Pushed;
use crate::frame::Wire;
use crate::id::ConnId;
use crate::queue::SendQueue;

/// The state of one connection that senders and the registry share.
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) queue: SendQueue,
    pub(crate) membership: Mutex<Membership>,
}

impl Conn {
    pub(crate) fn push(&self, frame: Wire) -> Pushed {
        self.queue.push(frame)
    }

    /// Frames `json` (one copy) and queues it: for the frames one connection
    /// gets on its own, such as errors and replies.
    pub(crate) fn push_json(&self, json: &str) -> Pushed {
        self.queue.push(crate::frame::wire(
            crate::frame::OPCODE_TEXT,
            json.as_bytes(),
        ))
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
