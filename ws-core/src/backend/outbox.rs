//! The hand-off from the runtime to an engine's tasks: what the registry
//! and the broadcasts give an engine goes into queues here, so that
//! [`Engine::changed`](super::Engine::changed), [`Engine::publish`](super::Engine::publish)
//! and [`Engine::record`](super::Engine::record) never block and take no lock.
//!
//! The engine's handle owns the senders: once the manager (and with it the
//! handle) is gone, the tasks draining the queues see them closed and end.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{BackendError, Channel, Shared, now_micros};
use crate::wire::Wire;

/// A message waiting for the publisher, in the order it was sent.
pub(crate) struct Outgoing {
    pub(crate) channel: Channel,
    /// The complete WebSocket frame, as this node's connections got it.
    pub(crate) wire: Wire,
    /// Rooms whose members are skipped (empty: no allocation).
    pub(crate) except_rooms: Box<[Arc<str>]>,
    /// Microseconds since the Unix epoch when it was sent, for the lag.
    pub(crate) sent_at: u64,
    /// A message for the room's history: `wire` is its JSON body, not yet
    /// stamped; the engine gives it its offset, records and publishes it
    /// in one step, and every node (this one too) delivers it from there.
    pub(crate) recorded: bool,
}

/// The queues to an engine's tasks: the channels whose local membership
/// changed, and the messages to publish.
pub(crate) struct Outbox {
    changes: mpsc::UnboundedSender<Channel>,
    outgoing: mpsc::Sender<Outgoing>,
    shared: Arc<Shared>,
}

impl Outbox {
    /// The outbox, and the ends its tasks drain: changes, and up to
    /// `capacity` messages.
    pub(crate) fn new(
        shared: Arc<Shared>,
        capacity: usize,
    ) -> (
        Self,
        mpsc::UnboundedReceiver<Channel>,
        mpsc::Receiver<Outgoing>,
    ) {
        let (changes, changes_rx) = mpsc::unbounded_channel();
        let (outgoing, outgoing_rx) = mpsc::channel(capacity);
        let outbox = Self {
            changes,
            outgoing,
            shared,
        };
        (outbox, changes_rx, outgoing_rx)
    }

    /// See [`Engine::is_up`](super::Engine::is_up).
    pub(crate) fn is_up(&self) -> bool {
        self.shared.is_up()
    }

    /// See [`Engine::changed`](super::Engine::changed).
    pub(crate) fn changed(&self, channel: Channel) {
        let _ = self.changes.send(channel);
    }

    /// See [`Engine::publish`](super::Engine::publish).
    pub(crate) fn publish(
        &self,
        channel: Channel,
        wire: &Wire,
        except_rooms: &[&str],
    ) -> Result<(), BackendError> {
        self.send(|| Outgoing {
            channel,
            wire: wire.clone(),
            except_rooms: except_rooms.iter().map(|&room| Arc::from(room)).collect(),
            sent_at: now_micros(),
            recorded: false,
        })
    }

    /// See [`Engine::record`](super::Engine::record).
    pub(crate) fn record(&self, room: &str, body: Wire) -> Result<(), BackendError> {
        self.send(|| Outgoing {
            channel: Channel::Room(Arc::from(room)),
            wire: body,
            except_rooms: Box::new([]),
            sent_at: now_micros(),
            recorded: true,
        })
    }

    /// Queues what `outgoing` makes, if the engine is up and has room;
    /// counted as failed otherwise.
    fn send(&self, outgoing: impl FnOnce() -> Outgoing) -> Result<(), BackendError> {
        if !self.shared.is_up() {
            self.shared.publish_failed(1);
            return Err(BackendError::Unavailable);
        }
        self.outgoing.try_send(outgoing()).map_err(|error| {
            self.shared.publish_failed(1);
            match error {
                mpsc::error::TrySendError::Full(_) => BackendError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => BackendError::Unavailable,
            }
        })
    }
}
