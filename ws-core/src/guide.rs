//! Recipes for building an app, each a compiling (and, where it needs no
//! network, running) example.

/// Per-connection state: the handler owns it, keyed by [`ConnId`](crate::ConnId),
/// and `on_disconnect` removes it (it runs exactly once per registered
/// connection, also when `on_connect` failed).
///
/// What a connection *is* (its user, its rights, its token's expiry) belongs
/// in its [`Session`](crate::Session), which the framework holds, indexes
/// and replaces on refresh; what changes as it talks, like this score, is
/// the application's, kept here.
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
/// `user_connections`, `rooms`) and lists a room's members on this node
/// ([`Manager::room_members`](crate::Manager::room_members)); a connection
/// knows its own rooms ([`Ctx::rooms`](crate::Ctx::rooms)).
///
/// Closing another connection: [`Manager::close`](crate::Manager::close)
/// closes one by its [`ConnId`](crate::ConnId), on this node only (an id is
/// a counter of this process); [`Broadcast::close`](crate::Broadcast::close)
/// closes every connection of a target, so `to_user(u).close(..)` reaches a
/// user's connections on every node with Redis. A connection closes itself
/// with [`Ctx::close`](crate::Ctx::close).
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
///     List { lobby: String },
///     #[ws(server)]
///     Members { ids: Vec<u64> },
///     /// The host removes one connection ...
///     #[ws(client)]
///     Kick { lobby: String, conn: u64 },
///     /// ... or bans a user, on every node.
///     #[ws(client)]
///     Ban { user: String },
///     /// The host ends the lobby: everyone in it but the host leaves.
///     #[ws(client)]
///     Disband { lobby: String },
/// }
///
/// struct App;
/// impl LobbyHandler for App {
///     async fn join(&self, ctx: &Ctx<Lobby>, msg: lobby::Join) -> HandlerResult {
///         ctx.join(&msg.lobby).await?;
///         Ok(())
///     }
///     async fn list(&self, ctx: &Ctx<Lobby>, msg: lobby::List) -> HandlerResult<lobby::Members> {
///         let members = ctx.manager().room_members(&msg.lobby);
///         Ok(lobby::Members { ids: members.iter().map(|id| id.get()).collect() })
///     }
///     async fn kick(&self, ctx: &Ctx<Lobby>, msg: lobby::Kick) -> HandlerResult {
///         let manager = ctx.manager();
///         if let Some(id) = manager.room_members(&msg.lobby).into_iter().find(|id| id.get() == msg.conn) {
///             manager.close(id, 4001, "kicked by the host");
///         }
///         Ok(())
///     }
///     async fn ban(&self, ctx: &Ctx<Lobby>, msg: lobby::Ban) -> HandlerResult {
///         // Every connection of that user, on every node with Redis.
///         ctx.manager().to_user(&msg.user).close(4003, "banned")?;
///         Ok(())
///     }
///     async fn disband(&self, ctx: &Ctx<Lobby>, msg: lobby::Disband) -> HandlerResult {
///         ctx.to_room(&msg.lobby).except(ctx.id()).close(4000, "lobby disbanded")?;
///         Ok(())
///     }
/// }
/// ```
pub mod members {}

/// Authentication with extractors: `authenticate` gets the upgrade
/// request's head (`&mut Parts`) and the router's state, so any axum
/// `FromRequestParts<S>` extractor runs in it, axum's own (`Query`,
/// `HeaderMap`, a cookie jar) or the application's; its rejection, or any
/// response, refuses the connection before the 101. What it returns is the
/// connection's session ([`Session`](crate::Session)). See
/// [`axum`] and `examples/auth` (a JWT) for complete examples,
/// and `ws_core::testing::TestServer::with_state`, `Connect::header` and
/// `cookie` for testing it.
///
/// Where a browser's token travels: the `WebSocket` constructor sets no
/// headers, so a browser sends a cookie (of the page's own origin, which
/// `allowed_origins` checks) or puts the token in the URL (`?token=`,
/// which access logs keep: make it short-lived).
///
/// ```
/// use ws_core::axum::extract::{FromRef, FromRequestParts, Query};
/// use ws_core::axum::http::{StatusCode, header, request::Parts};
/// use ws_core::axum::response::{IntoResponse, Response};
/// use ws_core::{HandlerResult, Ctx, UserId, ws_protocol};
///
/// /// The one token this server accepts, in the router's state.
/// #[derive(Clone)]
/// struct AppState { secret: String }
///
/// /// The application's own extractor: the user of a valid token.
/// struct Bearer(UserId);
///
/// impl<S: Send + Sync> FromRequestParts<S> for Bearer
/// where
///     AppState: FromRef<S>,
/// {
///     type Rejection = Response;
///
///     async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
///         #[derive(serde::Deserialize)]
///         struct Token { token: String }
///         let header = parts.headers.get(header::AUTHORIZATION)
///             .and_then(|v| v.to_str().ok()?.strip_prefix("Bearer ").map(str::to_owned));
///         let token = match header {
///             Some(token) => token,
///             None => Query::<Token>::from_request_parts(parts, state).await
///                 .map_err(IntoResponse::into_response)?.0.token,
///         };
///         match token == AppState::from_ref(state).secret {
///             true => Ok(Bearer(UserId::from("ann"))),
///             false => Err(StatusCode::UNAUTHORIZED.into_response()),
///         }
///     }
/// }
///
/// #[ws_protocol(session = UserId)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Game {
///     #[ws(client)]
///     Ready {},
/// }
///
/// struct App;
/// impl GameHandler<AppState> for App {
///     async fn authenticate(&self, request: &mut Parts, state: &AppState) -> Result<UserId, Response> {
///         let Bearer(user) = Bearer::from_request_parts(request, state).await?;
///         Ok(user)
///     }
///
///     async fn ready(&self, ctx: &Ctx<Game>, _: game::Ready) -> HandlerResult {
///         assert!(ctx.user().is_some(), "every connection is a user's");
///         Ok(())
///     }
/// }
/// ```
pub mod authentication {}

