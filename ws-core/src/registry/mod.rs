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
//!
//! The registry also owns the limits on what one connection or user may
//! hold, checked where the membership changes: rooms per connection and
//! room names under the connection's lock, connections per user under the
//! user's group lock. The per-user count is the user index itself, so a
//! user set at admission ([`Registry::reserve`]) and one set later by a
//! handler ([`Registry::set_session`]) meet the same cap, and a connection
//! that changes user moves its count with it.

mod conn;
mod groups;
mod presence;

use std::sync::Arc;

use dashmap::DashMap;

pub(crate) use conn::{Answer, Conn};
use groups::Groups;
pub(crate) use groups::Members;

use crate::backend::{Channel, Link};
use crate::config::Config;
use crate::error::{ConnectionClosing, JoinError, SetUserError};
use crate::id::{ConnId, UserId};
use crate::presence::PresenceError;
use crate::session::Erased;

/// A connection's place in the indexes, guarded by its own lock, and the
/// session that owns its user: `user` is the session's
/// [`Session::user`](crate::Session::user), read when the session was set,
/// kept beside it as the key the user index knows the connection by.
pub(crate) struct Membership {
    closing: bool,
    user: Option<UserId>,
    rooms: Vec<Arc<str>>,
    /// The presence info (JSON) set with `Ctx::set_presence`.
    presence: Option<Arc<str>>,
    session: Erased,
}

impl Membership {
    /// A connection's membership before it is registered: in no room, its
    /// user (if any) is claimed at registration from the seat reserved for
    /// the session's user.
    pub(crate) fn new(session: Erased, presence: Option<Arc<str>>) -> Self {
        Self {
            closing: false,
            user: None,
            rooms: Vec::new(),
            presence,
            session,
        }
    }

    pub(crate) fn session(&self) -> &Erased {
        &self.session
    }

    pub(crate) fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }

    pub(crate) fn rooms(&self) -> &[Arc<str>] {
        &self.rooms
    }
}

/// The limits the registry enforces; `0` means unlimited, as in [`Config`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    pub(crate) max_per_user: usize,
    pub(crate) max_rooms: usize,
    pub(crate) max_room_name: usize,
    pub(crate) max_presence_meta: usize,
}

