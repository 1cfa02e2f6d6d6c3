//! This node's copy of a room's history when the history is a cluster
//! engine's: messages taken in as the engine delivers them, in offset
//! order; the copy seeded by a resume's read; and the rooms recorded here
//! alone while the engine was out of reach.

use std::sync::Arc;
use std::time::Instant;

use super::History;
use crate::id::ConnId;
use crate::wire::{Wire, frame};

impl History {
    /// Takes a message of `room` whose place a cluster backend gave (its
    /// JSON `payload`, at `offset` of `epoch`) into this node's copy of the
    /// room's history, and hands the stamped frame to `deliver`, with the
    /// members to skip, before any later one: members see offsets in order.
    /// `None` for a message already taken (by a resume's read).
    pub(crate) fn mirror<T>(
        &self,
        room: &str,
        epoch: &str,
        offset: u64,
        payload: &[u8],
        deliver: impl FnOnce(&Wire, &[ConnId]) -> T,
    ) -> Option<T> {
        let now = Instant::now();
        let mut store = self.store.lock();
        let (name, log) = self.log_mut(&mut store, room);
        let same = log.remote && *log.epoch == *epoch;
        if same && offset <= log.live {
            return None;
        }
        if same && offset <= log.head {
            // Read by a resume before it came here: in the copy already,
            // not yet with the members that follow live.
            let wire = frame::stamp(frame::body_of(payload), epoch, offset);
            let delivered = deliver(&wire, &log.held);
            log.live = offset;
            drop(store);
            self.live_moved.notify_waiters();
            return Some(delivered);
        }
        if same && log.live < log.head {
            // The subscription is past the copy's head: what the read
            // brought and it did not was published before this node
            // listened, when no member here followed live.
            log.live = log.head;
        }
        if !same || offset != log.head + 1 {
            // A history this node had not followed up to here: its copy
            // starts at this message (a resume further back reads Redis).
            store.restart(&name, epoch, offset - 1, true);
        }
        let (wire, size) = store.stamp(frame::body_of(payload), epoch, offset);
        let delivered = deliver(&wire, &store.rooms[&name].held);
        self.keep(&mut store, &name, offset, (wire, size), now);
        if let Some(log) = store.rooms.get_mut(&name) {
            log.live = offset;
        }
        drop(store);
        self.live_moved.notify_waiters();
        Some(delivered)
    }

    /// Makes this node's copy of `room`'s history hold `bodies` (JSON, from
    /// offset `from` on) up to `head` of `epoch`, as a cluster backend read
    /// them, keeping what arrived live after `head`.
    ///
    /// `members` counts the room's members on this node (called under the
    /// history's lock): those beyond the held ones follow live, and are
    /// still owed what the read brought before the subscription did.
    pub(crate) fn seed(
        &self,
        room: &str,
        epoch: &str,
        head: u64,
        from: u64,
        bodies: Vec<Vec<u8>>,
        members: impl FnOnce() -> usize,
    ) {
        let now = Instant::now();
        let mut store = self.store.lock();
        let (name, log) = self.log_mut(&mut store, room);
        let same = log.remote && *log.epoch == *epoch;
        if same && log.first_offset() <= from && log.head >= head {
            return; // this node followed the room: it has all of it
        }
        // What the live fan-out has had stays had. With no member here
        // following live (or a copy of another epoch) nobody is owed the
        // read messages, and the subscription may never bring them: it
        // began with the first member.
        let followers = members() > log.held.len();
        let live = if same && followers { log.live } else { head };
        let later: Vec<(u64, (Wire, usize))> = if same {
            log.entries
                .iter()
                .filter(|entry| entry.offset > head)
                .map(|entry| (entry.offset, (entry.wire.clone(), entry.size)))
                .collect()
        } else {
            Vec::new()
        };
        store.restart(&name, epoch, from - 1, true);
        for (offset, body) in (from..).zip(bodies) {
            let kept = store.stamp(frame::body_of(&body), epoch, offset);
            self.keep(&mut store, &name, offset, kept, now);
        }
        let log = &store.rooms[&name];
        if log.head < head {
            // Nothing to replay: the copy starts after the head.
            store.restart(&name, epoch, head, true);
        }
        for (offset, kept) in later {
            self.keep(&mut store, &name, offset, kept, now);
        }
        if let Some(log) = store.rooms.get_mut(&name) {
            log.live = live.min(log.head);
        }
    }

    /// `room` was recorded here alone: its history in the cluster must not
    /// be resumed from any more.
    pub(crate) fn diverge(&self, room: &str) {
        let mut store = self.store.lock();
        if !store.diverged.contains(room) {
            store.diverged.insert(Arc::from(room));
        }
    }

    /// The rooms [`History::diverge`]d since the last
    /// [`History::converged`].
    pub(crate) fn diverged(&self) -> Vec<Arc<str>> {
        self.store.lock().diverged.iter().cloned().collect()
    }

    /// The cluster's histories of `rooms` were ended (a new epoch follows).
    pub(crate) fn converged(&self, rooms: &[Arc<str>]) {
        let mut store = self.store.lock();
        for room in rooms {
            store.diverged.remove(room);
        }
    }

    /// The most messages one resume replays: the history's count.
    pub(crate) fn replay_max(&self) -> usize {
        self.limits.count
    }

    /// The rooms whose log here is a copy of a cluster backend's history.
    pub(crate) fn remote_rooms(&self) -> Vec<Arc<str>> {
        let store = self.store.lock();
        store
            .rooms
            .iter()
            .filter(|(_, log)| log.remote)
            .map(|(name, _)| Arc::clone(name))
            .collect()
    }

    /// Whether this node's log of `room` is its copy of a cluster backend's
    /// history (rather than what it recorded alone).
    pub(crate) fn is_remote(&self, room: &str) -> bool {
        self.store
            .lock()
            .rooms
            .get(room)
            .is_some_and(|log| log.remote)
    }
}
