//! Presence: who is in a room, by user, with each user's connection count
//! and a typed info of the application's choosing.
//!
//! A connection counts once it has a user (from `authenticate` or
//! [`Ctx::set_user`](crate::Ctx::set_user)) and is in the room; anonymous
//! connections count in [`PresenceCount::connections`] only. The info is
//! any `Serialize` value set with [`Ctx::set_presence`](crate::Ctx::set_presence),
//! kept as JSON (so it crosses nodes as it is) and read back typed with
//! [`Present::info`]. A user with several connections shows the info its
//! connection set last (across nodes: the info of one of the nodes).
//!
//! Costs: [`Manager::presence_count`](crate::Manager::presence_count) is
//! `O(1)` and local. A listing is a page of at most [`MAX_PAGE`] users in
//! name order, continued with [`Presence::next`]: on one node
//! `O(log U + page)`; with the Redis backend two round trips (the live
//! nodes, then each other node's copy of the room) that read every node's
//! users of the room, off any delivery path. A node answers for its own
//! users itself, so a connection is listed by its own node as soon as it
//! has joined (other nodes list it once its node has written its copy, a
//! round trip later).
//!
//! ```
//! use ws_core::{ws_protocol, Manager};
//!
//! #[ws_protocol]
//! #[serde(tag = "type")]
//! pub enum Chat { #[ws(server)] Notice { text: String } }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let manager = Manager::<Chat>::new();
//! let count = manager.presence_count("lobby");
//! assert_eq!((count.users, count.connections), (0, 0));
//! let page = manager.presence("lobby").await.unwrap();
//! assert!(page.users.is_empty() && page.next.is_none());
//! # }
//! ```

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::id::UserId;

/// The users a page holds by default ([`Manager::presence`](crate::Manager::presence)).
pub const PAGE: usize = 100;
/// The most users one page holds, whatever is asked.
pub const MAX_PAGE: usize = 1000;

/// Cheap counts of a room on this node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceCount {
    /// Distinct users in the room.
    pub users: usize,
    /// Connections in the room, anonymous ones included.
    pub connections: usize,
}

/// One page of who is in a room, in user name order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Presence {
    /// The users of the page, by name.
    pub users: Vec<Present>,
    /// Pass as `after` to [`Manager::presence_page`](crate::Manager::presence_page)
    /// for the next page; `None` on the last one.
    pub next: Option<UserId>,
}

/// A user in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Present {
    /// The user.
    pub user: UserId,
    /// The user's connections in the room (across the cluster with a
    /// cluster backend).
    pub connections: usize,
    info: Option<Arc<str>>,
}

impl Present {
    pub(crate) fn new(user: UserId, connections: usize, info: Option<Arc<str>>) -> Self {
        Self {
            user,
            connections,
            info,
        }
    }

    /// The user's info as set with [`Ctx::set_presence`](crate::Ctx::set_presence);
    /// `None` if none was set or it is not a `T`.
    pub fn info<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.info.as_deref()?).ok()
    }

    /// The info as its JSON text.
    pub fn info_json(&self) -> Option<&str> {
        self.info.as_deref()
    }
}

/// Builds a page from entries sorted by user name, of which at most
/// `limit + 1` were read: the extra one says whether another page follows.
pub(crate) fn page(
    mut entries: Vec<(Arc<str>, usize, Option<Arc<str>>)>,
    limit: usize,
) -> Presence {
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = more
        .then(|| entries.last().map(|(user, ..)| UserId(Arc::clone(user))))
        .flatten();
    Presence {
        users: entries
            .into_iter()
            .map(|(user, n, info)| Present::new(UserId(user), n, info))
            .collect(),
        next,
    }
}

/// What changed in a room's presence since the last sample: the message
/// [`Manager::presence_events`](crate::Manager::presence_events) builds
/// its event from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceDiff {
    /// The room.
    pub room: Arc<str>,
    /// The users who arrived, with their connections and info, by name.
    pub joined: Vec<Present>,
    /// The users gone (absent at two samples in a row), by name.
    pub left: Vec<UserId>,
}

