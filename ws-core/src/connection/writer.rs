//! The writer: takes every frame that is ready from the connection's queue
//! and sends them with vectored writes (one `writev` for a whole batch),
//! sends heartbeat pings, and sends the close frame when the queue says the
//! connection is ending.

use std::time::Duration;

use metrics::Histogram;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};

use super::io::{Batch, write_all};
use crate::queue::{Ending, SendQueue};
use crate::wire::close::{CloseInfo, encode_close};
use crate::wire::frame::{OPCODE_PING, encode};

/// How long a closing writer may take to send its close frame to a peer
/// that does not read; after that the socket is dropped.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    out: &mut W,
    queue: &SendQueue,
    heartbeat: Option<Duration>,
    batch_bytes: usize,
    depth: &Histogram,
) -> Option<CloseInfo> {
    // A ping interval that never fires stands in for "no heartbeat", so the
    // loop below has one shape.
    let period = heartbeat.unwrap_or(Duration::from_secs(60 * 60 * 24 * 365));
    let mut ping = interval_at(Instant::now() + period, period);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut batch = Batch::default();
    loop {
        // A slow peer can block a write indefinitely; an abort (overflow,
        // shutdown) must still end the writer, so it interrupts the writes.
        // The batch is cancel-safe: `close` resumes it where it stopped.
        let written = tokio::select! {
            biased;
            () = queue.aborted() => true,
            written = write_ready(out, queue, &mut batch, batch_bytes, depth) => written,
        };
        if !written {
            return None;
        }
        if let Some(ending) = queue.ending() {
            let frame = match ending {
                Ending::Drain(frame) => frame,
                Ending::Abort(frame) => {
                    batch.keep_started();
                    frame
                }
            };
            // Boxed: the closing state is needed once, and an idle
            // connection should not carry its size.
            return Box::pin(close(out, queue, frame, &mut batch)).await;
        }
        tokio::select! {
            biased;
            () = queue.ready() => {}
            // Written by `write_ready` on the next turn, where an abort can
            // still interrupt it.
            _ = ping.tick(), if heartbeat.is_some() => batch.push(encode(OPCODE_PING, &[])),
        }
    }
}

/// Writes what the batch holds, the control frames, then every queued
/// frame, in batches of up to `batch_bytes` (the `write_buffer` option: how
/// long other work waits behind one burst); false if the socket failed.
async fn write_ready<W: AsyncWrite + Unpin>(
    out: &mut W,
    queue: &SendQueue,
    batch: &mut Batch,
    batch_bytes: usize,
    depth: &Histogram,
) -> bool {
    batch.extend(queue.take_control());
    let mut frames = 0usize;
    loop {
        frames += queue.pop_many(batch_bytes, |frame| batch.push(frame));
        if batch.is_empty() {
            break;
        }
        if write_all(out, batch).await.is_err() {
            return false;
        }
    }
    if frames > 0 {
        depth.record(frames as f64);
    }
    true
}

