//! Sending to many: a target (a room, a user's connections, everyone, one
//! connection), optionally minus one connection. The message is encoded
//! once; each recipient's queue gets a pointer to the same bytes. The
//! targets are collected first and no lock is held while enqueueing; a full
//! queue is handled by its policy, never by waiting.
//!
//! With a cluster backend (see [`crate::backend`]), a send to a room, a user
//! or everyone is delivered locally exactly as on one node, then its encoded
//! bytes are handed to the backend for the other nodes; there it is
//! delivered by [`deliver_remote`], through the same group snapshots. A send
//! to one connection stays local: a [`ConnId`] names a connection of this
//! node. Without a backend, the only cost is one branch on an `Option`.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use crate::delivery::{Delivery, Target};
use crate::error::SendError;
use crate::frame::{Frame, Wire};
use crate::id::ConnId;
use crate::protocol::{Outbound, Protocol};
use crate::registry::{Conn, Members, Registry};
use crate::telemetry::Counters;

/// A send to a room, a user, everyone or one connection; built by
/// [`Manager::to_room`](crate::Manager::to_room), [`Manager::to_user`](crate::Manager::to_user),
/// [`Manager::to_all`](crate::Manager::to_all), [`Manager::to_conn`](crate::Manager::to_conn)
/// and [`Ctx::to_room`](crate::Ctx::to_room).
#[must_use = "a broadcast does nothing until `.send(message)`"]
pub struct Broadcast<'a, P> {
    registry: &'a Registry,
    counters: &'a Counters,
    target: Target<'a>,
    except: Option<ConnId>,
    protocol: PhantomData<fn() -> P>,
}

enum Recipients {
    One(Arc<Conn>),
    Group(Members),
    Many(Vec<Arc<Conn>>),
}

impl Recipients {
    fn as_slice(&self) -> &[Arc<Conn>] {
        match self {
            Recipients::One(conn) => std::slice::from_ref(conn),
            Recipients::Group(members) => members,
            Recipients::Many(conns) => conns,
        }
    }
}

impl<'a, P: Protocol> Broadcast<'a, P> {
    pub(crate) fn new(registry: &'a Registry, counters: &'a Counters, target: Target<'a>) -> Self {
        Self {
            registry,
            counters,
            target,
            except: None,
            protocol: PhantomData,
        }
    }

    /// Skips connection `id` (typically the sender: `ctx.id()`).
    pub fn except(mut self, id: ConnId) -> Self {
        self.except = Some(id);
        self
    }

    /// Encodes `message` once and queues it for every recipient.
    /// A target with no recipients costs no encoding (on one node; with a
    /// cluster backend, other nodes may have recipients).
    ///
    /// With a cluster backend, the message is also published for the other
    /// nodes; if that cannot be done (the backend is down or overloaded) the
    /// error is [`SendError::Backend`], which holds this node's delivery:
    /// the local recipients got the message regardless.
    pub fn send(self, message: impl Outbound<P>) -> Result<Delivery, SendError> {
        let recipients = self.recipients();
        let remote = self.remote();
        if recipients.is_none() && remote.is_none() {
            return Ok(Delivery::default());
        }
        let started = Instant::now();
        let frame = Frame::encode(message)?;
        let delivery = match &recipients {
            Some(recipients) => self.deliver(recipients, &frame, started),
            None => Delivery::default(),
        };
        self.publish(remote, &frame, delivery)
    }

    /// Queues an already encoded frame for every recipient.
    ///
    /// With a cluster backend the frame is also published for the other
    /// nodes; a publish that cannot be made is counted
    /// (`ws_backend_publish_failed_total`) but not reported here: use
    /// [`Broadcast::try_send_frame`] to see it.
    pub fn send_frame(self, frame: &Frame<P>) -> Delivery {
        match self.try_send_frame(frame) {
            Ok(delivery) => delivery,
            Err(SendError::Backend { delivered, .. }) => delivered,
            Err(_) => Delivery::default(),
        }
    }

    /// Queues an already encoded frame for every recipient, and reports a
    /// publish to the other nodes that could not be made, as
    /// [`Broadcast::send`] does.
    pub fn try_send_frame(self, frame: &Frame<P>) -> Result<Delivery, SendError> {
        let delivery = match self.recipients() {
            Some(recipients) => self.deliver(&recipients, frame, Instant::now()),
            None => Delivery::default(),
        };
        let remote = self.remote();
        self.publish(remote, frame, delivery)
    }

    /// The cluster backend, when this target spans nodes.
    #[inline]
    fn remote(&self) -> Option<&'a crate::backend::Link> {
        match self.target {
            Target::Conn(_) => None,
            _ => self.registry.backend(),
        }
    }

    fn publish(
        &self,
        remote: Option<&crate::backend::Link>,
        frame: &Frame<P>,
        delivered: Delivery,
    ) -> Result<Delivery, SendError> {
        match remote {
            None => Ok(delivered),
            Some(link) => match link.publish(self.target, &frame.wire) {
                Ok(()) => Ok(delivered),
                Err(error) => Err(SendError::Backend { delivered, error }),
            },
        }
    }

    fn recipients(&self) -> Option<Recipients> {
        let registry = self.registry;
        let recipients = match self.target {
            Target::Conn(id) => Recipients::One(registry.get(id)?),
            Target::Room(room) => Recipients::Group(registry.room(room)?),
            Target::User(user) => Recipients::Group(registry.user(user)?),
            Target::All => Recipients::Many(registry.all()),
        };
        let only_except = match recipients.as_slice() {
            [] => true,
            [one] => Some(one.id) == self.except,
            _ => false,
        };
        (!only_except).then_some(recipients)
    }

    fn deliver(&self, recipients: &Recipients, frame: &Frame<P>, started: Instant) -> Delivery {
        enqueue(
            recipients.as_slice(),
            &frame.wire,
            self.except,
            self.counters,
            started,
        )
    }
}

/// Queues `frame` for every connection in `conns` but `except`, and counts.
#[inline]
fn enqueue(
    conns: &[Arc<Conn>],
    frame: &Wire,
    except: Option<ConnId>,
    counters: &Counters,
    started: Instant,
) -> Delivery {
    let mut delivery = Delivery::default();
    for conn in conns {
        if Some(conn.id) != except {
            delivery.count(conn.push(frame.clone()));
        }
    }
    counters.delivered(&delivery);
    counters.broadcast(conns.len(), started.elapsed());
    delivery
}

/// Delivers a frame that another node sent to `target` to this node's
/// members of it: the same snapshots and queues as a local send, and no
/// except (an except names a connection of the sending node). The frame
/// arrives complete, so its bytes are shared as they came, with no copy.
/// Sends to a connection already in hand (a handler's own, through its
/// [`Ctx`](crate::Ctx)): no lookup, counted as a send to one connection.
pub(crate) fn to_one(
    conn: &Arc<Conn>,
    frame: &Wire,
    counters: &Counters,
    started: Instant,
) -> Delivery {
    enqueue(std::slice::from_ref(conn), frame, None, counters, started)
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by cluster transports only
pub(crate) fn deliver_remote(
    registry: &Registry,
    counters: &Counters,
    target: Target<'_>,
    frame: &Wire,
) -> Delivery {
    let started = Instant::now();
    let recipients = match target {
        Target::Room(room) => registry.room(room).map(Recipients::Group),
        Target::User(user) => registry.user(user).map(Recipients::Group),
        Target::All => Some(Recipients::Many(registry.all())),
        Target::Conn(_) => None,
    };
    match recipients {
        Some(recipients) => enqueue(recipients.as_slice(), frame, None, counters, started),
        None => Delivery::default(),
    }
}
