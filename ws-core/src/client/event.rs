//! What a client reports besides messages: its state and its recoveries.

use std::time::Duration;

use crate::history::{Position, Unrecovered};
use crate::wire::close::CloseInfo;

/// Where a client's connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The first handshake is under way.
    Connecting,
    /// Connected.
    Open,
    /// Between a drop and the next open: waiting out a delay, or opening.
    Reconnecting,
    /// For good: closed by [`Client::close`](super::Client::close), by the server with a code
    /// that is not retried, or given up after
    /// [`ReconnectPolicy::max_attempts`](super::ReconnectPolicy::max_attempts).
    Closed,
}

/// A change of [`ConnectionState`], with its cause.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The new state.
    pub state: ConnectionState,
    /// The close that left [`Open`](ConnectionState::Open), or what failed
    /// the last attempt (1006 with the error as reason for a connection
    /// that could not be opened or dropped without a close frame).
    pub close: Option<CloseInfo>,
    /// When [`Reconnecting`](ConnectionState::Reconnecting): the attempt
    /// (0 first, see [`ReconnectPolicy`](super::ReconnectPolicy)).
    pub attempt: Option<u32>,
    /// When [`Reconnecting`](ConnectionState::Reconnecting): the delay
    /// before this attempt.
    pub delay: Option<Duration>,
}

impl StateChange {
    pub(super) fn new(state: ConnectionState, close: Option<CloseInfo>) -> Self {
        Self {
            state,
            close,
            attempt: None,
            delay: None,
        }
    }
}

/// How a (re)join went, from the server's answer to it: a message with
/// the `room`, `epoch`, `offset` and `recovered` fields (the chat example's
/// `joined`; see [`history`](crate::history)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The room.
    pub room: String,
    /// Whether every recorded message after the position sent follows.
    pub recovered: bool,
    /// Why not, when a position was sent and could not be resumed; `None`
    /// for a join without one. After `recovered: false` the application
    /// reloads the room's state: only messages after
    /// [`offset`](Self::offset) follow.
    pub reason: Option<Unrecovered>,
    /// The room's epoch (empty when the server keeps no history).
    pub epoch: String,
    /// The room's latest offset when the server answered.
    pub offset: u64,
}

/// What [`Client::next_event`](super::Client::next_event) returns: a message, or what happened to the
/// connection, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<P> {
    /// A message from the server.
    Message(P),
    /// The connection changed state (after the first open).
    State(StateChange),
    /// A join was answered; the answer itself follows as a
    /// [`Message`](Event::Message).
    Recovery(Recovery),
}

/// A recorded message (`#[ws(server, history)]`) with its place in its
/// room's history: the `epoch` and `offset` the server stamped on it, which
/// the message's own type does not hold. Returned by the harness's
/// [`TestClient::expect_recorded`](crate::testing::TestClient::expect_recorded);
/// [`Client::recv_with_position`](super::Client::recv_with_position) gives
/// the same for any message.
///
/// ```
/// # use ws_core::client::Recorded;
/// fn is_first(said: &Recorded<String>) -> bool { said.offset == 1 }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recorded<M> {
    /// The message.
    pub message: M,
    /// The room's epoch when it was recorded.
    pub epoch: String,
    /// Its offset in the room (the first message recorded is 1).
    pub offset: u64,
}

impl<M> Recorded<M> {
    pub(crate) fn new(message: M, position: Position) -> Self {
        Self {
            message,
            epoch: position.epoch,
            offset: position.offset,
        }
    }

    /// Its position, as a rejoin's `since` takes it.
    pub fn position(&self) -> Position {
        Position {
            epoch: self.epoch.clone(),
            offset: self.offset,
        }
    }
}
