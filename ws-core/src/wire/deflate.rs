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
//! - the codec is [`flate2`] on zlib-rs, a pure-Rust port of zlib (raw
//!   deflate, no zlib header), with one compressor per window size and one
//!   inflater per worker thread rather than per connection (flate2's
//!   default backend, miniz_oxide, cannot compress with a smaller window);
//! - the read side of every connection is a frame parser of our own
//!   ([`wire::parse`](super::parse)), which accepts RSV1 only where the
//!   extension was negotiated;
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
//! `client_max_window_bits` is accepted with or without a value (8 to 15)
//! and not answered: the inflater's 32 KiB window reads any smaller one.
//! `server_max_window_bits` of 9 to 15 is accepted, answered, and honoured:
//! the connection's messages are compressed with a window of that many bits
//! (a broadcast is compressed once per window size among its recipients).
//! An offer of `server_max_window_bits=8` is declined, as RFC 7692 7.1.2.1
//! allows: zlib cannot compress with a 256-byte window (it silently uses
//! 512 bytes, which the client did not agree to). An offer with an unknown,
//! duplicated or malformed parameter is declined too; in each case the next
//! offer is then considered.

use std::cell::RefCell;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::codec::Codec;
use super::frame::{
    MAX_HEADER, OPCODE_BINARY, OPCODE_TEXT, RSV1, Wire, pack, payload_start, put_header,
};
use crate::config::{self, Config};

/// What a sync flush ends with; RFC 7692 7.2.1 removes it from the wire.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The extension the server agrees to, for `Sec-WebSocket-Extensions`,
/// by window ([`Window::index`]).
const AGREED: [&str; WINDOWS] = [
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=13",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=14",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
];

/// How many window sizes the server compresses with: 2^9 to 2^15 bytes.
const WINDOWS: usize = 7;

/// The LZ77 window the server compresses a connection's messages with:
/// `server_max_window_bits` if the client asked for it, 2^15 bytes
/// otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Window {
    Bits9 = 9,
    Bits10,
    Bits11,
    Bits12,
    Bits13,
    Bits14,
    Bits15,
}

impl Window {
    const ALL: [Window; WINDOWS] = [
        Window::Bits9,
        Window::Bits10,
        Window::Bits11,
        Window::Bits12,
        Window::Bits13,
        Window::Bits14,
        Window::Bits15,
    ];

    fn from_bits(bits: u8) -> Option<Window> {
        Self::ALL.get(usize::from(bits.checked_sub(9)?)).copied()
    }

    fn bits(self) -> u8 {
        self as u8
    }

    /// 0 for 9 bits to 6 for 15.
    fn index(self) -> usize {
        usize::from(self.bits() - 9)
    }
}

/// What a connection agreed to: permessage-deflate with this window, its
/// text and binary frames of at least `min_size` bytes (the
/// `compress_min_size` option) going out compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deflate {
    pub(crate) min_size: usize,
    pub(crate) window: Window,
}

impl Deflate {
    /// The `Sec-WebSocket-Extensions` of the server's 101.
    pub(crate) fn agreed(self) -> HeaderValue {
        HeaderValue::from_static(AGREED[self.window.index()])
    }
}

/// zlib's default level: a 2 KiB chat message compressed once per
/// broadcast costs a few tens of microseconds, shared by every recipient.
const LEVEL: u32 = 6;

/// How much output an inflation adds at a time: the memory it may take
/// beyond the limit.
const CHUNK: usize = 16 * 1024;

/// What a handshake with these request headers agrees to under `config`
/// (`compression`, `compress_min_size`); `None` when the client offered
/// nothing the server accepts, or compression is off.
pub(crate) fn agree(config: &Config, headers: &HeaderMap) -> Option<Deflate> {
    if config.compression() != config::Compression::Deflate {
        return None;
    }
    let offers = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter();
    let window = negotiate(offers.map(HeaderValue::as_bytes))?;
    Some(Deflate {
        min_size: config.compress_min_size(),
        window,
    })
}

