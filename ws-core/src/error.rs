//! Errors at the boundaries of the runtime.

/// A message could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message could not be serialized (e.g. a map with non-string keys).
    #[error("the message could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The message reached this node's recipients (`delivered`) but could
    /// not be handed to the cluster backend for the other nodes.
    #[error("delivered on this node ({} queued), but not to other nodes: {error}", delivered.queued)]
    Backend {
        /// What the local delivery did; it happened regardless.
        delivered: crate::delivery::Delivery,
        /// Why the other nodes were not reached.
        #[source]
        error: BackendError,
    },
}

/// A request of the server ([`Ctx::request`](crate::Ctx::request)) got no
/// answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The client did not answer within the timeout. An answer that comes
    /// later is refused with an `unexpected_reply` error frame.
    #[error("the client did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The connection ended (or is not open on this node) before the answer
    /// came.
    #[error("the connection closed before it answered")]
    Closed,
    /// The connection's send queue was full: the request was not sent.
    #[error("the connection's send queue is full; the request was not sent")]
    QueueFull,
    /// The request could not be encoded as JSON.
    #[error("the request could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// [`Broadcast::request`](crate::Broadcast::request) on a target that is
    /// not one connection ([`Manager::to_conn`](crate::Manager::to_conn)).
    #[error("a request goes to one connection: use `to_conn(id).request(..)`")]
    NotOneConnection,
}

/// The connection has started closing: it can no longer join rooms or
/// change its user.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("the connection is closing")]
pub struct ConnectionClosing;

