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

use std::sync::Arc;
use std::time::Instant;

use crate::connection::queue::Pushed;
use crate::connection::{Conn, ConnId};
use crate::error::SendError;
use crate::frame::{Frame, Wire};
use crate::history::History;
use crate::manager::Manager;
use crate::protocol::{Outbound, Protocol};
use crate::registry::{Members, Registry};
use crate::telemetry::Counters;

/// What a send did, recipient by recipient.
///
/// ```
/// # use ws_core::Delivery;
/// fn all_queued(d: Delivery) -> bool { d.dropped == 0 && d.evicted == 0 }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Recipients whose queue took the message.
    pub queued: usize,
    /// Recipients whose full queue discarded a message (`drop_newest`, `drop_oldest`).
    pub dropped: usize,
    /// Recipients closed because their queue was full (`close`).
    pub evicted: usize,
    /// Recipients already closing; nothing was queued for them.
    pub closed: usize,
}

impl Delivery {
    pub(crate) fn count(&mut self, pushed: Pushed) {
        match pushed {
            Pushed::Queued => self.queued += 1,
            // The new message is queued, an old one was dropped.
            Pushed::DroppedOldest => {
                self.queued += 1;
                self.dropped += 1;
            }
            Pushed::DroppedNewest => self.dropped += 1,
            Pushed::Evicted => self.evicted += 1,
            Pushed::Closed => self.closed += 1,
        }
    }
}

/// Where a [`Broadcast`] goes.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Conn(ConnId),
    Room(&'a str),
    User(&'a str),
    All,
}

/// A send to a room, a user, everyone or one connection; built by
/// [`Manager::to_room`], [`Manager::to_user`], [`Manager::to_all`],
/// [`Manager::to_conn`] and [`Ctx::to_room`](crate::Ctx::to_room).
#[must_use = "a broadcast does nothing until `.send(message)`"]
pub struct Broadcast<'a, P> {
    manager: &'a Manager<P>,
    target: Target<'a>,
    except: Option<ConnId>,
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
    pub(crate) fn new(manager: &'a Manager<P>, target: Target<'a>) -> Self {
        Self {
            manager,
            target,
            except: None,
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
        let message = message.into_message();
        if let Some((history, room)) = self.recording(message.is_recorded()) {
            let body = crate::frame::encode_body(&message, crate::frame::STAMP_SPARE)
                .map_err(SendError::Encode)?;
            return self.send_recorded(history, room, body);
        }
        let recipients = self.recipients();
        let remote = self.remote();
        if recipients.is_none() && remote.is_none() {
            return Ok(Delivery::default());
        }
        let started = Instant::now();
        let frame = Frame::encode_message(&message)?;
        let delivery = match &recipients {
            Some(recipients) => self.deliver(recipients, &frame, started),
            None => Delivery::default(),
        };
        self.publish(remote, &frame.wire, delivery)
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
        if let Some((history, room)) = self.recording(frame.recorded) {
            // Encoded without a place in any stream: one copy to stamp it.
            return self.send_recorded(history, room, crate::frame::reopen(&frame.wire));
        }
        let delivery = match self.recipients() {
            Some(recipients) => self.deliver(&recipients, frame, Instant::now()),
            None => Delivery::default(),
        };
        let remote = self.remote();
        self.publish(remote, &frame.wire, delivery)
    }

    /// The history and the room, when this send is kept in a room's
    /// history; without history, one branch on an `Option`.
    #[inline]
    fn recording(&self, recorded: bool) -> Option<(&'a Arc<History>, &'a str)> {
        match (self.manager.history(), self.target) {
            (Some(history), Target::Room(room)) if recorded => Some((history, room)),
            _ => None,
        }
    }

    /// Gives the message the room's next offset, records it and queues it
    /// for the members, in one step that no other message of the room can
    /// interleave with: every member sees the room's offsets in order. The
    /// message is recorded even when the room has no member here: a member
    /// that is away resumes from the history.
    fn send_recorded(
        &self,
        history: &History,
        room: &str,
        body: Vec<u8>,
    ) -> Result<Delivery, SendError> {
        let started = Instant::now();
        let (delivery, wire) = history.record(room, body, |wire| {
            match self.manager.registry().room(room) {
                Some(members) => enqueue(
                    &members,
                    wire,
                    self.except,
                    self.manager.counters(),
                    started,
                ),
                None => Delivery::default(),
            }
        });
        let remote = self.remote();
        self.publish(remote, &wire, delivery)
    }

    /// The cluster backend, when this target spans nodes.
    #[inline]
    fn remote(&self) -> Option<&'a crate::backend::Link> {
        match self.target {
            Target::Conn(_) => None,
            _ => self.manager.registry().backend(),
        }
    }

    fn publish(
        &self,
        remote: Option<&crate::backend::Link>,
        frame: &Wire,
        delivered: Delivery,
    ) -> Result<Delivery, SendError> {
        match remote {
            None => Ok(delivered),
            Some(link) => match link.publish(self.target, frame) {
                Ok(()) => Ok(delivered),
                Err(error) => Err(SendError::Backend { delivered, error }),
            },
        }
    }

    fn recipients(&self) -> Option<Recipients> {
        let registry = self.manager.registry();
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
            self.manager.counters(),
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
