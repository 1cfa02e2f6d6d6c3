//! The message between nodes: a fixed header, then the complete WebSocket
//! frame exactly as the sending node's own connections got it.
//!
//! ```text
//! [version: u8 = 1][origin node: u64 LE][sent at, µs since the epoch: u64 LE][frame...]
//! ```
//!
//! Encoded once: the publisher writes the header and the frame's bytes
//! straight into the publish command (no intermediate buffer). Server frames
//! are unmasked, so the frame is the same for every recipient on every node:
//! the receiving node checks it, slices the header off the received buffer
//! without copying, and hands every local recipient a pointer to the same
//! bytes. The target (room, user, everyone) is the channel the message came
//! on, so it is not repeated here, and neither is an except-connection:
//! `except` names a connection of the sending node, so other nodes have
//! nothing to skip.

use std::io::{self, Write};

use bytes::Bytes;

use crate::frame::{OPCODE_TEXT, Wire};

const VERSION: u8 = 1;
pub(crate) const HEADER: usize = 1 + 8 + 8;

/// Writes the envelope of `frame` into `out`.
pub(crate) fn write(
    out: &mut impl Write,
    origin: u64,
    sent_at: u64,
    frame: &[u8],
) -> io::Result<()> {
    let mut header = [0u8; HEADER];
    header[0] = VERSION;
    header[1..9].copy_from_slice(&origin.to_le_bytes());
    header[9..17].copy_from_slice(&sent_at.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(frame)
}

/// A received envelope.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) sent_at: u64,
    /// The frame, sharing the received buffer.
    pub(crate) wire: Wire,
}

/// Why an envelope was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    Short,
    Version(u8),
    /// Not one complete, final, unmasked text frame.
    Frame,
    Utf8,
}

/// Reads an envelope from the received buffer. The frame goes to sockets
/// as it is, so it is checked first: one final unmasked text frame whose
/// length is the rest of the buffer, with UTF-8 text.
pub(crate) fn read(buffer: Vec<u8>) -> Result<Received, Invalid> {
    if buffer.len() < HEADER {
        return Err(Invalid::Short);
    }
    if buffer[0] != VERSION {
        return Err(Invalid::Version(buffer[0]));
    }
    let sent_at = u64::from_le_bytes(buffer[9..17].try_into().expect("8 bytes"));
    let payload = text_payload(&buffer[HEADER..]).ok_or(Invalid::Frame)?;
    std::str::from_utf8(payload).map_err(|_| Invalid::Utf8)?;
    let wire = Bytes::from(buffer).slice(HEADER..);
    Ok(Received { sent_at, wire })
}

/// The payload of `frame` if it is exactly one final, unmasked text frame.
fn text_payload(frame: &[u8]) -> Option<&[u8]> {
    let (&first, rest) = frame.split_first()?;
    let (&second, rest) = rest.split_first()?;
    if first != 0x80 | OPCODE_TEXT || second & 0x80 != 0 {
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
    (rest.len() as u64 == len).then_some(rest)
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
    use crate::frame::wire;

    fn envelope(frame: &[u8]) -> Vec<u8> {
        let mut buffer = Vec::new();
        write(&mut buffer, 42, 7, frame).unwrap();
        buffer
    }

    #[test]
    fn round_trip_shares_the_frame() {
        for len in [0, 5, 125, 126, 300, 70_000] {
            let text = "é".repeat(len / 2);
            let frame = wire(OPCODE_TEXT, text.as_bytes());
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
    fn refuses_garbage() {
        assert_eq!(read(vec![1, 2, 3]).unwrap_err(), Invalid::Short);
        assert_eq!(read(vec![9; HEADER]).unwrap_err(), Invalid::Version(9));
        let binary = wire(0x2, b"abc");
        assert_eq!(read(envelope(&binary)).unwrap_err(), Invalid::Frame);
        let mut truncated = wire(OPCODE_TEXT, b"abcdef").to_vec();
        truncated.pop();
        assert_eq!(read(envelope(&truncated)).unwrap_err(), Invalid::Frame);
        let bad_utf8 = wire(OPCODE_TEXT, &[0xff, 0xfe]);
        assert_eq!(read(envelope(&bad_utf8)).unwrap_err(), Invalid::Utf8);
    }
}
