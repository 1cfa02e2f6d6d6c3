//! Request/reply on the wire: the correlation id.
//!
//! A variant may declare its reply (`#[ws(client, reply = Pong)]`). A client
//! that wants the reply matched to its request adds a top-level `"id"` beside
//! the tag: an unsigned integer, or a string of at most [`MAX_ID_LEN`] bytes
//! (a Phoenix `ref`, a UUID), of its choosing. The server writes the same
//! `"id"` back, as the same JSON token, into the reply, or into the
//! [`ErrorFrame`](crate::ErrorFrame) if the handler fails:
//!
//! ```text
//! → {"id":7,"type":"ping","n":1}
//! ← {"id":7,"type":"pong","n":1}        (or {"id":7,"type":"error","code":..,"message":..})
//! → {"id":"r-8","type":"ping","n":1}
//! ← {"id":"r-8","type":"pong","n":1}
//! ```
//!
//! In MessagePack the id is the same value (an integer or a string), read
//! and echoed the same way. Its type in Rust is [`CorrelationId`]. An id of
//! any other kind (negative, fractional, an object, a longer string) makes
//! the message invalid: it is refused as a message that does not decode is
//! (an `invalid_message` error frame, without an id, or a close with 1007,
//! as `on_invalid` says). A string with escapes comes back as the same
//! string in serde_json's escaping (`"\u0041"` as `"A"`).
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
//! `send_with_ack`. A message without an `id` gets no ack. A message dropped
//! by the rate limit is not decoded, but its id is read: its
//! `rate_limited` error frame carries it.
//!
//! ```
//! use ws_core::correlation::{read_id, with_id, CorrelationId};
//! assert_eq!(with_id(r#"{"type":"pong","n":1}"#.into(), 7), r#"{"id":7,"type":"pong","n":1}"#);
//! let r8 = CorrelationId::try_from("r-8").unwrap();
//! assert_eq!(with_id(r#"{"type":"pong"}"#.into(), r8), r#"{"id":"r-8","type":"pong"}"#);
//! assert_eq!(read_id(r#"{"type":"ping","id":7}"#).unwrap(), Some(CorrelationId::Int(7)));
//! assert_eq!(read_id(r#"{"type":"ping","id":"r-8"}"#).unwrap(), Some(r8));
//! assert_eq!(read_id(r#"{"type":"ping"}"#).unwrap(), None);
//! assert!(read_id(r#"{"type":"ping","id":-1}"#).is_err());
//! assert!(read_id(&format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(65))).is_err());
//! ```

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of the correlation id field.
pub const FIELD: &str = "id";

/// The most bytes a string [`CorrelationId`] may have: a longer one makes
/// its message invalid. Enough for a UUID (36) or a Phoenix `ref`; an id
/// is kept inline, so none costs an allocation.
pub const MAX_ID_LEN: usize = 64;

/// The correlation id of a message (see [the module](self)): an unsigned
/// integer or a short string, echoed back as it came (`7` as `7`, `"7"` as
/// `"7"`). A `Copy` value of a few dozen bytes: reading, keeping and
/// writing one allocates nothing.
///
/// ```
/// use ws_core::CorrelationId;
/// let int = CorrelationId::from(7);
/// let text = CorrelationId::try_from("ref-7").unwrap();
/// assert_eq!(serde_json::to_string(&int).unwrap(), "7");
/// assert_eq!(serde_json::to_string(&text).unwrap(), r#""ref-7""#);
/// assert_eq!(text.as_str(), Some("ref-7"));
/// assert_eq!(int.as_u64(), Some(7));
/// assert_ne!(int, CorrelationId::try_from("7").unwrap()); // not the same token
/// assert!(CorrelationId::try_from("x".repeat(65).as_str()).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrelationId {
    /// A JSON number (a MessagePack integer): `"id":7`.
    Int(u64),
    /// A JSON string (a MessagePack string) of at most [`MAX_ID_LEN`]
    /// bytes: `"id":"ref-7"`.
    Str(IdStr),
}

/// The text of a string [`CorrelationId`], inline: at most
/// [`MAX_ID_LEN`] bytes of UTF-8. Derefs to `&str`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdStr {
    len: u8,
    bytes: [u8; MAX_ID_LEN],
}

