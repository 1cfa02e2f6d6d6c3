//! The only door through which generated code reaches its dependencies, so
//! that users depend on `ws-core` alone. Not public API: no stability promise.

pub use schemars;
pub use serde;
pub use serde_json;

pub use axum::http::request::Parts;
pub use axum::response::Response;

/// The table of options, which ws-macros compiles too; here for tools and
/// tests that read it (the documentation's tables are checked against it).
pub use crate::config::OPTIONS;
pub use crate::config::table::{Choices, Setting, Spec, Value};
pub use crate::config::{
    ByteRate, Compression, Config, OnInvalid, OnRateLimit, Overflow, RateLimit,
};
pub use crate::context::Ctx;
pub use crate::error::{JoinRefused, RefreshRefused};
pub use crate::handler::{Disconnect, HandlerError, HandlerResult};
pub use crate::hook::{AllowJoin, Authenticate, AuthorizeJoin, OnConnect, OnDisconnect, Refresh};
pub use crate::id::UserId;
pub use crate::protocol::schema::document as schema_document;
pub use crate::protocol::{
    ClientMessage, MessageInfo, Outbound, Protocol, Request, ServerRequest, Tagging, Variant,
};
pub use crate::route::Route;
pub use crate::session::Session;
pub use crate::wire::correlation::CorrelationId;

/// The hidden half of `#[ws_protocol]`, which the attribute adds to the enum.
#[cfg(feature = "macros")]
pub use ws_macros::WsProtocol;

/// The answer when a server-only message reaches routing. The read loop
/// rejects such messages before routing, so this is a second line, not a path.
pub fn not_from_client(message_type: &'static str) -> HandlerResult {
    Err(HandlerError::reply(
        crate::handler::error_code::WRONG_DIRECTION,
        format!("message type `{message_type}` is sent by the server, not by clients"),
    ))
}

/// Sends a handler's reply to the requesting connection, with the request's
/// correlation id; an error is left for the read loop to answer (with the id).
pub fn reply<P: Protocol, R: Outbound<P>>(
    ctx: &Ctx<P>,
    id: ::core::option::Option<CorrelationId>,
    result: HandlerResult<R>,
) -> HandlerResult {
    let reply = result?;
    // Answered early with `Ctx::reply`: each request gets one reply.
    if ctx.replied() {
        return Ok(());
    }
    let frame = crate::send::encode(&reply.into_message(), id).map_err(crate::SendError::Encode)?;
    ctx.answer(&frame);
    Ok(())
}