/// Correlated errors and acks (see [`correlation`](crate::correlation)):
/// a variant with `reply = ...` is a request; the client puts an `"id"`
/// beside the tag and gets the reply, or the error frame, with the same id.
/// With `#[ws_protocol(correlate = "all")]` every client message may carry
/// an `id` and is answered with it exactly once: by an early
/// [`Ctx::reply`](crate::Ctx::reply), by the error frame if its handler
/// fails (`Err(HandlerError::reply(code, message))`), or else by
/// `{"type":"ack","id":..}`. The Rust client waits for that answer with
/// `ws_core::client::Client::send_with_ack` (feature `client`), the
/// generated TypeScript client with `sendWithAck`.
///
/// ```
/// use std::sync::Arc;
/// use ws_core::client::ClientError;
/// use ws_core::testing::TestServer;
/// use ws_core::{Ctx, HandlerError, HandlerResult, Manager, ws_protocol};
///
/// #[ws_protocol(correlate = "all")]
/// #[derive(Debug, PartialEq)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Game {
///     /// `{"type":"start_game","id":3}` → `{"type":"ack","id":3}`,
///     /// or `{"type":"error","id":3,"code":"not_host",...}`.
///     #[ws(client)]
///     StartGame { host: bool },
///     /// Answered early with `Seated`, in place of the ack.
///     #[ws(client)]
///     Sit { seat: u32 },
///     #[ws(server)]
///     Seated { seat: u32 },
/// }
///
/// struct App;
/// impl GameHandler for App {
///     async fn start_game(&self, _ctx: &Ctx<Game>, msg: game::StartGame) -> HandlerResult {
///         if !msg.host {
///             return Err(HandlerError::reply("not_host", "only the host starts the game"));
///         }
///         Ok(())
///     }
///     async fn sit(&self, ctx: &Ctx<Game>, msg: game::Sit) -> HandlerResult {
///         ctx.reply(game::Seated { seat: msg.seat })?;
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = TestServer::start(Manager::<Game>::new(), Arc::new(App)).await;
/// let mut client = server.client().await.into_inner();
/// assert_eq!(client.send_with_ack(game::StartGame { host: true }).await.unwrap(), None);
/// match client.send_with_ack(game::StartGame { host: false }).await {
///     Err(ClientError::Server(error)) => assert_eq!(error.code, "not_host"),
///     other => panic!("{other:?}"),
/// }
/// let seated = client.send_with_ack(game::Sit { seat: 2 }).await.unwrap();
/// assert_eq!(seated, Some(Game::Seated { seat: 2 }));
/// # }
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
/// the sender is in reaches the sender before its own reply, unless the
/// handler replies early with [`Ctx::reply`](crate::Ctx::reply): the reply
/// is queued at once, with the request's id, and is not sent again when
/// the handler returns. A producer outside any handler that would rather
/// wait for queue space than drop or evict awaits
/// [`Broadcast::send_waiting`](crate::Broadcast::send_waiting).
///
/// ```
/// use std::sync::Arc;
/// use ws_core::testing::TestServer;
/// use ws_core::{Ctx, HandlerResult, Manager, ws_protocol};
///
/// #[ws_protocol]
/// #[derive(Debug, PartialEq)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     #[ws(client, reply = Joined)]
///     Join { room: String },
///     #[ws(server)]
///     Joined { room: String },
///     #[ws(server)]
///     Arrived { room: String },
/// }
///
/// struct App;
/// impl ChatHandler for App {
///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult<chat::Joined> {
///         ctx.join(&msg.room).await?;
///         // The sender gets its reply first ...
///         let joined = ctx.reply(chat::Joined { room: msg.room.clone() })?;
///         // ... then the broadcast that the whole room gets, itself included.
///         ctx.to_room(&msg.room).send(chat::Arrived { room: msg.room.clone() })?;
///         Ok(joined) // answered already: not sent again
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = TestServer::start(Manager::<Chat>::new(), Arc::new(App)).await;
/// let mut client = server.client().await;
/// assert_eq!(client.ask(chat::Join { room: "a".into() }).await.room, "a");
/// assert_eq!(client.expect::<chat::Arrived>().await.room, "a");
/// client.refute_receive().await;
/// # }
/// ```
pub mod ordering_and_reply_timing {}
