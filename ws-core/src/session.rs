//! The typed per-connection session: what `authenticate` made of the
//! upgrade request, read by handlers with [`Ctx::session`](crate::Ctx::session)
//! and replaced with [`Ctx::set_session`](crate::Ctx::set_session).
//!
//! A protocol names its session type in its attribute (`#[ws_protocol(session
//! = Claims)]`, default `()`). The session owns the connection's user: the
//! registry indexes the connection (for [`Manager::to_user`](crate::Manager::to_user)
//! and [`max_per_user`](crate::Config::with_max_per_user)) under
//! [`Session::user`], read once each time a session is set, so there is
//! no second place a user could be written.
//!
//! A session is immutable once set and shared as an `Arc`: a read is a lock
//! of the connection's own membership and a reference count, and a
//! replacement swaps the whole value, never holding a lock across an
//! `.await`. The unit session `()` is never allocated.

use std::any::{Any, TypeId};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::id::UserId;

/// The per-connection state that `authenticate` creates, read with
/// [`Ctx::session`](crate::Ctx::session) and replaced with
/// [`Ctx::set_session`](crate::Ctx::set_session).
///
/// Implement it for the application's own type; only [`user`](Self::user)
/// has meaning to the runtime, and its default is "anonymous".
///
/// ```
/// use ws_core::{Session, UserId};
///
/// struct Claims {
///     user: UserId,
///     admin: bool,
/// }
///
/// impl Session for Claims {
///     fn user(&self) -> Option<UserId> {
///         Some(self.user.clone())
///     }
/// }
///
/// let claims = Claims { user: UserId::from("ada"), admin: true };
/// assert_eq!(claims.user().as_deref(), Some("ada"));
/// assert!(claims.admin);
/// assert_eq!(().user(), None);
/// assert_eq!(Some(UserId::from("ada")).user().as_deref(), Some("ada"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a session type",
    label = "`session = ..` names a type that does not implement `ws_core::Session`",
    note = "implement it: `impl ws_core::Session for {Self} {{ fn user(&self) -> Option<ws_core::UserId> {{ .. }} }}` (`user` defaults to anonymous); `()` and `Option<UserId>` are sessions already"
)]
pub trait Session: Send + Sync + 'static {
    /// The user the connection belongs to: the one accessor through which
    /// the registry learns it (read when the session is set). `None`, the
    /// default, is an anonymous connection.
    fn user(&self) -> Option<UserId> {
        None
    }

    /// When the credential behind the session stops being valid (a JWT's
    /// `exp`, say); `None`, the default, never expires. Read each time the
    /// session is set.
    ///
    /// [`refresh_before`](crate::Config::with_refresh_before) ahead of it
    /// the server sends the client a [`RefreshRequired`](crate::RefreshRequired)
    /// frame; the client answers `{"type":"refresh","token":".."}`, which
    /// the handler's `refresh` hook turns into the next session (replaced
    /// in place, as by [`Ctx::set_session`](crate::Ctx::set_session)). If
    /// no valid refresh arrives by this time the connection is closed with
    /// [`close_code::SESSION_EXPIRED`](crate::close_code::SESSION_EXPIRED).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use ws_core::{Session, UserId};
    ///
    /// struct Jwt {
    ///     user: UserId,
    ///     exp: SystemTime,
    /// }
    ///
    /// impl Session for Jwt {
    ///     fn user(&self) -> Option<UserId> {
    ///         Some(self.user.clone())
    ///     }
    ///     fn expires_at(&self) -> Option<SystemTime> {
    ///         Some(self.exp)
    ///     }
    /// }
    ///
    /// let exp = SystemTime::now() + Duration::from_secs(900);
    /// let jwt = Jwt { user: UserId::from("ada"), exp };
    /// assert_eq!(jwt.expires_at(), Some(exp));
    /// assert_eq!(().expires_at(), None);
    /// ```
    ///
    /// An accessor must not panic; if one does (a `SystemTime` addition
    /// that overflows, say: compute with `checked_add`), the runtime
    /// answers as for a panicking hook: the upgrade gets HTTP 500, and a
    /// `refresh` or a handler that set the session closes the connection
    /// with [`close_code::INTERNAL`](crate::close_code::INTERNAL) (1011).
    fn expires_at(&self) -> Option<SystemTime> {
        None
    }

    /// What [presence](crate::presence) shows of this connection's user in
    /// each of its rooms (read back typed with `Present::info::<T>()`);
    /// `None`, the default, shows none (or what
    /// [`Ctx::set_presence`](crate::Ctx::set_presence) set). Read each time
    /// the session is set; `set_presence` overrides it until the next.
    ///
    /// ```
    /// use ws_core::{Session, UserId};
    ///
    /// struct Member {
    ///     user: UserId,
    ///     display_name: String,
    /// }
    ///
    /// impl Session for Member {
    ///     fn user(&self) -> Option<UserId> {
    ///         Some(self.user.clone())
    ///     }
    ///     fn presence(&self) -> Option<serde_json::Value> {
    ///         Some(serde_json::json!({ "name": self.display_name }))
    ///     }
    /// }
    ///
    /// let ada = Member { user: UserId::from("ada"), display_name: "Ada L.".into() };
    /// assert_eq!(ada.presence().unwrap()["name"], "Ada L.");
    /// ```
    fn presence(&self) -> Option<serde_json::Value> {
        None
    }
}

