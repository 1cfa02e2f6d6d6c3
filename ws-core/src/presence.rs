//! Presence: who is in a room, by user, with each user's connection count
//! and the metas (a status, a cursor, a device: a typed value of the
//! application's choosing) of its connections.
//!
//! A connection counts once it has a user (from `authenticate` or
//! [`Ctx::set_session`](crate::Ctx::set_session)) and is in the room; anonymous
//! connections count in [`PresenceCount::connections`] only. A connection's
//! meta is any `Serialize` value set with
//! [`Ctx::set_presence`](crate::Ctx::set_presence) (at most
//! [`max_presence_meta`](crate::Config::with_max_presence_meta) bytes of
//! JSON), kept as JSON (so it crosses nodes as it is) and read back typed
//! with [`Present::metas`]. Each connection keeps its own: a user's entry
//! lists the metas of all its connections that set one, on every node (as
//! Phoenix's `metas: [...]`), sorted by their JSON text. A changed meta is
//! reported by the presence events as an update of the user
//! ([`PresenceDiff::updated`]).
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

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::backend::Entry;
use crate::id::UserId;

/// A presence meta that could not be set.
///
/// Passed on with `?` from a handler, [`PresenceError::TooLarge`] reaches
/// the client as an error frame with code
/// [`error_code::PRESENCE_META_TOO_LARGE`](crate::error_code::PRESENCE_META_TOO_LARGE).
///
/// ```
/// use ws_core::presence::PresenceError;
/// let error = PresenceError::TooLarge { size: 2000, max: 1024 };
/// assert_eq!(
///     error.to_string(),
///     "presence meta of 2000 bytes is over max_presence_meta (1024)"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// The meta's `Serialize` failed.
    #[error("presence meta cannot be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The meta's JSON is over
    /// [`max_presence_meta`](crate::Config::with_max_presence_meta) bytes;
    /// the connection keeps its meta before.
    #[error("presence meta of {size} bytes is over max_presence_meta ({max})")]
    TooLarge {
        /// The meta's size in bytes of JSON.
        size: usize,
        /// The limit.
        max: usize,
    },
}

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
    metas: Vec<Arc<str>>,
}

impl Present {
    pub(crate) fn new(user: UserId, connections: usize, metas: Vec<Arc<str>>) -> Self {
        Self {
            user,
            connections,
            metas,
        }
    }

    /// The metas of the user's connections in the room (on every node),
    /// as set with [`Ctx::set_presence`](crate::Ctx::set_presence), one per
    /// connection that set one, in the order of their JSON text; those that
    /// are not a `T` are left out.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use ws_core::presence::Present;
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Meta { typing: bool }
    ///
    /// fn typing(present: &Present) -> bool {
    ///     present.metas::<Meta>().iter().any(|meta| meta.typing)
    /// }
    /// ```
    pub fn metas<T: DeserializeOwned>(&self) -> Vec<T> {
        self.metas
            .iter()
            .filter_map(|meta| serde_json::from_str(meta).ok())
            .collect()
    }

    /// The metas as their JSON text; see [`Present::metas`].
    pub fn metas_json(&self) -> &[Arc<str>] {
        &self.metas
    }

    /// The first of the user's metas ([`Present::metas`]); `None` if none
    /// was set or it is not a `T`. For a user with one connection, its meta.
    pub fn info<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.info_json()?).ok()
    }

    /// The first meta as its JSON text.
    pub fn info_json(&self) -> Option<&str> {
        self.metas.first().map(|meta| &**meta)
    }
}

