//! One task per channel listened to: delivers what arrives on the
//! channel's subject to the local members, in arrival order.
//!
//! Two kinds of message share a room's subject: the nodes' plain sends
//! (an envelope; a node drops its own) and the room's recorded messages,
//! republished by its stream once stored, with their sequence in a header.
//! A recorded message is delivered here whichever node sent it, under the
//! stream's epoch; should its sequence not follow the last one delivered
//! (a message missed while the connection was down, a stream made anew),
//! the stream is asked again: its epoch, and the missed messages, which go
//! first.

use std::sync::Arc;

use async_nats::{Message, Subscriber};
use futures_util::StreamExt;

use super::{State, history};
use crate::backend::{Channel, Local, envelope};
use crate::delivery::Target;

pub(super) async fn run(state: Arc<State>, local: Local, channel: Channel, mut sub: Subscriber) {
    let node = state.shared.node;
    // The last recorded message delivered: its epoch and offset.
    let mut last: Option<(Arc<str>, u64)> = None;
    while let Some(message) = sub.next().await {
        if let Some(sequence) = header(&message, history::SEQUENCE) {
            let Channel::Room(room) = &channel else {
                continue;
            };
            match recorded(&state, &local, room, &mut last, sequence, &message).await {
                Some(true) => {}
                Some(false) => {
                    // The stream could not be asked: what follows may not
                    // be told truthfully. Resynced, the members resume.
                    last = None;
                    state.lose();
                    state.shared.lost.notify_one();
                }
                None => return, // the manager is gone
            }
            continue;
        }
        // Ours: delivered locally when it was sent.
        if envelope::origin(&message.payload) == Some(node) {
            continue;
        }
        let target = match &channel {
            Channel::Room(room) => Target::Room(room),
            Channel::User(user) => Target::User(user),
            Channel::All => Target::All,
        };
        match envelope::read(Vec::from(message.payload)) {
            Ok(received) => {
                state.shared.received(received.sent_at);
                if local
                    .deliver(target, &received.wire, &received.except_rooms)
                    .is_none()
                {
                    return; // the manager is gone
                }
            }
            Err(error) => tracing::warn!(?error, "nats backend: dropped a malformed message"),
        }
    }
}

/// A number in a header of `message`.
fn header(message: &Message, name: &str) -> Option<u64> {
    message.headers.as_ref()?.get(name)?.as_str().parse().ok()
}

/// Delivers a recorded message at `sequence` (after the missed ones).
/// `Some(false)` when the stream could not be asked; `None` once the
/// manager is gone.
async fn recorded(
    state: &State,
    local: &Local,
    room: &Arc<str>,
    last: &mut Option<(Arc<str>, u64)>,
    sequence: u64,
    message: &Message,
) -> Option<bool> {
    let body = &message.payload;
    if std::str::from_utf8(body).is_err() {
        tracing::warn!("nats backend: dropped a malformed recorded message");
        return Some(true);
    }
    if let Some(origin) = header(message, history::NODE)
        && origin != state.shared.node
    {
        state
            .shared
            .received(header(message, history::SENT).unwrap_or(0));
    }
    let Some(nats) = state.nats() else {
        return Some(false);
    };
    let epoch = match last.take() {
        Some((epoch, previous)) if sequence == previous + 1 => epoch,
        other => {
            // The first since listening (the epoch as the stream says
            // now), or out of line: asked again.
            let Ok((_, epoch)) = history::ensure(state, &nats, room).await else {
                return Some(false);
            };
            if let Some((old, previous)) = other
                && old == epoch
                && sequence > previous + 1
            {
                let Ok(missed) =
                    history::messages(state, &nats, room, previous + 1, sequence - 1).await
                else {
                    return Some(false);
                };
                // `None`: some are gone (trimmed); the node's copy then
                // restarts at this message, and a resume from before is
                // told why.
                for (offset, body) in (previous + 1..).zip(missed.unwrap_or_default()) {
                    local.deliver_recorded(room, &epoch, offset, &body)?;
                }
            }
            epoch
        }
    };
    local.deliver_recorded(room, &epoch, sequence, body)?;
    *last = Some((epoch, sequence));
    Some(true)
}
