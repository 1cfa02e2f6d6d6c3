//! The traits that `#[ws_protocol]` implements for a user's enum.
//!
//! Users never implement them by hand: the macro does, and the runtime is
//! generic over them. They are public so that bounds in signatures such as
//! [`endpoint`](crate::endpoint) can be read, and so that rustc's errors can
//! name them with a hint (`#[diagnostic::on_unimplemented]`).

use std::future::Future;

use axum::http::request::Parts;
use axum::response::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::context::Ctx;
use crate::handler::{Disconnect, HandlerResult};
use crate::registry::UserId;

/// A protocol: one enum holding the messages of both directions.
///
/// Implemented by `#[ws_protocol]`; the attribute's options become
/// [`Protocol::CONFIG`].
///
/// ```
/// use ws_core::{Protocol, ws_protocol};
///
/// #[ws_protocol(send_queue = 32)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Ping {
///     #[ws(client)]
///     Ping { n: u32 },
///     #[ws(server)]
///     Pong { n: u32 },
/// }
///
/// assert_eq!(Ping::NAME, "Ping");
/// assert_eq!(Ping::CONFIG.send_queue(), 32);
/// assert_eq!(Ping::Ping { n: 1 }.message_type(), "ping");
/// assert!(Ping::Ping { n: 1 }.is_from_client());
/// assert!(!Ping::Pong { n: 1 }.is_from_client());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket protocol",
    label = "not annotated with `#[ws_protocol]`",
    note = "annotate the enum with `#[ws_core::ws_protocol]`"
)]
pub trait Protocol: Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    /// The enum's name, used as the schema's title.
    const NAME: &'static str;
    /// The limits and policies given in the attribute (defaults elsewhere).
    const CONFIG: Config;

    /// The message's wire name: the value of its tag after serde's renames.
    fn message_type(&self) -> &'static str;

    /// Whether clients may send this message (`#[ws(client)]`).
    fn is_from_client(&self) -> bool;

    /// The JSON Schema of both directions: see [`schema`](crate::schema).
    fn json_schema() -> serde_json::Value;
}

/// A message the server may send on protocol `P`: the generated struct of a
/// `#[ws(server)]` variant, or an already encoded [`Frame`](crate::Frame).
///
/// There is deliberately no implementation for `P` itself: a value of the
/// enum could be a client-only message, and sending one must not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a server message of `{P}`",
    label = "only variants marked `#[ws(server)]` can be sent",
    note = "mark the variant `#[ws(server)]` (or `#[ws(client, server)]`) and send the generated struct, e.g. `chat::Said {{ .. }}`"
)]
pub trait Outbound<P: Protocol> {
    /// Converts into the protocol's enum, ready to be encoded.
    fn into_message(self) -> P;
}

/// Routes decoded client messages of `Self` to the handler `H`.
///
/// Implemented by `#[ws_protocol]` for every `H` that implements the
/// generated `{Enum}Handler` trait.
#[diagnostic::on_unimplemented(
    message = "`{H}` does not handle the messages of `{Self}`",
    label = "`{H}` must implement the handler trait generated for `{Self}`",
    note = "implement `{Self}Handler` for `{H}`: one async method per `#[ws(client)]` variant"
)]
pub trait Route<H>: Protocol {
    /// Calls the handler method of `message`'s variant.
    fn route<'a>(
        handler: &'a H,
        ctx: &'a Ctx<Self>,
        message: Self,
    ) -> impl Future<Output = HandlerResult> + Send + 'a;

    /// Runs before the 101 response; `Err` is sent as the HTTP answer,
    /// `Ok(Some(user))` registers the connection under `user`.
    fn authenticate<'a>(
        handler: &'a H,
        request: &'a Parts,
    ) -> impl Future<Output = Result<Option<UserId>, Response>> + Send + 'a;

    /// Runs once the connection is registered, before its first message.
    fn on_connect<'a>(
        handler: &'a H,
        ctx: &'a Ctx<Self>,
    ) -> impl Future<Output = HandlerResult> + Send + 'a;

    /// Runs once when the connection has ended and left every room.
    fn on_disconnect<'a>(
        handler: &'a H,
        ctx: &'a Ctx<Self>,
        disconnect: &'a Disconnect,
    ) -> impl Future<Output = ()> + Send + 'a;
}
