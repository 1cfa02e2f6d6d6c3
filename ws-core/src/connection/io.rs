//! The upgraded socket, shared by two users. The frame parser
//! ([`inbound`](super::inbound)) reads from it. The writer owns the write half and
//! sends the queued frames, already complete and shared with every other
//! recipient, with vectored writes: no per-recipient framing or copy. The
//! parser's own replies (pong, close) reach the writer as control frames,
//! so that one task owns every byte that goes out.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

pub(crate) type Io = TokioIo<hyper::upgrade::Upgraded>;

/// The upgraded socket, shared by the parser (which reads) and the writer
/// (which writes). Both are polled by the connection's one task, so the
/// lock is never contended; unlike `tokio::io::split` it needs no
/// allocation of its own.
pub(crate) struct Socket(Mutex<Io>);

impl Socket {
    pub(crate) fn new(io: Io) -> Self {
        Self(Mutex::new(io))
    }

    /// A handle for the reader or the writer.
    pub(crate) fn half(&self) -> Half<'_> {
        Half(&self.0)
    }
}

/// One user of the [`Socket`], holding the lock only within one poll.
pub(crate) struct Half<'a>(&'a Mutex<Io>);

impl AsyncRead for Half<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.lock()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Half<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.lock()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0.lock()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.lock().is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.lock()).poll_shutdown(cx)
    }
}

/// The most frames one `writev` takes; the rest go in the next call.
const MAX_SLICES: usize = 128;

/// Frames on their way to the socket, in order.
///
/// Cancel-safe: what the socket took leaves the batch as soon as a write
/// returns, so a write cut short by a `select!` (an abort, a shutdown)
/// resumes where it stopped. Nothing is written twice, and the batch knows
/// whether its first frame is half written, which must be finished before
/// any other frame (a close frame included) may follow.
#[derive(Default)]
pub(crate) struct Batch {
    frames: VecDeque<Bytes>,
    /// The first frame has been partly written.
    started: bool,
}

impl Batch {
    pub(crate) fn push(&mut self, frame: Bytes) {
        self.frames.push_back(frame);
    }

    pub(crate) fn extend(&mut self, frames: impl IntoIterator<Item = Bytes>) {
        self.frames.extend(frames);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Drops every frame not yet begun, keeping a half-written first frame:
    /// an abort discards what is queued but must finish the frame on the wire.
    pub(crate) fn keep_started(&mut self) {
        self.frames.truncate(usize::from(self.started));
    }

    /// Marks `written` bytes as sent.
    fn consume(&mut self, mut written: usize) {
        while written > 0 {
            let Some(frame) = self.frames.front_mut() else {
                return;
            };
            if written >= frame.len() {
                written -= frame.len();
                self.frames.pop_front();
                self.started = false;
            } else {
                frame.advance(written);
                self.started = true;
                written = 0;
            }
        }
    }
}

/// Writes the batch in order with as few `writev` calls as the socket
/// allows, and empties it. Cancel-safe (see [`Batch`]).
pub(crate) async fn write_all<W: AsyncWrite + Unpin>(
    out: &mut W,
    batch: &mut Batch,
) -> io::Result<()> {
    while let Some(first) = batch.frames.front() {
        let written = if batch.frames.len() == 1 {
            out.write(first).await?
        } else {
            // On the heap, once per write: an idle connection's task should
            // not carry the slices in its state.
            let slices: Vec<IoSlice<'_>> = batch
                .frames
                .iter()
                .take(MAX_SLICES)
                .map(|f| IoSlice::new(f))
                .collect();
            out.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        batch.consume(written);
    }
    Ok(())
}
