//! The read side of a connection: a frame parser of our own, for every
//! connection. No released tungstenite accepts RSV1 (the decision is
//! written in [`deflate`](crate::deflate)), and ours holds no buffer while
//! the connection is idle: what a read brings is taken from the worker
//! thread's scratch buffer, and the connection keeps bytes only while a
//! frame is partly arrived.
//!
//! It yields [`Message`]s to the read loop, and enforces RFC 6455 and
//! RFC 7692 on the way, each failure with its close code:
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
//! Every compressed message is charged, at its inflated size, to the
//! connection's and the node's inflation budgets (`inflate_rate`,
//! `inflate_node_rate`): past either, nothing more is read until it has
//! refilled, so the inflation a peer can cause is bounded by the budget,
//! not by how small its frames are.
//!
//! Pings are answered with a pong and the peer's close with a close
//! echoing its code, through the writer's control queue. A compressed
//! message is kept compressed until its last fragment, then inflated at
//! once by the thread's inflater: with `client_no_context_takeover` the
//! connection holds no inflate state.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Utf8Bytes;

use super::io::Half;
use super::read_loop::ReadEnd;
use crate::close::{CloseInfo, close_code};
use crate::config::Config;
use crate::deflate::{InflateError, inflate};
use crate::frame::{OPCODE_CLOSE, wire};
use crate::rate::InflateBudget;
use crate::registry::Conn;

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

thread_local! {
    /// Where a connection with nothing pending reads into; what arrived is
    /// then copied out, so the scratch is the worker's, not the
    /// connection's.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The messages of one connection, for the read loop.
///
/// Cancel-safe: everything read is kept in `self`, so a `next` cut short
/// (by the idle timeout, a shutdown) loses nothing.
pub(crate) struct Frames<'a> {
    read: Half<'a>,
    conn: Arc<Conn>,
    config: &'a Config,
    inflate: &'a InflateBudget,
    /// The connection's place in its inflation budget (see
    /// [`InflateBudget`]).
    inflated: u64,
    /// Until when nothing is read: the inflation budget is spent.
    pause: Option<Pin<Box<Sleep>>>,
    /// After a close or a failure nothing more is read.
    done: bool,
    /// How many payload bytes of the text frame partly arrived in `buf`
    /// are unmasked and known to be UTF-8 ([`check_arrived`]); 0 between
    /// frames. (A `u32` beside `done`, in what was padding.)
    seen: u32,
    /// Bytes of frames not yet whole; empty (no allocation) between frames.
    buf: BytesMut,
    partial: Option<Box<Partial>>,
}

impl<'a> Frames<'a> {
    pub(crate) fn new(
        read: Half<'a>,
        conn: Arc<Conn>,
        config: &'a Config,
        inflate: &'a InflateBudget,
    ) -> Self {
        Self {
            read,
            conn,
            config,
            inflate,
            inflated: 0,
            pause: None,
            done: false,
            seen: 0,
            buf: BytesMut::new(),
            partial: None,
        }
    }
}

impl Stream for Frames<'_> {
    type Item = Result<Message, ReadEnd>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let item = ready!(this.poll_message(cx));
        this.done = !matches!(
            item,
            Some(Ok(Message::Text(_)
                | Message::Binary(_)
                | Message::Ping(_)
                | Message::Pong(_)))
        );
        Poll::Ready(item)
    }
}

/// A frame's first byte, checked.
struct Head {
    fin: bool,
    rsv1: bool,
    opcode: u8,
}

/// A fragmented message still arriving.
struct Partial {
    text: bool,
    compressed: bool,
    data: BytesMut,
    /// How much of an uncompressed text message is known to be UTF-8.
    checked: usize,
    /// Frames so far, the first included.
    frames: usize,
    /// When the first frame arrived.
    began: Instant,
}

fn fail(code: u16, reason: &str) -> ReadEnd {
    ReadEnd::Close(CloseInfo::new(code, reason))
}

fn protocol(reason: &str) -> ReadEnd {
    fail(close_code::PROTOCOL_ERROR, reason)
}

fn too_big() -> ReadEnd {
    fail(close_code::TOO_BIG, "message too big")
}

fn invalid_utf8() -> ReadEnd {
    fail(close_code::INVALID_PAYLOAD, "invalid UTF-8")
}

