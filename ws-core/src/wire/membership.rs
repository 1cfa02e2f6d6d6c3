//! Membership changes made by the server ([`Broadcast::leave`] and
//! [`Broadcast::join`]) as they travel between nodes: a frame of opcode
//! `0x3`, which RFC 6455 reserves (no peer sends it, no socket is ever
//! written one), so that it goes everywhere a close frame goes (the
//! envelope, every engine's publish, `Node::deliver`) and is told apart
//! from a message by its first byte.
//!
//! ```text
//! [FIN | 0x3][length][change: u8 (1 leave, 2 join)][room name, UTF-8]
//! ```
//!
//! [`Broadcast::leave`]: crate::Broadcast::leave
//! [`Broadcast::join`]: crate::Broadcast::join

use super::frame::{FIN, Wire, encode, payload_start};

/// The reserved non-control opcode a membership change travels as.
pub(crate) const OPCODE_MEMBERSHIP: u8 = 0x3;

/// What the targeted connections do with a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Leave,
    Join,
}

impl Change {
    fn byte(self) -> u8 {
        match self {
            Change::Leave => 1,
            Change::Join => 2,
        }
    }
}

/// The frame that carries `change` of `room` to the other nodes.
pub(crate) fn encode_membership(change: Change, room: &str) -> Wire {
    let mut payload = Vec::with_capacity(1 + room.len());
    payload.push(change.byte());
    payload.extend_from_slice(room.as_bytes());
    encode(OPCODE_MEMBERSHIP, &payload)
}

/// The change and room of a membership frame (whose envelope checked it is
/// one whole unmasked frame); `None` for any other frame, or a change or
/// room name this version cannot read.
pub(crate) fn read_membership(frame: &[u8]) -> Option<(Change, &str)> {
    if *frame.first()? != FIN | OPCODE_MEMBERSHIP {
        return None;
    }
    let (&change, room) = frame.get(payload_start(frame)..)?.split_first()?;
    let change = match change {
        1 => Change::Leave,
        2 => Change::Join,
        _ => return None,
    };
    Some((change, std::str::from_utf8(room).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip() {
        for room in ["", "lobby", &"é".repeat(100), &"r".repeat(70_000)] {
            for change in [Change::Leave, Change::Join] {
                let frame = encode_membership(change, room);
                assert_eq!(read_membership(&frame), Some((change, room)));
            }
        }
    }

    #[test]
    fn other_frames_are_not_changes() {
        use crate::wire::frame::{OPCODE_CLOSE, OPCODE_TEXT};
        assert_eq!(read_membership(&encode(OPCODE_TEXT, b"\x01lobby")), None);
        assert_eq!(read_membership(&encode(OPCODE_CLOSE, b"\x01lobby")), None);
        assert_eq!(read_membership(&encode(OPCODE_MEMBERSHIP, b"")), None);
        assert_eq!(read_membership(&encode(OPCODE_MEMBERSHIP, b"\x09x")), None);
        assert_eq!(
            read_membership(&encode(OPCODE_MEMBERSHIP, b"\x01\xff")),
            None
        );
        assert_eq!(read_membership(&[]), None);
    }
}
