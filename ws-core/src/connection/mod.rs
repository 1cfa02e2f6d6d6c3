//! One connection's life, in the order of the data path:
//! [`upgrade`] (auth, admission, 101) → [`read_loop`] (frames, timers) →
//! [`dispatch`] (decode, rate limit, correlate, route to the handler) →
//! [`send`](crate::send) → [`queue`](crate::queue) (bounded, overflow
//! policy) → [`writer`] (coalesced writes, heartbeat, close frame). This
//! module ties them together and owns the cleanup, which the guards make
//! exactly-once.

pub(crate) mod dispatch;
pub(crate) mod inbound;
pub(crate) mod io;
pub(crate) mod origin;
pub(crate) mod read_loop;
pub(crate) mod upgrade;
pub(crate) mod writer;

use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures_util::FutureExt;
use parking_lot::Mutex;

use crate::admission::Slot;
use crate::context::{Authorization, Ctx, JoinGate};
use crate::handler::{Disconnect, HandlerError};
use crate::id::ConnId;
use crate::manager::Manager;
use crate::queue::SendQueue;
use crate::registry::{Conn, Membership, Registration, UserSeat};
use crate::route::Route;
use crate::session::Erased;
use crate::wire::close::{CloseInfo, close_code};
use crate::wire::codec::Codec;
use hyper_util::rt::TokioIo;
use inbound::Frames;
use io::Socket;
use read_loop::{ReadEnd, read_loop};
use tokio::time::timeout;
use writer::{CLOSE_GRACE, write_loop};

/// The handler's `authorize_join`, shared by the connections of one
/// endpoint (one allocation per endpoint, not per connection).
pub(crate) struct Gate<H, S> {
    handler: Arc<H>,
    state: PhantomData<fn() -> S>,
}

impl<H, S> Gate<H, S> {
    pub(crate) fn new(handler: Arc<H>) -> Self {
        Self {
            handler,
            state: PhantomData,
        }
    }
}

impl<P, H, S> JoinGate<P> for Gate<H, S>
where
    P: Route<H, S>,
    H: Send + Sync + 'static,
{
    fn authorize<'a>(&'a self, ctx: &'a Ctx<P>, room: &'a str) -> Authorization<'a> {
        Box::pin(P::authorize_join(&self.handler, ctx, room))
    }
}

/// What the upgrade hands the connection's task besides the socket.
pub(crate) struct Admitted<P> {
    pub(crate) gate: Arc<dyn JoinGate<P>>,
    /// What `authenticate` returned.
    pub(crate) session: Erased,
    /// The session's expiry, [`expiry_ms`](crate::session::expiry_ms).
    pub(crate) expires: u64,
    /// The session's presence info (JSON), `Session::presence`.
    pub(crate) presence: Option<Arc<str>>,
    /// The place reserved among the session's user's connections.
    pub(crate) seat: Option<UserSeat>,
    pub(crate) slot: Slot,
    pub(crate) id: ConnId,
    /// The codec negotiated in the handshake.
    pub(crate) codec: Codec,
    /// What was agreed if permessage-deflate was negotiated.
    pub(crate) deflate: Option<crate::wire::deflate::Deflate>,
}

/// Drives an upgraded connection to its end, then cleans up once.
pub(crate) async fn run<P, H, S>(
    on_upgrade: hyper::upgrade::OnUpgrade,
    manager: Manager<P>,
    handler: Arc<H>,
    admitted: Box<Admitted<P>>,
) where
    P: Route<H, S>,
    H: Send + Sync + 'static,
{
    // A client that goes before the upgrade completes drops the slot and
    // the seat here.
    let socket = match on_upgrade.await {
        Ok(upgraded) => Socket::new(TokioIo::new(upgraded)),
        Err(_) => return,
    };
    let Admitted {
        gate,
        session,
        expires,
        presence,
        seat,
        slot,
        id,
        codec,
        deflate,
    } = unbox(admitted);
    let config = manager.config();
    let conn = Arc::new(Conn {
        id,
        queue: SendQueue::new(config.send_queue(), config.on_full()),
        deflate,
        membership: Mutex::new(Membership::new(session, presence)),
        requests: Mutex::default(),
        codec,
        expires: AtomicU64::new(expires),
    });
    let mut registration = manager.registry().register(Arc::clone(&conn), seat);
    manager.counters().connection_opened();
    if manager.is_shutting_down() {
        // Admitted just before the shutdown began, registered just after
        // it listed the connections to close.
        conn.queue.close(false, Some(manager.shutdown_close()));
    }
    let ctx = Ctx::new(conn, manager, Some(gate));

    // A shutdown past its deadline cuts the conversation short; the
    // cleanup below still runs, once.
    let (peer_close, server_close, left) = tokio::select! {
        biased;
        () = ctx.manager().killed() => (None, Some(ctx.manager().shutdown_close()), None),
        ends = converse::<P, H, S>(&socket, &ctx, &*handler, &mut registration) => ends,
    };
    // The peer sees the connection end before the hooks run.
    drop(socket);

    let (user, rooms) = left.unwrap_or_else(|| registration.finish());
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
    if AssertUnwindSafe(Box::pin(<P as Route<H, S>>::on_disconnect(
        &handler,
        &ctx,
        &disconnect,
    )))
    .catch_unwind()
    .await
    .is_err()
    {
        tracing::error!(conn = %ctx.id(), "on_disconnect panicked");
    }
    drop(slot);
}

