//! The upgraded socket, split in two. The protocol library (tungstenite)
//! parses the client's frames from the read half. The writer owns the write
//! half and sends the queued frames, already complete and shared with every
//! other recipient, with vectored writes: no per-recipient framing or copy.
//!
//! Frames that tungstenite itself writes (pong and close replies) reach
//! [`ReadSide`]'s `AsyncWrite`, which hands them to the writer as control
//! frames, so that one task owns every byte that goes out.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf};

use crate::registry::Conn;

pub(crate) type Io = TokioIo<hyper::upgrade::Upgraded>;

/// What tungstenite reads from and writes to.
pub(crate) struct ReadSide {
    read: ReadHalf<Io>,
    conn: Arc<Conn>,
}

impl ReadSide {
    pub(crate) fn new(read: ReadHalf<Io>, conn: Arc<Conn>) -> Self {
        Self { read, conn }
    }
}

impl AsyncRead for ReadSide {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReadSide {
    /// tungstenite writes its whole output buffer, whole frames, in one call
    /// when the call takes everything, which this one always does.
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !buf.is_empty() {
            self.conn.queue.push_control(Bytes::copy_from_slice(buf));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
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
