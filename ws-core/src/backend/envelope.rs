//! The message between nodes: a fixed header, then the complete WebSocket
//! frame exactly as the sending node's own connections got it.
//!
//! ```text
//! [version: u8 = 1][origin node: u64 LE][sent at, µs since the epoch: u64 LE][frame...]
//! [version: u8 = 2][origin node][sent at][rooms: u16 LE]([len: u32 LE][room name])*[frame...]
//! ```
//!
//! Version 2 names rooms whose members are skipped (`except("room")`); a
//! send without them stays version 1. The frame is a text frame; or a close
//! frame: a [`Broadcast::close`](crate::Broadcast::close) closes the members
//! of the target with its code and reason; or a membership frame (opcode
//! `0x3`, reserved by RFC 6455, so never a socket's frame): a
//! [`Broadcast::leave`](crate::Broadcast::leave) or
//! [`Broadcast::join`](crate::Broadcast::join) makes the members of the
//! target leave or join a room (see `wire/membership.rs`). All three go
//! through every engine alike, as bytes; the receiving node tells them
//! apart.
//!
//! Encoded once: the publisher writes the header and the frame's bytes
//! straight into the publish command (no intermediate buffer). Server frames
//! are unmasked, so the frame is the same for every recipient on every node:
//! the receiving node checks it, slices the header off the received buffer
//! without copying, and hands every local recipient a pointer to the same
//! bytes. The target (room, user, everyone) is the channel the message came
//! on, so it is not repeated here, and neither is an excluded connection:
//! a `ConnId` names a connection of the sending node, so other nodes have
//! nothing to skip.

use std::io::{self, Write};

use bytes::Bytes;

use std::sync::Arc;

use crate::wire::frame::{OPCODE_CLOSE, OPCODE_TEXT, Wire};
use crate::wire::membership::OPCODE_MEMBERSHIP;

const VERSION: u8 = 1;
/// Version 1 followed by the excluded rooms.
const VERSION_EXCEPT: u8 = 2;
pub(crate) const HEADER: usize = 1 + 8 + 8;

/// Writes the envelope of `frame` into `out`.
pub(crate) fn write(
    out: &mut impl Write,
    origin: u64,
    sent_at: u64,
    except_rooms: &[Arc<str>],
    frame: &[u8],
) -> io::Result<()> {
    let mut header = [0u8; HEADER];
    header[0] = if except_rooms.is_empty() {
        VERSION
    } else {
        VERSION_EXCEPT
    };
    header[1..9].copy_from_slice(&origin.to_le_bytes());
    header[9..17].copy_from_slice(&sent_at.to_le_bytes());
    out.write_all(&header)?;
    if !except_rooms.is_empty() {
        let count = u16::try_from(except_rooms.len()).map_err(io::Error::other)?;
        out.write_all(&count.to_le_bytes())?;
        for room in except_rooms {
            let len = u32::try_from(room.len()).map_err(io::Error::other)?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(room.as_bytes())?;
        }
    }
    out.write_all(frame)
}

/// A received envelope.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) sent_at: u64,
    /// The rooms whose members are skipped.
    pub(crate) except_rooms: Vec<String>,
    /// The frame, sharing the received buffer.
    pub(crate) wire: Wire,
}

/// Why an envelope was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    Short,
    Version(u8),
    /// Not one complete, final, unmasked text, close or membership frame.
    Frame,
    Utf8,
}

/// Reads an envelope from the received buffer. The frame goes to sockets
/// as it is, so it is checked first: one final unmasked text frame whose
/// length is the rest of the buffer, with UTF-8 text (or a close or a
/// membership frame, which the node reads instead of sending).
pub(crate) fn read(buffer: Vec<u8>) -> Result<Received, Invalid> {
    if buffer.len() < HEADER {
        return Err(Invalid::Short);
    }
    let (except_rooms, start) = match buffer[0] {
        VERSION => (Vec::new(), HEADER),
        VERSION_EXCEPT => rooms(&buffer[HEADER..]).ok_or(Invalid::Short)?,
        other => return Err(Invalid::Version(other)),
    };
    let sent_at = u64::from_le_bytes(buffer[9..17].try_into().expect("8 bytes"));
    let (opcode, payload) = payload(&buffer[start..]).ok_or(Invalid::Frame)?;
    if opcode == OPCODE_TEXT {
        std::str::from_utf8(payload).map_err(|_| Invalid::Utf8)?;
    }
    let wire = Bytes::from(buffer).slice(start..);
    Ok(Received {
        sent_at,
        except_rooms,
        wire,
    })
}

