//! The frame parser: a client's bytes in, messages out, with RFC 6455 and
//! RFC 7692 enforced on the way. Sans-IO: the caller reads the socket into
//! a buffer and hands it over ([`Parser::parse`]); the parser takes whole
//! frames from its front, says what to answer (a pong, a close) and never
//! waits. No released tungstenite accepts RSV1 (the decision is written in
//! [`deflate`](super::deflate)), hence a parser of our own.
//!
//! Each failure is the close to answer with:
//!
//! - 1002: an unmasked frame, RSV1 without permessage-deflate negotiated,
//!   RSV2 or RSV3, RSV1 on a control frame or a continuation, a reserved
//!   opcode, a fragmented or over-125-byte control frame, a continuation
//!   with no message begun or a message begun inside another, a one-byte
//!   close payload or an invalid close code;
//! - 1007: invalid UTF-8 in a text message or a close reason (checked as
//!   fragments arrive, and as the bytes of a frame arrive, so a sequence
//!   split across fragments or reads is judged whole, and a bad one fails
//!   before its frame or message ends), or a compressed message that is not
//!   valid deflate;
//! - 1008: a message spanning more than `max_fragments` frames, or not
//!   complete `fragment_timeout` after its first (checked at every frame
//!   that arrives while it is open);
//! - 1009: a frame, a message, or an inflated message past
//!   `max_message_size`: refused from the frame header, before its payload
//!   is read, or when inflation reaches the limit.
//!
//! A compressed message is kept compressed until its last fragment, then
//! inflated at once by the thread's inflater: with
//! `client_no_context_takeover` the parser holds no inflate state.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tungstenite::Utf8Bytes;

use super::close::{CloseInfo, close_code, close_reply, parse_close};
use super::deflate::{InflateError, inflate};
use super::frame::{
    FIN, MASKED, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION, OPCODE_PING, OPCODE_PONG,
    OPCODE_TEXT, RSV1, RSV23, Wire, encode, unmask_from,
};

/// A message from the peer.
#[derive(Debug, PartialEq)]
pub(crate) enum Message {
    /// A text message, its UTF-8 checked.
    Text(Utf8Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// The peer's close, checked: its code and reason, `None` for an empty
    /// close.
    Close(Option<CloseInfo>),
}

/// A message and what it asks of the caller.
#[derive(Debug, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) message: Message,
    /// The frame to send back ahead of anything queued: the pong of a
    /// ping, the reply to a close.
    pub(crate) reply: Option<Wire>,
    /// The inflated size of a compressed message, for the inflation
    /// budget; `None` for any other.
    pub(crate) inflated: Option<usize>,
}

/// What a connection agreed to and is allowed (its `Config`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The largest frame, message or inflated message (1009 past it).
    pub(crate) max_message_size: usize,
    /// The most frames of one message; 0 for no limit (1008 past it).
    pub(crate) max_fragments: usize,
    /// How long a fragmented message may take (1008 past it).
    pub(crate) fragment_timeout: Option<Duration>,
    /// Whether permessage-deflate was negotiated (RSV1 is a protocol error
    /// otherwise).
    pub(crate) deflate: bool,
    /// The clock of `fragment_timeout`, read only while a fragmented
    /// message is open (the runtime's own, so paused time pauses it).
    pub(crate) now: fn() -> Instant,
}

/// The parser's state between reads: a fragmented message still arriving,
/// and how much of a text frame partly arrived is checked already.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    partial: Option<Box<Partial>>,
    /// How many payload bytes of the text frame partly arrived in the
    /// buffer are unmasked and known to be UTF-8 ([`check_arrived`]); 0
    /// between frames.
    seen: u32,
    /// After a close or a failure nothing more is parsed.
    done: bool,
}

/// A frame's first byte, checked.
struct Head {
    fin: bool,
    rsv1: bool,
    opcode: u8,
}