/// A connection could not join a room ([`Ctx::join`](crate::Ctx::join)).
///
/// A handler can pass it on with `?`: the client then gets an
/// [`ErrorFrame`](crate::ErrorFrame) whose code says which limit it hit
/// ([`error_code::TOO_MANY_ROOMS`](crate::error_code::TOO_MANY_ROOMS),
/// [`error_code::ROOM_NAME_TOO_LONG`](crate::error_code::ROOM_NAME_TOO_LONG))
/// or that the application refused it
/// ([`error_code::JOIN_REFUSED`](crate::error_code::JOIN_REFUSED)), not
/// `internal`.
///
/// ```
/// use ws_core::{ws_protocol, Ctx, HandlerError, HandlerResult, JoinError};
///
/// #[ws_protocol(max_rooms = 8, max_room_name = 64)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     #[ws(client)]
///     Join { room: String },
/// }
///
/// struct App;
/// impl ChatHandler for App {
///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
///         match ctx.join(&msg.room).await {
///             // Plain `?` would send the code `too_many_rooms`.
///             Err(JoinError::TooManyRooms { max }) => Err(HandlerError::reply(
///                 "full",
///                 format!("leave a room first: {max} at most"),
///             )),
///             joined => {
///                 joined?;
///                 Ok(())
///             }
///         }
///     }
/// }
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The connection is closing.
    #[error(transparent)]
    Closing(#[from] ConnectionClosing),
    /// The connection is in `max` rooms already
    /// ([`Config::with_max_rooms`](crate::Config::with_max_rooms)).
    #[error("a connection may be in at most {max} rooms; leave one first")]
    TooManyRooms {
        /// The limit.
        max: usize,
    },
    /// The room's name is longer than `max` bytes
    /// ([`Config::with_max_room_name`](crate::Config::with_max_room_name)).
    #[error("room names are limited to {max} bytes")]
    RoomNameTooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// The application's `authorize_join` hook refused the join.
    #[error(transparent)]
    Refused(#[from] JoinRefused),
}

/// An application's refusal and the reason its peer is told: the struct,
/// its constructor and its accessor, alike for each kind of refusal.
macro_rules! refusal {
    (
        $(#[$doc:meta])*
        pub struct $name:ident {
            $(#[$new:meta])*
            fn new;
            $(#[$reason:meta])*
            fn reason;
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
        #[error("{reason}")]
        pub struct $name {
            reason: std::borrow::Cow<'static, str>,
        }

        impl $name {
            $(#[$new])*
            pub fn new(reason: impl Into<std::borrow::Cow<'static, str>>) -> Self {
                Self {
                    reason: reason.into(),
                }
            }

            $(#[$reason])*
            pub fn reason(&self) -> &str {
                &self.reason
            }
        }
    };
}

refusal! {
    /// The application's refusal of a join, returned by the handler's
    /// `authorize_join` hook; [`Ctx::join`](crate::Ctx::join) and
    /// [`Ctx::join_from`](crate::Ctx::join_from) fail with it as
    /// [`JoinError::Refused`], and a handler that passes that on with `?` sends
    /// the client an [`ErrorFrame`](crate::ErrorFrame) with code
    /// [`error_code::JOIN_REFUSED`](crate::error_code::JOIN_REFUSED) and this
    /// reason as its message.
    ///
    /// ```
    /// use ws_core::{HandlerError, JoinError, JoinRefused};
    ///
    /// let refused = JoinRefused::new("members only");
    /// assert_eq!(refused.reason(), "members only");
    /// let error = HandlerError::from(JoinError::from(refused));
    /// assert!(matches!(error, HandlerError::Reply { code, message } if code == "join_refused" && message == "members only"));
    /// ```
    pub struct JoinRefused {
        /// A refusal that tells the client `reason`.
        fn new;

        /// What the client is told.
        fn reason;
    }
}

refusal! {
    /// The application's refusal of a `refresh` frame's token, returned by
    /// the handler's `refresh` hook: the connection is closed with
    /// [`close_code::REFRESH_REFUSED`](crate::close_code::REFRESH_REFUSED)
    /// (4003) and this reason.
    ///
    /// ```
    /// use ws_core::RefreshRefused;
    ///
    /// let refused = RefreshRefused::new("bad signature");
    /// assert_eq!(refused.reason(), "bad signature");
    /// assert_eq!(refused.to_string(), "bad signature");
    /// ```
    pub struct RefreshRefused {
        /// A refusal closing the connection with `reason` (at most 123 bytes
        /// reach the client: a close frame's limit).
        fn new;

        /// The close frame's reason.
        fn reason;
    }
}

/// A connection's session could not be set ([`Ctx::set_session`](crate::Ctx::set_session)):
/// its user could not take the connection.
///
/// A handler can pass it on with `?`: the client then gets an
/// [`ErrorFrame`](crate::ErrorFrame) with code
/// [`error_code::TOO_MANY_USER_CONNECTIONS`](crate::error_code::TOO_MANY_USER_CONNECTIONS).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetUserError {
    /// The connection is closing.
    #[error(transparent)]
    Closing(#[from] ConnectionClosing),
    /// The user holds `max` connections already
    /// ([`Config::with_max_per_user`](crate::Config::with_max_per_user)); the
    /// connection keeps the user it had.
    #[error("this user already holds {max} connections, the most allowed")]
    TooManyConnections {
        /// The limit.
        max: usize,
    },
}

/// A handler's early reply could not be sent ([`Ctx::reply`](crate::Ctx::reply)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The message being handled is a request whose declared reply is
    /// another message: a client waiting for `expected` would never match it.
    #[error("the request is answered by `{expected}`, not by `{found}`")]
    WrongType {
        /// The wire name of the declared reply.
        expected: &'static str,
        /// The wire name of the message given.
        found: &'static str,
    },
    /// The request has been answered already: each gets one reply.
    #[error("the request has been answered already")]
    AlreadyReplied,
    /// No message is being handled through this `Ctx`: only the `Ctx` a
    /// handler was given can reply, while the handler runs.
    #[error("no message is being handled: only a handler's own `Ctx` can reply, while it runs")]
    NoRequest,
    /// The reply could not be encoded.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Why a backend could not do what was asked. The local delivery of a send
/// has happened regardless (see [`SendError::Backend`](crate::SendError::Backend)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend is not connected (it reconnects in the background): the
    /// message did not reach the other nodes.
    #[error("the cluster backend is unavailable; the message reached this node's connections only")]
    Unavailable,
    /// More messages are waiting to be published than the backend's queue
    /// holds (`RedisBackend::publish_queue`): this one was not queued.
    #[error(
        "the cluster backend's publish queue is full; the message reached this node's connections only"
    )]
    Overloaded,
    /// The backend's configuration is invalid (e.g. a malformed URL).
    #[error("invalid backend configuration: {0}")]
    Config(String),
    /// The backend answered a query with an error.
    #[error("the cluster backend failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}
