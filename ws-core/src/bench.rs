//! Hooks for the `ws-bench` criterion benchmarks. Not public API: no
//! stability promise, and nothing here is used by the runtime itself.
//!
//! The benchmarks measure the in-process hot path without sockets:
//! [`Detached`] registers connections that have a send queue and a room
//! membership but no socket and no writer, so a broadcast's cost is the
//! enqueue cost per recipient, and [`Detached::drain`] empties the queues
//! (as the writers would) outside the timed part. [`decode_and_route`] is
//! the read loop's per-message work (decode, direction check, handler call,
//! outcome) minus the frame parsing, which the frame parser does.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::connection::dispatch::{decode, route};
use crate::context::Ctx;
use crate::id::ConnId;
use crate::manager::Manager;
use crate::protocol::Protocol;
use crate::queue::SendQueue;
use crate::registry::{Conn, Membership, Registration};
use crate::route::Route;

/// Connections registered with a manager and joined to a room, without
/// sockets: frames sent to them stay in their queues until [`drain`](Self::drain).
pub struct Detached<P> {
    manager: Manager<P>,
    conns: Vec<Arc<Conn>>,
    // Dropped last: unregisters every connection from the manager.
    _registrations: Vec<Registration>,
}

impl<P: Protocol> Detached<P>
where
    P::Session: Default,
{
    /// Registers `n` socket-less connections with `manager`, each with a
    /// send queue as the manager's configuration says, all joined to `room`.
    pub fn join(manager: &Manager<P>, room: &str, n: usize) -> Self {
        let config = manager.config();
        let mut conns = Vec::with_capacity(n);
        let mut registrations = Vec::with_capacity(n);
        for _ in 0..n {
            let conn = Arc::new(Conn {
                id: ConnId::next(),
                deflate: None,
                queue: SendQueue::new(config.send_queue(), config.on_full()),
                membership: Mutex::new(Membership::new(
                    crate::session::erase(P::Session::default()),
                    None,
                )),
                requests: Mutex::default(),
                codec: crate::wire::codec::Codec::Json,
                expires: Default::default(),
            });
            registrations.push(manager.registry().register(Arc::clone(&conn), None));
            manager
                .registry()
                .join(&conn, room)
                .expect("a fresh connection is not closing");
            conns.push(conn);
        }
        Self {
            manager: manager.clone(),
            conns,
            _registrations: registrations,
        }
    }

    /// How many connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Pops every queued frame of every connection; returns how many there were.
    pub fn drain(&self) -> usize {
        let mut frames = 0;
        for conn in &self.conns {
            while conn.queue.pop().is_some() {
                frames += 1;
            }
        }
        frames
    }

    /// A handler context for connection `i`, as the read loop gives handlers.
    pub fn ctx(&self, i: usize) -> Ctx<P> {
        Ctx::new(Arc::clone(&self.conns[i]), self.manager.clone(), None)
    }
}

/// The read loop's work for one inbound text frame: decode the JSON,
/// refuse server-only messages, call the handler, apply its outcome.
/// `Err` carries what the read loop would have refused or closed with.
pub async fn decode_and_route<P, H>(ctx: &Ctx<P>, handler: &H, text: &str) -> Result<(), String>
where
    P: Route<H>,
{
    let (message, id) = decode::<P>(text).map_err(|refused| refused.message)?;
    match route::<P, H, ()>(ctx, handler, message, id).await {
        None => Ok(()),
        Some(close) => Err(format!("close {}: {}", close.code, close.reason)),
    }
}

/// What the frame parser (`wire::parse`) makes of a
/// client's `bytes`, fed in chops of the given lengths and then the rest:
/// each message as its `Debug` (with the reply it asks for), then the
/// close a failure is answered with. `deflate`: whether permessage-deflate
/// was negotiated; `max_fragments`: 0 for no limit. For the fuzzer.
pub fn parse_frames(
    bytes: &[u8],
    chops: &[usize],
    deflate: bool,
    max_fragments: usize,
) -> (Vec<String>, Option<crate::CloseInfo>) {
    let limits = crate::wire::parse::Limits {
        max_message_size: 64 << 10,
        max_fragments,
        fragment_timeout: None,
        deflate,
        now: std::time::Instant::now,
    };
    let (parsed, failure) = crate::wire::parse::parse_chopped(bytes, chops, &limits);
    let parsed = parsed.iter().map(|parsed| format!("{parsed:?}")).collect();
    (parsed, failure)
}
