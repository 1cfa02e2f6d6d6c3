//! Declarative, typed WebSockets for [axum].
//!
//! Write one enum holding the messages of both directions, annotate it with
//! [`#[ws_protocol(...)]`](ws_protocol), and get:
//!
//! - **typed routing**: a generated `{Enum}Handler` trait with one async
//!   method per `#[ws(client)]` variant; a missing handler does not compile,
//!   and only `#[ws(server)]` messages can be sent;
//! - **a JSON Schema** of both directions ([`schema`]), for frontend clients;
//! - **for frontends**: an AsyncAPI 3.0 document ([`Protocol::asyncapi`]),
//!   TypeScript definitions with a typed client ([`Protocol::typescript`]),
//!   typed request/reply (`#[ws(client, reply = Pong)]`, [`correlation`]), a
//!   typed Rust client (`client`, feature `client`) and a test harness
//!   (`testing`, feature `testing`);
//! - **rooms and users**: [`Ctx::join`], [`Manager::to_room`],
//!   [`Manager::to_user`], [`Manager::to_all`], each with
//!   [`Broadcast::except`];
//! - **a [`Manager`] with the attribute's limits** ([`Config`]): an admission
//!   cap answered with HTTP 503, bounded per-connection send queues with an
//!   overflow policy, a message size limit (close 1009), heartbeats and an
//!   idle timeout.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ws_core::{ws_protocol, endpoint, Ctx, HandlerResult, Manager};
//!
//! /// A chat.
//! #[ws_protocol(max_connections = 10_000, send_queue = 256, on_full = "close")]
//! #[serde(tag = "type", rename_all = "snake_case")]
//! pub enum Chat {
//!     /// Join a room.
//!     #[ws(client)]
//!     Join { room: String },
//!     /// Say something in a room.
//!     #[ws(client)]
//!     Say { room: String, text: String },
//!     /// Someone said something.
//!     #[ws(server)]
//!     Said { room: String, text: String },
//! }
//!
//! struct App;
//!
//! impl ChatHandler for App {
//!     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
//!         ctx.join(&msg.room).await?;
//!         Ok(())
//!     }
//!
//!     async fn say(&self, ctx: &Ctx<Chat>, chat::Say { room, text }: chat::Say) -> HandlerResult {
//!         ctx.to_room(&room).send(chat::Said { room: room.clone(), text })?;
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     let manager = Manager::<Chat>::new();
//!     let app = axum::Router::new().route("/ws", endpoint(manager, Arc::new(App)));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//!     ws_core::serve(listener, app).await.unwrap();
//! }
//! ```
//!
//! # Layers
//!
//! The modules follow the data path: a message from a client goes down it
//! from `upgrade`, a message to clients from `send`. Each step is a module
//! (paths under `ws-core/src/`); below the path, the layers it stands on.
//!
//! ```text
//!     HTTP request
//!          |
//!     upgrade    connection/upgrade.rs    handshake, origin, auth hook, 101
//!     admit      admission/               a slot under the caps, held as a guard
//!     read       connection/read_loop.rs  frames in, limits, idle timeout
//!     dispatch   connection/dispatch.rs   decode, authorize, rate-limit,
//!                                         correlate, route
//!     handler    {Enum}Handler            the application's method, generated
//!                                         by #[ws_protocol] (route.rs), with a Ctx
//!     send       send.rs                  one path to a connection, a user, a
//!                                         room (broadcast.rs) or a reply
//!     queue      queue.rs                 bounded per connection, overflow policy
//!     writer     connection/writer.rs     coalesced writes, pings, close frame
//!          |
//!        socket
//!   ---------------------------------------------------------------------------
//!     wire/      frames, close frames, deflate, codecs: sans-IO, no tokio
//!     registry/  the connections, rooms and users; each leaves by a guard
//!     history/   the rooms' streams: offsets, epochs, catch-up
//!     backend/   beyond this process: the `Engine` trait that each engine
//!                (Redis) implements, and `Node`, which the manager
//!                implements so that an engine can deliver into it
//! ```
//!
//! A module imports only from modules below it; where a lower layer must
//! call up (a backend delivering into the manager), it owns a trait that
//! the upper one implements. A test fails on a cycle among the top-level
//! modules. Beside the path sit `manager` (configuration, the registry and
//! the sends of one protocol), `config`, and `protocol`: the traits the
//! macro implements and the documents derived from them.
//!
//! # Ordering
//! A connection's messages are handled one at a time, in the order they
//! arrived: the next is not read before the previous one's handler has
//! returned. The frames queued for one connection go out in the order they
//! were queued, whoever queued them. A request's reply is queued when its
//! handler returns, unless the handler answers early with [`Ctx::reply`];
//! see [`Ctx`]'s section on ordering.

#![warn(missing_docs)]
// docs.rs builds with every feature and names the one each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
// No unsafe code in the library; its tests get `deny`, so that one that
// needs it (e.g. `std::env::set_var`) says so with a reviewed `allow`.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

