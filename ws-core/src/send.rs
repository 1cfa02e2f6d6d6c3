//! The send path: every message the server sends goes out through here,
//! to one connection or to many, whoever asked for it: a broadcast, a
//! handler's [`Ctx::send`](crate::Ctx::send), a request's reply, an error
//! frame, an ack, `refresh_required`, a request of the server.
//!
//! One send is: the message encoded once, into a complete frame
//! ([`encode`], or [`Frame`](crate::Frame) for a broadcast); each recipient
//! given that frame in its own form (its codec, compressed if it agreed to
//! permessage-deflate), each form made by the first recipient that needs it
//! and shared by the others; pushed on the recipient's bounded queue, which
//! takes it or applies its overflow policy, never waiting (but see
//! [`deliver_waiting`]); and what became of it counted once per send, not
//! once per recipient. The recipients are collected before, and no lock is
//! held while pushing.
//!
//! Sends are counted in two kinds ([`Kind`]): what the application sends is
//! also timed and counted in the fan-out metrics; what the runtime answers
//! a connection with, only as queued, dropped or evicted.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::delivery::Delivery;
use crate::id::ConnId;
use crate::registry::Conn;
use crate::telemetry::Counters;
use crate::wire::Wire;
use crate::wire::deflate::Shared;
use crate::wire::frame::OPCODE_TEXT;

/// Which metrics a send counts in.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A send of the application (a broadcast, [`Ctx::send`](crate::Ctx::send)),
    /// begun at this instant: also in `ws_broadcast_recipients`,
    /// `ws_broadcast_seconds` and `ws_messages_packed_total`.
    Send(Instant),
    /// What the runtime sends one connection on its side of the
    /// conversation: a reply, an error frame, an ack, `refresh_required`, a
    /// request of the server.
    Answer,
}

/// The connections a send passes over: some by id, and the members of the
/// excluded rooms, sorted, found once per send (and only by a send that
/// excludes a room), not once per recipient.
pub(crate) struct Skip<'e> {
    pub(crate) conns: &'e [ConnId],
    pub(crate) members: Vec<ConnId>,
}

impl Skip<'_> {
    /// Skips no one.
    pub(crate) const NONE: Skip<'static> = Skip {
        conns: &[],
        members: Vec::new(),
    };

    #[inline]
    pub(crate) fn skips(&self, id: ConnId) -> bool {
        self.conns.contains(&id)
            || (!self.members.is_empty() && self.members.binary_search(&id).is_ok())
    }
}

/// Queues `frame` for every connection in `conns` but those `skip` skips,
/// and counts the send as `kind` says.
#[inline]
pub(crate) fn deliver(
    conns: &[Arc<Conn>],
    frame: &Wire,
    skip: &Skip<'_>,
    counters: &Counters,
    kind: Kind,
) -> Delivery {
    let mut delivery = Delivery::default();
    // Each form made by its first recipient, shared by the others; a send
    // whose recipients all take the plain frame costs a comparison each.
    let shared = Shared::new(frame);
    for conn in conns {
        if !skip.skips(conn.id) {
            delivery.count(conn.push_shared(&shared));
        }
    }
    counters.delivered(&delivery);
    if let Kind::Send(started) = kind {
        if shared.was_packed() {
            counters.packed();
        }
        counters.broadcast(conns.len(), started.elapsed());
    }
    delivery
}

/// [`deliver`] to a connection already in hand (a handler's own, through
/// its [`Ctx`](crate::Ctx)): no lookup.
pub(crate) fn to_one(conn: &Arc<Conn>, frame: &Wire, counters: &Counters, kind: Kind) -> Delivery {
    deliver(
        std::slice::from_ref(conn),
        frame,
        &Skip::NONE,
        counters,
        kind,
    )
}

/// [`deliver`] for a producer that would rather wait than lose messages:
/// a recipient whose queue is full is waited for until its writer makes
/// room (or it closes), instead of its overflow policy being applied.
/// Recipients are served in turn. Counted, but not timed: the time is
/// mostly the readers' pace, not the cost of fanning out.
pub(crate) async fn deliver_waiting(
    conns: &[Arc<Conn>],
    frame: &Wire,
    skip: &Skip<'_>,
    counters: &Counters,
) -> Delivery {
    let mut delivery = Delivery::default();
    let shared = Shared::new(frame);
    for conn in conns {
        if !skip.skips(conn.id) {
            delivery.count(conn.queue.push_waiting(conn.frame_of(&shared)).await);
        }
    }
    if shared.was_packed() {
        counters.packed();
    }
    counters.delivered(&delivery);
    delivery
}

