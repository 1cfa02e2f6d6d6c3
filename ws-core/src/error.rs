//! Errors at the boundaries of the runtime.

/// A message could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message could not be serialized (e.g. a map with non-string keys).
    #[error("the message could not be encoded as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The message reached this node's recipients (`delivered`) but could
    /// not be handed to the cluster backend for the other nodes.
    #[error("delivered on this node ({} queued), but not to other nodes: {error}", delivered.queued)]
    Backend {
        /// What the local delivery did; it happened regardless.
        delivered: crate::broadcast::Delivery,
        /// Why the other nodes were not reached.
        #[source]
        error: crate::backend::BackendError,
    },
}

/// The connection has started closing: it can no longer join rooms or
/// change its user.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("the connection is closing")]
pub struct ConnectionClosing;
