//! Routing: the trait through which the read loop hands a decoded message
//! to the user's handler, and the connection's hooks. Implemented by
//! `#[ws_protocol]`; above the context it passes to the handler.

use std::future::Future;

use axum::http::request::Parts;
use axum::response::Response;

use crate::context::Ctx;
use crate::handler::{Disconnect, HandlerResult};
use crate::id::UserId;
use crate::protocol::Protocol;

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
    /// Calls the handler method of `message`'s variant. A message that
    /// declares a reply has it sent with the correlation id `id` (see
    /// [`correlation`](crate::correlation)); errors are the caller's to apply.
    fn route<'a>(
        handler: &'a H,
        ctx: &'a Ctx<Self>,
        message: Self,
        id: Option<u64>,
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
