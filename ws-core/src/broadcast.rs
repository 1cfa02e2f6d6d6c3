//! Sending to many: a target (a room, a user's connections, everyone, one
//! connection), minus any connections and rooms excluded. Or closing them,
//! or making them leave or join a room.
//! The target is resolved here into its recipients; the message goes out
//! through the one [`send`](crate::send) path, encoded once, each
//! recipient's queue getting a pointer to the same bytes.
//!
//! With a cluster backend (see [`crate::backend`]), a send to a room, a user
//! or everyone is delivered locally exactly as on one node, then its encoded
//! bytes are handed to the backend for the other nodes; there it is
//! delivered by [`deliver_remote`], through the same group snapshots. A send
//! to one connection stays local: a [`ConnId`] names a connection of this
//! node. Without a backend, the only cost is one branch on an `Option`.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use crate::delivery::{Delivery, Target};
use crate::error::{RequestError, SendError};
use crate::frame::Frame;
use crate::history::History;
use crate::id::ConnId;
use crate::protocol::{Outbound, Protocol};
use crate::registry::{Conn, Members, Registry};
use crate::send::{Kind, Skip, deliver, deliver_waiting};
use crate::telemetry::Counters;
use crate::wire::Wire;
use crate::wire::close::{CloseInfo, encode_close, read_close};
use crate::wire::membership::{Change, encode_membership, read_membership};

/// A send to a room, a user, everyone or one connection; built by
/// [`Manager::to_room`](crate::Manager::to_room), [`Manager::to_user`](crate::Manager::to_user),
/// [`Manager::to_all`](crate::Manager::to_all), [`Manager::to_conn`](crate::Manager::to_conn)
/// and [`Ctx::to_room`](crate::Ctx::to_room).
#[must_use = "a broadcast does nothing until `.send(message)`"]
pub struct Broadcast<'a, P> {
    registry: &'a Registry,
    counters: &'a Counters,
    /// The rooms' histories, for a recorded message; `None` without history.
    history: Option<&'a Arc<History>>,
    target: Aim<'a>,
    except: Except<'a>,
    protocol: PhantomData<fn() -> P>,
}

/// A [`Broadcast`]'s target as it was given: a room's or a user's name
/// borrowed (`to_room(&name)`, no copy) or owned (`to_room(name)`, moved
/// in: the caller's `String`, no copy either), so a broadcast never
/// borrows more than it was given.
pub(crate) enum Aim<'a> {
    Conn(ConnId),
    Room(Cow<'a, str>),
    User(Cow<'a, str>),
    All,
}

impl Aim<'_> {
    /// The target, borrowed for one delivery or publish.
    #[inline]
    fn target(&self) -> Target<'_> {
        match self {
            Aim::Conn(id) => Target::Conn(*id),
            Aim::Room(room) => Target::Room(room),
            Aim::User(user) => Target::User(user),
            Aim::All => Target::All,
        }
    }
}

/// What [`Broadcast::except`] skips: one connection, or every member of a
/// room. Built from a [`ConnId`] or a room's name.
///
/// ```
/// # use ws_core::{ConnId, Excluded};
/// fn by_id(id: ConnId) -> Excluded<'static> { id.into() }
/// let room: Excluded<'_> = "spectators".into();
/// assert_eq!(room, Excluded::Room("spectators"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Excluded<'a> {
    /// This connection.
    Conn(ConnId),
    /// Every member of this room.
    Room(&'a str),
}

impl From<ConnId> for Excluded<'_> {
    fn from(id: ConnId) -> Self {
        Self::Conn(id)
    }
}

impl<'a> From<&'a str> for Excluded<'a> {
    fn from(room: &'a str) -> Self {
        Self::Room(room)
    }
}

impl<'a> From<&'a String> for Excluded<'a> {
    fn from(room: &'a String) -> Self {
        Self::Room(room)
    }
}

