//! The WebSocket wire format as this crate speaks it, in one place: pure
//! functions over bytes and a little state, no sockets and no runtime
//! (sans-IO, as tungstenite's frame module, h2's `frame` and `codec`, and
//! quinn-proto are). The server's connections, the typed client, the
//! conformance echo and the HTTP/2 transport all go through it, and the
//! fuzzer and the property tests call it directly.
//!
//! - [`frame`]: opcodes, headers and masking; the server's frames, made in
//!   place once and shared by every recipient;
//! - [`parse`]: a client's bytes in, messages out, each violation of RFC
//!   6455 or 7692 as the close that answers it, and the replies (pong,
//!   close) the caller sends;
//! - [`close`]: close codes, close payloads, their checks and the reason's
//!   cut;
//! - [`deflate`]: permessage-deflate (RFC 7692), its negotiation and the
//!   compression and bounded inflation of messages;
//! - [`codec`]: JSON or MessagePack frames (`Sec-WebSocket-Protocol`);
//! - [`correlation`]: the `id` of a request and its reply, and the ack;
//! - [`membership`]: a server-made leave or join of a room, as it travels
//!   between nodes.

pub(crate) mod close;
pub(crate) mod codec;
pub mod correlation;
pub(crate) mod deflate;
pub(crate) mod frame;
pub(crate) mod membership;
pub(crate) mod parse;

pub use close::{CloseInfo, close_code};
pub use codec::{Codec, InvalidMessagePack};
pub(crate) use frame::Wire;