/// The window of the first offer in these `Sec-WebSocket-Extensions`
/// values that the server accepts (see the module docs); `None` if none is.
pub(crate) fn negotiate<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Window> {
    values.into_iter().find_map(|value| {
        std::str::from_utf8(value)
            .ok()
            .and_then(|value| value.split(',').find_map(acceptable))
    })
}

/// One offer: `permessage-deflate` and its parameters; the window it asks
/// for if the server accepts it.
fn acceptable(offer: &str) -> Option<Window> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|name| name.eq_ignore_ascii_case("permessage-deflate"))
    {
        return None;
    }
    let mut window = Window::Bits15;
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
                match value.and_then(window_bits).and_then(Window::from_bits) {
                    Some(asked) => {
                        window = asked;
                        (2, true)
                    }
                    None => (2, false),
                }
            }
            "client_max_window_bits" => (3, value.is_none_or(|bits| window_bits(bits).is_some())),
            _ => return None,
        };
        if !ok || std::mem::replace(&mut seen[index], true) {
            return None;
        }
    }
    Some(window)
}

/// A window size parameter: 8 to 15, digits only (RFC 7692 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

thread_local! {
    /// One compressor per window, made when a connection first needs it.
    static DEFLATERS: RefCell<[Option<Compress>; WINDOWS]> = const { RefCell::new([const { None }; WINDOWS]) };
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `frame` (a complete text or binary frame made by [`super::frame`]) as a
/// frame compressed with `window`, RSV1 set; `None` for any other frame.
pub(crate) fn compress(frame: &[u8], window: Window) -> Option<Wire> {
    let opcode = *frame.first()? & 0x0f;
    if opcode != OPCODE_TEXT && opcode != OPCODE_BINARY {
        return None;
    }
    let payload = frame.get(payload_start(frame)..)?;
    let mut body = Vec::with_capacity(MAX_HEADER + payload.len() + payload.len() / 1000 + 64);
    body.resize(MAX_HEADER, 0);
    DEFLATERS.with_borrow_mut(|deflaters| {
        let deflater = deflaters[window.index()].get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(LEVEL), false, window.bits())
        });
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
/// speaks MessagePack) and the compressed form of each with each window
/// (made by the first recipient of that codec that negotiated deflate with
/// that window), each shared by the others: at most one transcoding per
/// broadcast and one compression per codec and window, none of a form no
/// recipient needs.
pub(crate) struct Shared<'a> {
    plain: &'a Wire,
    packed: OnceLock<Wire>,
    deflated: [OnceLock<Option<Wire>>; WINDOWS],
    packed_deflated: [OnceLock<Option<Wire>>; WINDOWS],
}

impl<'a> Shared<'a> {
    pub(crate) fn new(plain: &'a Wire) -> Self {
        Self {
            plain,
            packed: OnceLock::new(),
            deflated: Default::default(),
            packed_deflated: Default::default(),
        }
    }

