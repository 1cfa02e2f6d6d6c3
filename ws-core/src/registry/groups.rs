//! Named groups of connections: rooms, and the connections of each user.
//!
//! A broadcast reads a group's member list as a shared snapshot: it clones
//! one `Arc` under a shard's read lock and enqueues with no lock held, so a
//! large fan-out never makes a concurrent join or send wait. Joins and
//! leaves invalidate the snapshot; the next broadcast rebuilds it once.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;

use crate::connection::{Conn, ConnId};

/// The members of one group, as a broadcast sees them.
pub(crate) type Members = Arc<[Arc<Conn>]>;

#[derive(Default)]
struct Group {
    members: HashMap<ConnId, Arc<Conn>>,
    snapshot: OnceLock<Members>,
}

#[derive(Default)]
pub(crate) struct Groups {
    map: DashMap<Arc<str>, Group>,
}

impl Groups {
    /// Adds `conn` to `name`, creating the group; false if it was a member.
    pub(crate) fn add(&self, name: &Arc<str>, conn: &Arc<Conn>) -> bool {
        let mut group = self.map.entry(Arc::clone(name)).or_default();
        let added = group.members.insert(conn.id, Arc::clone(conn)).is_none();
        if added {
            group.snapshot = OnceLock::new();
        }
        added
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
        self.map
            .remove_if(name, |_, group| group.members.is_empty());
        removed
    }

    /// The members of `name`, or `None` when there is no such group.
    pub(crate) fn members(&self, name: &str) -> Option<Members> {
        let group = self.map.get(name)?;
        Some(Arc::clone(
            group
                .snapshot
                .get_or_init(|| group.members.values().cloned().collect()),
        ))
    }

    /// How many connections are in `name`.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.map.get(name).map_or(0, |group| group.members.len())
    }

    /// Every group's name and size; collected shard by shard.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by cluster transports only
    pub(crate) fn sized(&self) -> Vec<(Arc<str>, usize)> {
        self.map
            .iter()
            .map(|entry| (Arc::clone(entry.key()), entry.members.len()))
            .collect()
    }

    /// How many groups exist.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