impl Frames<'_> {
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, ReadEnd>>> {
        if let Some(pause) = self.pause.as_mut() {
            ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        loop {
            match self.parse() {
                Err(end) => return Poll::Ready(Some(Err(end))),
                Ok(Some((head, payload))) => match self.frame(head, payload) {
                    Err(end) => return Poll::Ready(Some(Err(end))),
                    Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                    Ok(None) => continue,
                },
                Ok(None) => {}
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) | Err(_) => return Poll::Ready(None),
                Ok(_) => {}
            }
        }
    }

    /// Reads what the socket has. With nothing pending the read goes to
    /// the thread's scratch and only what arrived is kept; a frame partly
    /// arrived reads straight into the connection's buffer, which
    /// [`parse`](Self::parse) has sized for the whole frame.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !self.buf.is_empty() {
            let read_buffer = self.config.read_buffer();
            if self.buf.capacity() - self.buf.len() < read_buffer {
                self.buf.reserve(read_buffer);
            }
            return tokio_util::io::poll_read_buf(Pin::new(&mut self.read), cx, &mut self.buf);
        }
        SCRATCH.with_borrow_mut(|scratch| {
            let read_buffer = self.config.read_buffer();
            if scratch.len() < read_buffer {
                scratch.resize(read_buffer, 0);
            }
            let mut read = ReadBuf::new(&mut scratch[..read_buffer]);
            ready!(Pin::new(&mut self.read).poll_read(cx, &mut read))?;
            let filled = read.filled();
            self.buf = BytesMut::from(filled);
            Poll::Ready(Ok(filled.len()))
        })
    }

    /// The next whole frame in the buffer, unmasked; `None` until it has
    /// arrived. The header is judged as soon as it is there.
    fn parse(&mut self) -> Result<Option<(Head, BytesMut)>, ReadEnd> {
        let Some(&[first, second]) = self.buf.first_chunk::<2>() else {
            return Ok(None);
        };
        let head = Head {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            opcode: first & 0x0f,
        };
        if first & 0x30 != 0 || (head.rsv1 && self.conn.deflate.is_none()) {
            return Err(protocol("reserved bits set"));
        }
        let control = head.opcode & 0x08 != 0;
        match head.opcode {
            CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG => {}
            _ => return Err(protocol("reserved opcode")),
        }
        if head.rsv1 && (control || head.opcode == CONTINUATION) {
            return Err(protocol("RSV1 on a control frame or a continuation"));
        }
        if second & 0x80 == 0 {
            return Err(protocol("unmasked client frame"));
        }
        let (len, at) = match second & 0x7f {
            126 => match self.buf.get(2..4) {
                Some(n) => (u64::from(u16::from_be_bytes([n[0], n[1]])), 4),
                None => return Ok(None),
            },
            127 => match self.buf.get(2..10).and_then(|n| n.try_into().ok()) {
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
        if len > self.config.max_message_size() as u64 {
            return Err(too_big());
        }
        let total = at + 4 + len as usize;
        if self.buf.len() < total {
            self.check_arriving(&head, at, len)?;
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let mask = [
            self.buf[at],
            self.buf[at + 1],
            self.buf[at + 2],
            self.buf[at + 3],
        ];
        let seen = std::mem::take(&mut self.seen) as usize;
        // The last frame in the buffer takes the buffer whole: between
        // frames the connection holds nothing, and nothing is shared.
        let mut payload = if total == self.buf.len() {
            std::mem::take(&mut self.buf)
        } else {
            self.buf.split_to(total)
        };
        payload.advance(at + 4);
        unmask_from(&mut payload[seen..], mask, seen);
        if let (Some(partial), Some(limit)) = (&self.partial, self.config.fragment_timeout())
            && partial.began.elapsed() > limit
        {
            return Err(fail(close_code::POLICY, "message not completed in time"));
        }
        Ok(Some((head, payload)))
    }

    /// Fails a text frame not yet whole as soon as what arrived of it
    /// cannot be valid UTF-8 (Autobahn 6.4.3 and 6.4.4 send one frame in
    /// chops a second apart), rather than when its last byte arrives. Only
    /// a fail-fast: the frame is still judged whole once it has arrived.
    fn check_arriving(&mut self, head: &Head, at: usize, len: u64) -> Result<(), ReadEnd> {
        let text = match head.opcode {
            TEXT => !head.rsv1,
            CONTINUATION => self
                .partial
                .as_ref()
                .is_some_and(|partial| partial.text && !partial.compressed),
            _ => false,
        };
        let Some(&mask) = self.buf.get(at..).and_then(|rest| rest.first_chunk::<4>()) else {
            return Ok(());
        };
        if !text || u32::try_from(len).is_err() {
            return Ok(());
        }
        let arrived = &mut self.buf[at + 4..];
        let seen = check_arrived(
            arrived,
            self.seen as usize,
            mask,
            head.opcode == CONTINUATION,
        )
        .map_err(|()| invalid_utf8())?;
        // At most `len`, which fits.
        self.seen = seen as u32;
        Ok(())
    }

    fn frame(&mut self, head: Head, payload: BytesMut) -> Result<Option<Message>, ReadEnd> {
        match head.opcode {
            CONTINUATION => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(protocol("a continuation with no message begun"));
                };
                if partial.data.len() + payload.len() > self.config.max_message_size() {
                    return Err(too_big());
                }
                partial.frames += 1;
                let max = self.config.max_fragments();
                if max != 0 && partial.frames > max {
                    return Err(fail(close_code::POLICY, "too many fragments"));
                }
                partial.data.extend_from_slice(&payload);
                partial.check(head.fin)?;
                if !head.fin {
                    return Ok(None);
                }
                let partial = self.partial.take().expect("a message begun");
                self.finish(*partial).map(Some)
            }
            TEXT | BINARY => {
                if self.partial.is_some() {
                    return Err(protocol("a new message inside a fragmented one"));
                }
                let mut partial = Partial {
                    text: head.opcode == TEXT,
                    compressed: head.rsv1,
                    data: payload,
                    checked: 0,
                    frames: 1,
                    began: Instant::now(),
                };
                if head.fin {
                    return self.finish(partial).map(Some);
                }
                partial.check(false)?;
                self.partial = Some(Box::new(partial));
                Ok(None)
            }
            PING => {
                self.conn.queue.push_control(wire(PONG, &payload));
                Ok(Some(Message::Ping(payload.freeze())))
            }
            PONG => Ok(Some(Message::Pong(payload.freeze()))),
            _ => self.close(payload).map(Some),
        }
    }

    fn finish(&mut self, partial: Partial) -> Result<Message, ReadEnd> {
        let data = if partial.compressed {
            match inflate(&partial.data, self.config.max_message_size()) {
                Ok(data) => {
                    // Inflated already: the next message waits for the
                    // budget to cover this one.
                    if let Some(until) = self.inflate.charge(&mut self.inflated, data.len()) {
                        self.pause = Some(Box::pin(tokio::time::sleep_until(until)));
                    }
                    Bytes::from(data)
                }
                Err(InflateError::TooBig) => return Err(too_big()),
                Err(InflateError::Invalid) => {
                    return Err(fail(close_code::INVALID_PAYLOAD, "invalid compressed data"));
                }
            }
        } else {
            partial.data.freeze()
        };
        if !partial.text {
            return Ok(Message::Binary(data));
        }
        Utf8Bytes::try_from(data)
            .map(Message::Text)
            .map_err(|_| invalid_utf8())
    }

    /// The peer's close: checked, answered with its code, passed on.
    fn close(&self, payload: BytesMut) -> Result<Message, ReadEnd> {
        if payload.is_empty() {
            self.conn.queue.push_control(wire(OPCODE_CLOSE, &[]));
            return Ok(Message::Close(None));
        }
        let Some(&code) = payload.first_chunk::<2>() else {
            return Err(protocol("a one-byte close payload"));
        };
        let code = u16::from_be_bytes(code);
        // RFC 6455 7.4: the codes a peer may send, the IANA-registered
        // 1012-1014 included; 1004-1006 and 1015 never go on the wire.
        if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
            return Err(protocol("invalid close code"));
        }
        let reason =
            Utf8Bytes::try_from(payload.freeze().slice(2..)).map_err(|_| invalid_utf8())?;
        self.conn
            .queue
            .push_control(wire(OPCODE_CLOSE, &code.to_be_bytes()));
        Ok(Message::Close(Some(CloseFrame {
            code: code.into(),
            reason,
        })))
    }
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