/// `message` as the text frame it goes out in; with the correlation id
/// `id` of the message it answers in front, if it has one (see
/// [`correlation`](crate::correlation)).
pub(crate) fn encode<T: Serialize>(
    message: &T,
    id: Option<crate::CorrelationId>,
) -> serde_json::Result<Wire> {
    match id {
        // One allocation, no copy.
        None => crate::wire::frame::encode_json(message),
        Some(id) => {
            let json = crate::wire::correlation::with_id(serde_json::to_string(message)?, id);
            Ok(crate::wire::frame::encode(OPCODE_TEXT, json.as_bytes()))
        }
    }
}

/// The acknowledgement of a message that carried `id` and declares no
/// reply (`correlate = "all"`).
pub(crate) fn ack(id: crate::CorrelationId) -> Wire {
    crate::wire::frame::encode(
        OPCODE_TEXT,
        crate::wire::correlation::ack_frame(id).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overflow;
    use crate::handler::ErrorFrame;

    fn text(frame: &Wire) -> &str {
        std::str::from_utf8(&frame[crate::wire::frame::payload_start(frame)..]).unwrap()
    }

    #[test]
    fn an_answer_carries_the_id_in_front() {
        let said = serde_json::json!({"type": "pong", "n": 1});
        assert_eq!(
            text(&encode(&said, None).unwrap()),
            r#"{"n":1,"type":"pong"}"#
        );
        assert_eq!(
            text(&encode(&said, Some(7.into())).unwrap()),
            r#"{"id":7,"n":1,"type":"pong"}"#
        );
        assert_eq!(text(&ack(9.into())), r#"{"type":"ack","id":9}"#);
    }

    /// The error frame's wire form, with and without the id it answers.
    #[test]
    fn error_frames_carry_the_id_after_the_tag() {
        let said_with = |_| serde_json::json!({"type": "said"});
        let error = |id| ErrorFrame {
            id,
            code: "nope".into(),
            message: "no".into(),
        };
        assert_eq!(
            text(&encode(&error(Some(3.into())), None).unwrap()),
            r#"{"type":"error","id":3,"code":"nope","message":"no"}"#
        );
        let string_id = crate::CorrelationId::try_from("r-3").unwrap();
        assert_eq!(
            text(&encode(&error(Some(string_id)), None).unwrap()),
            r#"{"type":"error","id":"r-3","code":"nope","message":"no"}"#
        );
        assert_eq!(
            text(&encode(&said_with(string_id), Some(string_id)).unwrap()),
            r#"{"id":"r-3","type":"said"}"#
        );
        assert_eq!(
            text(&encode(&error(None), None).unwrap()),
            r#"{"type":"error","code":"nope","message":"no"}"#
        );
    }

    fn conn(capacity: usize, policy: Overflow) -> Arc<Conn> {
        Arc::new(Conn {
            id: ConnId::next(),
            queue: crate::queue::SendQueue::new(capacity, policy),
            deflate: None,
            membership: parking_lot::Mutex::new(crate::registry::Membership::new(
                crate::session::erase(()),
                None,
            )),
            requests: parking_lot::Mutex::default(),
            codec: crate::wire::codec::Codec::Json,
            expires: Default::default(),
        })
    }

    /// One send, one count per outcome, whatever the recipients' policies;
    /// the skipped are not pushed to.
    #[test]
    fn a_send_is_counted_recipient_by_recipient() {
        let full = conn(1, Overflow::DropNewest);
        let evicting = conn(1, Overflow::Close);
        let frame = crate::wire::frame::encode(OPCODE_TEXT, b"{}");
        for conn in [&full, &evicting] {
            conn.queue.push(frame.clone());
        }
        let (open, skipped, closed) = (
            conn(1, Overflow::Close),
            conn(1, Overflow::Close),
            conn(1, Overflow::Close),
        );
        closed.queue.close(false, None);
        let conns = [full, evicting, open, Arc::clone(&skipped), closed];
        let skip = Skip {
            conns: &[skipped.id],
            members: Vec::new(),
        };
        let counters = Counters::new("test");
        let delivery = deliver(&conns, &frame, &skip, &counters, Kind::Answer);
        assert_eq!(
            (
                delivery.queued,
                delivery.dropped,
                delivery.evicted,
                delivery.closed
            ),
            (1, 1, 1, 1)
        );
        assert!(skipped.queue.pop().is_none());
        let stats = counters.snapshot(0);
        assert_eq!((stats.queued, stats.dropped, stats.evicted), (1, 1, 1));
    }
}