/// A fragmented message still arriving.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    data: BytesMut,
    /// How much of an uncompressed text message is known to be UTF-8.
    checked: usize,
    /// Frames so far, the first included.
    frames: usize,
    /// When the first frame arrived; read from the clock only once the
    /// message turns out to be fragmented.
    began: Option<Instant>,
}

fn fail(code: u16, reason: &str) -> CloseInfo {
    CloseInfo::new(code, reason)
}

fn protocol(reason: &str) -> CloseInfo {
    fail(close_code::PROTOCOL_ERROR, reason)
}

fn too_big() -> CloseInfo {
    fail(close_code::TOO_BIG, "message too big")
}

fn invalid_utf8() -> CloseInfo {
    fail(close_code::INVALID_PAYLOAD, "invalid UTF-8")
}

impl Parser {
    /// Whether the parser is finished: it returned a close or a failure.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Marks the end of the peer's bytes: nothing more is parsed.
    pub(crate) fn stop(&mut self) {
        self.done = true;
    }

    /// The next message whose frames are whole at the front of `buf`
    /// (taken from it); `Ok(None)` until one has arrived (`buf` is then
    /// reserved for the rest of the frame begun), and after a close or a
    /// failure. `Err` is the close the server answers a violation with.
    pub(crate) fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Parsed>, CloseInfo> {
        if self.done {
            return Ok(None);
        }
        let parsed = self.next(buf, limits);
        self.done = !matches!(
            parsed,
            Ok(None
                | Some(Parsed {
                    message: Message::Text(_)
                        | Message::Binary(_)
                        | Message::Ping(_)
                        | Message::Pong(_),
                    ..
                }))
        );
        parsed
    }