/// The excluded rooms of a version 2 envelope, and where its frame starts.
fn rooms(mut rest: &[u8]) -> Option<(Vec<String>, usize)> {
    let total = rest.len();
    let (count, tail) = rest.split_first_chunk::<2>()?;
    rest = tail;
    let mut rooms = Vec::new();
    for _ in 0..u16::from_le_bytes(*count) {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let name = tail.get(..len)?;
        rooms.push(String::from_utf8(name.to_vec()).ok()?);
        rest = &tail[len..];
    }
    Some((rooms, HEADER + total - rest.len()))
}

/// The opcode and payload of `frame` if it is exactly one final, unmasked
/// text, close or membership frame.
fn payload(frame: &[u8]) -> Option<(u8, &[u8])> {
    let (&first, rest) = frame.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let opcode = first & 0x0f;
    let known = matches!(opcode, OPCODE_TEXT | OPCODE_CLOSE | OPCODE_MEMBERSHIP);
    if first & 0xf0 != 0x80 || !known || second & 0x80 != 0 {
        return None;
    }
    let (len, rest) = match second & 0x7f {
        126 => {
            let (len, rest) = rest.split_first_chunk::<2>()?;
            (u64::from(u16::from_be_bytes(*len)), rest)
        }
        127 => {
            let (len, rest) = rest.split_first_chunk::<8>()?;
            (u64::from_be_bytes(*len), rest)
        }
        len => (u64::from(len), rest),
    };
    (rest.len() as u64 == len).then_some((opcode, rest))
}

/// The origin of an envelope, without reading the rest: a node drops its
/// own messages (delivered locally already) before any other work.
pub(crate) fn origin(buffer: &[u8]) -> Option<u64> {
    buffer
        .get(1..9)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::encode;

    fn envelope(frame: &[u8]) -> Vec<u8> {
        let mut buffer = Vec::new();
        write(&mut buffer, 42, 7, &[], frame).unwrap();
        buffer
    }

    #[test]
    fn round_trip_shares_the_frame() {
        for len in [0, 5, 125, 126, 300, 70_000] {
            let text = "é".repeat(len / 2);
            let frame = encode(OPCODE_TEXT, text.as_bytes());
            let buffer = envelope(&frame);
            assert_eq!(buffer.len(), HEADER + frame.len());
            assert_eq!(origin(&buffer), Some(42));
            let start = buffer.as_ptr() as usize;
            let received = read(buffer).unwrap();
            assert_eq!(received.sent_at, 7);
            assert_eq!(received.wire, frame);
            // No copy: the frame points into the received buffer.
            assert_eq!(received.wire.as_ptr() as usize, start + HEADER);
        }
    }

    #[test]
    fn excluded_rooms_travel_before_the_frame() {
        let frame = encode(OPCODE_TEXT, b"{}");
        let mut buffer = Vec::new();
        let rooms: [Arc<str>; 2] = [Arc::from("red"), Arc::from("")];
        write(&mut buffer, 1, 2, &rooms, &frame).unwrap();
        let received = read(buffer).unwrap();
        assert_eq!(received.except_rooms, ["red", ""]);
        assert_eq!(received.wire, frame);
        let mut cut = Vec::new();
        write(&mut cut, 1, 2, &rooms, &[]).unwrap();
        cut.truncate(HEADER + 5);
        assert_eq!(read(cut).unwrap_err(), Invalid::Short);
    }

    #[test]
    fn close_frames_travel_too() {
        let close = encode(OPCODE_CLOSE, &[0x0f, 0xa0, b'b', b'y', b'e']);
        let received = read(envelope(&close)).unwrap();
        assert_eq!(received.wire, close);
    }

    #[test]
    fn membership_frames_travel_too() {
        use crate::wire::membership::{Change, encode_membership, read_membership};
        let leave = encode_membership(Change::Leave, "lobby");
        let received = read(envelope(&leave)).unwrap();
        assert_eq!(
            read_membership(&received.wire),
            Some((Change::Leave, "lobby"))
        );
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(read(vec![1, 2, 3]).unwrap_err(), Invalid::Short);
        assert_eq!(read(vec![9; HEADER]).unwrap_err(), Invalid::Version(9));
        let binary = encode(0x2, b"abc");
        assert_eq!(read(envelope(&binary)).unwrap_err(), Invalid::Frame);
        let mut truncated = encode(OPCODE_TEXT, b"abcdef").to_vec();
        truncated.pop();
        assert_eq!(read(envelope(&truncated)).unwrap_err(), Invalid::Frame);
        let bad_utf8 = encode(OPCODE_TEXT, &[0xff, 0xfe]);
        assert_eq!(read(envelope(&bad_utf8)).unwrap_err(), Invalid::Utf8);
    }
}