/// [`unmask`] of the part of a payload that starts at `offset`.
fn unmask_from(part: &mut [u8], mask: [u8; 4], offset: usize) {
    unmask(part, std::array::from_fn(|i| mask[(offset + i) & 3]));
}

/// XORs the client's mask out of a payload, eight bytes at a time.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
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

impl Partial {
    /// Fails a text message as soon as what arrived cannot begin valid
    /// UTF-8; a sequence cut at the end of a fragment waits for the next
    /// (unless this was the last). Compressed messages are checked whole.
    fn check(&mut self, fin: bool) -> Result<(), ReadEnd> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn masked(payload: &[u8]) -> Vec<u8> {
        let mut bytes = payload.to_vec();
        unmask(&mut bytes, MASK);
        bytes
    }

    /// Feeds `payload` to [`check_arrived`] in chops of the given lengths,
    /// as reads would bring it; the `seen` after each, or the chop that
    /// failed.
    fn chops(payload: &[u8], lengths: &[usize], continues: bool) -> Result<Vec<usize>, usize> {
        let wire = masked(payload);
        let mut seen = 0;
        let mut arrived = Vec::new();
        let mut seens = Vec::new();
        let mut at = 0;
        for (i, &n) in lengths.iter().enumerate() {
            arrived.extend_from_slice(&wire[at..at + n]);
            at += n;
            seen = check_arrived(&mut arrived, seen, MASK, continues).map_err(|()| i)?;
            assert_eq!(&arrived[..seen], &payload[..seen], "unmasked up to seen");
            assert_eq!(&arrived[seen..], &wire[seen..at], "masked after seen");
            seens.push(seen);
        }
        Ok(seens)
    }

