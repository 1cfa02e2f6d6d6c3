//! Drains what Redis pushes: each message goes to the local members of its
//! room, user or everyone at once, in arrival order. Enqueueing never
//! blocks (a full connection queue applies its overflow policy), so this
//! task never waits on anything but the next push.

use std::sync::Arc;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::State;
use crate::backend::{Local, envelope};

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