/// What the runtime reads of a session, each time one is set: its
/// accessors, all called here and nowhere else, before anything changes.
pub(crate) struct Read {
    pub(crate) user: Option<UserId>,
    /// [`expiry_ms`].
    pub(crate) expires: u64,
    /// [`presence_json`].
    pub(crate) presence: Option<Arc<str>>,
}

impl Read {
    /// Calls `session`'s accessors (user code: a panic passes through).
    pub(crate) fn of<S: Session>(session: &S) -> Self {
        Self {
            user: session.user(),
            expires: expiry_ms(session),
            presence: presence_json(session),
        }
    }

    /// [`of`](Self::of), with a panic in an accessor caught: `None`.
    pub(crate) fn guarded<S: Session>(session: &S) -> Option<Self> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::of(session))).ok()
    }
}

/// The presence info of `session`, as the registry keeps it (JSON).
pub(crate) fn presence_json<S: Session>(session: &S) -> Option<std::sync::Arc<str>> {
    session
        .presence()
        .map(|info| std::sync::Arc::from(info.to_string()))
}

/// No session: every connection anonymous, nothing stored.
impl Session for () {}

/// A session that is only a user, as `authenticate` returned before
/// sessions were typed.
impl Session for Option<UserId> {
    fn user(&self) -> Option<UserId> {
        self.clone()
    }
}

/// A session that is a user, always known.
impl Session for UserId {
    fn user(&self) -> Option<UserId> {
        Some(self.clone())
    }
}

/// A session as the registry stores it: the connection's layer does not
/// know its protocol, so the type is recovered with [`typed`].
pub(crate) type Erased = Arc<dyn Any + Send + Sync>;

/// Stores `session`; `()` shares one allocation for the whole process, so
/// a protocol without sessions allocates nothing per connection.
pub(crate) fn erase<S: Session>(session: S) -> Erased {
    if TypeId::of::<S>() == TypeId::of::<()>() {
        static UNIT: LazyLock<Erased> = LazyLock::new(|| Arc::new(()));
        return Arc::clone(&UNIT);
    }
    Arc::new(session)
}

/// `session`'s expiry as the connection stores it: milliseconds since the
/// Unix epoch, `0` for none (an expiry at or before the epoch counts as 1,
/// long past).
pub(crate) fn expiry_ms<S: Session>(session: &S) -> u64 {
    session.expires_at().map_or(0, |at| {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX).max(1)
    })
}

/// The time an [`expiry_ms`] stands for; `None` for `0`.
pub(crate) fn expiry_time(ms: u64) -> Option<SystemTime> {
    (ms != 0).then(|| UNIX_EPOCH + Duration::from_millis(ms))
}

/// The session stored by [`erase`], as its type; `None` if it is another
/// type (which a connection of one protocol never holds).
pub(crate) fn typed<S: Session>(erased: Erased) -> Option<Arc<S>> {
    erased.downcast::<S>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_session_is_shared_and_others_round_trip() {
        let (a, b) = (erase(()), erase(()));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(typed::<()>(a).is_some());
        let user = erase(Some(UserId::from("ada")));
        assert!(typed::<()>(Arc::clone(&user)).is_none());
        let user = typed::<Option<UserId>>(user).unwrap();
        assert_eq!(user.user().as_deref(), Some("ada"));
    }

    struct Until(Option<SystemTime>);

    impl Session for Until {
        fn expires_at(&self) -> Option<SystemTime> {
            self.0
        }
    }

    #[test]
    fn expiries_are_stored_as_milliseconds_with_zero_for_none() {
        assert_eq!(expiry_ms(&()), 0);
        assert_eq!(expiry_time(0), None);
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(expiry_ms(&Until(Some(at))), 1_700_000_000_123);
        assert_eq!(expiry_time(1_700_000_000_123), Some(at));
        // At or before the epoch: long past, but still an expiry.
        assert_eq!(expiry_ms(&Until(Some(UNIX_EPOCH))), 1);
        assert_eq!(expiry_ms(&Until(None)), 0);
    }
}
