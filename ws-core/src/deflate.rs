//! permessage-deflate (RFC 7692): the negotiation, the shared compression of
//! outbound frames, and the bounded inflation of inbound messages.
//!
//! # Where the code comes from (the decision)
//!
//! No released tungstenite accepts a frame with RSV1 set, and the stacks
//! that do compress (soketto and others) own the whole connection, which
//! conflicts with the server's frames being encoded once and shared by
//! every recipient. So:
//!
//! - the codec is [`flate2`] on its pure-Rust backend (raw deflate, no zlib
//!   header), with one compressor and one inflater per worker thread rather
//!   than per connection;
//! - the read side of every connection is a frame parser of our own
//!   ([`connection::inbound`](crate::connection)), which accepts RSV1 only
//!   where the extension was negotiated;
//! - the write side is unchanged: a compressed frame is one more complete,
//!   unmasked frame (RSV1 set) that every deflate recipient shares.
//!
//! # Negotiation
//!
//! The server always answers `server_no_context_takeover` (every message
//! is compressed on its own, so one compressed frame is valid for every
//! recipient) and `client_no_context_takeover` (every inbound message is
//! inflated on its own, so a connection keeps no inflate state between
//! messages: the inflater is the thread's, borrowed for one message).
//! `client_max_window_bits` is accepted with or without a value and not
//! answered: the inflater's 32 KiB window reads any smaller one. An offer
//! asking `server_max_window_bits` below 15 is declined (the pure-Rust
//! compressor always uses the full window), as is an offer with an unknown,
//! duplicated or malformed parameter; the next offer is then considered.

use std::cell::RefCell;
use std::sync::OnceLock;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::codec::Codec;
use crate::frame::{MAX_HEADER, OPCODE_BINARY, OPCODE_TEXT, Wire, payload_start, put_header};

/// The RSV1 bit of a frame's first byte: "this message is compressed".
pub(crate) const RSV1: u8 = 0x40;

/// What a sync flush ends with; RFC 7692 7.2.1 removes it from the wire.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The extension the server agrees to, for `Sec-WebSocket-Extensions`.
pub(crate) const AGREED: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// zlib's default level: a 2 KiB chat message compressed once per
/// broadcast costs a few tens of microseconds, shared by every recipient.
const LEVEL: u32 = 6;

/// How much output an inflation adds at a time: the memory it may take
/// beyond the limit.
const CHUNK: usize = 16 * 1024;

/// Whether some offer in these `Sec-WebSocket-Extensions` values is one
/// the server accepts (see the module docs).
pub(crate) fn negotiate<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    values
        .into_iter()
        .any(|value| std::str::from_utf8(value).is_ok_and(|value| value.split(',').any(acceptable)))
}

/// One offer: `permessage-deflate` and its parameters.
fn acceptable(offer: &str) -> bool {
    let mut parts = offer.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|name| name.eq_ignore_ascii_case("permessage-deflate"))
    {
        return false;
    }
    let mut seen = [false; 4];
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param, None),
        };
        let (index, ok) = match name {
            "server_no_context_takeover" => (0, value.is_none()),
            "client_no_context_takeover" => (1, value.is_none()),
            "server_max_window_bits" => {
                (2, value.is_some_and(|bits| window_bits(bits) == Some(15)))
            }
            "client_max_window_bits" => (3, value.is_none_or(|bits| window_bits(bits).is_some())),
            _ => return false,
        };
        if !ok || std::mem::replace(&mut seen[index], true) {
            return false;
        }
    }
    true
}

/// A window size parameter: 8 to 15, digits only (RFC 7692 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