// The layers and the data path are drawn in the crate docs above
// (`# Layers`); the test in `layers` fails on a cycle among top-level
// modules.
mod admission;
mod backend;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
mod broadcast;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
mod connection;
mod context;
mod delivery;
mod error;
mod frame;
pub mod guide;
mod handler;
mod health;
pub mod history;
pub mod hook;
mod id;
#[cfg(test)]
mod layers;
mod manager;
pub mod presence;
mod protocol;
mod queue;
mod rate;
mod registry;
pub mod request;
mod route;
mod send;
mod serve;
mod session;
pub mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub use backend::NatsBackend;
pub use backend::{Backend, BackendStatus};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use backend::{PubSubMode, RedisBackend};
pub use broadcast::{Broadcast, Excluded};
pub use config::{
    ByteRate, Compression, Config, ConfigError, OnInvalid, OnRateLimit, Overflow, RateLimit,
};
pub use connection::upgrade::endpoint;
pub use context::Ctx;
pub use delivery::Delivery;
pub use error::{
    BackendError, ConnectionClosing, JoinError, JoinRefused, RefreshRefused, ReplyError,
    RequestError, SendError, SetUserError,
};
pub use frame::Frame;
pub use handler::{
    Disconnect, ErrorFrame, HandlerError, HandlerResult, RefreshFrame, RefreshRequired, error_code,
};
pub use health::health;
pub use id::{ConnId, UserId};
pub use manager::{Manager, ManagerBuilder, ShutdownReport};
pub use protocol::schema;
pub use protocol::{
    ClientMessage, MessageInfo, Outbound, Protocol, Request, ServerRequest, Tagging, Variant,
};
pub use route::Route;
pub use serve::{Serve, serve, shutdown_signal};
#[cfg(feature = "tls")]
pub use serve::{Tls, TlsError};
pub use session::Session;
pub use telemetry::Stats;
pub use wire::correlation::CorrelationId;
pub use wire::{CloseInfo, Codec, InvalidMessagePack, close_code, correlation};

/// Re-exported so users need no direct axum dependency for the basics: the
/// router, responses, and the extractors `Query`, `Json`, `Form`, `Path`,
/// `State`, `MatchedPath` and `OriginalUri` (ws-core enables axum's `query`,
/// `json`, `form`, `matched-path` and `original-uri` features; a server of
/// its own is [`serve`]).
///
/// `authenticate` gets the upgrade request's head and the router's state,
/// so any `FromRequestParts<S>` extractor runs in it, as in an axum
/// handler: implement `{Enum}Handler<S>` for a `Router<S>`.
///
/// ```
/// use std::sync::Arc;
/// use serde::Deserialize;
/// use ws_core::axum::extract::{FromRequestParts, Json, Query, State};
/// use ws_core::axum::http::{StatusCode, request::Parts};
/// use ws_core::axum::response::{IntoResponse, Response};
/// use ws_core::axum::{Router, routing::get};
/// use ws_core::{Ctx, HandlerResult, Manager, UserId, endpoint, ws_protocol};
///
/// #[ws_protocol(session = UserId)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Game {
///     #[ws(client)]
///     Ready {},
/// }
///
/// #[derive(Clone)]
/// struct AppState {
///     manager: Manager<Game>,
///     banned: Arc<Vec<String>>,
/// }
///
/// #[derive(Deserialize)]
/// struct Login {
///     name: String,
/// }
///
/// struct App;
///
/// impl GameHandler<AppState> for App {
///     async fn authenticate(&self, request: &mut Parts, state: &AppState) -> Result<UserId, Response> {
///         // axum's `Query` extractor, with the router's state.
///         let Query(login) = Query::<Login>::from_request_parts(request, state)
///             .await
///             .map_err(IntoResponse::into_response)?;
///         if state.banned.contains(&login.name) {
///             return Err(StatusCode::FORBIDDEN.into_response());
///         }
///         Ok(UserId::from(login.name))
///     }
///
///     async fn ready(&self, _ctx: &Ctx<Game>, _msg: game::Ready) -> HandlerResult {
///         Ok(())
///     }
/// }
///
/// let manager = Manager::<Game>::new();
/// let state = AppState { manager: manager.clone(), banned: Arc::default() };
/// let app: Router = Router::new()
///     .route("/ws", endpoint(manager, Arc::new(App)))
///     .route(
///         "/lobbies",
///         get(|State(state): State<AppState>| async move { Json(state.manager.rooms()) }),
///     )
///     .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
///     .with_state(state);
/// ```
pub use axum;

/// The `schemars` (1.x) that the generated schemas use. Types nested in
/// messages need its `JsonSchema` next to serde's derives: depend on
/// `schemars = "1"` and `#[derive(Serialize, Deserialize, JsonSchema)]`,
/// or derive through this re-export with
/// `#[schemars(crate = "ws_core::schemars")]`.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use ws_core::schemars::JsonSchema;
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// #[schemars(crate = "ws_core::schemars")]
/// pub struct Role { pub name: String }
/// ```
pub use schemars;

#[cfg(feature = "macros")]
pub use ws_macros::ws_protocol;
