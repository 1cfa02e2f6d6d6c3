//! Request/reply on the wire: the correlation id.
//!
//! A variant may declare its reply (`#[ws(client, reply = Pong)]`). A client
//! that wants the reply matched to its request adds a top-level `"id"` (an
//! unsigned integer it chooses) beside the tag; the server writes the same
//! `"id"` into the reply, or into the [`ErrorFrame`](crate::ErrorFrame) if the
//! handler fails:
//!
//! ```text
//! → {"id":7,"type":"ping","n":1}
//! ← {"id":7,"type":"pong","n":1}        (or {"id":7,"type":"error","code":..,"message":..})
//! ```
//!
//! The id is optional (without one the reply is sent uncorrelated) and is
//! read only for messages that declare a reply, so other messages cost no
//! extra parse. The reply goes through the connection's queue like any frame,
//! so it keeps its place among the frames sent before and after it. `"id"` is
//! reserved in protocols that declare replies: `#[ws_protocol]` refuses a
//! request or reply variant with a field of that name, an untagged or
//! externally tagged enum, and `deny_unknown_fields`.
//!
//! # Every message: `correlate = "all"`
//! With `#[ws_protocol(correlate = "all")]`, any client message may carry an
//! `id`, and is answered with it exactly once: by its declared reply, by a
//! reply the handler sent early ([`Ctx::reply`](crate::Ctx::reply)), by an
//! error frame (the handler's, or the refusal of a message that does not
//! decode), or else by an acknowledgement that it was handled:
//!
//! ```text
//! → {"type":"start_game","lobby":"a","id":3}
//! ← {"type":"ack","id":3}               (or {"type":"error","id":3,"code":..,"message":..})
//! ```
//!
//! It is opt-in per protocol, not the default, because `id` is a common
//! field name: a protocol whose `kick { id }` means a player's id keeps
//! compiling and meaning that. Opting in reserves the field `id` on every
//! client message (and the wire name `ack`); `#[ws_protocol]` refuses a
//! variant that uses either, naming the fix. The generated TypeScript client
//! gets `sendWithAck`, the Rust client
//! `send_with_ack`. A message without an `id` gets no ack; a message dropped
//! by the rate limit is not read, so its error frame carries no id.
//!
//! ```
//! use ws_core::correlation::{read_id, with_id};
//! assert_eq!(with_id(r#"{"type":"pong","n":1}"#.into(), 7), r#"{"id":7,"type":"pong","n":1}"#);
//! assert_eq!(read_id(r#"{"type":"ping","id":7}"#).unwrap(), Some(7));
//! assert_eq!(read_id(r#"{"type":"ping"}"#).unwrap(), None);
//! assert!(read_id(r#"{"type":"ping","id":"x"}"#).is_err());
//! ```

use serde::Deserialize;

/// The name of the correlation id field.
pub const FIELD: &str = "id";

/// Adds `"id": id` at the front of an encoded JSON object; other JSON is
/// returned as it is.
pub fn with_id(json: String, id: u64) -> String {
    let Some(rest) = json.strip_prefix('{') else {
        return json;
    };
    let separator = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    let mut out = String::with_capacity(json.len() + 24);
    out.push_str("{\"id\":");
    out.push_str(&id.to_string());
    out.push_str(separator);
    out.push_str(rest);
    out
}

/// The correlation id of an encoded message: `Ok(None)` without one, an
/// error if it is not an unsigned integer (or the text not a JSON object).
pub fn read_id(text: &str) -> Result<Option<u64>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Id {
        #[serde(default)]
        id: Option<u64>,
    }
    serde_json::from_str::<Id>(text).map(|found| found.id)
}

/// The acknowledgement of a message that carried `id` and declares no
/// reply (`correlate = "all"`): `{"type":"ack","id":id}`.
pub(crate) fn ack_frame(id: u64) -> String {
    format!("{{\"type\":\"ack\",\"id\":{id}}}")
}

/// The id of an [`ack_frame`], if `text` is one.
#[cfg(feature = "client")] // read by the client
pub(crate) fn read_ack(text: &str) -> Option<u64> {
    // serde does not check the tag of a tagged struct: compare it here.
    #[derive(Deserialize)]
    struct Ack<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        id: u64,
    }
    let ack = serde_json::from_str::<Ack<'_>>(text).ok()?;
    (ack.kind == "ack").then_some(ack.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_go_in_front() {
        assert_eq!(with_id("{}".into(), 1), r#"{"id":1}"#);
        assert_eq!(with_id("null".into(), 1), "null");
        assert_eq!(
            with_id(r#"{"t":"pong","c":{"n":1}}"#.into(), 42),
            r#"{"id":42,"t":"pong","c":{"n":1}}"#
        );
    }

    #[cfg(feature = "client")]
    #[test]
    fn acks_round_trip() {
        assert_eq!(ack_frame(9), r#"{"type":"ack","id":9}"#);
        assert_eq!(read_ack(&ack_frame(9)), Some(9));
        assert_eq!(read_ack(r#"{"type":"error","id":9}"#), None);
    }
}
