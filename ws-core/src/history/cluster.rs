//! A resuming join when the rooms' histories live in a cluster backend.
//!
//! The connection joins the room's fan-out at once (so this node listens to
//! the room), with its live messages held back by the history; the backend
//! then reads the room's stream (after this node listens: every later
//! message reaches it), this node's copy of the history is seeded with what
//! was read, and the replay runs from this copy as on one node, releasing
//! the connection to the live fan-out under the lock that orders the room's
//! messages.

use std::sync::Arc;

use super::{History, Joining, Position, Resume, Unrecovered, catch_up, is_member, join_held};
use crate::backend::{Link, Outcome};
use crate::error::JoinError;
use crate::registry::{Conn, Registry};

pub(super) async fn join_from(
    history: &Arc<History>,
    link: &Link,
    registry: &Arc<Registry>,
    conn: &Arc<Conn>,
    room: &str,
    since: Option<&Position>,
) -> Result<Joining, JoinError> {
    if is_member(registry, conn, room)? {
        let (resume, _) = history.resume(room, None);
        return Ok(Joining::new(resume, None));
    }
    join_held(history, registry, conn, room)?;
    let position = since.map(|p| (p.epoch.clone(), p.offset));
    let read = match link.read(room, position, history.replay_max()).await {
        Ok(read) => read,
        Err(error) => {
            // Redis went away: live from here, and the client is told.
            tracing::debug!(%error, room, "history: the cluster's history could not be read");
            history.release(room, conn.id);
            let (resume, _) = history.resume(room, None);
            let resume = Resume {
                reason: since.map(|_| Unrecovered::EpochChanged),
                ..resume
            };
            return Ok(Joining::new(resume, None));
        }
    };
    let (recovered, reason, cursor, bodies) = match read.outcome {
        Outcome::Fresh => (false, None, read.head, Vec::new()),
        Outcome::Recovered(bodies) => {
            let since = since.map_or(read.head, |p| p.offset);
            (true, None, since, bodies)
        }
        Outcome::EpochChanged => (
            false,
            Some(Unrecovered::EpochChanged),
            read.head,
            Vec::new(),
        ),
        Outcome::TooFarBehind => (
            false,
            Some(Unrecovered::TooFarBehind),
            read.head,
            Vec::new(),
        ),
    };
    history.seed(room, &read.epoch, read.head, cursor + 1, bodies, || {
        registry.room_size(room)
    });
    let epoch: Arc<str> = Arc::from(read.epoch);
    let resume = Resume {
        epoch: Arc::clone(&epoch),
        offset: read.head,
        recovered,
        reason,
    };
    let pending = catch_up(history, registry, conn, room, &epoch, cursor);
    Ok(Joining::new(resume, Some(pending)))
}
