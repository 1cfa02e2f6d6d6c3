//! The registry: every live connection, the rooms, and the connections of
//! each user. One owner for each index; a connection leaves all of them
//! exactly once, when its [`Registration`] guard is finished or dropped.
//!
//! Unregistering is two-phase: the connection is first marked closing under
//! its own membership lock (from then on it can neither join a room nor
//! change its user), then removed from every index it is in. A join racing
//! with a disconnect therefore either completes before the mark, and is
//! undone by the removal, or fails; no stale membership survives.
//!
//! With a cluster backend, every change of a room's, a user's or the whole
//! node's local membership is also reported to the backend's [`Link`],
//! which subscribes to (and unsubscribes from) the channels between nodes
//! accordingly. Without one, that is a branch on an `Option`, taken only
//! when membership changes, never on a send.

mod groups;

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use dashmap::DashMap;

use groups::Groups;
pub(crate) use groups::Members;

use crate::backend::{Channel, Link};
use crate::connection::{Conn, ConnId};
use crate::error::ConnectionClosing;

/// The identity of the user behind a connection, as set by the
/// authentication hook or [`Ctx::set_user`](crate::Ctx::set_user).
///
/// ```
/// use ws_core::UserId;
/// let alice = UserId::from("alice");
/// assert_eq!(alice.as_str(), "alice");
/// assert_eq!(alice, UserId::from(String::from("alice")));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Arc<str>);

impl UserId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for UserId {
    fn from(id: &str) -> Self {
        Self(Arc::from(id))
    }
}

impl From<String> for UserId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl Deref for UserId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for UserId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A connection's place in the indexes, guarded by its own lock.
#[derive(Default)]
pub(crate) struct Membership {
    closing: bool,
    user: Option<UserId>,
    rooms: Vec<Arc<str>>,
}

impl Membership {
    pub(crate) fn new(user: Option<UserId>) -> Self {
        Self {
            user,
            ..Self::default()
        }
    }

    pub(crate) fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }

    pub(crate) fn rooms(&self) -> &[Arc<str>] {
        &self.rooms
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    conns: DashMap<ConnId, Arc<Conn>>,
    rooms: Groups,
    users: Groups,
    /// The cluster backend, if any.
    backend: Option<Link>,
}

impl Registry {
    /// A registry whose membership changes are reported to `backend`.
    pub(crate) fn with_backend(backend: Option<Link>) -> Self {
        Self {
            backend,
            ..Self::default()
        }
    }

    /// The cluster backend, if any.
    pub(crate) fn backend(&self) -> Option<&Link> {
        self.backend.as_ref()
    }

    fn changed(&self, channel: impl FnOnce() -> Channel) {
        if let Some(link) = &self.backend {
            link.changed(channel());
        }
    }

    /// Adds `conn` (and its user) to the indexes.
    #[must_use = "dropping the registration unregisters the connection"]
    pub(crate) fn register(self: &Arc<Self>, conn: Arc<Conn>) -> Registration {
        {
            let membership = conn.membership.lock();
            if let Some(user) = &membership.user {
                self.users.add(&user.0, &conn);
                self.changed(|| Channel::User(Arc::clone(&user.0)));
            }
        }
        self.conns.insert(conn.id, Arc::clone(&conn));
        self.changed(|| Channel::All);
        Registration {
            registry: Arc::clone(self),
            conn: Some(conn),
        }
    }

    /// Adds `conn` to `room`; `Ok(false)` if it was already there.
    pub(crate) fn join(&self, conn: &Arc<Conn>, room: &str) -> Result<bool, ConnectionClosing> {
        let mut membership = conn.membership.lock();
        if membership.closing {
            return Err(ConnectionClosing);
        }
        if membership.rooms.iter().any(|r| &**r == room) {
            return Ok(false);
        }
        let name: Arc<str> = Arc::from(room);
        self.rooms.add(&name, conn);
        self.changed(|| Channel::Room(Arc::clone(&name)));
        membership.rooms.push(name);
        Ok(true)
    }

    /// Removes `conn` from `room`; false if it was not there.
    pub(crate) fn leave(&self, conn: &Conn, room: &str) -> bool {
        let mut membership = conn.membership.lock();
        let Some(at) = membership.rooms.iter().position(|r| &**r == room) else {
            return false;
        };
        let name = membership.rooms.swap_remove(at);
        self.rooms.remove(room, conn.id);
        self.changed(|| Channel::Room(name));
        true
    }

