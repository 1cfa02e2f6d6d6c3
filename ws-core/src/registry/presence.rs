//! Who is in each room: per room, each user with its connection count and
//! presence info (JSON, as set with `Ctx::set_presence`).
//!
//! Kept up to date where membership changes (join, leave, a change of user
//! or info, unregistration), always under the connection's own lock, so a
//! connection's contribution never races itself. A room's users are kept
//! sorted by name: a page after a cursor is `O(log U + page)`, and the
//! counts are `O(1)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use dashmap::DashMap;

use crate::backend::Entry;

/// One user in one room on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) connections: usize,
    /// The info of the user's connection that set one last.
    pub(crate) info: Option<Arc<str>>,
}

#[derive(Default)]
pub(crate) struct Rooms {
    map: DashMap<Arc<str>, BTreeMap<Arc<str>, Seen>>,
}

impl Rooms {
    /// One more connection of `user` in `room`.
    pub(crate) fn add(&self, room: &Arc<str>, user: &Arc<str>, info: Option<&Arc<str>>) {
        let mut users = self.map.entry(Arc::clone(room)).or_default();
        let seen = users.entry(Arc::clone(user)).or_insert(Seen {
            connections: 0,
            info: None,
        });
        seen.connections += 1;
        if let Some(info) = info {
            seen.info = Some(Arc::clone(info));
        }
    }

    /// One connection of `user` fewer in `room`.
    pub(crate) fn remove(&self, room: &str, user: &str) {
        if let Some(mut users) = self.map.get_mut(room)
            && let Some(seen) = users.get_mut(user)
        {
            seen.connections -= 1;
            if seen.connections == 0 {
                users.remove(user);
            }
        }
        self.map.remove_if(room, |_, users| users.is_empty());
    }

    /// `user`'s info in `room` is now `info`.
    pub(crate) fn set_info(&self, room: &str, user: &str, info: Option<&Arc<str>>) {
        if let Some(mut users) = self.map.get_mut(room)
            && let Some(seen) = users.get_mut(user)
        {
            seen.info = info.cloned();
        }
    }

    /// Distinct users in `room`.
    pub(crate) fn users(&self, room: &str) -> usize {
        self.map.get(room).map_or(0, |users| users.len())
    }

    /// Up to `limit` users of `room` after `after` (by name).
    pub(crate) fn page(&self, room: &str, after: Option<&str>, limit: usize) -> Vec<Entry> {
        use std::ops::Bound;
        let Some(users) = self.map.get(room) else {
            return Vec::new();
        };
        let from = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        users
            .range::<str, _>((from, Bound::Unbounded))
            .take(limit)
            .map(|(user, seen)| (Arc::clone(user), seen.connections, seen.info.clone()))
            .collect()
    }

    /// Every user of `room`, for a cluster backend's copy.
    pub(crate) fn all(&self, room: &str) -> Vec<Entry> {
        self.page(room, None, usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pages_and_infos() {
        let rooms = Rooms::default();
        let r: Arc<str> = Arc::from("r");
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let info: Arc<str> = Arc::from("{\"x\":1}");
        rooms.add(&r, &b, None);
        rooms.add(&r, &a, Some(&info));
        rooms.add(&r, &a, None);
        rooms.add(&r, &c, None);
        assert_eq!(rooms.users("r"), 3);
        let first = rooms.page("r", None, 2);
        assert_eq!(
            first,
            vec![(a.clone(), 2, Some(info.clone())), (b.clone(), 1, None)]
        );
        assert_eq!(rooms.page("r", Some("b"), 2), vec![(c.clone(), 1, None)]);
        rooms.remove("r", "a");
        assert_eq!(rooms.page("r", None, 1)[0].1, 1, "a's second tab remains");
        rooms.set_info("r", "a", None);
        for user in ["a", "b", "c"] {
            rooms.remove("r", user);
        }
        assert_eq!(rooms.users("r"), 0);
        assert!(rooms.map.is_empty(), "an empty room is dropped");
    }
}
