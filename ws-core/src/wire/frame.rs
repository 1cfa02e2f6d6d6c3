//! Frames (RFC 6455 5.2): opcodes, headers, masking, and the server's
//! frames made in place.
//!
//! A message is serialized once, straight into a complete WebSocket frame,
//! and every recipient's queue holds a reference to the same bytes. Server
//! frames are not masked, so the frame is the same for every recipient:
//! the writers send it as it is, with no per-recipient framing or copy.

use std::io::Write as _;

use bytes::{Buf, Bytes};
use serde::Serialize;

use super::codec;

/// A complete WebSocket frame, header included, ready for the socket.
pub(crate) type Wire = Bytes;

pub(crate) const OPCODE_CONTINUATION: u8 = 0x0;
pub(crate) const OPCODE_TEXT: u8 = 0x1;
pub(crate) const OPCODE_BINARY: u8 = 0x2;
pub(crate) const OPCODE_CLOSE: u8 = 0x8;
pub(crate) const OPCODE_PING: u8 = 0x9;
pub(crate) const OPCODE_PONG: u8 = 0xA;

/// The bits of a frame's first byte.
pub(crate) const FIN: u8 = 0x80;
/// "This message is compressed" (RFC 7692 6).
pub(crate) const RSV1: u8 = 0x40;
/// RSV2 and RSV3: no extension here defines them.
pub(crate) const RSV23: u8 = 0x30;
/// The mask bit of a frame's second byte: set on every client frame.
pub(crate) const MASKED: u8 = 0x80;

/// The longest header of an unmasked frame: 2 bytes and a 64-bit length.
pub(crate) const MAX_HEADER: usize = 10;

/// Writes the header of a final, unmasked frame of `len` bytes at the end
/// of `room`; returns where it starts.
pub(crate) fn put_header(room: &mut [u8; MAX_HEADER], opcode: u8, len: usize) -> usize {
    let start = match len {
        0..=125 => {
            room[9] = len as u8;
            8
        }
        126..=0xffff => {
            room[7] = 126;
            room[8..10].copy_from_slice(&(len as u16).to_be_bytes());
            6
        }
        _ => {
            room[1] = 127;
            room[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            0
        }
    };
    room[start] = FIN | opcode;
    start
}

/// Serializes `value` as JSON into a text frame with one allocation and no
/// copy: the JSON is written after room for the longest header, and the
/// header is put just before it.
pub(crate) fn encode_json<T: Serialize>(value: &T) -> serde_json::Result<Wire> {
    Ok(seal(encode_body(value)?))
}

/// The JSON of `value` after room for the longest header: the first half
/// of [`encode_json`].
fn encode_body<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut buffer = Vec::with_capacity(128);
    buffer.resize(MAX_HEADER, 0);
    serde_json::to_writer(&mut buffer, value)?;
    Ok(buffer)
}

/// [`encode_body`] for a message a history keeps: the body is allocated
/// once, at its length and [`STAMP_SPARE`], after the JSON is written into a
/// buffer the thread reuses. A body grown by doubling as the JSON is written
/// holds up to twice its length for as long as the history keeps it, and
/// the growth leaves freed blocks between the kept ones.
pub(crate) fn encode_kept<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    /// A scratch buffer larger than this is freed after use: one thread
    /// keeps at most this much between messages.
    const SCRATCH_KEPT: usize = 256 << 10;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let exact = |scratch: &mut Vec<u8>| {
        scratch.clear();
        scratch.resize(MAX_HEADER, 0);
        serde_json::to_writer(&mut *scratch, value)?;
        let mut body = Vec::with_capacity(scratch.len() + STAMP_SPARE);
        body.extend_from_slice(scratch);
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        Ok(body)
    };
    SCRATCH
        .try_with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => exact(&mut scratch),
            // Serialized from within a `Serialize` of a kept message.
            Err(_) => exact(&mut Vec::new()),
        })
        // The thread is ending.
        .unwrap_or_else(|_| exact(&mut Vec::new()))
}

