//! Drains what Redis pushes: each message goes to the local members of its
//! room, user or everyone at once, in arrival order. Enqueueing never
//! blocks (a full connection queue applies its overflow policy), so this
//! task never waits on anything but the next push.

use std::sync::Arc;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{State, history};
use crate::backend::{Local, envelope};
use crate::delivery::Target;

pub(super) async fn run(state: Arc<State>, local: Local, mut pushes: UnboundedReceiver<PushInfo>) {
    let node = state.shared.node;
    while let Some(push) = pushes.recv().await {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                    (data.next(), data.next())
                else {
                    continue;
                };
                if payload.first() == Some(&history::VERSION_RECORDED) {
                    // Recorded messages come back to their own node too:
                    // every node delivers them in the order Redis gave the
                    // offsets.
                    let Some(Target::Room(room)) = state.names.target(&channel) else {
                        continue;
                    };
                    let parsed = payload
                        .get(envelope::HEADER..)
                        .and_then(history::parse_recorded);
                    let Some((epoch, offset, body)) =
                        parsed.filter(|(_, _, body)| std::str::from_utf8(body).is_ok())
                    else {
                        tracing::warn!("redis backend: dropped a malformed recorded message");
                        continue;
                    };
                    if envelope::origin(&payload) != Some(node) {
                        let sent_at =
                            u64::from_le_bytes(payload[9..17].try_into().expect("8 bytes"));
                        state.shared.received(sent_at);
                    }
                    if local.deliver_recorded(room, epoch, offset, body).is_none() {
                        return; // the manager is gone
                    }
                    continue;
                }
                // Ours: delivered locally when it was sent.
                if envelope::origin(&payload) == Some(node) {
                    continue;
                }
                let Some(target) = state.names.target(&channel) else {
                    continue;
                };
                match envelope::read(payload) {
                    Ok(received) => {
                        state.shared.received(received.sent_at);
                        if local
                            .deliver(target, &received.wire, &received.except_rooms)
                            .is_none()
                        {
                            return; // the manager is gone
                        }
                    }
                    Err(error) => {
                        tracing::warn!(?error, "redis backend: dropped a malformed message");
                    }
                }
            }
            PushKind::Disconnection => state.lose(),
            _ => {}
        }
    }
}
