//! The replay of one resuming join, paced by the connection's writer.

use std::sync::Arc;

use super::store::{History, Step};
use crate::registry::{Conn, Registry};
use crate::wire::close::{CloseInfo, close_code};

/// How long a replay at the head of a node's copy waits for the live
/// fan-out to get there (normally the milliseconds by which this node's
/// subscription trails Redis).
const BEHIND_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The close reason when trimming overtook a replay: what was promised is
/// gone, and the next resume is told `too_far_behind`.
const OVERTAKEN_REASON: &str = "history overtook the replay; resume again";

/// The close reason when the node's live fan-out did not reach a replay
/// that had caught up with the history within [`BEHIND_WAIT`]: nothing was
/// trimmed, the node's feed lags (its subscription to Redis stalled or lost
/// messages), and resuming again (maybe on another node) may recover.
const BEHIND_REASON: &str =
    "live delivery on this node did not catch up with the replay within 5 s; resume again";

/// A replay of `room` after `cursor`, ending with the join of its live
/// fan-out.
pub(crate) struct CatchUp {
    pub(crate) history: Arc<History>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) conn: Arc<Conn>,
    pub(crate) room: Arc<str>,
    pub(crate) epoch: Arc<str>,
    pub(crate) cursor: u64,
    /// Already a member, its live messages held back by the history (a
    /// cluster's fan-out): caught up, it is released instead of joined.
    pub(crate) held: bool,
}

impl CatchUp {
    /// Joins at once when there is nothing to replay (the common case: no
    /// task); otherwise replays in a task of its own.
    pub(crate) fn start(self) {
        match self.step(0) {
            Step::Joined => {}
            Step::Lost => {
                self.release();
                self.close_to_resume(OVERTAKEN_REASON);
            }
            Step::Pending | Step::Behind | Step::Batch(..) => {
                tokio::spawn(self.run());
            }
        }
    }

    async fn run(mut self) {
        // A batch fills the queue from its low-water mark (a quarter) to at
        // most its high-water mark (a half): the replay never meets the
        // overflow policy, and what others send keeps the other half.
        let batch = (self.conn.queue.capacity() / 4).max(1);
        let history = Arc::clone(&self.history);
        let mut behind_since = None;
        loop {
            self.conn.queue.replay_drained().await;
            if self.conn.queue.is_closing() {
                return self.release();
            }
            // Before the step: a move of the fan-out after it still wakes.
            let moved = history.live_moved();
            tokio::pin!(moved);
            moved.as_mut().enable();
            match self.step(batch) {
                Step::Joined => return,
                Step::Lost => {
                    self.release();
                    return self.close_to_resume(OVERTAKEN_REASON);
                }
                Step::Pending => {}
                Step::Behind => {
                    // The node's subscription is a few messages behind
                    // Redis. A wait that never ends (the link lost them)
                    // ends like a lost replay: the client resumes again and
                    // is told where it stands.
                    let since = *behind_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > BEHIND_WAIT {
                        self.release();
                        return self.close_to_resume(BEHIND_REASON);
                    }
                    let _ = tokio::time::timeout(BEHIND_WAIT / 50, moved).await;
                }
                Step::Batch(frames, last) => {
                    for frame in frames {
                        self.conn.push(frame);
                    }
                    self.cursor = last;
                }
            }
        }
    }

    fn step(&self, max: usize) -> Step {
        self.history
            .step(&self.room, &self.epoch, self.cursor, max, |held| {
                if self.held {
                    held.retain(|&id| id != self.conn.id);
                } else {
                    // Checked when the join was answered; a connection
                    // closing since has no fan-out to join.
                    let _ = self.registry.join(&self.conn, &self.room);
                }
            })
    }

    /// A replay that ends early no longer holds its connection's live
    /// messages back (it is closing anyway): the room forgets it.
    fn release(&self) {
        if self.held {
            self.history.release(&self.room, self.conn.id);
        }
    }

    /// The replay cannot finish here: trimming overtook it (what the client
    /// was promised cannot be delivered) or the node's live fan-out never
    /// reached it. Closing with 1013 (after what is queued) makes the client
    /// resume again, and be told where it stands: no gap goes unreported.
    fn close_to_resume(&self, reason: &'static str) {
        self.conn.queue.close(
            false,
            Some(CloseInfo::new(close_code::TRY_AGAIN_LATER, reason)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A close reason fits a control frame (125 bytes, 2 of them the code),
    /// and the behind reason names the wait it reports.
    #[test]
    fn the_close_reasons_fit_and_say_what_happened() {
        for reason in [OVERTAKEN_REASON, BEHIND_REASON] {
            assert!(reason.len() <= 123, "{reason}: {} bytes", reason.len());
        }
        assert_ne!(OVERTAKEN_REASON, BEHIND_REASON);
        let wait = format!("within {} s", BEHIND_WAIT.as_secs());
        assert!(BEHIND_REASON.contains(&wait), "{BEHIND_REASON}");
    }
}