    /// The frame for a connection speaking `codec`, compressed as it agreed
    /// if it negotiated `deflate`.
    pub(crate) fn for_conn(&self, codec: Codec, deflate: Option<Deflate>) -> Wire {
        let (base, compressed) = match codec {
            Codec::Json => (self.plain, &self.deflated),
            Codec::MessagePack => (
                self.packed.get_or_init(|| pack(self.plain)),
                &self.packed_deflated,
            ),
        };
        match deflate {
            Some(deflate) if worth_it(base, deflate.min_size) => compressed[deflate.window.index()]
                .get_or_init(|| compress(base, deflate.window))
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
    use proptest::prelude::*;

    use super::*;
    use crate::wire::frame::{OPCODE_CLOSE, encode};

    const W15: Window = Window::Bits15;

    fn deflate(min_size: usize, window: Window) -> Option<Deflate> {
        Some(Deflate { min_size, window })
    }

    #[test]
    fn offers() {
        let yes = [
            ("permessage-deflate", 15),
            ("permessage-deflate; client_max_window_bits", 15),
            ("permessage-deflate; client_max_window_bits=8", 15),
            (
                "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
                15,
            ),
            (
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=15",
                15,
            ),
            (
                "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=\"12\"",
                15,
            ),
            ("permessage-deflate; server_max_window_bits=9", 9),
            (
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
                10,
            ),
            ("permessage-deflate; server_max_window_bits=14", 14),
            // 8 is declined, and the next offer taken.
            (
                "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12",
                12,
            ),
        ];
        let no = [
            "",
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown",
        ];
        for (offer, bits) in yes {
            let window = negotiate([offer.as_bytes()]).map(Window::bits);
            assert_eq!(window, Some(bits), "{offer}");
        }
        for offer in no {
            assert_eq!(negotiate([offer.as_bytes()]), None, "{offer}");
        }
        let agreed = deflate(0, Window::Bits9).unwrap().agreed();
        assert!(
            agreed
                .to_str()
                .unwrap()
                .ends_with("; server_max_window_bits=9")
        );
        let agreed = deflate(0, W15).unwrap().agreed();
        assert!(!agreed.to_str().unwrap().contains("server_max_window_bits"));
        for window in Window::ALL {
            let agreed = deflate(0, window).unwrap().agreed();
            let again = negotiate([agreed.as_bytes()]);
            assert_eq!(
                again,
                Some(window),
                "the answer is an offer of the same window"
            );
        }
    }

    #[test]
    fn a_compressed_frame_inflates_to_its_payload() {
        for window in Window::ALL {
            for len in [0, 10, 300, 2_000, 70_000] {
                let payload: Vec<u8> = (0..len).map(|i| b"{\"chat\": 1}"[i % 11]).collect();
                let frame = compress(&encode(OPCODE_TEXT, &payload), window).unwrap();
                assert_eq!(frame[0], 0x80 | RSV1 | OPCODE_TEXT);
                let body = &frame[payload_start(&frame)..];
                assert_eq!(inflate(body, len).unwrap(), payload, "{len}");
                if len > 0 {
                    assert_eq!(inflate(body, len - 1), Err(InflateError::TooBig));
                }
            }
        }
        assert!(compress(&encode(OPCODE_CLOSE, &[3, 232]), W15).is_none());
    }

    /// Honoured: with each window, a block of random letters repeated just
    /// beyond the window's reach is not found again (the frame stays about
    /// as large as the letters' entropy makes it, 0.6 of the payload), while
    /// one repeated within reach is (measured 0.03 to 0.28, the smallest
    /// window the least); and every frame inflates to its payload. (An
    /// inflater with a small window is no oracle: zlib-rs reads a stream
    /// that refers back further than its window.)
    #[test]
    fn compression_stays_within_the_agreed_window() {
        let mut state = 0x2545_f491_u32;
        let mut letters = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    b'a' + (state % 26) as u8
                })
                .collect()
        };
        for window in Window::ALL {
            let size = 1usize << window.bits();
            // zlib keeps 262 bytes of look-ahead: its reach is the window less that.
            for (block, found) in [(size + 64, false), (size - 300, true)] {
                let payload = letters(block).repeat(32);
                let frame = compress(&encode(OPCODE_TEXT, &payload), window).unwrap();
                let body = &frame[payload_start(&frame)..];
                assert_eq!(inflate(body, payload.len()).unwrap(), payload);
                let ratio = body.len() as f64 / payload.len() as f64;
                assert_eq!(
                    ratio < 0.4,
                    found,
                    "{window:?}, blocks of {block}: {ratio:.2}"
                );
            }
        }
    }

    /// The first deflate recipient of each codec and window compresses;
    /// the others share its bytes; plain recipients and small frames never
    /// cost a compression, and JSON recipients never a transcoding.
    #[test]
    fn a_shared_frame_is_compressed_at_most_once_per_codec_and_window() {
        let json = format!(r#"{{"type":"said","text":"{}"}}"#, "a".repeat(1000));
        let plain = encode(OPCODE_TEXT, json.as_bytes());
        let shared = Shared::new(&plain);
        assert_eq!(shared.for_conn(Codec::Json, None), plain);
        assert!(
            shared.deflated.iter().all(|form| form.get().is_none()) && !shared.was_packed(),
            "plain recipients compress and transcode nothing"
        );
        let first = shared.for_conn(Codec::Json, deflate(256, W15));
        let second = shared.for_conn(Codec::Json, deflate(256, W15));
        assert_eq!(first.as_ptr(), second.as_ptr(), "one compression, shared");
        assert_eq!(first[0], 0x80 | RSV1 | OPCODE_TEXT);
        let small_window = shared.for_conn(Codec::Json, deflate(256, Window::Bits9));
        let again = shared.for_conn(Codec::Json, deflate(0, Window::Bits9));
        assert_eq!(
            small_window.as_ptr(),
            again.as_ptr(),
            "one per window, shared"
        );
        assert_ne!(small_window.as_ptr(), first.as_ptr());
        let made = shared.deflated.iter().filter(|form| form.get().is_some());
        assert_eq!(made.count(), 2, "none for a window no recipient uses");
        assert!(!shared.was_packed());
        let packed = shared.for_conn(Codec::MessagePack, deflate(256, W15));
        let again = shared.for_conn(Codec::MessagePack, deflate(256, W15));
        assert_eq!(packed.as_ptr(), again.as_ptr(), "one per codec, shared");
        assert_eq!(packed[0], 0x80 | RSV1 | OPCODE_BINARY);
        assert!(shared.was_packed());
        let small = encode(OPCODE_TEXT, &[b'a'; 255]);
        let shared = Shared::new(&small);
        assert_eq!(
            shared.for_conn(Codec::Json, deflate(256, W15)).as_ptr(),
            small.as_ptr()
        );
        assert!(
            shared.deflated.iter().all(|form| form.get().is_none()),
            "under compress_min_size"
        );
        assert!(Shared::new(&small).for_conn(Codec::Json, deflate(255, W15))[0] & RSV1 != 0);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let frame = compress(&encode(OPCODE_TEXT, &vec![b'a'; 8 << 20]), W15).unwrap();
        let body = &frame[payload_start(&frame)..];
        assert!(body.len() < 16 * 1024, "{}", body.len());
        assert_eq!(inflate(body, 1 << 20), Err(InflateError::TooBig));
        assert_eq!(
            inflate(&[0xff, 0xff, 0xff], 1 << 20),
            Err(InflateError::Invalid)
        );
    }

    proptest! {
        /// Any payload compressed with any window inflates back to itself,
        /// and past a limit below its size fails as too big.
        #[test]
        fn compression_round_trips(
            payload in proptest::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..3000),
            window in proptest::sample::select(Window::ALL.to_vec()),
            binary in any::<bool>(),
        ) {
            let opcode = if binary { OPCODE_BINARY } else { OPCODE_TEXT };
            let frame = compress(&encode(opcode, &payload), window).unwrap();
            prop_assert_eq!(frame[0], 0x80 | RSV1 | opcode);
            let body = &frame[payload_start(&frame)..];
            prop_assert_eq!(inflate(body, payload.len()), Ok(payload.clone()));
            if let Some(short) = payload.len().checked_sub(1) {
                prop_assert_eq!(inflate(body, short), Err(InflateError::TooBig));
            }
        }

        /// Any bytes inflate or fail, never past the limit.
        #[test]
        fn inflating_any_bytes_stays_within_the_limit(
            input in proptest::collection::vec(any::<u8>(), 0..200),
            max in 0..5000usize,
        ) {
            if let Ok(out) = inflate(&input, max) {
                prop_assert!(out.len() <= max);
            }
        }
    }
}
