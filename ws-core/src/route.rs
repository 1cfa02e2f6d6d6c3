//! Routing: the trait through which the read loop hands a decoded message
//! to the user's handler, and the connection's hooks. Implemented by
//! `#[ws_protocol]`; above the context it passes to the handler.

use std::future::Future;

use axum::http::request::Parts;
use axum::response::Response;

use crate::context::Ctx;
use crate::error::{JoinRefused, RefreshRefused};
use crate::handler::{Disconnect, HandlerResult};
use crate::protocol::Protocol;

/// Routes decoded client messages of `Self` to the handler `H`, served on a
/// router whose state is `S`.
///
/// Implemented by `#[ws_protocol]` for every `H` that implements the
/// generated `{Enum}Handler<S>` trait (`S` defaults to `()`, a router
/// without state).
#[diagnostic::on_unimplemented(
    message = "`{H}` does not handle the messages of `{Self}` on a router with state `{S}`",
    label = "`{H}` must implement `{Self}Handler<{S}>`",
    note = "implement `{Self}Handler` for `{H}`: one async method per `#[ws(client)]` variant; on a `Router<{S}>`, implement `{Self}Handler<{S}>` (or `impl<S> {Self}Handler<S>` for any state), whose `authenticate` gets `&{S}`"
)]
pub trait Route<H, S = ()>: Protocol {
    /// Calls the handler method of `message`'s variant. A message that
    /// declares a reply has it sent with the correlation id `id` (see
    /// [`correlation`](crate::correlation)); errors are the caller's to apply.
    fn route<'a>(
        handler: &'a H,
        ctx: &'a Ctx<Self>,
        message: Self,
        id: Option<crate::CorrelationId>,
    ) -> impl Future<Output = HandlerResult> + Send + 'a;

    /// Runs before the 101 response, with the upgrade request's head and
    /// the router's state (for axum's `FromRequestParts<S>` extractors);
    /// `Err` is sent as the HTTP answer, `Ok(session)` becomes the
    /// connection's session, registered under its user.
    fn authenticate<'a>(
        handler: &'a H,
        request: &'a mut Parts,
        state: &'a S,
    ) -> impl Future<Output = Result<Self::Session, Response>> + Send + 'a;

    /// Whether the connection of `ctx` may join `room`: awaited by every
    /// [`Ctx::join`] and [`Ctx::join_from`]. The handler's future itself,
    /// so the default's zero-sized [`AllowJoin`](crate::hook::AllowJoin)
    /// stays zero-sized.
    fn authorize_join<'a>(
        handler: &'a H,
        ctx: &'a Ctx<Self>,
        room: &'a str,
    ) -> impl Future<Output = Result<(), JoinRefused>> + Send + 'a;

    /// Turns the token of a client's `refresh` frame into the connection's
    /// next session; `Err` closes the connection with 4003.
    fn refresh<'a>(
        handler: &'a H,
        ctx: &'a Ctx<Self>,
        token: String,
    ) -> impl Future<Output = Result<Self::Session, RefreshRefused>> + Send + 'a;

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