    /// Moves `conn` to `user` in the user index.
    pub(crate) fn set_user(
        &self,
        conn: &Arc<Conn>,
        user: Option<UserId>,
    ) -> Result<(), ConnectionClosing> {
        let mut membership = conn.membership.lock();
        if membership.closing {
            return Err(ConnectionClosing);
        }
        if membership.user == user {
            return Ok(());
        }
        if let Some(old) = &membership.user {
            self.users.remove(old, conn.id);
            self.changed(|| Channel::User(Arc::clone(&old.0)));
        }
        if let Some(new) = &user {
            self.users.add(&new.0, conn);
            self.changed(|| Channel::User(Arc::clone(&new.0)));
        }
        membership.user = user;
        Ok(())
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<Arc<Conn>> {
        self.conns.get(&id).map(|conn| Arc::clone(&conn))
    }

    pub(crate) fn room(&self, room: &str) -> Option<Members> {
        self.rooms.members(room)
    }

    pub(crate) fn user(&self, user: &str) -> Option<Members> {
        self.users.members(user)
    }

    /// Every connection; collected shard by shard so no lock is held while
    /// the caller enqueues.
    pub(crate) fn all(&self) -> Vec<Arc<Conn>> {
        self.conns
            .iter()
            .map(|entry| Arc::clone(entry.value()))
            .collect()
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub(crate) fn room_size(&self, room: &str) -> usize {
        self.rooms.count(room)
    }

    pub(crate) fn user_count(&self) -> usize {
        self.users.len()
    }

    pub(crate) fn user_size(&self, user: &str) -> usize {
        self.users.count(user)
    }

    /// Every room with its size, for a backend's resync.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by cluster transports only
    pub(crate) fn rooms_sized(&self) -> Vec<(Arc<str>, usize)> {
        self.rooms.sized()
    }

    /// Every user with its connection count, for a backend's resync.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by cluster transports only
    pub(crate) fn users_sized(&self) -> Vec<(Arc<str>, usize)> {
        self.users.sized()
    }

    fn unregister(&self, conn: &Conn) -> (Option<UserId>, Vec<Arc<str>>) {
        let (user, rooms) = {
            let mut membership = conn.membership.lock();
            membership.closing = true;
            (
                membership.user.clone(),
                std::mem::take(&mut membership.rooms),
            )
        };
        for room in &rooms {
            self.rooms.remove(room, conn.id);
            self.changed(|| Channel::Room(Arc::clone(room)));
        }
        if let Some(user) = &user {
            self.users.remove(user, conn.id);
            self.changed(|| Channel::User(Arc::clone(&user.0)));
        }
        self.conns.remove(&conn.id);
        self.changed(|| Channel::All);
        (user, rooms)
    }
}

/// A registered connection. Finishing or dropping it removes the connection
/// from every index, exactly once.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    conn: Option<Arc<Conn>>,
}

impl Registration {
    /// Unregisters now and says what the connection was part of.
    pub(crate) fn finish(mut self) -> (Option<UserId>, Vec<Arc<str>>) {
        self.take()
    }

    fn take(&mut self) -> (Option<UserId>, Vec<Arc<str>>) {
        match self.conn.take() {
            Some(conn) => self.registry.unregister(&conn),
            None => (None, Vec::new()),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overflow;
    use crate::connection::queue::SendQueue;
    use parking_lot::Mutex;

    fn conn() -> Arc<Conn> {
        Arc::new(Conn {
            id: ConnId::next(),
            queue: SendQueue::new(4, Overflow::Close),
            membership: Mutex::new(Membership::new(Some(UserId::from("u")))),
        })
    }

    /// Joins and user changes race an unregistration on another thread;
    /// whatever the interleaving, nothing of the connection survives it.
    #[test]
    fn joins_racing_an_unregistration_leave_nothing_behind() {
        let registry = Arc::new(Registry::default());
        for round in 0..2_000 {
            let conn = conn();
            let registration = registry.register(Arc::clone(&conn));
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    for k in 0..8 {
                        let _ = registry.join(&conn, &format!("room{}", (round + k) % 5));
                        let _ = registry.set_user(&conn, Some(UserId::from(format!("user{k}"))));
                    }
                });
                scope.spawn(|| {
                    for _ in 0..(round % 50) {
                        std::hint::spin_loop();
                    }
                    registration.finish();
                });
            });
            assert!(
                registry.join(&conn, "late").is_err(),
                "closing refuses joins"
            );
            assert!(registry.set_user(&conn, None).is_err());
        }
        assert_eq!(registry.room_count(), 0);
        assert_eq!(registry.user_count(), 0);
        assert_eq!(registry.connection_count(), 0);
    }

    #[test]
    fn a_broadcast_snapshot_is_rebuilt_after_membership_changes() {
        let registry = Arc::new(Registry::default());
        let (a, b) = (conn(), conn());
        let _ra = registry.register(Arc::clone(&a));
        let _rb = registry.register(Arc::clone(&b));
        registry.join(&a, "r").unwrap();
        assert_eq!(registry.room("r").unwrap().len(), 1);
        let first = registry.room("r").unwrap();
        assert!(
            Arc::ptr_eq(&first, &registry.room("r").unwrap()),
            "snapshot shared"
        );
        registry.join(&b, "r").unwrap();
        assert_eq!(registry.room("r").unwrap().len(), 2);
        assert_eq!(
            first.len(),
            1,
            "a taken snapshot is not changed under its reader"
        );
        registry.leave(&a, "r");
        registry.leave(&b, "r");
        assert!(registry.room("r").is_none());
    }
}