/// Builds a page from entries sorted by user name, of which at most
/// `limit + 1` were read: the extra one says whether another page follows.
pub(crate) fn page(mut entries: Vec<Entry>, limit: usize) -> Presence {
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = more
        .then(|| entries.last().map(|(user, ..)| UserId(Arc::clone(user))))
        .flatten();
    Presence {
        users: entries
            .into_iter()
            .map(|(user, n, metas)| Present::new(UserId(user), n, metas))
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
    /// The users who arrived, with their connections and metas, by name.
    pub joined: Vec<Present>,
    /// The users gone (absent at two samples in a row), by name.
    pub left: Vec<UserId>,
    /// The users announced before whose metas changed (one set a new meta,
    /// or a connection with one came or went), each with its whole entry
    /// now, by name: a client replaces what it holds of the user. A change
    /// of connections alone is no update.
    pub updated: Vec<Present>,
}

/// The debounce of a room's presence events: what was announced (each
/// user with its metas), and who was missing at the last sample.
///
/// A new tracker has announced nobody, so its first sample announces
/// everyone: a member who arrived in the room's first window (after the
/// room was empty on this node) read the presence before the others of
/// that window came, and only this diff tells it of them. A silent
/// baseline is taken only where every member can have read it
/// ([`Tracker::baseline`]).
#[derive(Default)]
pub(crate) struct Tracker {
    announced: BTreeMap<Arc<str>, Vec<Arc<str>>>,
    missing: HashSet<Arc<str>>,
}

impl Tracker {
    /// A tracker that counts `now` as announced: the room's members were
    /// told (or read) who is in it.
    pub(crate) fn baseline(now: Vec<Entry>) -> Self {
        Self {
            announced: now
                .into_iter()
                .map(|(user, _, metas)| (user, metas))
                .collect(),
            missing: HashSet::new(),
        }
    }

    /// Takes a sample of who is in `room` (sorted by name); the diff to
    /// announce, if any.
    pub(crate) fn sample(&mut self, room: &Arc<str>, now: Vec<Entry>) -> Option<PresenceDiff> {
        let announced = &mut self.announced;
        let present: HashSet<&Arc<str>> = now.iter().map(|(user, ..)| user).collect();
        let mut left = Vec::new();
        for user in announced.keys() {
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
        let mut updated = Vec::new();
        for (user, n, metas) in now {
            match announced.get_mut(&user) {
                None => {
                    announced.insert(Arc::clone(&user), metas.clone());
                    joined.push(Present::new(UserId(user), n, metas));
                }
                Some(told) if *told != metas => {
                    told.clone_from(&metas);
                    updated.push(Present::new(UserId(user), n, metas));
                }
                Some(_) => {}
            }
        }
        (!joined.is_empty() || !left.is_empty() || !updated.is_empty()).then(|| PresenceDiff {
            room: Arc::clone(room),
            joined,
            left,
            updated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(names: &[&str]) -> Vec<Entry> {
        names
            .iter()
            .map(|n| (Arc::from(*n), 1, Vec::new()))
            .collect()
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

    #[test]
    fn a_changed_meta_is_an_update_and_an_unchanged_one_is_nothing() {
        let room: Arc<str> = Arc::from("r");
        let meta = |json: &str| -> Arc<str> { Arc::from(json) };
        let mut t = Tracker::baseline(vec![(Arc::from("a"), 1, vec![meta("1")])]);
        assert!(
            t.sample(&room, vec![(Arc::from("a"), 2, vec![meta("1")])])
                .is_none()
        );
        let d = t
            .sample(&room, vec![(Arc::from("a"), 2, vec![meta("1"), meta("2")])])
            .unwrap();
        assert_eq!(names(&d), (vec![], vec![]));
        assert_eq!(d.updated.len(), 1);
        assert_eq!(d.updated[0].metas_json(), &[meta("1"), meta("2")][..]);
        // Missing once, back with another meta: an update, no leave.
        assert!(t.sample(&room, Vec::new()).is_none());
        let d = t
            .sample(&room, vec![(Arc::from("a"), 1, vec![meta("3")])])
            .unwrap();
        assert_eq!((d.joined.len(), d.left.len(), d.updated.len()), (0, 0, 1));
    }
}