/// A string too long to be a [`CorrelationId`] (more than [`MAX_ID_LEN`]
/// bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a correlation id is an unsigned integer or a string of at most {MAX_ID_LEN} bytes; this string has {0}"
)]
pub struct IdTooLong(pub usize);

impl IdStr {
    /// `text`, if it has at most [`MAX_ID_LEN`] bytes.
    pub fn new(text: &str) -> Result<Self, IdTooLong> {
        let len = text.len();
        if len > MAX_ID_LEN {
            return Err(IdTooLong(len));
        }
        let mut bytes = [0; MAX_ID_LEN];
        bytes[..len].copy_from_slice(text.as_bytes());
        // At most 64: fits.
        Ok(Self {
            len: len as u8,
            bytes,
        })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Built from a `&str` only: always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::ops::Deref for IdStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for IdStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for IdStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CorrelationId {
    /// The integer, for an integer id.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Int(n) => Some(*n),
            Self::Str(_) => None,
        }
    }

    /// The text, for a string id.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Int(_) => None,
            Self::Str(text) => Some(text.as_str()),
        }
    }

    /// Appends the id as its JSON token: `7`, or `"ref-7"` with JSON's
    /// escapes (as serde_json writes it).
    pub(crate) fn write_json(&self, out: &mut String) {
        match self {
            // Writing to a `String` does not fail.
            Self::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Self::Str(text) => write_json_string(out, text),
        }
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it.
fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<u64> for CorrelationId {
    fn from(n: u64) -> Self {
        Self::Int(n)
    }
}

impl From<IdStr> for CorrelationId {
    fn from(text: IdStr) -> Self {
        Self::Str(text)
    }
}

impl TryFrom<&str> for CorrelationId {
    type Error = IdTooLong;
    fn try_from(text: &str) -> Result<Self, IdTooLong> {
        IdStr::new(text).map(Self::Str)
    }
}

impl TryFrom<&String> for CorrelationId {
    type Error = IdTooLong;
    fn try_from(text: &String) -> Result<Self, IdTooLong> {
        Self::try_from(text.as_str())
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "Int({n})"),
            Self::Str(text) => write!(f, "Str({text:?})"),
        }
    }
}

/// `7` or `ref-7`, as a log shows it.
impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Str(text) => f.write_str(text),
        }
    }
}

