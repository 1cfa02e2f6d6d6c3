//! What a handler gets besides the message: its connection, and through it
//! the manager.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::broadcast::{Broadcast, to_one};
use crate::close::CloseInfo;
use crate::delivery::Delivery;
use crate::error::{JoinError, SendError, SetUserError};
use crate::frame::Frame;
use crate::handler::ErrorFrame;
use crate::id::{ConnId, UserId};
use crate::manager::Manager;
use crate::protocol::{Outbound, Protocol};
use crate::registry::Conn;

/// A handler's view of its connection. Cheap to clone; a clone may be moved
/// into a spawned task and used after the handler returns (sends to a
/// connection that has closed are dropped).
///
/// ```
/// use ws_core::{ws_protocol, Ctx, HandlerResult};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     #[ws(client)]
///     Join { room: String },
///     #[ws(server)]
///     Joined { room: String, user: Option<String> },
/// }
///
/// struct App;
/// impl ChatHandler for App {
///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
///         ctx.join(&msg.room)?;
///         let user = ctx.user().map(|u| u.to_string());
///         // everyone in the room but the sender
///         ctx.to_room(&msg.room)
///             .except(ctx.id())
///             .send(chat::Joined { room: msg.room.clone(), user: user.clone() })?;
///         // and the sender
///         ctx.send(chat::Joined { room: msg.room, user })?;
///         Ok(())
///     }
/// }
/// ```
pub struct Ctx<P> {
    conn: Arc<Conn>,
    manager: Manager<P>,
}

impl<P> Clone for Ctx<P> {
    fn clone(&self) -> Self {
        Self {
            conn: Arc::clone(&self.conn),
            manager: self.manager.clone(),
        }
    }
}

impl<P: Protocol> Ctx<P> {
    pub(crate) fn new(conn: Arc<Conn>, manager: Manager<P>) -> Self {
        Self { conn, manager }
    }

    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.conn.id
    }

    /// The manager, for sends to other connections, rooms and users.
    pub fn manager(&self) -> &Manager<P> {
        &self.manager
    }

    /// The user this connection belongs to.
    pub fn user(&self) -> Option<UserId> {
        self.conn.membership.lock().user().cloned()
    }

    /// Sets (or clears) the connection's user; the user index follows, so
    /// [`Manager::to_user`] reaches this connection under its new user at once,
    /// and the connection counts against the new user's
    /// [`max_per_user`](crate::Config::with_max_per_user) and no longer
    /// against the old one's.
    ///
    /// # Errors
    /// [`SetUserError::TooManyConnections`] when the new user holds its cap
    /// of connections already (the connection keeps its old user), and
    /// [`SetUserError::Closing`] once the connection is closing. Passed on
    /// with `?`, the first reaches the client as an error frame with code
    /// [`error_code::TOO_MANY_USER_CONNECTIONS`](crate::error_code::TOO_MANY_USER_CONNECTIONS).
    pub fn set_user(&self, user: Option<UserId>) -> Result<(), SetUserError> {
        self.manager.registry().set_user(&self.conn, user)
    }

    /// Joins `room`, creating it; `Ok(false)` if already a member.
    ///
    /// # Errors
    /// [`JoinError::TooManyRooms`] when the connection is in
    /// [`max_rooms`](crate::Config::with_max_rooms) rooms already,
    /// [`JoinError::RoomNameTooLong`] when `room` is longer than
    /// [`max_room_name`](crate::Config::with_max_room_name) bytes, and
    /// [`JoinError::Closing`] once the connection is closing. Passed on with
    /// `?`, each reaches the client as an error frame with its own code
    /// (e.g. [`error_code::TOO_MANY_ROOMS`](crate::error_code::TOO_MANY_ROOMS)).
    pub fn join(&self, room: &str) -> Result<bool, JoinError> {
        self.manager.registry().join(&self.conn, room)
    }

    /// Leaves `room` (removed once empty); false if not a member.
    pub fn leave(&self, room: &str) -> bool {
        self.manager.registry().leave(&self.conn, room)
    }

    /// The rooms this connection is in.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.conn.membership.lock().rooms().to_vec()
    }

    /// Sends a server message to this connection.
    pub fn send(&self, message: impl Outbound<P>) -> Result<Delivery, SendError> {
        let started = Instant::now();
        let frame = Frame::encode(message)?;
        Ok(to_one(
            &self.conn,
            &frame.wire,
            self.manager.counters(),
            started,
        ))
    }

    /// Sends an encoded frame to this connection.
    pub fn send_frame(&self, frame: &Frame<P>) -> Delivery {
        to_one(
            &self.conn,
            &frame.wire,
            self.manager.counters(),
            Instant::now(),
        )
    }

    /// A broadcast to `room` (add [`Broadcast::except`] to skip this connection).
    pub fn to_room<'a>(&'a self, room: &'a str) -> Broadcast<'a, P> {
        self.manager.to_room(room)
    }

    /// Closes this connection with `code` and `reason` once the frames
    /// already queued are written.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        self.conn
            .queue
            .close(false, Some(CloseInfo::new(code, reason)));
    }

    /// Queues an [`ErrorFrame`] for this connection.
    pub(crate) fn send_error(&self, code: &str, message: &str) {
        let frame = ErrorFrame {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        // An ErrorFrame of two strings always serializes.
        if let Ok(json) = serde_json::to_string(&frame) {
            let pushed = self.conn.push_json(&json);
            self.manager.counters().pushed(pushed);
        }
    }
}

impl<P> fmt::Debug for Ctx<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx").field("id", &self.conn.id).finish()
    }
}
