//! What handlers return, and what the runtime tells clients and hooks.

use std::any::Any;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ConnectionClosing, JoinError, SetUserError};
use crate::id::UserId;
use crate::wire::close::CloseInfo;

/// What a handler returns.
pub type HandlerResult<T = ()> = Result<T, HandlerError>;

/// A handler's failure, and what the client is told about it.
///
/// Any error type converts with `?`: the client then gets an
/// [`ErrorFrame`] with code `internal` and a generic message, while the
/// error itself is logged with `tracing` (internal details never reach
/// clients). The runtime's own refusals are the exception: a
/// [`JoinError`] or [`SetUserError`] becomes a [`HandlerError::Reply`] with
/// its [`error_code`] and message, since they are about what the client
/// asked for. Build one explicitly to choose what the client sees.
///
/// ```
/// use ws_core::{HandlerError, HandlerResult};
///
/// fn check(name: &str) -> HandlerResult {
///     if name.is_empty() {
///         return Err(HandlerError::reply("empty_name", "a room needs a name"));
///     }
///     let _n: u32 = "42".parse()?; // any error converts
///     Ok(())
/// }
/// assert!(check("").is_err());
/// assert!(check("lobby").is_ok());
///
/// // A refusal of the runtime's own keeps its meaning for the client.
/// let refused = HandlerError::from(ws_core::JoinError::TooManyRooms { max: 8 });
/// assert!(matches!(refused, HandlerError::Reply { code, .. } if code == "too_many_rooms"));
/// ```
#[derive(Debug)]
pub enum HandlerError {
    /// Send the client an [`ErrorFrame`] and keep the connection.
    Reply {
        /// Machine-readable code, e.g. `not_in_room`.
        code: String,
        /// Human-readable message.
        message: String,
    },
    /// Close the connection with this code and reason.
    Close(CloseInfo),
    /// An internal failure: logged, and the client gets code `internal`.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl HandlerError {
    /// The client gets an [`ErrorFrame`] with `code` and `message`.
    pub fn reply(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Reply {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The connection is closed with `code` and `reason`.
    pub fn close(code: u16, reason: impl Into<String>) -> Self {
        Self::Close(CloseInfo::new(code, reason))
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        match refusal(&error) {
            Some(code) => Self::reply(code, error.to_string()),
            None => Self::Internal(Box::new(error)),
        }
    }
}

/// The client's code for a refusal of the runtime's own. Found by type at
/// the `?`, because the blanket `From` above leaves no room for a `From`
/// impl per error type.
fn refusal(error: &dyn Any) -> Option<&'static str> {
    if let Some(error) = error.downcast_ref::<JoinError>() {
        return Some(match error {
            JoinError::Closing(_) => error_code::CONNECTION_CLOSING,
            JoinError::TooManyRooms { .. } => error_code::TOO_MANY_ROOMS,
            JoinError::RoomNameTooLong { .. } => error_code::ROOM_NAME_TOO_LONG,
            JoinError::Refused(_) => error_code::JOIN_REFUSED,
        });
    }
    if let Some(error) = error.downcast_ref::<SetUserError>() {
        return Some(match error {
            SetUserError::Closing(_) => error_code::CONNECTION_CLOSING,
            SetUserError::TooManyConnections { .. } => error_code::TOO_MANY_USER_CONNECTIONS,
        });
    }
    if let Some(crate::presence::PresenceError::TooLarge { .. }) = error.downcast_ref() {
        return Some(error_code::PRESENCE_META_TOO_LARGE);
    }
    error
        .is::<ConnectionClosing>()
        .then_some(error_code::CONNECTION_CLOSING)
}

/// The frame a client gets when its message was refused; part of the
/// server direction of the exported schema.
///
/// On the wire: `{"type":"error","code":"invalid_message","message":"..."}`.
///
/// An error that answers a correlated message carries its `id`
/// ([`correlation`](crate::correlation)):
///
/// ```
/// let frame: ws_core::ErrorFrame =
///     serde_json::from_str(r#"{"type":"error","code":"internal","message":"internal error"}"#).unwrap();
/// assert_eq!((frame.code.as_str(), frame.id), ("internal", None));
/// let frame: ws_core::ErrorFrame =
///     serde_json::from_str(r#"{"type":"error","id":7,"code":"rate_limited","message":"slow down"}"#).unwrap();
/// assert_eq!(frame.id, Some(7.into()));
/// let frame: ws_core::ErrorFrame =
///     serde_json::from_str(r#"{"type":"error","id":"r-7","code":"rate_limited","message":"slow down"}"#).unwrap();
/// assert_eq!(frame.id.and_then(|id| id.as_str().map(str::to_owned)).as_deref(), Some("r-7"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename = "error")]
#[schemars(rename = "ErrorFrame")]
pub struct ErrorFrame {
    /// The correlation id of the message this error answers, if it carried
    /// one (absent from the wire otherwise): an integer or a string, as the
    /// message carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<crate::CorrelationId>,
    /// Machine-readable code: one of [`error_code`] or a handler's own.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// The frame that asks a client for a fresh credential: its session
/// [expires](crate::Session::expires_at) in `expires_in_ms` milliseconds,
/// sent [`refresh_before`](crate::Config::with_refresh_before) ahead. Part
/// of the server direction of the exported schema.
///
/// On the wire: `{"type":"refresh_required","expires_in_ms":30000}`. The
/// client answers with a [`RefreshFrame`]; without a valid one by then the
/// connection is closed with [`close_code::SESSION_EXPIRED`](crate::close_code::SESSION_EXPIRED).
///
/// ```
/// let frame: ws_core::RefreshRequired =
///     serde_json::from_str(r#"{"type":"refresh_required","expires_in_ms":30000}"#).unwrap();
/// assert_eq!(frame.expires_in_ms, 30_000);
/// assert!(serde_json::from_str::<ws_core::RefreshRequired>(r#"{"type":"said","expires_in_ms":1}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename = "refresh_required",
    try_from = "Tagged<RefreshRequiredFields>"
)]
pub struct RefreshRequired {
    /// Milliseconds until the session expires (0 when it has).
    pub expires_in_ms: u64,
}