impl Serialize for CorrelationId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(n) => serializer.serialize_u64(*n),
            Self::Str(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for CorrelationId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = CorrelationId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "an unsigned integer or a string of at most {MAX_ID_LEN} bytes"
                )
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<CorrelationId, E> {
                Ok(CorrelationId::Int(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<CorrelationId, E> {
                u64::try_from(n)
                    .map(CorrelationId::Int)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<CorrelationId, E> {
                CorrelationId::try_from(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl schemars::JsonSchema for CorrelationId {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CorrelationId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::Schema::try_from(schema("A correlation id.")).unwrap_or_default()
    }
}

/// The JSON Schema of a correlation id, with `description`: an unsigned
/// integer or a string of at most [`MAX_ID_LEN`] bytes.
pub(crate) fn schema(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "type": ["integer", "string"],
        "minimum": 0,
        "maxLength": MAX_ID_LEN,
    })
}

/// Adds `"id": id` at the front of an encoded JSON object; other JSON is
/// returned as it is.
pub fn with_id(json: String, id: impl Into<CorrelationId>) -> String {
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
    id.into().write_json(&mut out);
    out.push_str(separator);
    out.push_str(rest);
    out
}

/// The correlation id of an encoded message: `Ok(None)` without one (or
/// with `null`), an error if it is neither an unsigned integer nor a string
/// of at most [`MAX_ID_LEN`] bytes (or the text not a JSON object).
pub fn read_id(text: &str) -> Result<Option<CorrelationId>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Id {
        #[serde(default)]
        id: Option<CorrelationId>,
    }
    serde_json::from_str::<Id>(text).map(|found| found.id)
}

/// The acknowledgement of a message that carried `id` and declares no
/// reply (`correlate = "all"`): `{"type":"ack","id":id}`.
pub(crate) fn ack_frame(id: CorrelationId) -> String {
    let mut out = String::with_capacity(40);
    out.push_str("{\"type\":\"ack\",\"id\":");
    id.write_json(&mut out);
    out.push('}');
    out
}

/// The id of an [`ack_frame`], if `text` is one.
#[cfg(feature = "client")] // read by the client
pub(crate) fn read_ack(text: &str) -> Option<CorrelationId> {
    // serde does not check the tag of a tagged struct: compare it here.
    #[derive(Deserialize)]
    struct Ack<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        id: CorrelationId,
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
        assert_eq!(ack_frame(9.into()), r#"{"type":"ack","id":9}"#);
        assert_eq!(read_ack(&ack_frame(9.into())), Some(9.into()));
        let text = CorrelationId::try_from("a\"b").unwrap();
        assert_eq!(ack_frame(text), r#"{"type":"ack","id":"a\"b"}"#);
        assert_eq!(read_ack(&ack_frame(text)), Some(text));
        assert_eq!(read_ack(r#"{"type":"error","id":9}"#), None);
    }

    #[test]
    fn string_ids_are_bounded_and_exact() {
        let longest = "é".repeat(MAX_ID_LEN / 2);
        let id = CorrelationId::try_from(longest.as_str()).unwrap();
        assert_eq!(id.as_str(), Some(longest.as_str()));
        assert_eq!(
            CorrelationId::try_from(format!("{longest}x").as_str()),
            Err(IdTooLong(MAX_ID_LEN + 1))
        );
        for bad in [
            r#"{"id":-1}"#,
            r#"{"id":1.5}"#,
            r#"{"id":{}}"#,
            r#"{"id":[1]}"#,
            r#"{"id":true}"#,
        ] {
            assert!(read_id(bad).is_err(), "{bad}");
        }
        assert_eq!(read_id(r#"{"id":null}"#).unwrap(), None);
        assert_eq!(
            read_id(r#"{"id":"\u0041"}"#).unwrap(),
            Some("A".try_into().unwrap())
        );
        assert_eq!(
            read_id(r#"{"id":""}"#).unwrap(),
            Some("".try_into().unwrap())
        );
    }

    /// An id MessagePack carried reads as JSON's: the transcoding keeps
    /// its kind.
    #[test]
    fn message_pack_ids_keep_their_kind() {
        for id in [serde_json::json!(7), serde_json::json!("ref-7")] {
            let packed =
                rmp_serde::to_vec_named(&serde_json::json!({"type": "ping", "id": id})).unwrap();
            let json = crate::wire::codec::unpack(&packed).unwrap();
            let read = read_id(&json).unwrap().unwrap();
            assert_eq!(serde_json::to_value(read).unwrap(), id);
        }
    }

    proptest::proptest! {
        /// Any id the reader accepts is written back as the token it came
        /// as, in serde_json's escaping; any string too long is refused.
        #[test]
        fn ids_echo_verbatim(text in "\\PC{0,70}", n in proptest::prelude::any::<u64>()) {
            let json = serde_json::to_string(&text).unwrap();
            let read = read_id(&format!(r#"{{"type":"ping","id":{json}}}"#));
            if text.len() <= MAX_ID_LEN {
                let id = read.unwrap().unwrap();
                proptest::prop_assert_eq!(with_id("{}".into(), id), format!(r#"{{"id":{json}}}"#));
            } else {
                proptest::prop_assert!(read.is_err());
            }
            let id = read_id(&format!(r#"{{"id":{n}}}"#)).unwrap().unwrap();
            proptest::prop_assert_eq!(with_id("{}".into(), id), format!(r#"{{"id":{n}}}"#));
        }

        /// Control characters and quotes are escaped as serde_json does.
        #[test]
        fn escapes_match_serde_json(text in "[\\x00-\\x20\"\\\\a-z]{0,64}") {
            let id = CorrelationId::try_from(text.as_str()).unwrap();
            let mut out = String::new();
            id.write_json(&mut out);
            proptest::prop_assert_eq!(out, serde_json::to_string(&text).unwrap());
        }
    }
}