thread_local! {
    static DEFLATER: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(LEVEL), false));
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `frame` (a complete text or binary frame made by [`crate::frame`]) as a
/// compressed frame with RSV1 set; `None` for any other frame.
pub(crate) fn compress(frame: &[u8]) -> Option<Wire> {
    let opcode = *frame.first()? & 0x0f;
    if opcode != OPCODE_TEXT && opcode != OPCODE_BINARY {
        return None;
    }
    let payload = frame.get(payload_start(frame)..)?;
    let mut body = Vec::with_capacity(MAX_HEADER + payload.len() + payload.len() / 1000 + 64);
    body.resize(MAX_HEADER, 0);
    DEFLATER.with_borrow_mut(|deflater| {
        deflater.reset();
        let mut taken = 0;
        loop {
            if body.capacity() - body.len() < 64 {
                body.reserve(payload.len() / 4 + 64);
            }
            let before = deflater.total_in();
            deflater
                .compress_vec(&payload[taken..], &mut body, FlushCompress::Sync)
                .ok()?;
            taken += (deflater.total_in() - before) as usize;
            // The flush is complete when the output was not filled.
            if taken == payload.len() && body.len() < body.capacity() {
                return Some(());
            }
        }
    })?;
    // Removing the last tail is correct however many flush blocks there
    // are: the receiver appends exactly what was removed.
    if !body.ends_with(&TAIL) {
        return None;
    }
    body.truncate(body.len() - TAIL.len());
    let mut room = [0u8; MAX_HEADER];
    let start = put_header(&mut room, opcode, body.len() - MAX_HEADER);
    room[start] |= RSV1;
    body[..MAX_HEADER].copy_from_slice(&room);
    let mut wire = Bytes::from(body);
    bytes::Buf::advance(&mut wire, start);
    Some(wire)
}

/// Whether `frame`'s payload is at least `min_size` bytes
/// (`compress_min_size`).
pub(crate) fn worth_it(frame: &[u8], min_size: usize) -> bool {
    frame.len().saturating_sub(payload_start(frame)) >= min_size
}

/// Why a compressed message was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates past the limit (1009); inflation stopped there.
    TooBig,
    /// It is not a valid deflate stream (1007).
    Invalid,
}

/// The payload of a compressed message, inflated; at most `max` bytes.
///
/// The work and memory are bounded by the limit, not by what the message
/// would inflate to: the output grows in chunks of at most [`CHUNK`], and
/// inflation stops at the first byte past `max`.
pub(crate) fn inflate(input: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
    INFLATER.with_borrow_mut(|inflater| {
        inflater.reset(false);
        let mut out = Vec::with_capacity((input.len() * 4).clamp(64, CHUNK).min(max + 1));
        for part in [input, &TAIL[..]] {
            let mut taken = 0;
            loop {
                if out.len() == out.capacity() {
                    if out.len() > max {
                        return Err(InflateError::TooBig);
                    }
                    out.reserve_exact(CHUNK.min(max + 1 - out.len()));
                }
                let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
                let status = inflater
                    .decompress_vec(&part[taken..], &mut out, FlushDecompress::Sync)
                    .map_err(|_| InflateError::Invalid)?;
                taken += (inflater.total_in() - in_before) as usize;
                if out.len() > max {
                    return Err(InflateError::TooBig);
                }
                // The sender may end the stream (BFINAL) itself.
                if status == Status::StreamEnd {
                    return Ok(out);
                }
                let stuck = inflater.total_in() == in_before && inflater.total_out() == out_before;
                if taken == part.len() && out.len() < out.capacity() {
                    break;
                }
                if stuck && out.len() < out.capacity() {
                    return Err(InflateError::Invalid);
                }
            }
        }
        Ok(out)
    })
}

/// A frame on its way to several connections, and the forms its
/// recipients need: its MessagePack form (made by the first recipient that
/// speaks MessagePack) and the compressed form of each (made by the first
/// recipient of that codec that negotiated deflate), each shared by the
/// others: at most one transcoding and one compression per codec per
/// broadcast, none of a form no recipient needs.
pub(crate) struct Shared<'a> {
    plain: &'a Wire,
    packed: OnceLock<Wire>,
    deflated: OnceLock<Option<Wire>>,
    packed_deflated: OnceLock<Option<Wire>>,
}

impl<'a> Shared<'a> {
    pub(crate) fn new(plain: &'a Wire) -> Self {
        Self {
            plain,
            packed: OnceLock::new(),
            deflated: OnceLock::new(),
            packed_deflated: OnceLock::new(),
        }
    }

