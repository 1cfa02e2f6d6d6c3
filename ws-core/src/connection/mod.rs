//! One connection's life, in the order of the data path:
//! [`upgrade`] (auth, admission, 101) → [`read_loop`] (decode, route,
//! handler) → [`queue`] (bounded, overflow policy) → [`writer`] (coalesced
//! writes, heartbeat, close frame). This module ties them together and owns
//! the cleanup, which the guards make exactly-once.

pub(crate) mod admission;
pub(crate) mod queue;
pub(crate) mod read_loop;
pub(crate) mod upgrade;
pub(crate) mod writer;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::WebSocket;
use futures_util::{FutureExt, StreamExt};
use parking_lot::Mutex;

use crate::context::Ctx;
use crate::frame::Text;
use crate::handler::Disconnect;
use crate::manager::Manager;
use crate::protocol::Route;
use crate::registry::{Membership, UserId};
use admission::Slot;
use queue::{Pushed, SendQueue};
use read_loop::{ReadEnd, handler_outcome, read_loop};
use tokio::time::timeout;
use writer::{CLOSE_GRACE, write_loop};

/// A connection's id, unique within the process.
///
/// ```
/// # use ws_core::ConnId;
/// fn log(id: ConnId) -> String { format!("conn {id}") }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The state of one connection that senders and the registry share.
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) queue: SendQueue,
    pub(crate) membership: Mutex<Membership>,
}

impl Conn {
    pub(crate) fn push(&self, text: Text) -> Pushed {
        self.queue.push(text)
    }
}

/// Drives an upgraded connection to its end, then cleans up once.
pub(crate) async fn run<P, H>(
    socket: WebSocket,
    manager: Manager<P>,
    handler: Arc<H>,
    user: Option<UserId>,
    slot: Slot,
) where
    P: Route<H>,
    H: Send + Sync + 'static,
{
    let config = manager.config();
    let conn = Arc::new(Conn {
        id: ConnId::next(),
        queue: SendQueue::new(config.send_queue(), config.on_full()),
        membership: Mutex::new(Membership::new(user)),
    });
    let heartbeat = config.heartbeat();
    let registration = manager.registry().register(Arc::clone(&conn));
    let ctx = Ctx::new(conn, manager);
    let (mut sink, mut stream) = socket.split();

    let connected = AssertUnwindSafe(P::on_connect(&handler, &ctx))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(crate::HandlerError::close(crate::close_code::INTERNAL, "internal error")));
    let mut peer_close = None;
    let server_close = match handler_outcome(&ctx, "on_connect", connected) {
        Some(close) => {
            ctx.conn().queue.close(false, Some(close));
            write_loop(&mut sink, &ctx.conn().queue, None).await
        }
        None => {
            let reader = read_loop(&mut stream, &ctx, &*handler);
            let writer = write_loop(&mut sink, &ctx.conn().queue, heartbeat);
            tokio::pin!(reader, writer);
            tokio::select! {
                end = &mut reader => {
                    let intended = match end {
                        ReadEnd::PeerClosed(frame) => {
                            peer_close = frame;
                            ctx.conn().queue.close(true, None);
                            None
                        }
                        ReadEnd::Vanished => {
                            ctx.conn().queue.close(true, None);
                            None
                        }
                        ReadEnd::Close(frame) => {
                            ctx.conn().queue.close(false, Some(frame.clone()));
                            Some(frame)
                        }
                    };
                    // Draining to a peer that does not read could take
                    // forever; the writer gets a grace period, then the
                    // socket is dropped.
                    timeout(2 * CLOSE_GRACE, writer).await.unwrap_or(intended)
                }
                // The writer ends first when the socket fails or the server
                // closes (overflow, shutdown): the reader has nothing left to do.
                sent = &mut writer => sent,
            }
        }
    };

    let (user, rooms) = registration.finish();
    let disconnect = Disconnect {
        peer_close,
        server_close,
        user,
        rooms,
    };
    tracing::debug!(conn = %ctx.id(), ?disconnect, "disconnected");
    if AssertUnwindSafe(P::on_disconnect(&handler, &ctx, &disconnect))
        .catch_unwind()
        .await
        .is_err()
    {
        tracing::error!(conn = %ctx.id(), "on_disconnect panicked");
    }
    drop(slot);
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn").field("id", &self.id).finish_non_exhaustive()
    }
}
