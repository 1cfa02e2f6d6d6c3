//! Close frames (RFC 6455 5.5.1, 7.4): the codes, the payload a side sent,
//! and its checks: what a peer may send, what the server answers, how a
//! reason is cut to fit.

use super::frame::{OPCODE_CLOSE, Wire, encode};

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

/// The most a close reason may take: a control frame carries 125 bytes
/// (RFC 6455 5.5), two of which are the code.
pub(crate) const MAX_REASON: usize = 123;

/// `reason` cut to [`MAX_REASON`] bytes on a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON {
        return reason;
    }
    let mut end = MAX_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// The close frame the server sends: `info`'s code and its reason, cut to
/// fit ([`truncate_reason`]).
pub(crate) fn encode_close(info: &CloseInfo) -> Wire {
    let reason = truncate_reason(&info.reason);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&info.code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    encode(OPCODE_CLOSE, &payload)
}

/// The answer to a peer's close: its code echoed, no reason; an empty
/// close for an empty one.
pub(crate) fn close_reply(peer: Option<&CloseInfo>) -> Wire {
    match peer {
        Some(info) => encode(OPCODE_CLOSE, &info.code.to_be_bytes()),
        None => encode(OPCODE_CLOSE, &[]),
    }
}

/// Whether a peer may send `code` (RFC 6455 7.4): the IANA-registered
/// 1012-1014 included; 1004-1006 and 1015 never go on the wire.
pub(crate) fn is_sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A peer's close payload, checked: its code and reason (`None` for an
/// empty payload), or why it is invalid, as the close to answer with
/// (1002: one byte, or a code a peer may not send; 1007: a reason that is
/// not UTF-8).
pub(crate) fn parse_close(payload: &[u8]) -> Result<Option<CloseInfo>, CloseInfo> {
    if payload.is_empty() {
        return Ok(None);
    }
    let Some((&code, reason)) = payload.split_first_chunk::<2>() else {
        return Err(CloseInfo::new(
            close_code::PROTOCOL_ERROR,
            "a one-byte close payload",
        ));
    };
    let code = u16::from_be_bytes(code);
    if !is_sendable(code) {
        return Err(CloseInfo::new(
            close_code::PROTOCOL_ERROR,
            "invalid close code",
        ));
    }
    match std::str::from_utf8(reason) {
        Ok(reason) => Ok(Some(CloseInfo::new(code, reason))),
        Err(_) => Err(CloseInfo::new(close_code::INVALID_PAYLOAD, "invalid UTF-8")),
    }
}

/// The code and reason of a close frame the server made (another node's,
/// whose envelope checked it is one whole unmasked frame); `None` for any
/// other frame. Lenient, as for the server's own frames: no payload is
/// 1000, a reason that is not UTF-8 is read lossily.
pub(crate) fn read_close(frame: &[u8]) -> Option<CloseInfo> {
    let (&first, rest) = frame.split_first()?;
    if first & 0x0f != OPCODE_CLOSE {
        return None;
    }
    // A close payload is at most 125 bytes: a one-byte length.
    let payload = rest.get(1..)?;
    let code = payload
        .first_chunk::<2>()
        .map_or(close_code::NORMAL, |code| u16::from_be_bytes(*code));
    let reason = payload.get(2..).unwrap_or_default();
    Some(CloseInfo::new(code, String::from_utf8_lossy(reason)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::frame::payload_start;

    #[test]
    fn reasons_fit_a_control_frame() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= MAX_REASON);
        assert!(long.starts_with(cut));
    }

    proptest! {
        /// A close the server sends with any code a peer may send and any
        /// reason reads back as itself, its reason cut to fit, both by the
        /// peer's checks and by another node's lenient read.
        #[test]
        fn close_frames_round_trip(code in 1000..5000u16, reason in "\\PC{0,80}") {
            let info = CloseInfo::new(code, reason.as_str());
            let frame = encode_close(&info);
            prop_assert!(frame.len() <= 2 + 125);
            let cut = CloseInfo::new(code, truncate_reason(&reason));
            prop_assert_eq!(read_close(&frame), Some(cut.clone()));
            let parsed = parse_close(&frame[payload_start(&frame)..]);
            if is_sendable(code) {
                prop_assert_eq!(parsed, Ok(Some(cut)));
            } else {
                prop_assert_eq!(parsed.map_err(|close| close.code), Err(close_code::PROTOCOL_ERROR));
            }
        }

        /// Any payload: read, or refused with 1002 or 1007; never a panic.
        #[test]
        fn any_close_payload_is_read_or_refused(payload in proptest::collection::vec(any::<u8>(), 0..126)) {
            match parse_close(&payload) {
                Ok(None) => prop_assert!(payload.is_empty()),
                Ok(Some(info)) => prop_assert_eq!(info.code.to_be_bytes(), [payload[0], payload[1]]),
                Err(close) => prop_assert!(matches!(close.code, 1002 | 1007)),
            }
        }
    }
}
