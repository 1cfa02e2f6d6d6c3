//! The servers a Rust user would pick instead of ws-core, each speaking the
//! chat wire protocol, as baselines beside `serve-naive` and `serve-raw`
//! (feature `peers`, which CI does not build).
//!
//! - `serve-tungstenite`: a plain tokio-tungstenite hub, written the way its
//!   examples do it: rooms in a mutex-guarded map of unbounded senders, one
//!   writer task per connection, each `said` serialized once and cloned
//!   (a `Utf8Bytes`, reference-counted) to every member.
//! - `serve-socketio`: socketioxide, the Socket.IO server for axum, with its
//!   rooms and `within(room).emit`. It speaks Engine.IO, so the load tool
//!   drives it in its Socket.IO mode (a `/socket.io/` URL).

pub mod socketio;
pub mod tungstenite;
