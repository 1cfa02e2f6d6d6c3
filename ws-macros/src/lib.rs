//! Procedural macros of ws-core: `#[ws_protocol]`.
//!
//! Use them through ws-core, which re-exports them and the paths the
//! generated code needs (`ws_core::__private`); this crate alone is not
//! usable.
//!
//! The pipeline follows serde_derive: `attr` parses attributes, `ast`
//! builds the model, `check` validates it, `expand` writes one artefact per
//! file, and `ctxt` gathers every error so that one compile shows all of
//! them; `fallback` holds what is emitted when nothing can be expanded.
//!
//! `config` is ws-core's own `config.rs`, compiled here too (ws-core
//! re-exports this crate, so it cannot be a dependency): the attribute's
//! values are read by the same grammar and refused by the same
//! `Config::validate` as the builder's and the environment's.

// As in ws-core: no unsafe code; tests get `deny`, so one that needs it
// says so with a reviewed `allow`.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

mod ast;
mod attr;
mod case;
mod check;
// ws-core's options table and grammar, compiled here too (one declaration
// of each option). Its runtime half (setters, getters, the environment) is
// ws-core's and unused here by design; `expect` fails the build the day it
// is used, so the exception cannot outlive its reason.
#[path = "../../ws-core/src/config.rs"]
#[allow(unreachable_pub)]
#[expect(
    dead_code,
    reason = "the runtime half of ws-core's shared options table"
)]
mod config;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;

