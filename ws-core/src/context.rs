//! What a handler gets besides the message: its connection, and through it
//! the manager.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::Mutex;

use crate::broadcast::Broadcast;
use crate::delivery::Delivery;
use crate::error::{BackendError, JoinError, JoinRefused, ReplyError, SendError, SetUserError};
use crate::frame::Frame;
use crate::handler::ErrorFrame;
use crate::history::{Joining, Position};
use crate::id::{ConnId, UserId};
use crate::manager::Manager;
use crate::presence::Presence;
use crate::protocol::{Outbound, Protocol, Variant};
use crate::registry::Conn;
use crate::send::{self, Kind};
use crate::session::{Read, erase, typed};
use crate::wire::Wire;
use crate::wire::close::CloseInfo;
use crate::wire::correlation::CorrelationId;

/// A handler's view of its connection. Cheap to clone; a clone may be moved
/// into a spawned task and used after the handler returns (sends to a
/// connection that has closed are dropped).
///
/// # Ordering
/// A connection's messages are handled one at a time, in the order they
/// arrived: the next message is not read until the handler of the previous
/// one has returned. The frames a handler queues for its own connection
/// ([`Ctx::send`], [`Ctx::reply`], a broadcast the connection is a member
/// of) go out in the order they were queued, and a request's reply (the
/// value its handler returns) is queued when the handler returns, after
/// everything the handler sent. To have the reply go first (before a
/// broadcast to the sender's room, or a replay), send it early with
/// [`Ctx::reply`].
///
/// ```
/// use ws_core::{ws_protocol, Ctx, HandlerResult};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     #[ws(client)]
///     Join { room: String },
///     #[ws(server)]
///     Joined { room: String, user: Option<String> },
/// }
///
/// struct App;
/// impl ChatHandler for App {
///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
///         ctx.join(&msg.room).await?;
///         let user = ctx.user().map(|u| u.to_string());
///         // everyone in the room but the sender
///         ctx.to_room(&msg.room)
///             .except(ctx.id())
///             .send(chat::Joined { room: msg.room.clone(), user: user.clone() })?;
///         // and the sender
///         ctx.send(chat::Joined { room: msg.room, user })?;
///         Ok(())
///     }
/// }
/// ```
pub struct Ctx<P> {
    conn: Arc<Conn>,
    manager: Manager<P>,
    /// The handler's `authorize_join`, which every join of this connection
    /// passes; `None` for the benchmarks' socket-less connections.
    gate: Option<Arc<dyn JoinGate<P>>>,
    /// The message the handler given this `Ctx` is answering; a clone
    /// answers none, so a task that outlives the handler cannot answer the
    /// next message by mistake.
    answering: Mutex<Answering>,
}

/// The application's check of a join: the handler's `authorize_join`, which
/// this layer reaches through a trait it owns because the handler's type is
/// known only to the connection's task above it.
///
/// The hook's future is boxed to cross the `dyn`: the default's is
/// zero-sized ([`AllowJoin`](crate::hook::AllowJoin)), and a box of a
/// zero-sized value does not allocate, so a handler that keeps the default
/// joins without an allocation.
pub(crate) trait JoinGate<P>: Send + Sync {
    fn authorize<'a>(&'a self, ctx: &'a Ctx<P>, room: &'a str) -> Authorization<'a>;
}

/// The future of one join's `authorize_join`.
pub(crate) type Authorization<'a> =
    Pin<Box<dyn Future<Output = Result<(), JoinRefused>> + Send + 'a>>;

/// The message being handled, as far as replying to it goes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Answering {
    active: bool,
    /// Its correlation id, if it carried one.
    id: Option<CorrelationId>,
    /// The wire name of its declared reply, for a request.
    reply: Option<&'static str>,
    /// Answered early, with [`Ctx::reply`].
    pub(crate) replied: bool,
}

impl<P> Clone for Ctx<P> {
    fn clone(&self) -> Self {
        Self {
            conn: Arc::clone(&self.conn),
            manager: self.manager.clone(),
            gate: self.gate.clone(),
            answering: Mutex::default(),
        }
    }
}

