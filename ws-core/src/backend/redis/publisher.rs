//! Publishes what the broadcasts queued: everything waiting goes out as one
//! pipeline per round trip (up to [`BATCH`] messages), one pipeline at a
//! time, so messages leave in the order they were sent. A pipeline is
//! waited for as long as Redis takes (see `Conn::unlimited`): a slow
//! answer is not a failure; a failure is a connection that dropped, or,
//! for recorded messages, a Redis silent for the response timeout.

use std::io::Write;
use std::sync::Arc;

use redis::{RedisWrite, ToRedisArgs};
use tokio::sync::mpsc::Receiver;

use super::{State, commands, history};
use crate::backend::{Channel, Local, Outgoing, envelope};

/// Messages per pipeline at most.
const BATCH: usize = 512;

pub(super) async fn run(state: Arc<State>, local: Local, mut queue: Receiver<Outgoing>) {
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
                let records = state.history.is_some()
                    && batch
                        .iter()
                        .any(|o| o.recorded && matches!(o.channel, Channel::Room(_)));
                if records {
                    // A pipeline does not load a script itself, and Redis
                    // may have restarted (or failed over) since the last
                    // batch without a publish failing: the script goes
                    // first, so the batch's `EVALSHA`s find it whatever
                    // happened (one command per batch, not per message).
                    pipe.cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(history::RECORD_LUA)
                        .ignore();
                }
                for outgoing in &batch {
                    if outgoing.recorded {
                        if let (Some(bounds), Channel::Room(room)) =
                            (state.history, &outgoing.channel)
                        {
                            let mut header = [0u8; envelope::HEADER];
                            header[0] = history::VERSION_RECORDED;
                            header[1..9].copy_from_slice(&node.to_le_bytes());
                            header[9..17].copy_from_slice(&outgoing.sent_at.to_le_bytes());
                            let call = history::record_call(
                                &state.names,
                                conn.is_cluster(),
                                room,
                                bounds,
                                publish,
                                state.names.channel(&outgoing.channel),
                                (&header, &outgoing.wire),
                            );
                            pipe.invoke_script(&call).ignore();
                        }
                        continue;
                    }
                    pipe.cmd(publish)
                        .arg(state.names.channel(&outgoing.channel))
                        .arg(Envelope { node, outgoing })
                        .ignore();
                }
                let exec = async {
                    if !records {
                        // Delivered here already; the other nodes' copies
                        // wait as long as Redis takes to answer: it runs
                        // the pipeline once written, so cut off it would be
                        // counted lost though delivered (and a retry would
                        // deliver it twice). A dropped connection fails it
                        // at once; a Redis gone silent is the heartbeat's
                        // to notice, which refuses sends from then on.
                        let mut unlimited = conn.unlimited();
                        let result = pipe.exec_async(&mut unlimited).await;
                        if result.is_ok() {
                            conn.liveness().heard();
                        }
                        return result;
                    }
                    // A recorded message reaches this node's own members
                    // only through Redis: they wait on it no longer than
                    // Redis stays silent, then it is recorded alone (below).
                    pipe.exec_async(&mut conn).await
                };
                let result = tokio::select! {
                    biased;
                    () = state.stop.cancelled() => return,
                    result = exec => result.map_err(|e| e.to_string()),
                };
                result
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
                // A recorded message is delivered from Redis, to this node
                // too: not recorded there (or not known to be), it is
                // recorded and delivered here alone, under this node's own
                // epoch, rather than lost without a word. Should the script
                // have run after all, members here see it twice, under two
                // epochs, and the room's epoch in Redis is ended on return.
                for outgoing in &batch {
                    if let (true, Channel::Room(room)) = (outgoing.recorded, &outgoing.channel) {
                        local.record_alone(room, &outgoing.wire);
                    }
                }
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
