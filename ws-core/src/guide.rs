//! Recipes for building an app, each a compiling (and, where it needs no
//! network, running) example. Items marked **will change** describe
//! today's API where an issue in progress adds a better one.

/// Per-connection state: the handler owns it, keyed by [`ConnId`](crate::ConnId),
/// and `on_disconnect` removes it (it runs exactly once per registered
/// connection, also when `on_connect` failed).
///
/// **Will change**: session state held by the framework replaces the map.
///
/// ```
/// use std::collections::HashMap;
/// use parking_lot::Mutex;
/// use ws_core::{ConnId, Ctx, Disconnect, HandlerResult, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Game {
///     #[ws(client)]
///     Score { points: u32 },
/// }
///
/// #[derive(Default)]
/// struct App {
///     scores: Mutex<HashMap<ConnId, u32>>,
/// }
///
/// impl GameHandler for App {
///     async fn score(&self, ctx: &Ctx<Game>, msg: game::Score) -> HandlerResult {
///         *self.scores.lock().entry(ctx.id()).or_default() += msg.points;
///         Ok(())
///     }
///     async fn on_disconnect(&self, ctx: &Ctx<Game>, _why: &Disconnect) {
///         self.scores.lock().remove(&ctx.id());
///     }
/// }
/// ```
pub mod per_connection_state {}

/// Listing and kicking members: the manager counts (`room_size`,
/// `user_connections`, `rooms`), a connection knows its own rooms
/// ([`Ctx::rooms`](crate::Ctx::rooms)) and closes itself with
/// [`Ctx::close`](crate::Ctx::close).
///
/// **Will change**: `manager.close(conn_id, code, reason)` and
/// `manager.to_user(u).close(..)` close another connection; until then a
/// host tells the player with a message and the player's own connection
/// acts on it, as below.
///
/// ```
/// use ws_core::{Ctx, HandlerResult, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Lobby {
///     #[ws(client)]
///     Join { lobby: String },
///     #[ws(client, reply = Members)]
///     Count { lobby: String },
///     #[ws(server)]
///     Members { count: u64 },
///     #[ws(client)]
///     Kick { user: String },
///     #[ws(server)]
///     Kicked {},
/// }
///
/// struct App;
/// impl LobbyHandler for App {
///     async fn join(&self, ctx: &Ctx<Lobby>, msg: lobby::Join) -> HandlerResult {
///         ctx.join(&msg.lobby)?;
///         Ok(())
///     }
///     async fn count(&self, ctx: &Ctx<Lobby>, msg: lobby::Count) -> HandlerResult<lobby::Members> {
///         Ok(lobby::Members { count: ctx.manager().room_size(&msg.lobby) as u64 })
///     }
///     async fn kick(&self, ctx: &Ctx<Lobby>, msg: lobby::Kick) -> HandlerResult {
///         // Every connection of that user, on every node with Redis.
///         ctx.manager().to_user(&msg.user).send(lobby::Kicked {})?;
///         Ok(())
///     }
/// }
/// ```
pub mod members {}

/// Authentication with extractors: `authenticate` gets the upgrade
/// request's head; axum's extractors that work on a URI or headers apply
/// (`Query::try_from_uri`), and any response refuses the connection.
/// See [`axum`](crate::axum) for a complete example, and
/// `ws_core::testing::Connect::header` and `cookie` for testing it.
///
/// ```
/// use ws_core::axum::extract::Query;
/// use ws_core::axum::http::{StatusCode, header, request::Parts};
/// use ws_core::axum::response::{IntoResponse, Response};
/// use ws_core::UserId;
///
/// #[derive(serde::Deserialize)]
/// struct Token { token: String }
///
/// fn user_of(request: &Parts) -> Result<Option<UserId>, Response> {
///     let bearer = request.headers.get(header::AUTHORIZATION)
///         .and_then(|v| v.to_str().ok()?.strip_prefix("Bearer ").map(str::to_owned));
///     let token = match bearer {
///         Some(token) => token,
///         None => Query::<Token>::try_from_uri(&request.uri)
///             .map_err(IntoResponse::into_response)?.0.token,
///     };
///     match token.as_str() {
///         "secret" => Ok(Some(UserId::from("ann"))),
///         _ => Err(StatusCode::UNAUTHORIZED.into_response()),
///     }
/// }
/// ```
pub mod authentication {}

