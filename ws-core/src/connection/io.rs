//! The upgraded socket, split in two. The protocol library (tungstenite)
//! parses the client's frames from the read half. The writer owns the write
//! half and sends the queued frames, already complete and shared with every
//! other recipient, with vectored writes: no per-recipient framing or copy.
//!
//! Frames that tungstenite itself writes (pong and close replies) reach
//! [`ReadSide`]'s `AsyncWrite`, which hands them to the writer as control
//! frames, so that one task owns every byte that goes out.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};

use super::Conn;

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

/// Writes `frames` in order with as few `writev` calls as the socket
/// allows, and empties the vector.
pub(crate) async fn write_all(out: &mut WriteHalf<Io>, frames: &mut Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < frames.len() {
        let count = (frames.len() - first).min(MAX_SLICES);
        let mut written = if count == 1 {
            out.write(&frames[first]).await?
        } else {
            // On the heap, once per batch: an idle connection's task should
            // not carry the slices in its state.
            let slices: Vec<IoSlice<'_>> = frames[first..first + count]
                .iter()
                .map(|f| IoSlice::new(f))
                .collect();
            out.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let frame = &mut frames[first];
            if written >= frame.len() {
                written -= frame.len();
                first += 1;
            } else {
                frame.advance(written);
                written = 0;
            }
        }
    }
    frames.clear();
    Ok(())
}
