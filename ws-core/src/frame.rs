//! Encoding: a message is serialized once into shared bytes, and every
//! recipient's queue holds a reference to the same bytes.

use std::fmt;
use std::marker::PhantomData;

use crate::error::SendError;
use crate::protocol::{Outbound, Protocol};

/// Encoded JSON text; cloning copies a pointer, not the payload.
pub(crate) type Text = axum::extract::ws::Utf8Bytes;

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
    pub(crate) text: Text,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Frame<P> {
    /// Serializes `message` once.
    pub fn encode(message: impl Outbound<P>) -> Result<Self, SendError> {
        let json = serde_json::to_string(&message.into_message()).map_err(SendError::Encode)?;
        Ok(Self::from_text(Text::from(json)))
    }
}

impl<P> Frame<P> {
    pub(crate) fn from_text(text: Text) -> Self {
        Self {
            text,
            protocol: PhantomData,
        }
    }

    /// The encoded JSON.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }
}

impl<P> Clone for Frame<P> {
    fn clone(&self) -> Self {
        Self::from_text(self.text.clone())
    }
}

impl<P> fmt::Debug for Frame<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&self.as_str()).finish()
    }
}
