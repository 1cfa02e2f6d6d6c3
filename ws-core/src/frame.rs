//! [`Frame`]: a server message of a protocol, encoded once into a
//! complete WebSocket frame (see [`wire::frame`](crate::wire::frame)), whose
//! bytes every recipient's queue shares.

use std::fmt;
use std::marker::PhantomData;

use crate::error::SendError;
use crate::protocol::{Outbound, Protocol};
use crate::wire::frame::{Wire, encode_json, payload_start};

/// A server message of protocol `P`, encoded once and sendable any number of
/// times to any number of connections without copying the payload.
///
/// ```
/// # use ws_core::{ws_protocol, Frame};
/// # #[ws_protocol]
/// # #[serde(tag = "type", rename_all = "snake_case")]
/// # pub enum Chat { #[ws(server)] Said { text: String } }
/// let frame = Frame::<Chat>::encode(chat::Said { text: "hi".into() }).unwrap();
/// assert_eq!(frame.as_str(), r#"{"type":"said","text":"hi"}"#);
/// let copy = frame.clone(); // shares the bytes
/// assert_eq!(copy.as_str().as_ptr(), frame.as_str().as_ptr());
/// ```
pub struct Frame<P> {
    /// The frame the writers send: header and JSON.
    pub(crate) wire: Wire,
    /// Whether the message is one a stream's history records
    /// (`#[ws(server, history)]`): sent to a room with history, it is
    /// stamped with the room's epoch and offset.
    pub(crate) recorded: bool,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Frame<P> {
    /// Serializes `message` once.
    pub fn encode(message: impl Outbound<P>) -> Result<Self, SendError> {
        Self::encode_message(&message.into_message())
    }

    pub(crate) fn encode_message(message: &P) -> Result<Self, SendError> {
        let wire = encode_json(message).map_err(SendError::Encode)?;
        Ok(Self {
            wire,
            recorded: message.is_recorded(),
            protocol: PhantomData,
        })
    }
}

impl<P> Frame<P> {
    /// The encoded JSON.
    pub fn as_str(&self) -> &str {
        // Always UTF-8: the payload is JSON that serde_json wrote.
        std::str::from_utf8(&self.wire[payload_start(&self.wire)..]).unwrap_or_default()
    }
}

impl<P> Clone for Frame<P> {
    fn clone(&self) -> Self {
        Self {
            wire: self.wire.clone(),
            recorded: self.recorded,
            protocol: PhantomData,
        }
    }
}

impl<P> fmt::Debug for Frame<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&self.as_str()).finish()
    }
}