/// A body of [`encode_body`] or [`encode_kept`] (or a copy of a frame's
/// payload made by [`reopen`]) as a frame: the header is put just before the JSON.
pub(crate) fn seal(buffer: Vec<u8>) -> Wire {
    seal_as(buffer, OPCODE_TEXT)
}

fn seal_as(mut buffer: Vec<u8>, opcode: u8) -> Wire {
    let len = buffer.len() - MAX_HEADER;
    let mut room = [0u8; MAX_HEADER];
    let start = put_header(&mut room, opcode, len);
    buffer[..MAX_HEADER].copy_from_slice(&room);
    let mut frame = Bytes::from(buffer);
    // Moving the start keeps the vector's single owner (no shared header).
    frame.advance(start);
    frame
}

/// The most bytes [`stamp`] adds: `,"epoch":"` (10), an epoch of at most
/// [`MAX_EPOCH`] bytes, `","offset":` (11) and a `u64` (20 digits).
pub(crate) const STAMP_SPARE: usize = 10 + MAX_EPOCH + 11 + 20;

/// The most bytes [`stamp`] adds to a body for `epoch` and `offset`: its
/// part of [`STAMP_SPARE`].
pub(crate) fn stamp_len(epoch: &str, offset: u64) -> usize {
    10 + epoch.len() + 11 + offset.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The longest epoch [`stamp`] is given.
pub(crate) const MAX_EPOCH: usize = 40;

/// Adds `"epoch":E,"offset":N` as the last members of the JSON object in a
/// body of [`encode_kept`], beside the tag of an internally or adjacently
/// tagged message, and seals it. Written in place: with [`STAMP_SPARE`]
/// bytes of spare capacity nothing is allocated.
pub(crate) fn stamp(mut body: Vec<u8>, epoch: &str, offset: u64) -> Wire {
    debug_assert!(epoch.len() <= MAX_EPOCH && !epoch.contains(['"', '\\']));
    if body.last() == Some(&b'}') {
        body.pop();
        // `{}` takes no separator.
        if body.len() > MAX_HEADER + 1 {
            body.push(b',');
        }
        body.extend_from_slice(b"\"epoch\":\"");
        body.extend_from_slice(epoch.as_bytes());
        body.extend_from_slice(b"\",\"offset\":");
        // Writing into a vector cannot fail.
        let _ = write!(body, "{offset}");
        body.push(b'}');
    }
    seal(body)
}

/// A message's JSON copied into a body, for [`stamp`]: a record handed back by
/// a cluster engine.
#[cfg(feature = "engine")]
pub(crate) fn body_of(json: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(MAX_HEADER + json.len() + STAMP_SPARE);
    body.resize(MAX_HEADER, 0);
    body.extend_from_slice(json);
    body
}

/// The JSON of a body of [`encode_kept`], as a shared buffer (one copy).
#[cfg(feature = "engine")] // sent to cluster backends only
pub(crate) fn json_of(body: &[u8]) -> Wire {
    Bytes::copy_from_slice(&body[MAX_HEADER..])
}

/// A frame's payload copied back into a body, for [`stamp`].
pub(crate) fn reopen(frame: &[u8]) -> Vec<u8> {
    let payload = &frame[payload_start(frame).min(frame.len())..];
    let mut body = Vec::with_capacity(MAX_HEADER + payload.len() + STAMP_SPARE);
    body.resize(MAX_HEADER, 0);
    body.extend_from_slice(payload);
    body
}

/// Where the payload of a frame made here starts.
pub(crate) fn payload_start(frame: &[u8]) -> usize {
    match frame.get(1) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    }
}

