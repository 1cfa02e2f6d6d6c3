//! Named groups of connections: rooms, and the connections of each user.
//!
//! A broadcast reads a group's member list as a shared snapshot: it clones
//! one `Arc` under a shard's read lock and enqueues with no lock held, so a
//! large fan-out never makes a concurrent join or send wait. Joins and
//! leaves invalidate the snapshot; the next broadcast rebuilds it once.
//!
//! A group may be capped (a user's connections): the check and the count
//! happen under the group's shard lock, so two connections racing for the
//! last place cannot both take it. A place can also be reserved before its
//! connection exists (admission, before the 101) and claimed later; a
//! reservation counts against the cap like a member.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;

use super::Conn;
use crate::id::ConnId;

/// The members of one group, as a broadcast sees them.
pub(crate) type Members = Arc<[Arc<Conn>]>;

struct Group {
    members: HashMap<ConnId, Arc<Conn>>,
    /// Places held for connections not added yet.
    reserved: usize,
    snapshot: OnceLock<Members>,
    /// Which life of the group this is: a group is removed once empty, and
    /// one made again under the same name is another (see
    /// [`Groups::generation`]).
    generation: u64,
}

impl Default for Group {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            members: HashMap::new(),
            reserved: 0,
            snapshot: OnceLock::new(),
            generation: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Group {
    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.reserved == 0
    }

    /// Whether one more would go past `cap` (`0` = no cap).
    fn is_full(&self, cap: usize) -> bool {
        cap != 0 && self.members.len() + self.reserved >= cap
    }

    fn insert(&mut self, conn: &Arc<Conn>) -> bool {
        let added = self.members.insert(conn.id, Arc::clone(conn)).is_none();
        if added {
            self.snapshot = OnceLock::new();
        }
        added
    }
}

/// The group has as many members (and reservations) as its cap allows.
#[derive(Debug)]
pub(crate) struct Full;

#[derive(Default)]
pub(crate) struct Groups {
    map: DashMap<Arc<str>, Group>,
}

impl Groups {
    /// Adds `conn` to `name`, creating the group; false if it was a member.
    pub(crate) fn add(&self, name: &Arc<str>, conn: &Arc<Conn>) -> bool {
        self.map.entry(Arc::clone(name)).or_default().insert(conn)
    }

    /// [`Groups::add`], unless `name` already holds `cap` members and
    /// reservations (`0` = no cap). A member is never refused.
    pub(crate) fn try_add(
        &self,
        name: &Arc<str>,
        conn: &Arc<Conn>,
        cap: usize,
    ) -> Result<bool, Full> {
        let mut group = self.map.entry(Arc::clone(name)).or_default();
        if group.members.contains_key(&conn.id) {
            return Ok(false);
        }
        // A full group has members, so refusing here leaves no empty one.
        if group.is_full(cap) {
            return Err(Full);
        }
        Ok(group.insert(conn))
    }

    /// Holds a place in `name` for a connection to come, unless it is full.
    pub(crate) fn reserve(&self, name: &Arc<str>, cap: usize) -> Result<(), Full> {
        let mut group = self.map.entry(Arc::clone(name)).or_default();
        if group.is_full(cap) {
            return Err(Full);
        }
        group.reserved += 1;
        Ok(())
    }

    /// Turns a place reserved in `name` into the membership of `conn`.
    pub(crate) fn claim(&self, name: &Arc<str>, conn: &Arc<Conn>) {
        let mut group = self.map.entry(Arc::clone(name)).or_default();
        group.reserved = group.reserved.saturating_sub(1);
        group.insert(conn);
    }

    /// Gives back a place reserved in `name` and never claimed.
    pub(crate) fn unreserve(&self, name: &str) {
        if let Some(mut group) = self.map.get_mut(name) {
            group.reserved = group.reserved.saturating_sub(1);
        }
        self.map.remove_if(name, |_, group| group.is_empty());
    }

    /// Removes `id` from `name`, and the group once it is empty.
    pub(crate) fn remove(&self, name: &str, id: ConnId) -> bool {
        let removed = match self.map.get_mut(name) {
            Some(mut group) => {
                let removed = group.members.remove(&id).is_some();
                if removed {
                    group.snapshot = OnceLock::new();
                }
                removed
            }
            None => false,
        };
        // A join racing in between keeps the group: the check runs under
        // the shard's write lock.
        self.map.remove_if(name, |_, group| group.is_empty());
        removed
    }

    /// The members of `name`, or `None` when it has none.
    pub(crate) fn members(&self, name: &str) -> Option<Members> {
        let group = self
            .map
            .get(name)
            .filter(|group| !group.members.is_empty())?;
        Some(Arc::clone(
            group
                .snapshot
                .get_or_init(|| group.members.values().cloned().collect()),
        ))
    }

    /// Which life of `name` this is, while it has members: a different
    /// value than before means it was empty (and removed) in between, however
    /// briefly.
    pub(crate) fn generation(&self, name: &str) -> Option<u64> {
        self.map
            .get(name)
            .filter(|group| !group.members.is_empty())
            .map(|group| group.generation)
    }

    /// How many connections are in `name`.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.map.get(name).map_or(0, |group| group.members.len())
    }

    /// Every group's name and size; collected shard by shard.
    #[cfg(feature = "engine")]
    pub(crate) fn sized(&self) -> Vec<(Arc<str>, usize)> {
        self.map
            .iter()
            .filter(|entry| !entry.members.is_empty())
            .map(|entry| (Arc::clone(entry.key()), entry.members.len()))
            .collect()
    }

    /// How many groups exist, counting one that holds only reservations.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
