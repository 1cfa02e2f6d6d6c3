//! Close codes (RFC 6455 section 7.4) and the close frame a side sent.

/// The close codes this crate sends, by name.
pub mod close_code {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: the server is going away (shutdown) or the peer was idle too long.
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the peer broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003: a frame of a kind the protocol does not take (binary).
    pub const UNSUPPORTED: u16 = 1003;
    /// 1007: a message that does not decode as the protocol.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// 1008: a policy was violated (e.g. a rate limit).
    pub const POLICY: u16 = 1008;
    /// 1009: a message larger than `max_message_size`.
    pub const TOO_BIG: u16 = 1009;
    /// 1011: the server met an unexpected condition (a handler panicked).
    pub const INTERNAL: u16 = 1011;
    /// 1012: the server is restarting (a deploy); reconnect, with jitter.
    pub const SERVICE_RESTART: u16 = 1012;
    /// 1013: try again later; sent to a client whose send queue overflowed.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// 4001: the session expired (its [`expires_at`](crate::Session::expires_at))
    /// before a valid `refresh` arrived. Reconnect with a fresh credential.
    pub const SESSION_EXPIRED: u16 = 4001;
    /// 4003: a `refresh` was refused: the handler's `refresh` hook rejected
    /// its token (the reason is the hook's), or the new session's user
    /// could not take the connection (`max_per_user`). Reconnecting with
    /// the same credential will fail the same way.
    pub const REFRESH_REFUSED: u16 = 4003;
}

/// A close frame's code and reason.
///
/// ```
/// use ws_core::CloseInfo;
/// let info = CloseInfo::new(4000, "bye");
/// assert_eq!((info.code, info.reason.as_str()), (4000, "bye"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code.
    pub code: u16,
    /// The reason, possibly empty.
    pub reason: String,
}

impl CloseInfo {
    /// A close frame with `code` and `reason`.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}
