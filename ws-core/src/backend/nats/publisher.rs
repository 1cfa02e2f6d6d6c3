//! Publishes what the broadcasts queued, in the order it was sent: a plain
//! message is a core publish of its envelope on the channel's subject; a
//! recorded one a JetStream publish to its room's stream. The
//! acknowledgements of a batch (up to [`BATCH`] messages) are awaited
//! together, after the whole batch is written: one round trip per batch,
//! not per message, and the stream numbers them in the order written.

use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use tokio::sync::mpsc::Receiver;

use super::{Nats, State, history};
use crate::backend::{BackendError, Channel, Local, Outgoing, envelope};

/// Messages per batch at most.
const BATCH: usize = 512;

pub(super) async fn run(state: Arc<State>, local: Local, mut queue: Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut failing = false;
    loop {
        let received = tokio::select! {
            biased;
            () = state.stop.cancelled() => return,
            n = queue.recv_many(&mut batch, BATCH) => n,
        };
        if received == 0 {
            return; // the manager is gone
        }
        let (published, lost) = match state.nats() {
            Some(nats) => tokio::select! {
                biased;
                () = state.stop.cancelled() => return,
                done = publish(&state, &nats, &batch) => done,
            },
            None => (0, batch.iter().collect()),
        };
        state.shared.published(published);
        if lost.is_empty() {
            failing = false;
        } else {
            state.shared.publish_failed(lost.len() as u64);
            if !failing {
                tracing::warn!(lost = lost.len(), "nats backend: publish failed");
            }
            failing = true;
            // A recorded message is delivered from the stream, to this node
            // too: not recorded there (or not known to be), it is recorded
            // and delivered here alone, under this node's own epoch, rather
            // than lost without a word; the stream is ended once NATS
            // answers again (see the engine contract).
            let mut alone = false;
            for outgoing in lost {
                if let (true, Channel::Room(room)) = (outgoing.recorded, &outgoing.channel) {
                    local.record_alone(room, &outgoing.wire);
                    alone = true;
                }
            }
            if alone {
                state.lose();
                state.shared.lost.notify_one();
            }
        }
        batch.clear();
    }
}

/// Publishes `batch`: how many went out, and the ones that did not.
async fn publish<'a>(
    state: &State,
    nats: &Nats,
    batch: &'a [Outgoing],
) -> (u64, Vec<&'a Outgoing>) {
    let node = state.shared.node;
    let mut published = 0;
    let mut lost = Vec::new();
    let mut acks: Vec<(&Outgoing, Result<PublishAckFuture, BackendError>)> = Vec::new();
    for outgoing in batch {
        if outgoing.recorded {
            if let Channel::Room(room) = &outgoing.channel {
                acks.push((outgoing, record(state, nats, room, outgoing).await));
            }
            continue;
        }
        let mut payload = Vec::with_capacity(envelope::HEADER + outgoing.wire.len() + 16);
        let written = envelope::write(
            &mut payload,
            node,
            outgoing.sent_at,
            &outgoing.except_rooms,
            &outgoing.wire,
        );
        let subject = state.names.subject(&outgoing.channel);
        if written.is_ok() && nats.client.publish(subject, payload.into()).await.is_ok() {
            published += 1;
        } else {
            lost.push(outgoing);
        }
    }
    for (outgoing, ack) in acks {
        let stored = match ack {
            Ok(ack) => match ack.await {
                Ok(_) => true,
                Err(error) if error.kind() == PublishErrorKind::StreamNotFound => {
                    // The stream went (deleted, or lost with the server's
                    // storage) since this node learnt it: made anew (a new
                    // epoch), the message goes there.
                    retry(state, nats, outgoing).await
                }
                Err(error) => {
                    tracing::debug!(%error, "nats backend: a record was not acknowledged");
                    false
                }
            },
            Err(_) => false,
        };
        if stored {
            published += 1;
        } else {
            lost.push(outgoing);
        }
    }
    (published, lost)
}

/// Sends a recorded message to its room's stream (made first if this node
/// does not know it), for its acknowledgement.
async fn record(
    state: &State,
    nats: &Nats,
    room: &Arc<str>,
    outgoing: &Outgoing,
) -> Result<PublishAckFuture, BackendError> {
    if !state.epochs.lock().contains_key(room) {
        history::ensure(state, nats, room).await?;
    }
    let mut headers = HeaderMap::new();
    headers.insert(history::NODE, state.shared.node.to_string().as_str());
    headers.insert(history::SENT, outgoing.sent_at.to_string().as_str());
    nats.js
        .publish_with_headers(
            state.names.record_subject(room),
            headers,
            outgoing.wire.clone(),
        )
        .await
        .map_err(|error| BackendError::Failed(Box::new(error)))
}

/// [`record`] again, once, after the room's stream was found missing.
async fn retry(state: &State, nats: &Nats, outgoing: &Outgoing) -> bool {
    let Channel::Room(room) = &outgoing.channel else {
        return false;
    };
    state.epochs.lock().remove(room);
    match record(state, nats, room, outgoing).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    }
}
