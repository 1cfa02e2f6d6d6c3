//! Who is in each room: per room, each user with its connection count and
//! the presence meta (JSON, as set with `Ctx::set_presence`) of each of its
//! connections that set one.
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
use crate::id::ConnId;

/// One user in one room on this node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) connections: usize,
    /// The meta of each of the user's connections that set one.
    pub(crate) metas: BTreeMap<ConnId, Arc<str>>,
}

impl Seen {
    /// The metas, sorted by their text: two samples of the same metas
    /// compare equal whatever the order the connections came in.
    fn metas(&self) -> Vec<Arc<str>> {
        let mut metas: Vec<Arc<str>> = self.metas.values().cloned().collect();
        metas.sort_unstable();
        metas
    }
}

#[derive(Default)]
pub(crate) struct Rooms {
    map: DashMap<Arc<str>, BTreeMap<Arc<str>, Seen>>,
}

impl Rooms {
    /// Connection `conn` of `user`, with its meta, is in `room`.
    pub(crate) fn add(
        &self,
        room: &Arc<str>,
        user: &Arc<str>,
        conn: ConnId,
        meta: Option<&Arc<str>>,
    ) {
        let mut users = self.map.entry(Arc::clone(room)).or_default();
        let seen = users.entry(Arc::clone(user)).or_default();
        seen.connections += 1;
        if let Some(meta) = meta {
            seen.metas.insert(conn, Arc::clone(meta));
        }
    }

    /// Connection `conn` of `user` is no longer in `room`.
    pub(crate) fn remove(&self, room: &str, user: &str, conn: ConnId) {
        if let Some(mut users) = self.map.get_mut(room)
            && let Some(seen) = users.get_mut(user)
        {
            seen.connections -= 1;
            seen.metas.remove(&conn);
            if seen.connections == 0 {
                users.remove(user);
            }
        }
        self.map.remove_if(room, |_, users| users.is_empty());
    }

    /// The meta of connection `conn` of `user` in `room` is now `meta`.
    pub(crate) fn set_meta(&self, room: &str, user: &str, conn: ConnId, meta: Option<&Arc<str>>) {
        if let Some(mut users) = self.map.get_mut(room)
            && let Some(seen) = users.get_mut(user)
        {
            match meta {
                Some(meta) => seen.metas.insert(conn, Arc::clone(meta)),
                None => seen.metas.remove(&conn),
            };
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
            .map(|(user, seen)| (Arc::clone(user), seen.connections, seen.metas()))
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
    fn counts_pages_and_metas() {
        let rooms = Rooms::default();
        let r: Arc<str> = Arc::from("r");
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let (one, two): (Arc<str>, Arc<str>) = (Arc::from("{\"x\":1}"), Arc::from("{\"x\":2}"));
        let ids: Vec<ConnId> = (0..5).map(|_| ConnId::next()).collect();
        let id = |k: usize| ids[k];
        rooms.add(&r, &b, id(1), None);
        rooms.add(&r, &a, id(2), Some(&two));
        rooms.add(&r, &a, id(3), Some(&one));
        rooms.add(&r, &c, id(4), None);
        assert_eq!(rooms.users("r"), 3);
        let first = rooms.page("r", None, 2);
        assert_eq!(
            first,
            vec![
                (a.clone(), 2, vec![one.clone(), two.clone()]),
                (b.clone(), 1, vec![])
            ],
            "each connection's meta, sorted by text"
        );
        assert_eq!(rooms.page("r", Some("b"), 2), vec![(c.clone(), 1, vec![])]);
        rooms.set_meta("r", "a", id(3), Some(&two));
        assert_eq!(
            rooms.page("r", None, 1)[0].2,
            vec![two.clone(), two.clone()]
        );
        rooms.remove("r", "a", id(2));
        assert_eq!(
            rooms.page("r", None, 1)[0],
            (a.clone(), 1, vec![two.clone()]),
            "a's second tab remains, with its meta"
        );
        rooms.set_meta("r", "a", id(3), None);
        assert_eq!(rooms.page("r", None, 1)[0].2, Vec::<Arc<str>>::new());
        for (user, conn) in [("a", 3), ("b", 1), ("c", 4)] {
            rooms.remove("r", user, id(conn));
        }
        assert_eq!(rooms.users("r"), 0);
        assert!(rooms.map.is_empty(), "an empty room is dropped");
    }
}
