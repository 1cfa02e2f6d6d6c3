//! Errors at the boundaries of the runtime.

/// A message could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message could not be serialized (e.g. a map with non-string keys).
    #[error("the message could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
}

/// The connection has started closing: it can no longer join rooms or
/// change its user.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("the connection is closing")]
pub struct ConnectionClosing;
