//! Identities: of a connection, and of the user behind it. Leaf types, so
//! that every layer can name a connection without depending on the one that
//! drives it.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A connection's id, unique within the process.
///
/// The endpoint's 101 response carries it as an extension (not a header), so
/// middleware such as an access log can name the connection it opened.
///
/// Not unique across a cluster: it is a counter of this process, so sends
/// and closes by id ([`Manager::to_conn`](crate::Manager::to_conn),
/// [`Manager::close`](crate::Manager::close)) act on this node only, where
/// the id is known to be right. To reach a connection on any node, address
/// its user or a room (`to_user(u).close(..)`).
///
/// ```
/// # use ws_core::ConnId;
/// fn log(id: ConnId) -> String { format!("conn {id}") }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }

    #[cfg(feature = "testing")]
    pub(crate) fn from_raw(id: u64) -> Self {
        Self(id)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The identity of the user behind a connection: its session's
/// [`Session::user`](crate::Session::user), from the authentication hook or
/// [`Ctx::set_session`](crate::Ctx::set_session).
///
/// ```
/// use ws_core::UserId;
/// let alice = UserId::from("alice");
/// assert_eq!(alice.as_str(), "alice");
/// assert_eq!(alice, UserId::from(String::from("alice")));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub(crate) Arc<str>);

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