/// Finishes the batch an abort interrupted (its first frame may be half
/// written), sends the pending control frames (the reply to a peer's close,
/// if any) and `frame`, and returns the close frame the server sent or
/// tried to send.
async fn close<W: AsyncWrite + Unpin>(
    out: &mut W,
    queue: &SendQueue,
    frame: Option<CloseInfo>,
    batch: &mut Batch,
) -> Option<CloseInfo> {
    batch.extend(queue.take_control());
    if let Some(info) = &frame {
        batch.push(encode_close(info));
    }
    // A peer that does not read cannot hold the task: errors and time-outs
    // both end it, and the socket is dropped (cut, never desynchronised:
    // nothing else is written after a time-out).
    let _ = timeout(CLOSE_GRACE, async {
        write_all(out, batch).await?;
        out.shutdown().await
    })
    .await;
    frame
}

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor, IoSlice};
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use futures_util::FutureExt;
    use parking_lot::Mutex;
    use tokio::io::AsyncWrite;
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};

    use super::write_loop;
    use crate::config::Overflow;
    use crate::queue::SendQueue;
    use crate::wire::close::CloseInfo;
    use crate::wire::frame::{OPCODE_TEXT, encode};

    /// A socket that takes `budget` bytes, then blocks (as a peer that
    /// stopped reading) until the budget is lifted.
    #[derive(Clone, Default)]
    struct Throttled(Arc<Mutex<Socket>>);

    #[derive(Default)]
    struct Socket {
        taken: Vec<u8>,
        budget: usize,
        waker: Option<Waker>,
    }

    impl Throttled {
        fn new(budget: usize) -> Self {
            let socket = Self::default();
            socket.0.lock().budget = budget;
            socket
        }

        fn lift(&self) {
            let mut socket = self.0.lock();
            socket.budget = usize::MAX;
            if let Some(waker) = socket.waker.take() {
                waker.wake();
            }
        }
    }

    impl AsyncWrite for Throttled {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut socket = self.0.lock();
            let room = socket.budget - socket.taken.len();
            if room == 0 {
                socket.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let mut took = 0;
            for buf in bufs {
                let n = buf.len().min(room - took);
                socket.taken.extend_from_slice(&buf[..n]);
                took += n;
            }
            Poll::Ready(Ok(took))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// The frames in `bytes`, parsed by the protocol library: each text
    /// payload, then the close code; panics on anything that is not a
    /// sequence of whole, valid server frames.
    fn parse(bytes: &[u8]) -> (Vec<Vec<u8>>, Option<u16>) {
        let mut cursor = Cursor::new(bytes);
        let mut texts = Vec::new();
        loop {
            let at = cursor.position() as usize;
            if at == bytes.len() {
                return (texts, None);
            }
            let (header, len) = FrameHeader::parse(&mut cursor)
                .expect("a valid frame header")
                .unwrap_or_else(|| panic!("a truncated frame header at byte {at}"));
            assert!(
                header.is_final
                    && !header.rsv1
                    && !header.rsv2
                    && !header.rsv3
                    && header.mask.is_none()
            );
            let start = cursor.position() as usize;
            let end = start + len as usize;
            assert!(end <= bytes.len(), "a truncated frame at byte {at}");
            let payload = &bytes[start..end];
            cursor.set_position(end as u64);
            match header.opcode {
                OpCode::Data(Data::Text) => texts.push(payload.to_vec()),
                OpCode::Control(Control::Close) => {
                    assert_eq!(end, bytes.len(), "bytes after the close frame");
                    return (texts, Some(u16::from_be_bytes([payload[0], payload[1]])));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Frames of the three header sizes (7-, 16- and 64-bit lengths).
    fn payloads() -> Vec<Vec<u8>> {
        [3usize, 300, 7, 70_000, 1]
            .iter()
            .enumerate()
            .map(|(i, &n)| vec![b'a' + i as u8; n])
            .collect()
    }

    /// Runs the writer over `payloads` until the socket has taken `cut`
    /// bytes, ends the connection there with `abort`, and returns the bytes.
    async fn cut_at(cut: usize, abort: bool) -> Vec<u8> {
        let queue = SendQueue::new(16, Overflow::Close);
        for payload in payloads() {
            queue.push(encode(OPCODE_TEXT, &payload));
        }
        let socket = Throttled::new(cut);
        let mut out = socket.clone();
        let depth = metrics::Histogram::noop();
        let mut writer = std::pin::pin!(write_loop(&mut out, &queue, None, 64 * 1024, &depth));
        // The writer sends up to the cut, where the socket blocks it.
        assert!(writer.as_mut().now_or_never().is_none());
        queue.close(abort, Some(CloseInfo::new(1013, "send queue full")));
        socket.lift();
        let sent = writer.await.expect("a close frame");
        assert_eq!(sent.code, 1013);
        std::mem::take(&mut socket.0.lock().taken)
    }

    /// An abort at every byte offset of a batch: the frame on the wire is
    /// finished, the rest discarded, and the close frame follows whole
    /// frames; nothing is written twice.
    #[tokio::test]
    async fn an_abort_at_any_byte_leaves_a_valid_stream() {
        let frames: Vec<_> = payloads().iter().map(|p| encode(OPCODE_TEXT, p)).collect();
        let total: usize = frames.iter().map(|f| f.len()).sum();
        for cut in 0..=total {
            let bytes = cut_at(cut, true).await;
            let (texts, close) = parse(&bytes);
            assert_eq!(close, Some(1013), "cut at {cut}");
            // Every frame begun before the cut, whole, once, in order.
            let mut begun = 0;
            let mut start = 0;
            for frame in &frames {
                if start < cut {
                    begun += 1;
                }
                start += frame.len();
            }
            assert_eq!(texts, payloads()[..begun], "cut at {cut}");
        }
    }

    /// A drain interrupted at any byte sends everything, then the close.
    #[tokio::test]
    async fn a_drain_at_any_byte_sends_everything_once() {
        let total: usize = payloads()
            .iter()
            .map(|p| encode(OPCODE_TEXT, p).len())
            .sum();
        for cut in (0..=total).step_by(97).chain([total - 1]) {
            let (texts, close) = parse(&cut_at(cut, false).await);
            assert_eq!(close, Some(1013), "cut at {cut}");
            assert_eq!(texts, payloads(), "cut at {cut}");
        }
    }
}