    /// The frame for a connection speaking `codec`, that negotiated deflate
    /// with this `min_size` (the `compress_min_size` option) if `deflate`.
    pub(crate) fn for_conn(&self, codec: Codec, deflate: Option<usize>) -> Wire {
        let (base, compressed) = match codec {
            Codec::Json => (self.plain, &self.deflated),
            Codec::MessagePack => (
                self.packed.get_or_init(|| crate::frame::pack(self.plain)),
                &self.packed_deflated,
            ),
        };
        match deflate {
            Some(min_size) if worth_it(base, min_size) => compressed
                .get_or_init(|| compress(base))
                .as_ref()
                .unwrap_or(base)
                .clone(),
            _ => base.clone(),
        }
    }

    /// Whether a recipient needed the MessagePack form (counted once per
    /// send, `ws_messages_packed_total`).
    pub(crate) fn was_packed(&self) -> bool {
        self.packed.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::wire;

    #[test]
    fn offers() {
        let yes = [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=15",
            "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=\"12\"",
            "permessage-deflate; server_max_window_bits=10, permessage-deflate",
        ];
        let no = [
            "",
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown",
        ];
        for offer in yes {
            assert!(negotiate([offer.as_bytes()]), "{offer}");
        }
        for offer in no {
            assert!(!negotiate([offer.as_bytes()]), "{offer}");
        }
    }

    #[test]
    fn a_compressed_frame_inflates_to_its_payload() {
        for len in [0, 10, 300, 2_000, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| b"{\"chat\": 1}"[i % 11]).collect();
            let frame = compress(&wire(OPCODE_TEXT, &payload)).unwrap();
            assert_eq!(frame[0], 0x80 | RSV1 | OPCODE_TEXT);
            let body = &frame[payload_start(&frame)..];
            assert_eq!(inflate(body, len).unwrap(), payload, "{len}");
            if len > 0 {
                assert_eq!(inflate(body, len - 1), Err(InflateError::TooBig));
            }
        }
        assert!(compress(&wire(crate::frame::OPCODE_CLOSE, &[3, 232])).is_none());
    }

    /// The first deflate recipient of each codec compresses; the others
    /// share its bytes; plain recipients and small frames never cost a
    /// compression, and JSON recipients never a transcoding.
    #[test]
    fn a_shared_frame_is_compressed_at_most_once_per_codec() {
        let json = format!(r#"{{"type":"said","text":"{}"}}"#, "a".repeat(1000));
        let plain = wire(OPCODE_TEXT, json.as_bytes());
        let shared = Shared::new(&plain);
        assert_eq!(shared.for_conn(Codec::Json, None), plain);
        assert!(
            shared.deflated.get().is_none() && !shared.was_packed(),
            "plain recipients compress and transcode nothing"
        );
        let first = shared.for_conn(Codec::Json, Some(256));
        let second = shared.for_conn(Codec::Json, Some(256));
        assert_eq!(first.as_ptr(), second.as_ptr(), "one compression, shared");
        assert_eq!(first[0], 0x80 | RSV1 | OPCODE_TEXT);
        assert!(!shared.was_packed());
        let packed = shared.for_conn(Codec::MessagePack, Some(256));
        let again = shared.for_conn(Codec::MessagePack, Some(256));
        assert_eq!(packed.as_ptr(), again.as_ptr(), "one per codec, shared");
        assert_eq!(packed[0], 0x80 | RSV1 | OPCODE_BINARY);
        assert!(shared.was_packed());
        let small = wire(OPCODE_TEXT, &[b'a'; 255]);
        let shared = Shared::new(&small);
        assert_eq!(
            shared.for_conn(Codec::Json, Some(256)).as_ptr(),
            small.as_ptr()
        );
        assert!(shared.deflated.get().is_none(), "under compress_min_size");
        assert!(Shared::new(&small).for_conn(Codec::Json, Some(255))[0] & RSV1 != 0);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let frame = compress(&wire(OPCODE_TEXT, &vec![b'a'; 8 << 20])).unwrap();
        let body = &frame[payload_start(&frame)..];
        assert!(body.len() < 16 * 1024, "{}", body.len());
        assert_eq!(inflate(body, 1 << 20), Err(InflateError::TooBig));
        assert_eq!(
            inflate(&[0xff, 0xff, 0xff], 1 << 20),
            Err(InflateError::Invalid)
        );
    }
}