impl Limits {
    pub(crate) fn of(config: &Config) -> Self {
        Self {
            max_per_user: config.max_per_user(),
            max_rooms: config.max_rooms(),
            max_room_name: config.max_room_name(),
            max_presence_meta: config.max_presence_meta(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    conns: DashMap<ConnId, Arc<Conn>>,
    rooms: Groups,
    users: Groups,
    /// Who is in each room, by user.
    present: presence::Rooms,
    limits: Limits,
    /// The cluster backend, if any.
    backend: Option<Link>,
}

impl Registry {
    /// A registry enforcing `limits`, whose membership changes are
    /// reported to `backend`.
    pub(crate) fn new(limits: Limits, backend: Option<Link>) -> Self {
        Self {
            limits,
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

    /// Holds a place among `user`'s connections for a connection being
    /// admitted, so that the cap checked before the 101 still holds when it
    /// registers.
    pub(crate) fn reserve(self: &Arc<Self>, user: UserId) -> Result<UserSeat, SetUserError> {
        let max = self.limits.max_per_user;
        self.users
            .reserve(&user.0, max)
            .map_err(|_| SetUserError::TooManyConnections { max })?;
        Ok(UserSeat {
            registry: Arc::clone(self),
            user: Some(user),
        })
    }

    /// Adds `conn` to the indexes, under the user whose place `seat` holds.
    #[must_use = "dropping the registration unregisters the connection"]
    pub(crate) fn register(
        self: &Arc<Self>,
        conn: Arc<Conn>,
        seat: Option<UserSeat>,
    ) -> Registration {
        {
            let mut membership = conn.membership.lock();
            if let Err(error) = self.check_meta(membership.presence.as_deref()) {
                tracing::warn!(%error, "a session's presence meta left out");
                membership.presence = None;
            }
        }
        if let Some(user) = seat.and_then(|mut seat| seat.user.take()) {
            let mut membership = conn.membership.lock();
            self.users.claim(&user.0, &conn);
            self.changed(|| Channel::User(Arc::clone(&user.0)));
            membership.user = Some(user);
        }
        self.conns.insert(conn.id, Arc::clone(&conn));
        self.changed(|| Channel::All);
        Registration {
            registry: Arc::clone(self),
            conn: Some(conn),
        }
    }

    /// Adds `conn` to `room`; `Ok(false)` if it was already there.
    pub(crate) fn join(&self, conn: &Arc<Conn>, room: &str) -> Result<bool, JoinError> {
        // Counted under the connection's own lock: its joins cannot race
        // each other past the limit.
        let mut membership = conn.membership.lock();
        if self.admits(&membership, room)? {
            return Ok(false);
        }
        let name: Arc<str> = Arc::from(room);
        self.rooms.add(&name, conn);
        if let Some(user) = &membership.user {
            self.present
                .add(&name, &user.0, conn.id, membership.presence.as_ref());
        }
        self.changed(|| Channel::Room(Arc::clone(&name)));
        membership.rooms.push(name);
        Ok(true)
    }

    /// Whether [`Registry::join`] would take `conn` into `room` now: the
    /// same checks, nothing joined. A resuming join answers before it joins.
    pub(crate) fn check_join(&self, conn: &Conn, room: &str) -> Result<(), JoinError> {
        self.admits(&conn.membership.lock(), room).map(drop)
    }

    /// The limits a join must keep; `Ok(true)` when the connection is a
    /// member already (never refused).
    fn admits(&self, membership: &Membership, room: &str) -> Result<bool, JoinError> {
        let Limits {
            max_rooms,
            max_room_name,
            ..
        } = self.limits;
        if max_room_name != 0 && room.len() > max_room_name {
            return Err(JoinError::RoomNameTooLong { max: max_room_name });
        }
        if membership.closing {
            return Err(ConnectionClosing.into());
        }
        if membership.rooms.iter().any(|r| &**r == room) {
            return Ok(true);
        }
        if max_rooms != 0 && membership.rooms.len() >= max_rooms {
            return Err(JoinError::TooManyRooms { max: max_rooms });
        }
        Ok(false)
    }

    /// Removes `conn` from `room`; false if it was not there.
    pub(crate) fn leave(&self, conn: &Conn, room: &str) -> bool {
        let mut membership = conn.membership.lock();
        let Some(at) = membership.rooms.iter().position(|r| &**r == room) else {
            return false;
        };
        let name = membership.rooms.swap_remove(at);
        self.rooms.remove(room, conn.id);
        if let Some(user) = &membership.user {
            self.present.remove(room, &user.0, conn.id);
        }
        self.changed(|| Channel::Room(name));
        true
    }

    /// Replaces `conn`'s session with `session`, whose user is `user`, and
    /// moves the connection to `user` in the user index, unless `user`
    /// holds its cap of connections already; then nothing changes. Both
    /// under the connection's lock, so no reader sees a session with
    /// another session's user.
    pub(crate) fn set_session(
        &self,
        conn: &Arc<Conn>,
        user: Option<UserId>,
        session: Erased,
    ) -> Result<(), SetUserError> {
        let mut membership = conn.membership.lock();
        if membership.closing {
            return Err(ConnectionClosing.into());
        }
        if membership.user == user {
            membership.session = session;
            return Ok(());
        }
        // The new user first: a refusal must leave the old one in place.
        if let Some(new) = &user {
            let max = self.limits.max_per_user;
            self.users
                .try_add(&new.0, conn, max)
                .map_err(|_| SetUserError::TooManyConnections { max })?;
            self.changed(|| Channel::User(Arc::clone(&new.0)));
        }
        if let Some(old) = &membership.user {
            self.users.remove(old, conn.id);
            self.changed(|| Channel::User(Arc::clone(&old.0)));
        }
        for room in &membership.rooms {
            if let Some(old) = &membership.user {
                self.present.remove(room, &old.0, conn.id);
            }
            if let Some(new) = &user {
                self.present
                    .add(room, &new.0, conn.id, membership.presence.as_ref());
            }
            self.changed(|| Channel::Room(Arc::clone(room)));
        }
        membership.user = user;
        membership.session = session;
        Ok(())
    }

    /// Sets `conn`'s presence meta (JSON); its user's entry in each of its
    /// rooms lists it beside its other connections' metas. The one place a
    /// connection's meta enters presence (`Ctx::set_presence`,
    /// `Manager::set_presence` and a session's `presence` call it).
    ///
    /// # Errors
    /// [`PresenceError::TooLarge`] for a meta over `max_presence_meta`,
    /// which is not taken: the connection keeps the meta it had.
    pub(crate) fn set_presence(
        &self,
        conn: &Conn,
        meta: Option<Arc<str>>,
    ) -> Result<(), PresenceError> {
        self.check_meta(meta.as_deref())?;
        let mut membership = conn.membership.lock();
        if membership.presence == meta {
            return Ok(());
        }
        if let Some(user) = &membership.user {
            for room in &membership.rooms {
                self.present.set_meta(room, &user.0, conn.id, meta.as_ref());
                self.changed(|| Channel::Room(Arc::clone(room)));
            }
        }
        membership.presence = meta;
        Ok(())
    }

    /// `conn`'s presence meta (JSON).
    pub(crate) fn presence_of(&self, conn: &Conn) -> Option<Arc<str>> {
        conn.membership.lock().presence.clone()
    }

    /// Whether `meta` is within `max_presence_meta` (`0`: unlimited).
    fn check_meta(&self, meta: Option<&str>) -> Result<(), PresenceError> {
        let max = self.limits.max_presence_meta;
        match meta {
            Some(meta) if max != 0 && meta.len() > max => Err(PresenceError::TooLarge {
                size: meta.len(),
                max,
            }),
            _ => Ok(()),
        }
    }

    /// Distinct users in `room` on this node.
    pub(crate) fn room_users(&self, room: &str) -> usize {
        self.present.users(room)
    }

    /// Up to `limit` users of `room` on this node after `after`, by name.
    pub(crate) fn presence_page(
        &self,
        room: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<crate::backend::Entry> {
        self.present.page(room, after, limit)
    }

    /// Every user of `room` on this node, for a cluster backend's copy.
    pub(crate) fn presence_all(&self, room: &str) -> Vec<crate::backend::Entry> {
        self.present.all(room)
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

    /// Which life of `room` on this node this is, while it has members:
    /// it changes when the room was empty in between.
    pub(crate) fn room_generation(&self, room: &str) -> Option<u64> {
        self.rooms.generation(room)
    }

    pub(crate) fn user_count(&self) -> usize {
        self.users.len()
    }

    pub(crate) fn user_size(&self, user: &str) -> usize {
        self.users.count(user)
    }

    /// Every room with its size, for a backend's resync.
    #[cfg(feature = "engine")]
    pub(crate) fn rooms_sized(&self) -> Vec<(Arc<str>, usize)> {
        self.rooms.sized()
    }

    /// Every user with its connection count, for a backend's resync.
    #[cfg(feature = "engine")]
    pub(crate) fn users_sized(&self) -> Vec<(Arc<str>, usize)> {
        self.users.sized()
    }

    fn unregister(&self, conn: &Conn) -> (Option<UserId>, Vec<Arc<str>>) {
        // Requests of the server can no longer be answered.
        conn.close_requests();
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
            if let Some(user) = &user {
                self.present.remove(room, &user.0, conn.id);
            }
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

/// A place among a user's connections, held from admission until the
/// connection registers; dropped unclaimed (the client went before the
/// upgrade completed), it frees the place.
#[must_use = "dropping the seat frees the user's place at once"]
pub(crate) struct UserSeat {
    registry: Arc<Registry>,
    /// Taken when the place is claimed.
    user: Option<UserId>,
}

impl Drop for UserSeat {
    fn drop(&mut self) {
        if let Some(user) = self.user.take() {
            self.registry.users.unreserve(&user);
        }
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

    /// Unregisters now, before the guard's end (a connection whose end is
    /// decided, still sending its close frame); a second call finds
    /// nothing.
    pub(crate) fn leave(&mut self) -> (Option<UserId>, Vec<Arc<str>>) {
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
    use crate::queue::SendQueue;
    use parking_lot::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A session that is only `user`, as a handler's `set_session` gives it.
    fn set_user(
        registry: &Registry,
        conn: &Arc<Conn>,
        user: Option<UserId>,
    ) -> Result<(), SetUserError> {
        let session = crate::session::erase(user.clone());
        registry.set_session(conn, user, session)
    }

    fn conn() -> Arc<Conn> {
        Arc::new(Conn {
            id: ConnId::next(),
            deflate: None,
            queue: SendQueue::new(4, Overflow::Close),
            membership: Mutex::new(Membership::new(crate::session::erase(()), None)),
            requests: Mutex::default(),
            codec: crate::wire::codec::Codec::Json,
            expires: Default::default(),
        })
    }

    /// Joins and user changes race an unregistration on another thread;
    /// whatever the interleaving, nothing of the connection survives it.
    #[test]
    fn joins_racing_an_unregistration_leave_nothing_behind() {
        let registry = Arc::new(Registry::default());
        for round in 0..2_000 {
            let conn = conn();
            let registration = registry.register(Arc::clone(&conn), None);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    for k in 0..8 {
                        let _ = registry.join(&conn, &format!("room{}", (round + k) % 5));
                        let _ = set_user(&registry, &conn, Some(UserId::from(format!("user{k}"))));
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
            assert!(set_user(&registry, &conn, None).is_err());
        }
        assert_eq!(registry.room_count(), 0);
        assert_eq!(registry.user_count(), 0);
        assert_eq!(registry.connection_count(), 0);
        for k in 0..5 {
            assert_eq!(registry.room_users(&format!("room{k}")), 0, "presence too");
        }
    }

    #[test]
    fn a_broadcast_snapshot_is_rebuilt_after_membership_changes() {
        let registry = Arc::new(Registry::default());
        let (a, b) = (conn(), conn());
        let _ra = registry.register(Arc::clone(&a), None);
        let _rb = registry.register(Arc::clone(&b), None);
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

    fn limited(max_per_user: usize, max_rooms: usize, max_room_name: usize) -> Arc<Registry> {
        Arc::new(Registry::new(
            Limits {
                max_per_user,
                max_rooms,
                max_room_name,
                max_presence_meta: 0,
            },
            None,
        ))
    }

    /// Seats, logins and switches all count in the one user index.
    #[test]
    fn a_users_count_follows_seats_logins_and_switches() {
        let registry = limited(2, 0, 0);
        let alice = UserId::from("alice");
        let (a, b, c) = (conn(), conn(), conn());
        let seat = registry.reserve(alice.clone()).unwrap();
        let _ra = registry.register(Arc::clone(&a), Some(seat));
        assert_eq!(registry.user_size("alice"), 1);
        let pending = registry.reserve(alice.clone()).unwrap();
        assert_eq!(registry.user_size("alice"), 1, "a seat is not a member yet");
        let _rc = registry.register(Arc::clone(&c), None);
        assert_eq!(
            set_user(&registry, &c, Some(alice.clone())),
            Err(SetUserError::TooManyConnections { max: 2 }),
            "the unclaimed seat counts"
        );
        assert!(
            c.membership.lock().user().is_none(),
            "a refusal changes nothing"
        );
        drop(pending);
        set_user(&registry, &c, Some(alice.clone())).unwrap();
        assert!(registry.reserve(alice.clone()).is_err());
        // Moving a connection moves its count.
        set_user(&registry, &a, Some(UserId::from("bob"))).unwrap();
        assert_eq!(
            (registry.user_size("alice"), registry.user_size("bob")),
            (1, 1)
        );
        let _rb = registry.register(Arc::clone(&b), None);
        set_user(&registry, &b, Some(alice.clone())).unwrap();
        set_user(&registry, &c, None).unwrap();
        set_user(&registry, &b, None).unwrap();
        set_user(&registry, &a, None).unwrap();
        assert_eq!(registry.user_count(), 0);
    }

    /// Many connections log in as one user at once: exactly `cap` win,
    /// whatever the interleaving.
    #[test]
    fn concurrent_logins_never_pass_the_cap() {
        for cap in [1, 3] {
            let registry = limited(cap, 0, 0);
            for round in 0..300 {
                let user = UserId::from(format!("u{round}"));
                let conns: Vec<_> = (0..8).map(|_| conn()).collect();
                let _regs: Vec<_> = conns
                    .iter()
                    .map(|c| registry.register(Arc::clone(c), None))
                    .collect();
                let barrier = std::sync::Barrier::new(conns.len() + 1);
                let won = AtomicUsize::new(0);
                let seat = std::thread::scope(|scope| {
                    for conn in &conns {
                        scope.spawn(|| {
                            barrier.wait();
                            if set_user(&registry, conn, Some(user.clone())).is_ok() {
                                won.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                    // Admission races the logins too; its seat is held
                    // until the count is checked.
                    let admit = scope.spawn(|| {
                        barrier.wait();
                        registry.reserve(user.clone()).ok()
                    });
                    admit.join().unwrap()
                });
                let won = won.into_inner() + usize::from(seat.is_some());
                assert_eq!(won, cap, "round {round}: exactly the cap wins");
                assert_eq!(registry.user_size(&user) + usize::from(seat.is_some()), cap);
            }
            assert_eq!(registry.user_count(), 0, "every count back to zero");
        }
    }

    #[test]
    fn room_limits() {
        let registry = limited(0, 2, 4);
        let a = conn();
        let _ra = registry.register(Arc::clone(&a), None);
        assert_eq!(
            registry.join(&a, "lobby"),
            Err(JoinError::RoomNameTooLong { max: 4 })
        );
        assert!(registry.join(&a, "r1").unwrap());
        assert!(registry.join(&a, "r2").unwrap());
        assert!(!registry.join(&a, "r2").unwrap(), "a member is not refused");
        assert_eq!(
            registry.join(&a, "r3"),
            Err(JoinError::TooManyRooms { max: 2 })
        );
        assert_eq!(registry.room_count(), 2);
        registry.leave(&a, "r1");
        assert!(registry.join(&a, "r3").unwrap());
        // Zero is unlimited.
        let open = limited(0, 0, 0);
        let b = conn();
        let _rb = open.register(Arc::clone(&b), None);
        for k in 0..300 {
            open.join(&b, &format!("{k:0>300}")).unwrap();
        }
        assert_eq!(open.room_count(), 300);
    }
}