/// A JSON text frame made here, as the MessagePack binary frame a
/// connection that chose [`Codec::MessagePack`](crate::Codec) is sent; any
/// other frame as it is. One allocation, written in place like
/// [`encode_json`].
pub(crate) fn pack(frame: &Wire) -> Wire {
    if frame.first() != Some(&(FIN | OPCODE_TEXT)) {
        return frame.clone();
    }
    let json = &frame[payload_start(frame).min(frame.len())..];
    // MessagePack is rarely longer than the JSON it comes from.
    let mut body = Vec::with_capacity(MAX_HEADER + json.len());
    body.resize(MAX_HEADER, 0);
    match codec::pack_into(json, &mut body) {
        Ok(()) => seal_as(body, OPCODE_BINARY),
        Err(error) => {
            // Only JSON nested past serde_json's depth limit gets here: the
            // peer is told, in its codec, rather than sent a text frame.
            tracing::warn!(%error, "a message could not be sent as MessagePack");
            let mut body = vec![0; MAX_HEADER];
            let json = br#"{"type":"error","code":"internal","message":"a message could not be encoded as MessagePack"}"#;
            // This fixed JSON always transcodes.
            let _ = codec::pack_into(json, &mut body);
            seal_as(body, OPCODE_BINARY)
        }
    }
}

/// A final, unmasked frame holding `payload` (copied once).
pub(crate) fn encode(opcode: u8, payload: &[u8]) -> Wire {
    let mut room = [0u8; MAX_HEADER];
    let start = put_header(&mut room, opcode, payload.len());
    let mut frame = Vec::with_capacity(MAX_HEADER - start + payload.len());
    frame.extend_from_slice(&room[start..]);
    frame.extend_from_slice(payload);
    Bytes::from(frame)
}

/// [`unmask`] of the part of a payload that starts at `offset`.
pub(crate) fn unmask_from(part: &mut [u8], mask: [u8; 4], offset: usize) {
    unmask(part, std::array::from_fn(|i| mask[(offset + i) & 3]));
}

/// XORs a client's mask out of a payload (or into it: masking is its own
/// inverse), eight bytes at a time.
pub(crate) fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let (words, rest) = payload.as_chunks_mut::<8>();
    for word in words {
        *word = (u64::from_ne_bytes(*word) ^ wide).to_ne_bytes();
    }
    // The rest starts at a multiple of 8, so the mask is in phase.
    for (i, byte) in rest.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_for_every_length_class() {
        for len in [0, 1, 125, 126, 1000, 0xffff, 0x10000, 1 << 20] {
            let payload = vec![b'x'; len];
            let frame = encode(OPCODE_TEXT, &payload);
            assert_eq!(frame[0], 0x81);
            let (header, length) = match frame[1] {
                126 => (4, u16::from_be_bytes([frame[2], frame[3]]) as usize),
                127 => (
                    10,
                    u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                ),
                n => (2, n as usize),
            };
            assert_eq!(length, len);
            assert_eq!(frame.len(), header + len);
        }
    }

    #[test]
    fn packing_a_json_frame_makes_one_binary_frame_of_messagepack() {
        for len in [10, 300, 70_000] {
            let json = serde_json::json!({"type": "said", "text": "b".repeat(len)});
            let frame = encode_json(&json).unwrap();
            let packed = pack(&frame);
            let payload = &packed[payload_start(&packed)..];
            let mut expected = Vec::new();
            codec::pack_into(json.to_string().as_bytes(), &mut expected).unwrap();
            assert_eq!(packed, encode(OPCODE_BINARY, &expected));
            assert_eq!(codec::unpack(payload).unwrap(), json.to_string());
        }
        let ping = encode(OPCODE_PING, b"");
        assert_eq!(pack(&ping), ping);
        let deep = "[".repeat(200) + &"]".repeat(200);
        let error = pack(&encode(OPCODE_TEXT, deep.as_bytes()));
        let error = codec::unpack(&error[payload_start(&error)..]).unwrap();
        assert!(error.contains(r#""code":"internal""#), "{error}");
    }

    #[test]
    fn encoding_in_place_matches_framing_a_copy() {
        for len in [10, 300, 70_000] {
            let value = serde_json::json!({"a": "b".repeat(len)});
            let json = serde_json::to_string(&value).unwrap();
            let frame = encode_json(&value).unwrap();
            assert_eq!(frame, encode(OPCODE_TEXT, json.as_bytes()));
            assert_eq!(&frame[payload_start(&frame)..], json.as_bytes());
        }
    }
}