/// The client's answer to [`RefreshRequired`] (it may also send it
/// unasked): a new credential for the handler's `refresh` hook, whose
/// session replaces the connection's in place. Rooms, history positions
/// and the send queue are untouched; nothing is sent back on success.
///
/// On the wire: `{"type":"refresh","token":".."}`, in the protocol's codec.
/// Part of the client direction of the exported schema.
///
/// ```
/// let frame: ws_core::RefreshFrame =
///     serde_json::from_str(r#"{"type":"refresh","token":"eyJ"}"#).unwrap();
/// assert_eq!(frame.token, "eyJ");
/// // Only a frame of that type: another message with a `token` is not one.
/// assert!(serde_json::from_str::<ws_core::RefreshFrame>(r#"{"type":"login","token":"eyJ"}"#).is_err());
/// assert!(serde_json::from_str::<ws_core::RefreshFrame>(r#"{"token":"eyJ"}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "refresh", try_from = "Tagged<RefreshFields>")]
pub struct RefreshFrame {
    /// The new credential.
    pub token: String,
}

/// A framework frame as read: serde does not check the tag of a tagged
/// struct, so any message with the same fields would pass for the frame;
/// the conversions check it.
#[derive(Deserialize)]
struct Tagged<F> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    fields: F,
}

#[derive(Deserialize)]
struct RefreshRequiredFields {
    expires_in_ms: u64,
}

#[derive(Deserialize)]
struct RefreshFields {
    token: String,
}