impl<P: Protocol> Ctx<P> {
    pub(crate) fn new(
        conn: Arc<Conn>,
        manager: Manager<P>,
        gate: Option<Arc<dyn JoinGate<P>>>,
    ) -> Self {
        Self {
            conn,
            manager,
            gate,
            answering: Mutex::default(),
        }
    }

    /// The read loop is about to run the handler of a message.
    pub(crate) fn begin(&self, id: Option<CorrelationId>, reply: Option<&'static str>) {
        *self.answering.lock() = Answering {
            active: true,
            id,
            reply,
            replied: false,
        };
    }

    /// The handler has returned: what it answered.
    pub(crate) fn end(&self) -> Answering {
        std::mem::take(&mut *self.answering.lock())
    }

    /// Whether the message being handled has been answered early.
    pub(crate) fn replied(&self) -> bool {
        self.answering.lock().replied
    }

    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.conn.id
    }

    /// The manager, for sends to other connections, rooms and users.
    pub fn manager(&self) -> &Manager<P> {
        &self.manager
    }

    /// The user this connection belongs to: its session's
    /// [`Session::user`](crate::Session::user), as it was when the session was set.
    pub fn user(&self) -> Option<UserId> {
        self.conn.membership.lock().user().cloned()
    }

    /// The connection's session: what `authenticate` returned, or what a
    /// handler last gave [`Ctx::set_session`]. A snapshot: a reference
    /// count, taken under the connection's own lock and released at once,
    /// so it may be held across `.await`s while the session is replaced.
    ///
    /// ```
    /// use ws_core::axum::http::request::Parts;
    /// use ws_core::axum::response::Response;
    /// use ws_core::{ws_protocol, Ctx, HandlerError, HandlerResult, Session, UserId};
    ///
    /// /// Anonymous until a `sign_in` message.
    /// #[derive(Default)]
    /// pub struct Visitor {
    ///     pub user: Option<UserId>,
    ///     pub admin: bool,
    /// }
    ///
    /// impl Session for Visitor {
    ///     fn user(&self) -> Option<UserId> {
    ///         self.user.clone()
    ///     }
    /// }
    ///
    /// #[ws_protocol(session = Visitor)]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Admin {
    ///     #[ws(client)]
    ///     SignIn { name: String, password: String },
    ///     #[ws(client)]
    ///     Purge { room: String },
    /// }
    ///
    /// struct App;
    /// impl AdminHandler for App {
    ///     async fn authenticate(&self, _: &mut Parts, _: &()) -> Result<Visitor, Response> {
    ///         Ok(Visitor::default())
    ///     }
    ///
    ///     async fn sign_in(&self, ctx: &Ctx<Admin>, msg: admin::SignIn) -> HandlerResult {
    ///         if msg.password != "hunter2" {
    ///             return Err(HandlerError::reply("bad_password", "try again"));
    ///         }
    ///         let admin = msg.name == "root";
    ///         ctx.set_session(Visitor { user: Some(msg.name.into()), admin })?;
    ///         Ok(())
    ///     }
    ///
    ///     async fn purge(&self, ctx: &Ctx<Admin>, msg: admin::Purge) -> HandlerResult {
    ///         if !ctx.session().admin {
    ///             return Err(HandlerError::reply("forbidden", "admins only"));
    ///         }
    ///         ctx.manager().to_room(&msg.room).close(4000, "purged")?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn session(&self) -> Arc<P::Session> {
        let session = Arc::clone(self.conn.membership.lock().session());
        // A connection of `P` is created with a session of `P`'s type.
        typed(session).expect("a connection holds its protocol's session type")
    }

    /// Replaces the connection's session (after a login message, say): the
    /// user index follows the new session's [`Session::user`](crate::Session::user), so
    /// [`Manager::to_user`] reaches this connection under its new user at
    /// once, and the connection counts against the new user's
    /// [`max_per_user`](crate::Config::with_max_per_user) and no longer
    /// against the old one's. Rooms, history positions and the send queue
    /// are untouched. Synchronous: no lock is held across an `.await`.
    /// The new session's [`Session::expires_at`](crate::Session::expires_at) re-arms the connection's
    /// refresh timer (at its next message or timer, when set from a task
    /// other than the handler's).
    ///
    /// # Errors
    /// [`SetUserError::TooManyConnections`] when the new user holds its cap
    /// of connections already (the connection keeps its old session), and
    /// [`SetUserError::Closing`] once the connection is closing. Passed on
    /// with `?`, the first reaches the client as an error frame with code
    /// [`error_code::TOO_MANY_USER_CONNECTIONS`](crate::error_code::TOO_MANY_USER_CONNECTIONS).
    ///
    /// # Panics
    /// When an accessor of `session` ([`Session::user`](crate::Session::user),
    /// [`Session::expires_at`](crate::Session::expires_at), [`Session::presence`](crate::Session::presence)) panics; they are all
    /// read before anything changes, so the connection keeps its old
    /// session. In a handler or the `refresh` hook the runtime catches it
    /// and closes the connection with 1011.
    pub fn set_session(&self, session: P::Session) -> Result<(), SetUserError> {
        let Read {
            user,
            expires,
            presence,
        } = Read::of(&session);
        self.manager
            .registry()
            .set_session(&self.conn, user, erase(session))?;
        // After the user: its entries in the rooms take the info. A session
        // that shows none leaves what `set_presence` set.
        if presence.is_some()
            && let Err(error) = self.manager.registry().set_presence(&self.conn, presence)
        {
            tracing::warn!(%error, "a session's presence meta left out");
        }
        // After the swap: the read loop that sees the new expiry re-arms
        // for the session that is now in place.
        self.conn.expires.store(expires, Ordering::Release);
        Ok(())
    }

    /// Asks the handler's `authorize_join` whether this connection may join
    /// `room`.
    async fn authorize(&self, room: &str) -> Result<(), JoinError> {
        match &self.gate {
            Some(gate) => gate.authorize(self, room).await.map_err(JoinError::from),
            None => Ok(()),
        }
    }

    /// Sets this connection's presence meta: its user's entry in the
    /// presence of each room it is in (now and later) lists it, as JSON,
    /// beside the metas of the user's other connections, until it is set
    /// again; a change is an update in the presence events. See
    /// [`Manager::presence`] for an example.
    ///
    /// # Errors
    /// [`PresenceError`](crate::presence::PresenceError) when `meta` cannot
    /// be serialized to JSON, or its JSON is over
    /// [`max_presence_meta`](crate::Config::with_max_presence_meta) bytes
    /// (the connection keeps its meta before).
    pub fn set_presence<T: serde::Serialize + ?Sized>(
        &self,
        meta: &T,
    ) -> Result<(), crate::presence::PresenceError> {
        let registry = self.manager.registry();
        let json = Arc::from(serde_json::to_string(meta)?);
        registry.set_presence(&self.conn, Some(json))
    }

    /// This connection's presence meta, as last set (by
    /// [`Ctx::set_presence`] or the session's
    /// [`Session::presence`](crate::Session::presence)); `None` if none was
    /// set or it is not a `T`. For a change of one part of it:
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Chat { #[ws(client)] Typing { room: String, typing: bool } }
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Meta { typing: Vec<String> }
    ///
    /// struct App;
    /// impl ChatHandler for App {
    ///     async fn typing(&self, ctx: &Ctx<Chat>, msg: chat::Typing) -> HandlerResult {
    ///         let mut meta: Meta = ctx.presence_meta().unwrap_or_default();
    ///         meta.typing.retain(|room| *room != msg.room);
    ///         if msg.typing {
    ///             meta.typing.push(msg.room);
    ///         }
    ///         ctx.set_presence(&meta)?;
    ///         Ok(())
    ///     }
    /// }
    /// # fn main() {}
    /// ```
    pub fn presence_meta<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        let meta = self.manager.registry().presence_of(&self.conn)?;
        serde_json::from_str(&meta).ok()
    }

    /// Who is in `room`; see [`Manager::presence`].
    ///
    /// # Errors
    /// As [`Manager::presence`].
    pub async fn presence(&self, room: &str) -> Result<Presence, BackendError> {
        self.manager.presence(room).await
    }

    /// Joins `room`, creating it; `Ok(false)` if already a member.
    ///
    /// # Errors
    /// [`JoinError::TooManyRooms`] when the connection is in
    /// [`max_rooms`](crate::Config::with_max_rooms) rooms already,
    /// [`JoinError::RoomNameTooLong`] when `room` is longer than
    /// [`max_room_name`](crate::Config::with_max_room_name) bytes, and
    /// [`JoinError::Closing`] once the connection is closing, and
    /// [`JoinError::Refused`] when the handler's `authorize_join` hook
    /// refuses it (asked on every join, before the limits). Passed on with
    /// `?`, each reaches the client as an error frame with its own code
    /// (e.g. [`error_code::TOO_MANY_ROOMS`](crate::error_code::TOO_MANY_ROOMS),
    /// [`error_code::JOIN_REFUSED`](crate::error_code::JOIN_REFUSED)).
    pub async fn join(&self, room: &str) -> Result<bool, JoinError> {
        self.authorize(room).await?;
        self.manager.registry().join(&self.conn, room)
    }

    /// Joins `room` as [`Ctx::join`] does, resuming from `since`, the
    /// position the client last processed: what it missed is replayed
    /// before the live messages, or the answer says why it cannot be. See
    /// [`history`](crate::history).
    ///
    /// The connection is a member of the room when this returns (in
    /// [`Ctx::presence`], for the answer and the rest of the handler), with
    /// the room's recorded messages held back for it. Queue the answer
    /// before dropping the returned [`Joining`]: the replay starts when it
    /// is dropped and delivers what it held back, so the answer goes out
    /// before any recorded message of the room. (A message to the room that
    /// is not kept in history, `#[ws(server)]` without `history`, reaches a
    /// member whenever it is sent, so it may precede the answer.)
    ///
    /// With the Redis backend the room's history is in Redis, so a client
    /// resumes the same on any node: the join waits until this node listens
    /// to the room (on the connection it reads on: a connection replaced
    /// under it is resubscribed first), then for one script that reads the
    /// room's stream. A backend that is reconnecting is waited for up to
    /// 1 s. With Redis out of reach longer, the answer is this node's own
    /// history's, which holds only what this node recorded alone, under its
    /// own epoch: a resume from the cluster's epoch is answered
    /// `epoch_changed` (this node cannot know what other nodes recorded).
    ///
    /// ```
    /// use ws_core::history::Position;
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol(history = 1000, history_ttl = "5m")]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Chat {
    ///     #[ws(client)]
    ///     Join { room: String, since: Option<Position> },
    ///     #[ws(server)]
    ///     Joined { room: String, epoch: String, offset: u64, recovered: bool },
    ///     #[ws(server, history)]
    ///     Said { room: String, text: String },
    /// }
    ///
    /// struct App;
    /// impl ChatHandler for App {
    ///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
    ///         let joining = ctx.join_from(&msg.room, msg.since.as_ref()).await?;
    ///         let resume = joining.resume();
    ///         ctx.send(chat::Joined {
    ///             room: msg.room,
    ///             epoch: resume.epoch.to_string(),
    ///             offset: resume.offset,
    ///             recovered: resume.recovered,
    ///         })?;
    ///         Ok(()) // `joining` drops here: the replay begins
    ///     }
    /// }
    /// # fn main() {}
    /// ```
    ///
    /// The handler's `authorize_join` hook is asked first, as for
    /// [`Ctx::join`]: a refused connection neither joins nor replays
    /// anything of the room's history.
    ///
    /// # Errors
    /// As [`Ctx::join`].
    pub async fn join_from(
        &self,
        room: &str,
        since: Option<&Position>,
    ) -> Result<Joining, JoinError> {
        self.authorize(room).await?;
        crate::history::join_from(
            self.manager.history(),
            self.manager.registry(),
            &self.conn,
            room,
            since,
        )
        .await
    }

    /// Leaves `room` (removed once empty); false if not a member.
    pub fn leave(&self, room: &str) -> bool {
        self.manager.registry().leave(&self.conn, room)
    }

    /// The rooms this connection is in.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.conn.membership.lock().rooms().to_vec()
    }

    /// Sends a server message to this connection.
    pub fn send(&self, message: impl Outbound<P>) -> Result<Delivery, SendError> {
        let started = Instant::now();
        let frame = Frame::encode(message)?;
        Ok(self.send_wire(&frame.wire, Kind::Send(started)))
    }

    /// Sends a request of the server (`#[ws(server, reply = Answer)]`) to
    /// this connection and returns the wait for the client's typed answer,
    /// which fails after `timeout`, when the connection closes, or at once
    /// if the queue is full: see [`request`](crate::request) for the wire.
    ///
    /// The request is queued when this is called; the returned future owns
    /// what it needs (`'static`), so it can be spawned. **Spawn it when
    /// calling from a handler or hook**: a connection's messages are handled
    /// one at a time, and the answer is one of them, so a handler that
    /// awaits the answer of its own connection waits for the timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Game {
    ///     #[ws(client)]
    ///     Leave,
    ///     /// The server asks; the client answers with `Confirmed`.
    ///     #[ws(server, reply = Confirmed)]
    ///     Confirm { question: String },
    ///     #[ws(client)]
    ///     Confirmed { yes: bool },
    ///     #[ws(server)]
    ///     Bye,
    /// }
    ///
    /// struct App;
    ///
    /// // `Confirmed` answers a request: it has no handler method.
    /// impl GameHandler for App {
    ///     async fn leave(&self, ctx: &Ctx<Game>, _: game::Leave) -> HandlerResult {
    ///         let ask = ctx.request(game::Confirm { question: "quit?".into() }, Duration::from_secs(10));
    ///         let ctx = ctx.clone();
    ///         tokio::spawn(async move {
    ///             if let Ok(game::Confirmed { yes: true }) = ask.await {
    ///                 let _ = ctx.send(game::Bye);
    ///             }
    ///         });
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn request<M>(
        &self,
        message: M,
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<M::Reply, crate::error::RequestError>> + Send + 'static
    where
        M: crate::protocol::ServerRequest<P> + 'static,
        M::Reply: Send + 'static,
    {
        crate::request::request::<P, M>(
            Arc::clone(&self.conn),
            self.manager.counters(),
            message,
            timeout,
        )
    }

    /// Answers the message being handled now, rather than when the handler
    /// returns: the reply is queued at once, with the message's correlation
    /// id, so it goes out before whatever the handler sends after it (a
    /// broadcast to the sender's own room, a replay of history).
    ///
    /// For a request (`#[ws(client, reply = Members)]`), `message` must be
    /// its declared reply. The message comes back, for the handler to
    /// return: a request answered early is not answered again when its
    /// handler returns, whatever value it returns, and an error it returns
    /// afterwards reaches the client without the id (the request was
    /// answered). For any other message, `reply` is [`Ctx::send`] with the
    /// message's correlation id, if it carried one.
    ///
    /// Only the `Ctx` a handler was given replies, and only while the
    /// handler runs (a clone moved into a task answers nothing).
    ///
    /// ```
    /// use ws_core::{ws_protocol, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Lobby {
    ///     #[ws(client, reply = Joined)]
    ///     Join { room: String },
    ///     #[ws(server)]
    ///     Joined { room: String },
    ///     #[ws(server)]
    ///     Arrived { room: String },
    /// }
    ///
    /// struct App;
    /// impl LobbyHandler for App {
    ///     async fn join(&self, ctx: &Ctx<Lobby>, msg: lobby::Join) -> HandlerResult<lobby::Joined> {
    ///         ctx.join(&msg.room).await?;
    ///         // The sender gets `joined` (with its request's id) first...
    ///         let joined = ctx.reply(lobby::Joined { room: msg.room.clone() })?;
    ///         // ...then the `arrived` that the whole room gets, itself included.
    ///         ctx.to_room(&msg.room).send(lobby::Arrived { room: msg.room.clone() })?;
    ///         Ok(joined) // answered already: not sent again
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// [`ReplyError::WrongType`] for a message other than the request's
    /// declared reply, [`ReplyError::AlreadyReplied`] for a second reply,
    /// [`ReplyError::NoRequest`] outside a handler's run, and
    /// [`ReplyError::Send`] when the message cannot be encoded.
    pub fn reply<R>(&self, message: R) -> Result<R, ReplyError>
    where
        R: Outbound<P> + Variant<P>,
    {
        let mut answering = self.answering.lock();
        if !answering.active {
            return Err(ReplyError::NoRequest);
        }
        if answering.replied {
            return Err(ReplyError::AlreadyReplied);
        }
        if let Some(expected) = answering.reply
            && expected != R::WIRE
        {
            return Err(ReplyError::WrongType {
                expected,
                found: R::WIRE,
            });
        }
        let message = message.into_message();
        let frame = send::encode(&message, answering.id).map_err(SendError::Encode)?;
        answering.replied = true;
        drop(answering);
        self.answer(&frame);
        // The enum was built from an `R` a moment ago.
        R::from_message(message).map_err(|other| ReplyError::WrongType {
            expected: R::WIRE,
            found: other.message_type(),
        })
    }

    /// Sends an encoded frame to this connection.
    pub fn send_frame(&self, frame: &Frame<P>) -> Delivery {
        self.send_wire(&frame.wire, Kind::Send(Instant::now()))
    }

    /// Queues `frame` for this connection through the one send path.
    fn send_wire(&self, frame: &Wire, kind: Kind) -> Delivery {
        send::to_one(&self.conn, frame, self.manager.counters(), kind)
    }

    /// Queues a frame of the runtime's side of the conversation (a reply,
    /// an error, an ack, `refresh_required`): counted as queued, dropped or
    /// evicted, not as a send of the application.
    pub(crate) fn answer(&self, frame: &Wire) -> Delivery {
        self.send_wire(frame, Kind::Answer)
    }

    /// A broadcast to `room` (add [`Broadcast::except`] to skip this
    /// connection); the name borrowed (`&str`, `&String`: no copy) or owned
    /// (a `String` moved in), as for [`Manager::to_room`]. A broadcast
    /// holds only what it was given, so a name it does not borrow may be
    /// moved while it waits, and a helper may build the name and return
    /// the broadcast:
    ///
    /// ```
    /// use ws_core::{ws_protocol, Broadcast, Ctx, HandlerResult};
    ///
    /// #[ws_protocol]
    /// #[serde(tag = "type", rename_all = "snake_case")]
    /// pub enum Board {
    ///     #[ws(client)]
    ///     Open { board: u64, name: String },
    ///     #[ws(server)]
    ///     Opened { name: String },
    /// }
    ///
    /// /// The board's room, its name built here.
    /// fn board(ctx: &Ctx<Board>, id: u64) -> Broadcast<'_, Board> {
    ///     ctx.to_room(format!("board:{id}"))
    /// }
    ///
    /// struct App;
    /// impl BoardHandler for App {
    ///     async fn open(&self, ctx: &Ctx<Board>, msg: board::Open) -> HandlerResult {
    ///         let name = msg.name;
    ///         let others = ctx.to_room(name.clone()).except(ctx.id());
    ///         // `name` moves while the broadcast waits (E0505 with `to_room(&name)`).
    ///         others.send(board::Opened { name })?;
    ///         board(ctx, msg.board).send(board::Opened { name: "b".into() })?;
    ///         let room = String::from("lobby");
    ///         ctx.to_room(&room).send(board::Opened { name: room.clone() })?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn to_room<'a>(&'a self, room: impl Into<std::borrow::Cow<'a, str>>) -> Broadcast<'a, P> {
        self.manager.to_room(room)
    }

    /// Closes this connection with `code` and `reason` once the frames
    /// already queued are written.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        self.conn
            .queue
            .close(false, Some(CloseInfo::new(code, reason)));
    }

    /// Queues an [`ErrorFrame`] for this connection, with the correlation
    /// id of the message it answers if it had one.
    pub(crate) fn send_error(&self, code: &str, message: &str, id: Option<CorrelationId>) {
        let frame = ErrorFrame {
            id,
            code: code.to_owned(),
            message: message.to_owned(),
        };
        // Two strings and an integer always serialize.
        if let Ok(frame) = send::encode(&frame, None) {
            self.answer(&frame);
        }
    }
}

impl<P> fmt::Debug for Ctx<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx").field("id", &self.conn.id).finish()
    }
}