    /// Autobahn 6.4.3: `κόσμε` (valid), then U+110000 encoded (never valid),
    /// then `edited`, in chops of one frame: the second chop fails.
    #[test]
    fn invalid_utf8_fails_at_the_chop_that_holds_it() {
        let part1 = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}".as_bytes();
        let part2 = [0xf4, 0x90, 0x80, 0x80];
        let part3 = b"edited";
        let payload = [part1, &part2, part3].concat();
        let lengths = [part1.len(), part2.len(), part3.len()];
        assert_eq!(chops(&payload, &lengths, false), Err(1));
        // 6.4.4: the same payload cut at byte 12 and after one more byte,
        // which is where the sequence turns invalid.
        let lengths = [12, 1, payload.len() - 13];
        assert_eq!(chops(&payload, &lengths, false), Err(1));
    }

    /// A character cut by the end of a chop waits for the next one, masked
    /// again, in every phase of the mask.
    #[test]
    fn a_character_cut_between_chops_waits_for_the_rest() {
        let payload = "a\u{1f600}bc\u{e9}\u{20ac}d".as_bytes();
        for cut in 1..payload.len() {
            let seens = chops(payload, &[cut, payload.len() - cut], false).unwrap();
            assert_eq!(seens[1], payload.len());
            assert!(std::str::from_utf8(&payload[..seens[0]]).is_ok());
        }
        let byte_at_a_time = vec![1; payload.len()];
        assert_eq!(
            *chops(payload, &byte_at_a_time, false)
                .unwrap()
                .last()
                .unwrap(),
            payload.len()
        );
    }

    /// Autobahn 6.4.1-6.4.2: of a fragmented text message, the fragment
    /// that holds an invalid sequence fails; a sequence cut at a fragment's
    /// end waits for the next, unless the fragment was the last.
    #[test]
    fn fragments_fail_at_the_one_that_holds_an_invalid_sequence() {
        let mut partial = Partial {
            text: true,
            compressed: false,
            data: BytesMut::from(&b"ok \xf0\x9f"[..]),
            checked: 0,
            frames: 1,
            began: Instant::now(),
        };
        assert!(partial.check(false).is_ok(), "a cut sequence waits");
        assert_eq!(partial.checked, 3);
        partial.data.extend_from_slice(b"\x98");
        assert!(partial.check(false).is_ok(), "still cut");
        partial
            .data
            .extend_from_slice(b"\x80 and \xf4\x90\x80\x80 more");
        assert!(
            partial.check(false).is_err(),
            "fails before the last fragment"
        );
        let mut last = Partial {
            text: true,
            compressed: false,
            data: BytesMut::from(&b"cut at the end \xe2\x82"[..]),
            checked: 0,
            frames: 1,
            began: Instant::now(),
        };
        assert!(
            last.check(true).is_err(),
            "the last fragment may not cut one"
        );
    }

    /// A continuation frame may begin with the end of a character the
    /// previous fragment cut; more than 3 continuation bytes never end one.
    #[test]
    fn a_continuation_may_begin_inside_a_character() {
        let rest = [0x98, 0x80, b'o', b'k'];
        assert_eq!(chops(&rest, &[1, 1, 2], true), Ok(vec![0, 0, 4]));
        assert_eq!(chops(&rest, &[1, 1, 2], false), Err(0));
        let bad = [0x80, 0x80, 0x80, 0x80, b'x'];
        assert_eq!(chops(&bad, &[3, 2], true), Err(1));
        assert_eq!(chops(b"\xffok", &[3], true), Err(0));
    }
}
