//! One connection's life, in the order of the data path:
//! [`upgrade`] (auth, admission, 101) → [`read_loop`] (decode, route,
//! handler) → [`queue`] (bounded, overflow policy) → [`writer`] (coalesced
//! writes, heartbeat, close frame). This module ties them together and owns
//! the cleanup, which the guards make exactly-once.

pub(crate) mod admission;
pub(crate) mod io;
pub(crate) mod origin;
pub(crate) mod per_ip;
pub(crate) mod queue;
pub(crate) mod read_loop;
pub(crate) mod upgrade;
pub(crate) mod writer;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::close::{CloseInfo, close_code};
use crate::context::Ctx;
use crate::frame::Wire;
use crate::handler::{Disconnect, HandlerError};
use crate::manager::Manager;
use crate::protocol::Route;
use crate::registry::{Membership, UserSeat};
use admission::Slot;
use io::{Io, ReadSide};
use queue::{Pushed, SendQueue};
use read_loop::{ReadEnd, handler_outcome, read_loop};
use tokio::time::timeout;
use writer::{CLOSE_GRACE, write_loop};

/// A connection's id, unique within the process.
///
/// The endpoint's 101 response carries it as an extension (not a header), so
/// middleware such as an access log can name the connection it opened.
///
/// Not unique across a cluster: it is a counter of this process, so sends
/// and closes by id ([`Manager::to_conn`], [`Manager::close`]) act on this
/// node only, where the id is known to be right. To reach a connection on
/// any node, address its user or a room (`to_user(u).close(..)`).
///
/// ```
/// # use ws_core::ConnId;
/// fn log(id: ConnId) -> String { format!("conn {id}") }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }

    #[cfg(feature = "testing")]
    pub(crate) fn from_raw(id: u64) -> Self {
        Self(id)
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
    pub(crate) fn push(&self, frame: Wire) -> Pushed {
        self.queue.push(frame)
    }

    /// Frames `json` (one copy) and queues it: for the frames one connection
    /// gets on its own, such as errors and replies.
    pub(crate) fn push_json(&self, json: &str) -> Pushed {
        self.queue.push(crate::frame::wire(
            crate::frame::OPCODE_TEXT,
            json.as_bytes(),
        ))
    }
}

/// Drives an upgraded connection to its end, then cleans up once.
pub(crate) async fn run<P, H>(
    socket: Io,
    manager: Manager<P>,
    handler: Arc<H>,
    seat: Option<UserSeat>,
    slot: Slot,
    id: ConnId,
) where
    P: Route<H>,
    H: Send + Sync + 'static,
{
    let config = manager.config();
    let conn = Arc::new(Conn {
        id,
        queue: SendQueue::new(config.send_queue(), config.on_full()),
        membership: Mutex::new(Membership::default()),
    });
    let registration = manager.registry().register(Arc::clone(&conn), seat);
    manager.counters().connection_opened();
    if manager.is_shutting_down() {
        // Admitted just before the shutdown began, registered just after
        // it listed the connections to close.
        conn.queue.close(false, Some(manager.shutdown_close()));
    }
    let ctx = Ctx::new(conn, manager);

    // A shutdown past its deadline cuts the conversation short; the
    // cleanup below still runs, once.
    let (peer_close, server_close) = tokio::select! {
        biased;
        () = ctx.manager().killed() => (None, Some(ctx.manager().shutdown_close())),
        ends = converse(socket, &ctx, &*handler) => ends,
    };

    let (user, rooms) = registration.finish();
    ctx.manager().counters().connection_closed();
    let disconnect = Disconnect {
        peer_close,
        server_close,
        user,
        rooms,
    };
    tracing::debug!(conn = %ctx.id(), ?disconnect, "disconnected");
    // Hooks are boxed: they run once, and the connection task should not
    // carry their state for its whole life.
    if AssertUnwindSafe(Box::pin(P::on_disconnect(&handler, &ctx, &disconnect)))
        .catch_unwind()
        .await
        .is_err()
    {
        tracing::error!(conn = %ctx.id(), "on_disconnect panicked");
    }
    drop(slot);
}

/// The connection's conversation: `on_connect`, then the read loop and the
/// writer side by side in this one task, until either ends. Returns the
/// close frames the peer and the server sent.
async fn converse<P, H>(
    socket: Io,
    ctx: &Ctx<P>,
    handler: &H,
) -> (Option<CloseInfo>, Option<CloseInfo>)
where
    P: Route<H>,
{
    let config = ctx.manager().config();
    let (read, mut sink) = tokio::io::split(socket);
    let protocol = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer())
        .max_message_size(Some(config.max_message_size()))
        .max_frame_size(Some(config.max_message_size()));
    let read = ReadSide::new(read, Arc::clone(ctx.conn()));
    let mut stream = WebSocketStream::from_raw_socket(read, Role::Server, Some(protocol)).await;
    let queue = &ctx.conn().queue;
    let depth = ctx.manager().counters().queue_depth();
    let connected = AssertUnwindSafe(Box::pin(P::on_connect(handler, ctx)))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(HandlerError::close(close_code::INTERNAL, "internal error")));
    if let Some(close) = handler_outcome(ctx, "on_connect", connected) {
        queue.close(false, Some(close));
        return (
            None,
            write_loop(&mut sink, queue, None, config.write_buffer(), depth).await,
        );
    }

    let heartbeat = ctx.manager().config().heartbeat();
    let reader = read_loop(&mut stream, ctx, handler);
    let writer = write_loop(&mut sink, queue, heartbeat, config.write_buffer(), depth);
    tokio::pin!(reader, writer);
    tokio::select! {
        end = &mut reader => {
            let (peer_close, intended) = match end {
                ReadEnd::PeerClosed(frame) => (frame, None),
                ReadEnd::Vanished => (None, None),
                ReadEnd::Close(frame) => (None, Some(frame)),
            };
            // After the peer's close nothing more may be sent: abort; when
            // the server closes, what is queued goes out first.
            queue.close(intended.is_none(), intended.clone());
            // Draining to a peer that does not read could take forever; the
            // writer gets a grace period, then the socket is dropped.
            // Boxed, like every closing state: an idle connection should
            // not carry its size.
            let sent = Box::pin(timeout(2 * CLOSE_GRACE, writer)).await.unwrap_or(intended);
            (peer_close, sent)
        }
        // The writer ends first when the socket fails or the server closes
        // (overflow, shutdown): the reader has nothing left to do.
        sent = &mut writer => (None, sent),
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
