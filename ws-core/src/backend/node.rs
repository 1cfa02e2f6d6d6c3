//! The runtime's side for an engine's tasks: the [`Node`] trait the manager
//! implements, and [`Local`], the weak handle the tasks call it through.

use std::sync::{Arc, Weak};

use super::{Channel, Entry};
use crate::delivery::{Delivery, Target};
use crate::wire::Wire;

/// The node an engine serves, as the engine's tasks need it: the layer
/// above (the manager) implements it, so that this layer calls up without
/// naming it, as a tokio task calls its scheduler through `task::Schedule`.
pub(crate) trait Node: Send + Sync {
    /// Delivers a frame from another node to the local members of `target`
    /// but those of `except_rooms`: a text frame is queued for them, a
    /// close frame closes them, a membership frame makes them leave or
    /// join its room (counted in `queued`, as a close is).
    fn deliver(&self, target: Target<'_>, wire: &Wire, except_rooms: &[String]) -> Delivery;
    /// Local connections in `channel` now (for `All`: every connection).
    fn size(&self, channel: &Channel) -> usize;
    /// Every channel with local members now, with their sizes.
    fn channels(&self) -> Vec<(Channel, usize)>;
    /// Every user of `room` on this node, by name.
    fn presence(&self, room: &str) -> Vec<Entry>;
    /// Delivers a recorded message of `room` (its JSON `body`, at `offset`
    /// of `epoch`) to the local members, in the order of the offsets.
    fn deliver_recorded(&self, room: &str, epoch: &str, offset: u64, body: &[u8]) -> Delivery;
    /// Records a message of `room` (its JSON `body`) that the backend could
    /// not take on this node alone, and delivers it to the local members.
    fn record_alone(&self, room: &str, body: &[u8]) -> Delivery;
    /// Rooms recorded on this node alone while the backend was out of
    /// reach: their history in the backend must get a new epoch.
    fn diverged(&self) -> Vec<Arc<str>>;
    /// The backend's histories of `rooms` got a new epoch.
    fn converged(&self, rooms: &[Arc<str>]);
    /// The backend's connection was lost and is back: what the cluster
    /// recorded meanwhile never reached this node, so the members of rooms
    /// whose history is the cluster's must resume (closed with 1013).
    fn interrupted(&self);
}

/// The node's side, for the backend's tasks: what arrived from other nodes
/// goes in here, and the channels needed now come out. Holds the manager
/// weakly: once every handle on the manager is gone, the tasks end.
#[derive(Clone)]
pub(crate) struct Local {
    node: Weak<dyn Node>,
}

impl Local {
    pub(crate) fn new(node: Weak<dyn Node>) -> Self {
        Self { node }
    }

    /// Whether the manager still exists.
    pub(crate) fn is_alive(&self) -> bool {
        self.node.strong_count() > 0
    }

    /// Delivers a frame from another node to the local members of
    /// `target`; `None` once the manager is gone.
    pub(crate) fn deliver(
        &self,
        target: Target<'_>,
        wire: &Wire,
        except_rooms: &[String],
    ) -> Option<Delivery> {
        Some(self.node.upgrade()?.deliver(target, wire, except_rooms))
    }

    /// See [`Node::deliver_recorded`]; `None` once the manager is gone.
    pub(crate) fn deliver_recorded(
        &self,
        room: &str,
        epoch: &str,
        offset: u64,
        body: &[u8],
    ) -> Option<Delivery> {
        Some(
            self.node
                .upgrade()?
                .deliver_recorded(room, epoch, offset, body),
        )
    }

    /// See [`Node::record_alone`]; `None` once the manager is gone.
    pub(crate) fn record_alone(&self, room: &str, body: &[u8]) -> Option<Delivery> {
        Some(self.node.upgrade()?.record_alone(room, body))
    }

    /// See [`Node::diverged`]; empty once the manager is gone.
    pub(crate) fn diverged(&self) -> Vec<Arc<str>> {
        self.node
            .upgrade()
            .map(|node| node.diverged())
            .unwrap_or_default()
    }

    /// See [`Node::converged`].
    pub(crate) fn converged(&self, rooms: &[Arc<str>]) {
        if let Some(node) = self.node.upgrade() {
            node.converged(rooms);
        }
    }

    /// See [`Node::interrupted`].
    pub(crate) fn interrupted(&self) {
        if let Some(node) = self.node.upgrade() {
            node.interrupted();
        }
    }

    /// Local connections in `channel` now (for `All`: every connection);
    /// `None` once the manager is gone.
    pub(crate) fn size(&self, channel: &Channel) -> Option<usize> {
        Some(self.node.upgrade()?.size(channel))
    }

    /// Every user of `room` on this node, by name; `None` once the manager
    /// is gone.
    pub(crate) fn presence(&self, room: &str) -> Option<Vec<Entry>> {
        Some(self.node.upgrade()?.presence(room))
    }

    /// Every channel with local members now, with their sizes; `None` once
    /// the manager is gone.
    pub(crate) fn channels(&self) -> Option<Vec<(Channel, usize)>> {
        Some(self.node.upgrade()?.channels())
    }
}
