//! The read side of a connection: the socket's bytes into the frame
//! parser ([`wire::parse`](crate::wire::parse)), for every connection. It
//! holds no buffer while the connection is idle: what a read brings is
//! taken from the worker thread's scratch buffer, and the connection keeps
//! bytes only while a frame is partly arrived.
//!
//! Every compressed message is charged, at its inflated size, to the
//! connection's and the node's inflation budgets (`inflate_rate`,
//! `inflate_node_rate`): past either, nothing more is read until it has
//! refilled, so the inflation a peer can cause is bounded by the budget,
//! not by how small its frames are.
//!
//! Pings are answered with a pong and the peer's close with a close
//! echoing its code, as the parser says, through the writer's control
//! queue.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::io::Half;
use super::read_loop::ReadEnd;
use crate::config::Config;
use crate::rate::InflateBudget;
use crate::registry::Conn;
use crate::wire::parse::{Limits, Message, Parsed, Parser};

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
    parser: Parser,
    /// Bytes of frames not yet whole; empty (no allocation) between frames.
    buf: BytesMut,
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
            parser: Parser::default(),
            buf: BytesMut::new(),
        }
    }
}

impl Stream for Frames<'_> {
    type Item = Result<Message, ReadEnd>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.parser.is_done() {
            return Poll::Ready(None);
        }
        if let Some(pause) = this.pause.as_mut() {
            ready!(pause.as_mut().poll(cx));
            this.pause = None;
        }
        let limits = this.limits();
        loop {
            match this.parser.parse(&mut this.buf, &limits) {
                Err(close) => return Poll::Ready(Some(Err(ReadEnd::Close(close)))),
                Ok(Some(parsed)) => return Poll::Ready(Some(Ok(this.apply(parsed)))),
                Ok(None) => {}
            }
            match ready!(this.poll_fill(cx)) {
                Ok(0) | Err(_) => {
                    this.parser.stop();
                    return Poll::Ready(None);
                }
                Ok(_) => {}
            }
        }
    }
}

impl Frames<'_> {
    /// What the parser holds this connection to.
    fn limits(&self) -> Limits {
        Limits {
            max_message_size: self.config.max_message_size(),
            max_fragments: self.config.max_fragments(),
            fragment_timeout: self.config.fragment_timeout(),
            deflate: self.conn.deflate.is_some(),
            now: || Instant::now().into_std(),
        }
    }

    /// Does what a message asks: sends the parser's reply, charges an
    /// inflated message to the budget.
    fn apply(&mut self, parsed: Parsed) -> Message {
        if let Some(reply) = parsed.reply {
            self.conn.queue.push_control(reply);
        }
        // Inflated already: the next message waits for the budget to
        // cover this one.
        if let Some(size) = parsed.inflated
            && let Some(until) = self.inflate.charge(&mut self.inflated, size)
        {
            self.pause = Some(Box::pin(tokio::time::sleep_until(until)));
        }
        parsed.message
    }

    /// Reads what the socket has. With nothing pending the read goes to
    /// the thread's scratch and only what arrived is kept; a frame partly
    /// arrived reads straight into the connection's buffer, which the
    /// parser has sized for the whole frame.
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
}