/// `TryFrom<Tagged<Fields>>` for each frame: its fields, once the tag is
/// its own.
macro_rules! tag_checked {
    ($($frame:ident: $fields:ident { $($field:ident),+ } = $kind:literal,)+) => {$(
        impl TryFrom<Tagged<$fields>> for $frame {
            type Error = String;

            fn try_from(tagged: Tagged<$fields>) -> Result<Self, String> {
                if tagged.kind != $kind {
                    return Err(format!("a `{}` frame, not `{}`", tagged.kind, $kind));
                }
                let $fields { $($field),+ } = tagged.fields;
                Ok(Self { $($field),+ })
            }
        }
    )+};
}

tag_checked! {
    RefreshRequired: RefreshRequiredFields { expires_in_ms } = "refresh_required",
    RefreshFrame: RefreshFields { token } = "refresh",
}

/// The codes of the [`ErrorFrame`]s the runtime sends.
pub mod error_code {
    /// The message is not valid JSON or does not match any message type.
    pub const INVALID_MESSAGE: &str = "invalid_message";
    /// The message type exists but only the server sends it.
    pub const WRONG_DIRECTION: &str = "wrong_direction";
    /// A binary frame; the protocol is JSON text.
    pub const BINARY_NOT_SUPPORTED: &str = "binary_not_supported";
    /// The message was over the connection's rate limit and was dropped.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// A handler failed; details are in the server's log.
    pub const INTERNAL: &str = "internal";
    /// A handler passed on [`JoinError::TooManyRooms`](crate::JoinError::TooManyRooms):
    /// the connection is in `max_rooms` rooms already.
    pub const TOO_MANY_ROOMS: &str = "too_many_rooms";
    /// A handler passed on [`JoinError::RoomNameTooLong`](crate::JoinError::RoomNameTooLong):
    /// the name is over `max_room_name` bytes.
    pub const ROOM_NAME_TOO_LONG: &str = "room_name_too_long";
    /// A handler passed on [`JoinError::Refused`](crate::JoinError::Refused):
    /// the application's `authorize_join` hook refused the join; the
    /// message is the hook's reason.
    pub const JOIN_REFUSED: &str = "join_refused";
    /// A handler passed on [`SetUserError::TooManyConnections`](crate::SetUserError::TooManyConnections):
    /// the user holds `max_per_user` connections already.
    pub const TOO_MANY_USER_CONNECTIONS: &str = "too_many_user_connections";
    /// A handler passed on
    /// [`PresenceError::TooLarge`](crate::presence::PresenceError::TooLarge):
    /// the meta is over `max_presence_meta` bytes.
    pub const PRESENCE_META_TOO_LARGE: &str = "presence_meta_too_large";
    /// A handler passed on [`ConnectionClosing`](crate::ConnectionClosing)
    /// (the client will most likely not see it).
    pub const CONNECTION_CLOSING: &str = "connection_closing";
    /// An answer to a request of the server (`#[ws(server, reply = ..)]`)
    /// that no request waits for: its id is unknown, was already answered,
    /// timed out, or expects another answer. The frame carries the id.
    pub const UNEXPECTED_REPLY: &str = "unexpected_reply";
}

/// Why a connection ended, given to the `on_disconnect` hook.
///
/// ```
/// # use ws_core::{Disconnect, CloseInfo};
/// fn describe(d: &Disconnect) -> String {
///     match &d.peer_close {
///         Some(CloseInfo { code, reason }) => format!("peer closed {code} {reason}"),
///         None => "peer vanished".into(),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Disconnect {
    /// The close frame the client sent, if it sent one.
    pub peer_close: Option<CloseInfo>,
    /// The close frame the server sent, if the server closed first
    /// (idle timeout, overflow, oversize or invalid message, handler, shutdown).
    pub server_close: Option<CloseInfo>,
    /// The user the connection belonged to when it ended.
    pub user: Option<UserId>,
    /// The rooms it was in when it ended (it has left them all).
    pub rooms: Vec<Arc<str>>,
}