/// Correlated errors and acks: a variant with `reply = ...` is a request;
/// the client puts an `"id"` beside the tag and gets the reply, or the error
/// frame, with the same id (see [`correlation`](crate::correlation)). An
/// error is `Err(HandlerError::reply(code, message))`; an ack is a reply
/// with no fields.
///
/// **Will change**: any client message carrying a correlation id gets its
/// error and an optional ack with the id, and server-to-client requests get
/// typed replies.
///
/// ```
/// use ws_core::{Ctx, HandlerError, HandlerResult, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Game {
///     /// `{"type":"start_game","id":3}` → `{"type":"started","id":3}`,
///     /// or `{"type":"error","code":"not_host",...,"id":3}`.
///     #[ws(client, reply = Started)]
///     StartGame {},
///     #[ws(server)]
///     Started {},
/// }
///
/// struct App;
/// impl GameHandler for App {
///     async fn start_game(&self, ctx: &Ctx<Game>, _msg: game::StartGame) -> HandlerResult<game::Started> {
///         if ctx.user().is_none() {
///             return Err(HandlerError::reply("not_host", "only the host starts the game"));
///         }
///         Ok(game::Started {})
///     }
/// }
/// ```
pub mod errors_and_acks {}

/// Testing with the harness (feature `testing`; see `ws_core::testing`):
/// a server on 127.0.0.1:0 with the app's routes, typed clients whose reads
/// time out, and assertions.
///
/// ```
/// use std::sync::Arc;
/// use ws_core::testing::TestServer;
/// use ws_core::{Ctx, HandlerResult, Manager, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Game {
///     #[ws(client, reply = Pong)]
///     Ping { n: u32 },
///     #[ws(server)]
///     Pong { n: u32 },
/// }
///
/// struct App;
/// impl GameHandler for App {
///     async fn ping(&self, _ctx: &Ctx<Game>, msg: game::Ping) -> HandlerResult<game::Pong> {
///         Ok(game::Pong { n: msg.n })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = TestServer::start(Manager::<Game>::new(), Arc::new(App)).await;
/// let mut client = server.connect().header("authorization", "Bearer t").client().await;
/// assert_eq!(client.ask(game::Ping { n: 7 }).await.n, 7);
/// client.refute_receive().await;
/// client.close().await;
/// # }
/// ```
pub mod testing_with_the_harness {}

/// Scaling out with Redis (feature `redis`): one line joins the node to the
/// others on the same Redis; rooms, users and `to_all` span the nodes,
/// `to_conn` and `ctx.send` stay local. When Redis is down, local delivery
/// goes on, sends return `SendError::Backend`, and the backend logs a
/// warning when it goes and when it is back (see the README, "Several
/// nodes").
///
/// ```no_run
/// # #[cfg(feature = "redis")]
/// # fn main() -> Result<(), ws_core::BackendError> {
/// # use ws_core::{Manager, ws_protocol};
/// # #[ws_protocol]
/// # #[serde(tag = "type", rename_all = "snake_case")]
/// # pub enum Game { #[ws(server)] Tick {} }
/// let manager = Manager::<Game>::builder()
///     .redis("redis://127.0.0.1:6379/")?
///     .build();
/// println!("{:?}", manager.backend_status());
/// # Ok(()) }
/// # #[cfg(not(feature = "redis"))]
/// # fn main() {}
/// ```
pub mod scaling_out_with_redis {}

/// Handler ordering and reply timing. Per connection, one handler runs at a
/// time, in the order the messages arrived; frames to one connection are
/// delivered in the order they were queued. A request's reply is queued
/// when its handler **returns**, so a broadcast the handler sent to a room
/// the sender is in reaches the sender before its own reply.
///
/// **Will change**: a handler can reply early (`ctx.reply(..)`), before its
/// broadcasts.
///
/// ```
/// use ws_core::{Ctx, HandlerResult, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     #[ws(client, reply = Said)]
///     Say { room: String, text: String },
///     #[ws(server)]
///     Said { text: String },
/// }
///
/// struct App;
/// impl ChatHandler for App {
///     async fn say(&self, ctx: &Ctx<Chat>, msg: chat::Say) -> HandlerResult<chat::Said> {
///         // The sender gets this broadcast first ...
///         ctx.to_room(&msg.room).send(chat::Said { text: msg.text.clone() })?;
///         // ... and then the reply, with the request's id.
///         Ok(chat::Said { text: msg.text })
///     }
/// }
/// ```
pub mod ordering_and_reply_timing {}
