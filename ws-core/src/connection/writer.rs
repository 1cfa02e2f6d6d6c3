//! The writer: takes every frame that is ready from the connection's queue
//! and sends them with vectored writes (one `writev` for a whole batch),
//! sends heartbeat pings, and sends the close frame when the queue says the
//! connection is ending.

use std::time::Duration;

use bytes::Bytes;
use metrics::Histogram;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};

use super::io::{Io, write_all};
use super::queue::{Ending, SendQueue};
use crate::close::CloseInfo;
use crate::frame::{OPCODE_CLOSE, OPCODE_PING, wire};

/// How long a closing writer may take to send its close frame to a peer
/// that does not read; after that the socket is dropped.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub(crate) async fn write_loop(
    out: &mut WriteHalf<Io>,
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
    let mut batch = Vec::new();
    loop {
        // A slow peer can block a write indefinitely; an abort (overflow,
        // shutdown) must still end the writer, so it interrupts the writes.
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
                Ending::Drain(frame) | Ending::Abort(frame) => frame,
            };
            // Boxed: the closing state is needed once, and an idle
            // connection should not carry its size.
            return Box::pin(close(out, queue, frame, &mut batch)).await;
        }
        tokio::select! {
            biased;
            () = queue.ready() => {}
            _ = ping.tick(), if heartbeat.is_some() => {
                batch.push(wire(OPCODE_PING, &[]));
                if write_all(out, &mut batch).await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Writes the control frames, then every queued frame, in batches of up to
/// `batch_bytes` (the `write_buffer` option: how long other work waits
/// behind one burst); false if the socket failed.
async fn write_ready(
    out: &mut WriteHalf<Io>,
    queue: &SendQueue,
    batch: &mut Vec<Bytes>,
    batch_bytes: usize,
    depth: &Histogram,
) -> bool {
    batch.extend(queue.take_control());
    let mut frames = 0usize;
    loop {
        let mut bytes = 0;
        while bytes < batch_bytes {
            let Some(frame) = queue.pop() else { break };
            bytes += frame.len();
            batch.push(frame);
            frames += 1;
        }
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

/// Finishes the batch an abort interrupted (a frame may be half written),
/// sends the pending control frames (the reply to a peer's close, if any)
/// and `frame`, and returns the close frame the server sent or tried to send.
async fn close(
    out: &mut WriteHalf<Io>,
    queue: &SendQueue,
    frame: Option<CloseInfo>,
    batch: &mut Vec<Bytes>,
) -> Option<CloseInfo> {
    batch.extend(queue.take_control());
    if let Some(info) = &frame {
        let mut payload = info.code.to_be_bytes().to_vec();
        payload.extend_from_slice(truncate_reason(&info.reason).as_bytes());
        batch.push(wire(OPCODE_CLOSE, &payload));
    }
    // A peer that does not read cannot hold the task: errors and time-outs
    // both end it, and the socket is dropped.
    let _ = timeout(CLOSE_GRACE, async {
        write_all(out, batch).await?;
        out.shutdown().await
    })
    .await;
    frame
}

/// A close reason is at most 123 bytes (RFC 6455 5.5: control frames carry
/// 125 bytes, two of which are the code); cut on a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn reasons_fit_a_control_frame() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123);
        assert!(long.starts_with(cut));
    }
}