/// The debounce of a room's presence events: what was announced, and who
/// was missing at the last sample.
///
/// A new tracker has announced nobody, so its first sample announces
/// everyone: a member who arrived in the room's first window (after the
/// room was empty on this node) read the presence before the others of
/// that window came, and only this diff tells it of them. A silent
/// baseline is taken only where every member can have read it
/// ([`Tracker::baseline`]).
#[derive(Default)]
pub(crate) struct Tracker {
    announced: BTreeSet<Arc<str>>,
    missing: HashSet<Arc<str>>,
}

impl Tracker {
    /// A tracker that counts `now` as announced: the room's members were
    /// told (or read) who is in it.
    pub(crate) fn baseline(now: Vec<(Arc<str>, usize, Option<Arc<str>>)>) -> Self {
        Self {
            announced: now.into_iter().map(|(user, ..)| user).collect(),
            missing: HashSet::new(),
        }
    }

    /// Takes a sample of who is in `room` (sorted by name); the diff to
    /// announce, if any.
    pub(crate) fn sample(
        &mut self,
        room: &Arc<str>,
        now: Vec<(Arc<str>, usize, Option<Arc<str>>)>,
    ) -> Option<PresenceDiff> {
        let announced = &mut self.announced;
        let present: HashSet<&Arc<str>> = now.iter().map(|(user, ..)| user).collect();
        let mut left = Vec::new();
        for user in announced.iter() {
            if present.contains(user) {
                self.missing.remove(user);
            } else if !self.missing.insert(Arc::clone(user)) {
                // Missing at the sample before too: gone.
                left.push(UserId(Arc::clone(user)));
            }
        }
        for user in &left {
            announced.remove(&user.0);
            self.missing.remove(&user.0);
        }
        let mut joined = Vec::new();
        for (user, n, info) in now {
            if announced.insert(Arc::clone(&user)) {
                joined.push(Present::new(UserId(user), n, info));
            }
        }
        (!joined.is_empty() || !left.is_empty()).then(|| PresenceDiff {
            room: Arc::clone(room),
            joined,
            left,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(names: &[&str]) -> Vec<(Arc<str>, usize, Option<Arc<str>>)> {
        names.iter().map(|n| (Arc::from(*n), 1, None)).collect()
    }

    fn names(diff: &PresenceDiff) -> (Vec<&str>, Vec<&str>) {
        (
            diff.joined.iter().map(|p| p.user.as_str()).collect(),
            diff.left.iter().map(|u| u.as_str()).collect(),
        )
    }

    #[test]
    fn a_short_absence_is_no_event_and_a_long_one_is_a_leave() {
        let room: Arc<str> = Arc::from("r");
        let mut t = Tracker::baseline(users(&["a", "b"]));
        let d = t.sample(&room, users(&["a", "b", "c"])).unwrap();
        assert_eq!(names(&d), (vec!["c"], vec![]));
        // b missing once (a reconnect): nothing.
        assert!(t.sample(&room, users(&["a", "c"])).is_none());
        assert!(t.sample(&room, users(&["a", "b", "c"])).is_none());
        // c missing twice: gone, with d's arrival in the same message.
        assert!(t.sample(&room, users(&["a", "b"])).is_none());
        let d = t.sample(&room, users(&["a", "b", "d"])).unwrap();
        assert_eq!(names(&d), (vec!["d"], vec!["c"]));
        // Back after leaving: a join again.
        let d = t.sample(&room, users(&["a", "b", "c", "d"])).unwrap();
        assert_eq!(names(&d), (vec!["c"], vec![]));
    }

    #[test]
    fn a_new_tracker_announces_everyone_at_its_first_sample() {
        let room: Arc<str> = Arc::from("r");
        let mut t = Tracker::default();
        let d = t.sample(&room, users(&["a", "b"])).unwrap();
        assert_eq!(names(&d), (vec!["a", "b"], vec![]));
        assert!(t.sample(&room, users(&["a", "b"])).is_none());
    }
}
