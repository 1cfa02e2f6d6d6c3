//! Publishes what the broadcasts queued: everything waiting goes out as one
//! pipeline per round trip (up to [`BATCH`] messages), one pipeline at a
//! time, so messages leave in the order they were sent.

use std::io::Write;
use std::sync::Arc;

use redis::{RedisWrite, ToRedisArgs};
use tokio::sync::mpsc::Receiver;

use super::{State, commands};
use crate::backend::{Outgoing, envelope};

/// Messages per pipeline at most.
const BATCH: usize = 512;

pub(super) async fn run(state: Arc<State>, mut queue: Receiver<Outgoing>) {
    let node = state.shared.node;
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
        let result = match (state.conn(), state.sharded()) {
            (Some(mut conn), Some(sharded)) => {
                let publish = commands(sharded).2;
                let mut pipe = redis::pipe();
                for outgoing in &batch {
                    pipe.cmd(publish)
                        .arg(state.names.channel(&outgoing.channel))
                        .arg(Envelope { node, outgoing })
                        .ignore();
                }
                pipe.exec_async(&mut conn).await.map_err(|e| e.to_string())
            }
            _ => Err("not connected".to_owned()),
        };
        let n = batch.len() as u64;
        match result {
            Ok(()) => {
                state.shared.published(n);
                failing = false;
            }
            Err(error) => {
                state.shared.publish_failed(n);
                if !failing {
                    tracing::warn!(%error, lost = n, "redis backend: publish failed");
                }
                failing = true;
                state.lose();
            }
        }
        batch.clear();
    }
}

/// The envelope of one message, written straight into the command.
struct Envelope<'a> {
    node: u64,
    outgoing: &'a Outgoing,
}

impl ToRedisArgs for Envelope<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut w = out.writer_for_next_arg();
        // Writes into a Vec: they cannot fail.
        let _ = envelope::write(
            &mut w,
            self.node,
            self.outgoing.sent_at,
            &self.outgoing.except_rooms,
            &self.outgoing.wire,
        );
        let _ = w.flush();
    }
}
