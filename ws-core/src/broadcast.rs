//! Sending to many: a target (a room, a user's connections, everyone, one
//! connection), optionally minus one connection. The message is encoded
//! once; each recipient's queue gets a pointer to the same bytes. The
//! targets are collected first and no lock is held while enqueueing; a full
//! queue is handled by its policy, never by waiting.

use std::sync::Arc;
use std::time::Instant;

use crate::connection::queue::Pushed;
use crate::connection::{Conn, ConnId};
use crate::error::SendError;
use crate::frame::Frame;
use crate::manager::Manager;
use crate::protocol::{Outbound, Protocol};
use crate::registry::Members;

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
    /// A target with no recipients costs no encoding.
    pub fn send(self, message: impl Outbound<P>) -> Result<Delivery, SendError> {
        let Some(recipients) = self.recipients() else {
            return Ok(Delivery::default());
        };
        let started = Instant::now();
        let frame = Frame::encode(message)?;
        Ok(self.deliver(&recipients, &frame, started))
    }

    /// Queues an already encoded frame for every recipient.
    pub fn send_frame(self, frame: &Frame<P>) -> Delivery {
        match self.recipients() {
            Some(recipients) => self.deliver(&recipients, frame, Instant::now()),
            None => Delivery::default(),
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
        let mut delivery = Delivery::default();
        for conn in recipients.as_slice() {
            if Some(conn.id) != self.except {
                delivery.count(conn.push(frame.text.clone()));
            }
        }
        let counters = self.manager.counters();
        counters.delivered(&delivery);
        counters.broadcast(recipients.as_slice().len(), started.elapsed());
        delivery
    }
}