/// Turns an enum of messages into a typed WebSocket protocol.
///
/// ```
/// use ws_core::{ws_protocol, Ctx, HandlerResult};
///
/// /// A chat protocol.
/// #[ws_protocol(max_connections = 10_000, send_queue = 256, heartbeat = "30s")]
/// #[derive(Debug, Clone, PartialEq)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     /// Join a room.
///     #[ws(client)]
///     Join { room: String },
///     #[ws(client)]
///     Say { room: String, text: String },
///     /// Both directions.
///     #[ws(client, server)]
///     Echo { text: String },
///     #[ws(server)]
///     Said { room: String, text: String },
///     #[ws(server)]
///     Kicked,
/// }
///
/// struct App;
///
/// impl ChatHandler for App {
///     async fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> HandlerResult {
///         ctx.join(&msg.room).await?;
///         Ok(())
///     }
///     async fn say(&self, ctx: &Ctx<Chat>, msg: chat::Say) -> HandlerResult {
///         let chat::Say { room, text } = msg;
///         ctx.manager().to_room(&room).send(chat::Said { room: room.clone(), text })?;
///         Ok(())
///     }
///     async fn echo(&self, ctx: &Ctx<Chat>, msg: chat::Echo) -> HandlerResult {
///         ctx.send(msg)?;
///         Ok(())
///     }
/// }
/// ```
///
/// Put `#[ws_protocol]` first, above the enum's `#[derive]`s and `#[serde]`
/// attributes: derives written above it run before it and are not seen.
///
/// # Options
///
/// All optional; an option left out keeps ws-core's default (`Config::DEFAULT`).
/// The options of `Config` and their defaults come from ws-core's table of
/// options (`ws-core/src/config/options.rs`); a test keeps this table, README's
/// and the table in agreement.
///
/// | option             | value                                          | default     | meaning |
/// |--------------------|------------------------------------------------|-------------|---------|
/// | `max_connections`  | integer                                        | `10_000`    | connections admitted at once; `0` = unlimited |
/// | `max_per_user`     | integer                                        | `0`         | connections one user (the session's `Session::user`) may hold, whether its session came from `authenticate` (HTTP 503 past it) or `ctx.set_session` (`SetUserError::TooManyConnections`); `0` = unlimited |
/// | `send_queue`       | integer, at least 1                            | `256`       | frames queued per connection |
/// | `on_full`          | `"close"`, `"drop_newest"`, `"drop_oldest"`    | `"close"`   | when a connection's queue is full |
/// | `max_message_size` | size                                           | `"64KiB"`   | largest inbound message |
/// | `heartbeat`        | duration or `"off"`                            | `"30s"`     | server ping interval |
/// | `idle_timeout`     | duration or `"off"`                            | `"60s"`     | close a peer silent this long; must be greater than `heartbeat` |
/// | `on_invalid`       | `"error"`, `"close"`                           | `"error"`   | answer to a malformed inbound message |
/// | `rate_limit`       | `"20/s"`, `"600/m"`, `"5/500ms"`, `"off"`      | off         | inbound messages per connection |
/// | `rate_burst`       | integer ≥ 1 (needs `rate_limit`)               | the rate    | messages allowed at once above the rate |
/// | `on_rate_limit`    | `"error"`, `"close"`                           | `"error"`   | over the limit: drop with a typed error, or close 1008 |
/// | `read_buffer`      | size                                           | `"1KiB"`    | the most read per syscall between frames, into the worker thread's scratch (an idle connection holds no read buffer) |
/// | `write_buffer`     | size                                           | `"64KiB"`   | ready frames are sent in one vectored write, up to this many bytes |
/// | `compression`      | `"deflate"`, `"off"`                           | `"deflate"` | permessage-deflate (RFC 7692) with clients that offer it (browsers do); a broadcast is compressed once, shared by every deflate recipient; inbound `max_message_size` bounds the inflated size |
/// | `compress_min_size`| size                                           | `"256B"`    | frames with a smaller payload go out uncompressed; `0` compresses all |
/// | `inflate_rate`     | `"1MiB/s"`, `"512KiB/500ms"`, `"off"`         | `"1MiB/s"`  | bytes one connection may have inflated (permessage-deflate) per period; past it its reading pauses until the budget refills (never closed) |
/// | `inflate_node_rate`| `"64MiB/s"`, `"off"`                           | `"64MiB/s"` | the same for all connections of the node together |
/// | `max_fragments`    | integer                                        | `1_024`     | frames one message may span; more: close 1008; `0` = unlimited |
/// | `fragment_timeout` | duration or `"off"`                            | `"30s"`     | from a message's first fragment to its last; later: close 1008 |
/// | `stall_timeout`    | duration                                       | `"10s"`     | reading pauses while the send queue is half full; a peer whose writer makes no progress this long is closed with 1013 |
/// | `refresh_before`   | duration                                       | `"30s"`     | a session with an expiry (`Session::expires_at`) is sent `{"type":"refresh_required","expires_in_ms":N}` this long before it; no valid `refresh` by the expiry: close 4001 |
/// | `max_rooms`        | integer                                        | `128`       | rooms one connection may be in; `0` = unlimited; past it `ctx.join` fails with `JoinError::TooManyRooms` (client code `too_many_rooms`) |
/// | `max_room_name`    | integer (bytes)                                | `255`       | longest room name; `0` = unlimited; longer: `JoinError::RoomNameTooLong` (client code `room_name_too_long`) |
/// | `max_presence_meta`| size                                           | `"1KiB"`    | largest presence meta of one connection (its JSON); `0` = unlimited; larger: `PresenceError::TooLarge` (client code `presence_meta_too_large`) |
/// | `handshake_timeout`| duration                                       | `"10s"`     | from accept to the 101, request head and `authenticate` included (`ws_core::serve` needs it too: `.handshake_timeout(..)`) |
/// | `max_per_ip`       | integer                                        | `0`         | connections one client IP may hold; `0` = unlimited; past it HTTP 503 |
/// | `handshake_rate`   | `"10/s"`, `"600/m"`, `"off"`                   | off         | handshakes per client IP; past it HTTP 429 |
/// | `history`          | integer                                        | `0`         | messages kept per room for resuming clients (variants marked `#[ws(server, history)]`); `0` = off, at no cost |
/// | `history_ttl`      | duration or `"off"`                            | `"off"`     | how old a kept message may get; a resume from further back is answered `expired` |
/// | `history_bytes`    | size                                           | `"1MiB"`    | bytes of messages kept per room |
/// | `history_memory`   | size                                           | `"64MiB"`   | memory kept for history per node, all rooms together (the oldest go first) |
/// | `history_streams`  | integer, at least 1                            | `10_000`    | rooms with a history per node (the least recently written goes first, its epoch with it) |
/// | `module`           | identifier as a string                         | snake case of the enum: `Chat` → `"chat"`, `ChatProtocol` → `"chat_protocol"` | name of the generated module of message structs |
/// | `path`             | a path starting with `/`                       | `"/ws"`     | where the protocol is served: the AsyncAPI channel's address and the test server's path |
/// | `subprotocol`      | an HTTP token, e.g. `"chat.v1"`                | snake case of the enum and `.v1`: `Chat` → `"chat.v1"` | the base of the `Sec-WebSocket-Protocol` names: clients ask for `chat.v1.json` or `chat.v1.msgpack` (see `ws_core::Codec`) |
/// | `correlate`        | `"requests"`, `"all"`                          | `"requests"`| which client messages carry a correlation `id` (an unsigned integer or a string of at most 64 bytes, echoed as sent): with `"all"`, every one, answered by its reply, an `ack` or an error with the `id` (see `ws_core::correlation`) |
/// | `session`          | a type implementing `ws_core::Session`         | `()`        | the connection's session: returned by `authenticate` (required unless `()`), read by `ctx.session()`, replaced by `ctx.set_session`; its `user()` is the connection's user |
///
/// A *size* is an integer number of bytes (`65536`) or a string: digits
/// (with `_`), optional spaces and an optional unit `KiB`, `MiB`, `GiB`
/// (`KB`, `MB`, `GB` and `k`, `m`, `g` are the same binary units), any case:
/// `"65536"`, `"64KiB"`, `"64KB"`, `"1 MiB"`. It must be greater than zero.
///
/// A *duration* is a string of numbers with units `ms`, `s`, `m`, `h`:
/// `"30s"`, `"500ms"`, `"1m30s"`, `"1h 30m"`; a zero duration is an error
/// (write `"off"` to disable).
///
/// # Variant attributes
///
/// Every variant needs a direction:
///
/// - `#[ws(client)]`: clients send it; the handler trait gets a method for it.
/// - `#[ws(server)]`: the server sends it; its struct implements `Outbound`.
/// - `#[ws(client, server)]`: both.
/// - `#[ws(client, reply = Pong)]`: a request; its handler method returns
///   `HandlerResult<chat::Pong>` and the runtime sends the reply back with
///   the request's correlation id (`"id"`, beside the tag; see
///   `ws_core::correlation`). The reply must be a `#[ws(server)]` variant
///   (it may be the variant itself) and the enum tagged (`tag = ".."`);
///   `id` is then reserved in request and reply variants.
///
/// Variants have named fields or none (`Join { room: String }`, `Kicked`);
/// tuple variants and generic enums are not supported.
///
/// serde's attributes (`#[serde(tag = "type", rename_all = "...")]`,
/// `#[serde(rename = "...")]` on variants, field attributes) keep their
/// meaning: `#[ws_protocol]` derives `Serialize` and `Deserialize` itself, so
/// do not derive them (nor `JsonSchema`). Each message has one wire name
/// (the value of its tag), computed as serde does; two variants with the same
/// wire name, or different names for serializing and deserializing, are
/// errors. `#[schemars(...)]` attributes on variants and fields go to the
/// schema.
///
/// Routing needs every message to decode from its own wire name and no other,
/// so what would let two variants (or a variant and the framework's
/// `{"type":"error",..}` frames) decode the same input is refused:
/// `#[serde(untagged)]` on the enum or a variant, `#[serde(other)]`, an
/// `alias` that is another variant's name, `skip` on a variant, and the wire
/// name `error`, which the framework's error frames use. Internally
/// (`tag = ".."`), adjacently (`tag`, `content`) and externally tagged enums
/// are all unambiguous; the TypeScript client needs a tag.
///
/// # What is generated
///
/// For `pub enum Chat`:
///
/// - the enum, with `Serialize` and `Deserialize` derived through ws-core's
///   copy of serde, and its other attributes as written;
/// - `pub mod chat` (the enum's visibility; see `module`) with one struct per
///   variant, `chat::Join { pub room: String }`, `chat::Kicked`, carrying the
///   variant's docs and the enum's other derives (`Debug`, `Clone`, ...);
///   field types are resolved as in the enum's module;
/// - `From<chat::X> for Chat` for every variant, and `Outbound<Chat>` for the
///   structs of `server` variants only: sending a client-only message does not
///   compile; `ClientMessage<Chat>` for the structs of `client` variants (what
///   `ws_core::client::Client::send` takes), `Request<Chat>` for those that
///   declare a reply, and `Variant<Chat>` for every struct;
/// - `impl Protocol for Chat`: `NAME`, `CONFIG` from the options,
///   `DESCRIPTION`, `PATH`, `VERSION` (the crate's), `TAGGING`, `MESSAGES`
///   (wire names, directions, replies, docs), `message_type()` (the wire
///   name), `is_from_client()`, `reply_type()`, `json_schema()`;
/// - `Chat::json_schema()`, the JSON Schema of both directions;
///   `Chat::asyncapi()`, its AsyncAPI 3.0 document; `Chat::typescript()`,
///   TypeScript definitions and a typed client;
/// - `pub trait ChatHandler<S = ()>: Send + Sync + 'static` (`S`: the state
///   of the router the endpoint is mounted on), with one method per
///   `client` variant in order, named in snake case (`JoinRoom` →
///   `join_room`):
///   `fn join(&self, ctx: &Ctx<Chat>, msg: chat::Join) -> impl Future<Output = HandlerResult> + Send`
///   (`HandlerResult<chat::Pong>` for a variant with `reply = Pong`)
///   (implement it with `async fn`), and the hooks
///   `authenticate(&self, request: &mut Parts, state: &S) -> Result<Session, Response>`
///   (axum's extractors run on `request` and `state`; a default only when
///   the session is `()`),
///   `authorize_join(&self, ctx: &Ctx<Chat>, room: &str) -> Result<(), JoinRefused>`
///   (async, like every hook; awaited by each `ctx.join`), `on_connect` and
///   `on_disconnect`, which have default bodies. A variant whose method
///   would be named like a hook is an error;
/// - `impl<H: ChatHandler<S>, S> Route<H, S> for Chat`, through which ws-core
///   calls the handler.
#[proc_macro_attribute]
pub fn ws_protocol(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::item::ws_protocol(args.into(), input.into()).into()
}

/// The second half of `#[ws_protocol]`, which adds it to the enum: it sees the
/// enum with cfgs applied and `#[ws]` attributes inert. Not for direct use.
#[doc(hidden)]
// `serde` too: the attribute step leaves serde's derives out of inputs on
// which serde would only add to `check`'s error (`ast::SerdeSkip`), and the
// enum's `#[serde]` attributes must stay inert without them.
#[proc_macro_derive(
    WsProtocol,
    attributes(ws, schemars, serde, __ws_protocol, __ws_serde_skipped)
)]
pub fn derive_ws_protocol(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