/// The value out of its box, the box freed now rather than at the end of
/// the caller's scope (which, for [`run`], is the connection's life).
#[expect(
    clippy::boxed_local,
    reason = "taking the box is the point: it is freed here"
)]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// What the connection was part of when it left the registry.
type Left = (Option<crate::UserId>, Vec<Arc<str>>);

/// The connection's conversation: `on_connect`, then the read loop and the
/// writer side by side in this one task, until either ends. Returns the
/// close frames the peer and the server sent, and what the connection was
/// part of if it left the registry before the end.
async fn converse<P, H, S>(
    socket: &Socket,
    ctx: &Ctx<P>,
    handler: &H,
    registration: &mut Registration,
) -> (Option<CloseInfo>, Option<CloseInfo>, Option<Left>)
where
    P: Route<H, S>,
{
    let config = ctx.manager().config();
    let mut sink = socket.half();
    let mut stream = Frames::new(
        socket.half(),
        Arc::clone(ctx.conn()),
        config,
        ctx.manager().inflate_budget(),
    );
    let queue = &ctx.conn().queue;
    let depth = ctx.manager().counters().queue_depth();
    let connected = AssertUnwindSafe(Box::pin(<P as Route<H, S>>::on_connect(handler, ctx)))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(HandlerError::close(close_code::INTERNAL, "internal error")));
    if let Some(close) = dispatch::outcome(ctx, "on_connect", connected, None) {
        queue.close(false, Some(close));
        // Boxed, like every closing state: inline, this second writer would
        // get its own place in the state of every connection.
        let sent = Box::pin(write_loop(
            &mut sink,
            queue,
            None,
            config.write_buffer(),
            depth,
        ));
        return (None, sent.await, None);
    }

    let heartbeat = ctx.manager().config().heartbeat();
    let reader = read_loop::<P, H, S, _>(&mut stream, ctx, handler);
    let writer = write_loop(&mut sink, queue, heartbeat, config.write_buffer(), depth);
    tokio::pin!(reader, writer);
    tokio::select! {
        end = &mut reader => {
            // After the peer's close nothing more may be sent: abort; when
            // the server closes, what is queued goes out first, unless the
            // peer is no longer entitled to it. `peer_done`: nothing more
            // comes from the peer either.
            let (peer_close, abort, peer_done, intended) = match end {
                ReadEnd::PeerClosed(frame) => (frame, true, true, None),
                ReadEnd::Vanished => (None, true, true, None),
                ReadEnd::Close(frame) => (None, false, false, Some(frame)),
                ReadEnd::Revoke(frame) => (None, true, false, Some(frame)),
                ReadEnd::Closing => (None, false, false, None),
            };
            queue.close(abort, intended.clone());
            // The connection's end is decided: it leaves its rooms and
            // frees its user's seat now, not once a slow peer has taken
            // the close frame.
            let left = registration.leave();
            // Draining to a peer that does not read could take forever; the
            // writer gets a grace period, then the socket is dropped.
            // Boxed, like every closing state: an idle connection should
            // not carry its size.
            let closing = async {
                tokio::select! {
                    sent = &mut writer => sent,
                    never = discard_inbound(socket.half()), if !peer_done => match never {},
                }
            };
            let sent = Box::pin(timeout(2 * CLOSE_GRACE, closing)).await.unwrap_or(intended);
            (peer_close, sent, Some(left))
        }
        // The writer ends first when the socket fails or its close frame
        // went out: the reader has nothing left to do.
        sent = &mut writer => (None, sent, None),
    }
}

/// Reads and discards what the peer still sends while the server's close
/// goes out: bytes left unread when the socket is dropped turn its close
/// into a reset, and the peer would lose the close frame and whatever was
/// drained before it. Never ends; the caller's grace period bounds it.
async fn discard_inbound(mut half: io::Half<'_>) -> std::convert::Infallible {
    use tokio::io::AsyncReadExt;
    // Allocated once per closing connection, not carried while it lives.
    let mut scratch = vec![0; 4096];
    while matches!(half.read(&mut scratch).await, Ok(read) if read > 0) {}
    std::future::pending().await
}