/// The exclusions of one send, inline: the common `except(ctx.id())`
/// allocates nothing.
#[derive(Default)]
struct Except<'a> {
    conns: SmallVec<[ConnId; 2]>,
    rooms: SmallVec<[&'a str; 1]>,
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
    pub(crate) fn new(
        registry: &'a Registry,
        counters: &'a Counters,
        history: Option<&'a Arc<History>>,
        target: Aim<'a>,
    ) -> Self {
        Self {
            registry,
            counters,
            history,
            target,
            except: Except::default(),
            protocol: PhantomData,
        }
    }

    /// Skips a connection (typically the sender: `ctx.id()`), or every
    /// member of a room (a room's name). Exclusions add up:
    /// `.except(a).except(b)` skips both.
    ///
    /// A connection excluded by id is skipped on this node only (a
    /// [`ConnId`] names a connection of this node, see there); a room
    /// excluded by name is skipped on every node of a cluster.
    ///
    /// ```
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Game {
    ///     #[ws(client)]
    ///     Hint { lobby: String, text: String },
    ///     #[ws(server)]
    ///     Hinted { text: String },
    /// }
    ///
    /// struct App;
    /// impl GameHandler for App {
    ///     async fn hint(&self, ctx: &Ctx<Game>, msg: game::Hint) -> HandlerResult {
    ///         // Everyone in the lobby but the sender and the other team.
    ///         ctx.to_room(&msg.lobby)
    ///             .except(ctx.id())
    ///             .except("team-red")
    ///             .send(game::Hinted { text: msg.text })?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn except(mut self, excluded: impl Into<Excluded<'a>>) -> Self {
        match excluded.into() {
            Excluded::Conn(id) => self.except.conns.push(id),
            Excluded::Room(room) => self.except.rooms.push(room),
        }
        self
    }

    /// The exclusions, resolved for one delivery.
    fn skip(&self) -> Skip<'_> {
        let rooms = self.except.rooms.iter().copied();
        Skip {
            conns: &self.except.conns,
            members: room_members(self.registry, rooms),
        }
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
            let body = crate::wire::frame::encode_kept(&message).map_err(SendError::Encode)?;
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
            Some(recipients) => self.fan_out(recipients, &frame, started),
            None => Delivery::default(),
        };
        self.publish(remote, &frame.wire, delivery)
    }

    /// [`Broadcast::send`] for a producer that would rather wait than lose
    /// messages: each local recipient whose queue is full is waited for
    /// until its writer makes room (or it closes), instead of its overflow
    /// policy being applied. Recipients are served in turn, so the slowest
    /// reader paces the producer; wrap the call in a timeout to bound the
    /// wait (a send cut short has reached some recipients only). With a
    /// cluster backend, other nodes' recipients get the message as with
    /// `send`, under their own policy.
    ///
    /// ```
    /// use ws_core::{ws_protocol, ConnId, Manager};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Feed {
    ///     #[ws(server)]
    ///     Row { n: u64 },
    /// }
    ///
    /// /// An export of 100,000 rows to one client, none dropped.
    /// async fn export(manager: &Manager<Feed>, to: ConnId) -> Result<(), ws_core::SendError> {
    ///     for n in 0..100_000 {
    ///         let sent = manager.to_conn(to).send_waiting(feed::Row { n }).await?;
    ///         if sent.closed > 0 || sent.queued == 0 {
    ///             break; // the client went away
    ///         }
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub async fn send_waiting(self, message: impl Outbound<P>) -> Result<Delivery, SendError> {
        let recipients = self.recipients();
        let remote = self.remote();
        if recipients.is_none() && remote.is_none() {
            return Ok(Delivery::default());
        }
        let frame = Frame::encode(message)?;
        let delivery = match &recipients {
            Some(recipients) => {
                let (conns, skip) = (recipients.as_slice(), &self.skip());
                deliver_waiting(conns, &frame.wire, skip, self.counters).await
            }
            None => Delivery::default(),
        };
        self.publish(remote, &frame.wire, delivery)
    }

    /// Sends a request of the server (`#[ws(server, reply = Answer)]`) to
    /// the connection of [`Manager::to_conn`](crate::Manager::to_conn) and
    /// waits for its typed answer, as [`Ctx::request`](crate::Ctx::request)
    /// does; [`RequestError::NotOneConnection`] for any other target, and
    /// [`RequestError::Closed`] if the connection is not open on this node.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_core::{ws_protocol, ConnId, Manager, RequestError};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Game {
    ///     #[ws(server, reply = Ready)]
    ///     AreYouReady,
    ///     #[ws(client)]
    ///     Ready { ready: bool },
    /// }
    ///
    /// async fn ready(manager: &Manager<Game>, player: ConnId) -> Result<bool, RequestError> {
    ///     let answer = manager.to_conn(player).request(game::AreYouReady, Duration::from_secs(5));
    ///     Ok(answer.await?.ready)
    /// }
    /// ```
    pub fn request<M>(
        self,
        message: M,
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<M::Reply, RequestError>> + Send + 'static
    where
        M: crate::protocol::ServerRequest<P> + 'static,
        M::Reply: Send + 'static,
    {
        let conn = match self.target.target() {
            Target::Conn(id) => self.registry.get(id).ok_or(RequestError::Closed),
            _ => Err(RequestError::NotOneConnection),
        };
        let sent =
            conn.map(|conn| crate::request::request::<P, M>(conn, self.counters, message, timeout));
        async move { sent?.await }
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
            return self.send_recorded(history, room, crate::wire::frame::reopen(&frame.wire));
        }
        let delivery = match self.recipients() {
            Some(recipients) => self.fan_out(&recipients, frame, Instant::now()),
            None => Delivery::default(),
        };
        let remote = self.remote();
        self.publish(remote, &frame.wire, delivery)
    }

    /// The history and the room, when this send is kept in a room's
    /// history; without history, one branch on an `Option`.
    #[inline]
    fn recording(&self, recorded: bool) -> Option<(&'a Arc<History>, &str)> {
        match (self.history, self.target.target()) {
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
        #[cfg(feature = "engine")]
        if let Some(link) = self.registry.backend().filter(|link| link.keeps_history()) {
            let error = if link.records() {
                // Delivered here too when Redis publishes it: in the order
                // of the offsets Redis gave, whichever node sent each.
                match link.record(room, crate::wire::frame::json_of(&body)) {
                    Ok(()) => return Ok(Delivery::default()),
                    Err(error) => error,
                }
            } else {
                crate::error::BackendError::Unavailable
            };
            // Not recorded in the cluster: this node's members get it under
            // this node's own epoch, and the sender is told.
            let (delivered, _) = self.record_locally(history, room, body);
            history.diverge(room);
            return Err(SendError::Backend { delivered, error });
        }
        let (delivered, wire) = self.record_locally(history, room, body);
        let remote = self.remote();
        self.publish(remote, &wire, delivered)
    }

    fn record_locally(&self, history: &History, room: &str, body: Vec<u8>) -> (Delivery, Wire) {
        let started = Instant::now();
        let mut skip = self.skip();
        history.record(room, body, |wire, held| match self.registry.room(room) {
            Some(members) => {
                if !held.is_empty() {
                    // Resuming members: their replay delivers it.
                    skip.members.extend_from_slice(held);
                    skip.members.sort_unstable();
                }
                deliver(&members, wire, &skip, self.counters, Kind::Send(started))
            }
            None => Delivery::default(),
        })
    }

    /// Closes every recipient with `code` and `reason` (at most 123 bytes:
    /// longer is cut) once the frames already queued for it are written,
    /// as [`Ctx::close`](crate::Ctx::close) does for a handler's own
    /// connection; exclusions apply as for [`Broadcast::send`]. Returns the
    /// number of this node's connections asked to close (those already
    /// closing keep their first close frame, and are not counted).
    ///
    /// With a cluster backend, a room, a user or everyone is closed on
    /// every node: a host kicks a player, a new login takes over a name,
    /// an admin bans a user, wherever their connections are. A
    /// [`ConnId`] names a connection of this node only, so
    /// `to_conn(id).close(..)` (and [`Manager::close`](crate::Manager::close)) closes it here or
    /// nowhere. To take them out of a room but keep them connected, see
    /// [`Broadcast::leave`].
    ///
    /// ```
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Game {
    ///     #[ws(client)]
    ///     Kick { player: String },
    /// }
    ///
    /// struct App;
    /// impl GameHandler for App {
    ///     async fn kick(&self, ctx: &Ctx<Game>, msg: game::Kick) -> HandlerResult {
    ///         // Every connection of the player, on every node.
    ///         ctx.manager().to_user(&msg.player).close(4001, "kicked by the host")?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// [`SendError::Backend`] when the other nodes could not be told (the
    /// backend is down or overloaded); this node's recipients are closed
    /// regardless, and counted in the error's `delivered.queued`.
    pub fn close(self, code: u16, reason: impl Into<String>) -> Result<usize, SendError> {
        let close = CloseInfo::new(code, reason);
        self.command(
            |conns, skip| close_each(conns, skip, &close),
            || encode_close(&close),
        )
    }

    /// Makes every recipient leave `room`, on every node with a cluster
    /// backend, as if each had called [`Ctx::leave`](crate::Ctx::leave):
    /// the same registry path, so the room's presence, its
    /// [`presence_events`](crate::Manager::presence_events) and its size
    /// show the leave exactly as they show a voluntary one. Exclusions
    /// apply as for [`Broadcast::send`]. Returns the number of this node's
    /// connections that were in the room and left it.
    ///
    /// The client is told nothing: it stops getting the room's messages.
    /// To tell it, send it a message of your protocol first, to the same
    /// target: from one node, a send and a leave that follows it reach
    /// every node in that order, so the message arrives before the room
    /// goes quiet.
    ///
    /// ```
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Board {
    ///     #[ws(client)]
    ///     Remove { board: String, user: String },
    ///     #[ws(server)]
    ///     Removed { board: String },
    /// }
    ///
    /// struct App;
    /// impl BoardHandler for App {
    ///     async fn remove(&self, ctx: &Ctx<Board>, msg: board::Remove) -> HandlerResult {
    ///         // Told first, then out of the board: every connection of
    ///         // the user, on every node.
    ///         let manager = ctx.manager();
    ///         manager.to_user(&msg.user).send(board::Removed { board: msg.board.clone() })?;
    ///         manager.to_user(&msg.user).leave(&msg.board)?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// [`SendError::Backend`] when the other nodes could not be told (the
    /// backend is down or overloaded); this node's recipients left
    /// regardless, and are counted in the error's `delivered.queued`.
    pub fn leave(self, room: &str) -> Result<usize, SendError> {
        let registry = self.registry;
        self.command(
            |conns, skip| change_each(registry, conns, skip, Change::Leave, room),
            || encode_membership(Change::Leave, room),
        )
    }

    /// Makes every recipient join `room`, on every node with a cluster
    /// backend, as if each had called [`Ctx::join`](crate::Ctx::join), but
    /// on the server's authority: the handler's `authorize_join` is not
    /// asked (the server decided). The connection limits still hold: a
    /// connection in [`max_rooms`](crate::Config::with_max_rooms) rooms
    /// already, or closing, is skipped, and so is every connection when
    /// `room` is longer than
    /// [`max_room_name`](crate::Config::with_max_room_name) bytes
    /// ([`Manager::join`](crate::Manager::join) gives one connection's
    /// reason). Presence shows the join as a voluntary one. Returns the
    /// number of this node's connections that joined (not those that were
    /// members already).
    ///
    /// The client is told nothing; the room's messages reach it from now
    /// on (without a resume of its history: see [`Ctx::join_from`](crate::Ctx::join_from)).
    ///
    /// ```
    /// use ws_core::{ws_protocol, Manager, SendError};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Cards {
    ///     #[ws(server)]
    ///     Seated { table: String },
    /// }
    ///
    /// /// Seats both players at a new table, wherever they are connected.
    /// fn seat(manager: &Manager<Cards>, players: [&str; 2], table: &str) -> Result<(), SendError> {
    ///     for player in players {
    ///         manager.to_user(player).join(table)?;
    ///         manager.to_user(player).send(cards::Seated { table: table.to_owned() })?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    ///
    /// On another node, the join takes effect when it arrives there, and
    /// that node listens to the room from then on: a message sent to the
    /// room right after the join may miss the members joining over there.
    /// What they must get, send to the same target as the join (as above):
    /// from one node, a target's join and sends reach each node in order.
    ///
    /// # Errors
    /// As [`Broadcast::leave`].
    pub fn join(self, room: &str) -> Result<usize, SendError> {
        let registry = self.registry;
        self.command(
            |conns, skip| change_each(registry, conns, skip, Change::Join, room),
            || encode_membership(Change::Join, room),
        )
    }

    /// Applies a command (a close, a leave, a join) to this node's
    /// recipients, then publishes its frame for the other nodes': how many
    /// here it changed.
    fn command(
        self,
        here: impl FnOnce(&[Arc<Conn>], &Skip<'_>) -> usize,
        frame: impl FnOnce() -> Wire,
    ) -> Result<usize, SendError> {
        let done = match self.recipients() {
            Some(recipients) => here(recipients.as_slice(), &self.skip()),
            None => 0,
        };
        let Some(link) = self.remote() else {
            return Ok(done);
        };
        match link.publish(self.target.target(), &frame(), &self.except.rooms) {
            Ok(()) => Ok(done),
            Err(error) => Err(SendError::Backend {
                delivered: Delivery {
                    queued: done,
                    ..Delivery::default()
                },
                error,
            }),
        }
    }

    /// The cluster backend, when this target spans nodes.
    #[inline]
    fn remote(&self) -> Option<&'a crate::backend::Link> {
        match self.target {
            Aim::Conn(_) => None,
            _ => self.registry.backend(),
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
            Some(link) => match link.publish(self.target.target(), frame, &self.except.rooms) {
                Ok(()) => Ok(delivered),
                Err(error) => Err(SendError::Backend { delivered, error }),
            },
        }
    }

    fn recipients(&self) -> Option<Recipients> {
        let registry = self.registry;
        let recipients = match self.target.target() {
            Target::Conn(id) => Recipients::One(registry.get(id)?),
            Target::Room(room) => Recipients::Group(registry.room(room)?),
            Target::User(user) => Recipients::Group(registry.user(user)?),
            Target::All => Recipients::Many(registry.all()),
        };
        let only_except = match recipients.as_slice() {
            [] => true,
            [one] => self.except.conns.contains(&one.id),
            _ => false,
        };
        (!only_except).then_some(recipients)
    }

    /// Queues `frame` for the recipients but the excluded, through the one
    /// send path.
    fn fan_out(&self, recipients: &Recipients, frame: &Frame<P>, started: Instant) -> Delivery {
        let (conns, skip) = (recipients.as_slice(), &self.skip());
        deliver(conns, &frame.wire, skip, self.counters, Kind::Send(started))
    }
}

/// Asks every connection in `conns` but those `skip` skips to close; how
/// many were open.
fn close_each(conns: &[Arc<Conn>], skip: &Skip<'_>, close: &CloseInfo) -> usize {
    let mut closed = 0;
    for conn in conns {
        if !skip.skips(conn.id) && !conn.queue.is_closing() {
            conn.queue.close(false, Some(close.clone()));
            closed += 1;
        }
    }
    closed
}

/// Makes every connection in `conns` but those `skip` skips leave or join
/// `room` through the registry, as their own handlers would; how many
/// changed.
fn change_each(
    registry: &Registry,
    conns: &[Arc<Conn>],
    skip: &Skip<'_>,
    change: Change,
    room: &str,
) -> usize {
    let changed = |conn: &Arc<Conn>| match change {
        Change::Leave => registry.leave(conn, room),
        Change::Join => matches!(registry.join(conn, room), Ok(true)),
    };
    conns
        .iter()
        .filter(|conn| !skip.skips(conn.id) && changed(conn))
        .count()
}

/// The members of `rooms` on this node, sorted; no allocation for no rooms.
fn room_members<'r>(registry: &Registry, rooms: impl Iterator<Item = &'r str>) -> Vec<ConnId> {
    let mut members = Vec::new();
    for room in rooms {
        if let Some(room) = registry.room(room) {
            members.extend(room.iter().map(|conn| conn.id));
        }
    }
    members.sort_unstable();
    members
}

/// Delivers a recorded message of `room`, stamped with its place in the
/// cluster's history, to this node's members but those `held` (resuming).
#[cfg(feature = "engine")]
pub(crate) fn deliver_recorded(
    registry: &Registry,
    counters: &Counters,
    room: &str,
    frame: &Wire,
    held: &[ConnId],
) -> Delivery {
    let started = Instant::now();
    let Some(members) = registry.room(room) else {
        return Delivery::default();
    };
    let skip = Skip {
        conns: held,
        members: Vec::new(),
    };
    deliver(&members, frame, &skip, counters, Kind::Send(started))
}

/// Delivers a frame that another node sent to `target` to this node's
/// members of it: the same snapshots and queues as a local send, and no
/// except (an except names a connection of the sending node). The frame
/// arrives complete, so its bytes are shared as they came, with no copy.
pub(crate) fn deliver_remote(
    registry: &Registry,
    counters: &Counters,
    target: Target<'_>,
    frame: &Wire,
    except_rooms: &[String],
) -> Delivery {
    let started = Instant::now();
    let recipients = match target {
        Target::Room(room) => registry.room(room).map(Recipients::Group),
        Target::User(user) => registry.user(user).map(Recipients::Group),
        Target::All => Some(Recipients::Many(registry.all())),
        Target::Conn(_) => None,
    };
    let Some(recipients) = recipients else {
        return Delivery::default();
    };
    let skip = Skip {
        conns: &[],
        members: room_members(registry, except_rooms.iter().map(String::as_str)),
    };
    let conns = recipients.as_slice();
    // A close travels as a close frame: the recipients are closed, with
    // their own close frame after what is queued for them. A leave or a
    // join travels as a membership frame, which no socket ever gets.
    let done = if let Some(close) = read_close(frame) {
        close_each(conns, &skip, &close)
    } else if let Some((change, room)) = read_membership(frame) {
        change_each(registry, conns, &skip, change, room)
    } else {
        return deliver(conns, frame, &skip, counters, Kind::Send(started));
    };
    Delivery {
        queued: done,
        ..Delivery::default()
    }
}