    fn next(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Option<Parsed>, CloseInfo> {
        loop {
            let Some((head, payload)) = self.frame(buf, limits)? else {
                return Ok(None);
            };
            if let Some(parsed) = self.message(head, payload, limits)? {
                return Ok(Some(parsed));
            }
        }
    }

    /// The next whole frame in the buffer, unmasked; `None` until it has
    /// arrived. The header is judged as soon as it is there.
    fn frame(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<(Head, BytesMut)>, CloseInfo> {
        let Some(&[first, second]) = buf.first_chunk::<2>() else {
            return Ok(None);
        };
        let head = Head {
            fin: first & FIN != 0,
            rsv1: first & RSV1 != 0,
            opcode: first & 0x0f,
        };
        if first & RSV23 != 0 || (head.rsv1 && !limits.deflate) {
            return Err(protocol("reserved bits set"));
        }
        let control = head.opcode & 0x08 != 0;
        match head.opcode {
            OPCODE_CONTINUATION | OPCODE_TEXT | OPCODE_BINARY | OPCODE_CLOSE | OPCODE_PING
            | OPCODE_PONG => {}
            _ => return Err(protocol("reserved opcode")),
        }
        if head.rsv1 && (control || head.opcode == OPCODE_CONTINUATION) {
            return Err(protocol("RSV1 on a control frame or a continuation"));
        }
        if second & MASKED == 0 {
            return Err(protocol("unmasked client frame"));
        }
        let (len, at) = match second & 0x7f {
            126 => match buf.get(2..4) {
                Some(n) => (u64::from(u16::from_be_bytes([n[0], n[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|n| n.try_into().ok()) {
                Some(n) => (u64::from_be_bytes(n), 10),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if control && (!head.fin || len > 125) {
            return Err(protocol("a fragmented or oversized control frame"));
        }
        if len >> 63 != 0 {
            return Err(protocol("frame length with the high bit set"));
        }
        if len > limits.max_message_size as u64 {
            return Err(too_big());
        }
        let total = at + 4 + len as usize;
        if buf.len() < total {
            self.check_arriving(buf, &head, at, len)?;
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        let seen = std::mem::take(&mut self.seen) as usize;
        // The last frame in the buffer takes the buffer whole: between
        // frames the connection holds nothing, and nothing is shared.
        let mut payload = if total == buf.len() {
            std::mem::take(buf)
        } else {
            buf.split_to(total)
        };
        payload.advance(at + 4);
        unmask_from(&mut payload[seen..], mask, seen);
        if let (Some(partial), Some(limit)) = (&self.partial, limits.fragment_timeout)
            && let Some(began) = partial.began
            && (limits.now)().saturating_duration_since(began) > limit
        {
            return Err(fail(close_code::POLICY, "message not completed in time"));
        }
        Ok(Some((head, payload)))
    }

    /// Fails a text frame not yet whole as soon as what arrived of it
    /// cannot be valid UTF-8 (Autobahn 6.4.3 and 6.4.4 send one frame in
    /// chops a second apart), rather than when its last byte arrives. Only
    /// a fail-fast: the frame is still judged whole once it has arrived.
    fn check_arriving(
        &mut self,
        buf: &mut BytesMut,
        head: &Head,
        at: usize,
        len: u64,
    ) -> Result<(), CloseInfo> {
        let text = match head.opcode {
            OPCODE_TEXT => !head.rsv1,
            OPCODE_CONTINUATION => self
                .partial
                .as_ref()
                .is_some_and(|partial| partial.text && !partial.compressed),
            _ => false,
        };
        let Some(&mask) = buf.get(at..).and_then(|rest| rest.first_chunk::<4>()) else {
            return Ok(());
        };
        if !text || u32::try_from(len).is_err() {
            return Ok(());
        }
        let arrived = &mut buf[at + 4..];
        let seen = check_arrived(
            arrived,
            self.seen as usize,
            mask,
            head.opcode == OPCODE_CONTINUATION,
        )
        .map_err(|()| invalid_utf8())?;
        // At most `len`, which fits.
        self.seen = seen as u32;
        Ok(())
    }

    /// A whole frame: the message it ends, if any.
    fn message(
        &mut self,
        head: Head,
        payload: BytesMut,
        limits: &Limits,
    ) -> Result<Option<Parsed>, CloseInfo> {
        match head.opcode {
            OPCODE_CONTINUATION => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(protocol("a continuation with no message begun"));
                };
                if partial.data.len() + payload.len() > limits.max_message_size {
                    return Err(too_big());
                }
                partial.frames += 1;
                let max = limits.max_fragments;
                if max != 0 && partial.frames > max {
                    return Err(fail(close_code::POLICY, "too many fragments"));
                }
                partial.data.extend_from_slice(&payload);
                partial.check(head.fin)?;
                if !head.fin {
                    return Ok(None);
                }
                let partial = self.partial.take().expect("a message begun");
                finish(*partial, limits).map(Some)
            }
            OPCODE_TEXT | OPCODE_BINARY => {
                if self.partial.is_some() {
                    return Err(protocol("a new message inside a fragmented one"));
                }
                let mut partial = Partial {
                    text: head.opcode == OPCODE_TEXT,
                    compressed: head.rsv1,
                    data: payload,
                    checked: 0,
                    frames: 1,
                    began: None,
                };
                if head.fin {
                    return finish(partial, limits).map(Some);
                }
                partial.check(false)?;
                partial.began = limits.fragment_timeout.map(|_| (limits.now)());
                self.partial = Some(Box::new(partial));
                Ok(None)
            }
            OPCODE_PING => Ok(Some(Parsed {
                reply: Some(encode(OPCODE_PONG, &payload)),
                message: Message::Ping(payload.freeze()),
                inflated: None,
            })),
            OPCODE_PONG => Ok(Some(Parsed {
                message: Message::Pong(payload.freeze()),
                reply: None,
                inflated: None,
            })),
            _ => {
                let close = parse_close(&payload)?;
                Ok(Some(Parsed {
                    reply: Some(close_reply(close.as_ref())),
                    message: Message::Close(close),
                    inflated: None,
                }))
            }
        }
    }
}

/// A message whose last frame arrived: inflated if compressed, its UTF-8
/// checked if text.
fn finish(partial: Partial, limits: &Limits) -> Result<Parsed, CloseInfo> {
    let (data, inflated) = if partial.compressed {
        match inflate(&partial.data, limits.max_message_size) {
            Ok(data) => {
                let size = data.len();
                (Bytes::from(data), Some(size))
            }
            Err(InflateError::TooBig) => return Err(too_big()),
            Err(InflateError::Invalid) => {
                return Err(fail(close_code::INVALID_PAYLOAD, "invalid compressed data"));
            }
        }
    } else {
        (partial.data.freeze(), None)
    };
    let message = if partial.text {
        Message::Text(Utf8Bytes::try_from(data).map_err(|_| invalid_utf8())?)
    } else {
        Message::Binary(data)
    };
    Ok(Parsed {
        message,
        reply: None,
        inflated,
    })
}

/// The payload bytes of a text frame that have `arrived` so far, the first
/// `seen` of them unmasked and known to be UTF-8 already: unmasks the rest,
/// fails if they cannot begin valid UTF-8, and returns the new `seen`, the
/// end of the last whole character. The bytes of a character cut by the
/// end of what arrived are masked again, to be judged with what follows.
///
/// A continuation may begin with the end of a character cut at the end of
/// the previous fragment: its leading continuation bytes (at most 3) are
/// left for [`Partial::check`], which judges them with the fragment before
/// once this one is whole.
fn check_arrived(
    arrived: &mut [u8],
    seen: usize,
    mask: [u8; 4],
    continues: bool,
) -> Result<usize, ()> {
    unmask_from(&mut arrived[seen..], mask, seen);
    let mut from = seen;
    if seen == 0 && continues {
        let lead = arrived
            .iter()
            .take(3)
            .take_while(|&&byte| byte & 0xc0 == 0x80)
            .count();
        if lead == arrived.len() && lead < 3 {
            // More of the cut character may follow.
            unmask_from(arrived, mask, 0);
            return Ok(0);
        }
        from = lead;
    }
    let end = match std::str::from_utf8(&arrived[from..]) {
        Ok(_) => arrived.len(),
        Err(error) if error.error_len().is_none() => from + error.valid_up_to(),
        Err(_) => return Err(()),
    };
    unmask_from(&mut arrived[end..], mask, end);
    Ok(end)
}

impl Partial {
    /// Fails a text message as soon as what arrived cannot begin valid
    /// UTF-8; a sequence cut at the end of a fragment waits for the next
    /// (unless this was the last). Compressed messages are checked whole.
    fn check(&mut self, fin: bool) -> Result<(), CloseInfo> {
        if !self.text || self.compressed {
            return Ok(());
        }
        match std::str::from_utf8(&self.data[self.checked..]) {
            Ok(_) => self.checked = self.data.len(),
            Err(error) if error.error_len().is_none() && !fin => {
                self.checked += error.valid_up_to();
            }
            Err(_) => return Err(invalid_utf8()),
        }
        Ok(())
    }
}

/// Everything `bytes` parses to, fed in chops of the given lengths and
/// then the rest (as reads would bring them): the messages with their
/// replies, then the failure, if any. For the tests and the fuzzer.
#[cfg(any(test, feature = "bench"))]
pub(crate) fn parse_chopped(
    bytes: &[u8],
    chops: &[usize],
    limits: &Limits,
) -> (Vec<Parsed>, Option<CloseInfo>) {
    let mut parser = Parser::default();
    let mut buf = BytesMut::new();
    let mut parsed = Vec::new();
    let mut at = 0;
    let ends = chops
        .iter()
        .scan(0, |end, n| {
            *end = (*end + n).min(bytes.len());
            Some(*end)
        })
        .chain([bytes.len()]);
    for end in ends {
        buf.extend_from_slice(&bytes[at..end]);
        at = end;
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(message)) => parsed.push(message),
                Ok(None) => break,
                Err(close) => {
                    assert!(parser.is_done(), "parsing goes on after {close:?}");
                    assert_eq!(parser.parse(&mut buf, limits), Ok(None));
                    return (parsed, Some(close));
                }
            }
        }
    }
    (parsed, None)
}

#[cfg(test)]
mod tests;
