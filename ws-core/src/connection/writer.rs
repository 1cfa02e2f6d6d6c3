//! The writer: drains the connection's queue into the socket, coalescing
//! every frame that is ready into one flush, sends heartbeat pings, and
//! sends the close frame when the queue says the connection is ending.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt};
use metrics::Histogram;
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};

use super::queue::{Ending, SendQueue};
use crate::close::CloseInfo;

/// How long a closing writer may take to flush and send its close frame
/// to a peer that does not read; after that the socket is dropped.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub(crate) async fn write_loop<S>(
    sink: &mut S,
    queue: &SendQueue,
    heartbeat: Option<Duration>,
    depth: &Histogram,
) -> Option<CloseInfo>
where
    S: Sink<Message> + Unpin,
{
    // A ping interval that never fires stands in for "no heartbeat", so the
    // loop below has one shape.
    let period = heartbeat.unwrap_or(Duration::from_secs(60 * 60 * 24 * 365));
    let mut ping = interval_at(Instant::now() + period, period);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        // A slow peer can block a write indefinitely; an abort (overflow,
        // shutdown) must still end the writer, so it interrupts the writes.
        let written = tokio::select! {
            biased;
            () = queue.aborted() => true,
            written = write_ready(sink, queue, depth) => written,
        };
        if !written {
            return None;
        }
        if let Some(ending) = queue.ending() {
            let frame = match ending {
                Ending::Drain(frame) | Ending::Abort(frame) => frame,
            };
            return close(sink, frame).await;
        }
        tokio::select! {
            biased;
            () = queue.ready() => {}
            _ = ping.tick(), if heartbeat.is_some() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Writes every queued frame and flushes once; false if the socket failed.
async fn write_ready<S>(sink: &mut S, queue: &SendQueue, depth: &Histogram) -> bool
where
    S: Sink<Message> + Unpin,
{
    let mut written = 0usize;
    while let Some(text) = queue.pop() {
        if sink.feed(Message::Text(text)).await.is_err() {
            return false;
        }
        written += 1;
    }
    if written == 0 {
        return true;
    }
    depth.record(written as f64);
    sink.flush().await.is_ok()
}

/// Sends `frame` (or flushes the peer's close reply) and returns the close
/// frame the server sent or tried to send.
async fn close<S>(sink: &mut S, frame: Option<CloseInfo>) -> Option<CloseInfo>
where
    S: Sink<Message> + Unpin,
{
    // A peer that does not read cannot hold the task: errors and time-outs
    // both end it, and the socket is dropped.
    let _ = match &frame {
        Some(info) => {
            let message = Message::Close(Some(CloseFrame {
                code: info.code,
                reason: truncate_reason(&info.reason).into(),
            }));
            timeout(CLOSE_GRACE, sink.send(message)).await
        }
        // The peer closed first (the protocol library queued its reply) or
        // vanished: flush what is pending and stop.
        None => timeout(CLOSE_GRACE, sink.close()).await,
    };
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
