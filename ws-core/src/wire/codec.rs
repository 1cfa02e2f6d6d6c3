//! The codecs a connection may speak: JSON (the default) or MessagePack,
//! chosen in the opening handshake by `Sec-WebSocket-Protocol`.
//!
//! A protocol's subprotocol names are its base name (the `subprotocol`
//! option of `#[ws_protocol]`, by default the enum's name in snake case and
//! `.v1`: `chat.v1`) followed by the codec: `chat.v1.json`,
//! `chat.v1.msgpack`. The version in the base lets a protocol evolve: a
//! server that speaks `chat.v2` never selects `chat.v1.*`.
//!
//! The server selects the first name the client offers that it speaks (the
//! client's order is its preference) and echoes it. A client that offers
//! no subprotocol gets JSON, as before. A client that offers only names the
//! server does not speak (another protocol, another version, another codec)
//! also gets JSON, and no `Sec-WebSocket-Protocol` in the answer: RFC 6455
//! 4.2.2 lets a server select none, and forbids selecting one it does not
//! support; the client sees that none was selected and may close.
//!
//! The runtime encodes every message as JSON, once, as it always has; a
//! connection that chose MessagePack gets that JSON transcoded (a streaming
//! conversion, no intermediate value) into one binary frame, once per send
//! however many MessagePack connections receive it, and never when none
//! does. JSON objects become MessagePack maps keyed by field name (what
//! `rmp-serde` calls named maps), so the schema and the field names are
//! those of the JSON: `{"type": "said", "text": "hi"}` is a map of two
//! string keys. Inbound binary frames are transcoded to JSON and decoded
//! exactly as text frames are, so a malformed one gets the same typed error
//! (or 1007) as malformed JSON.
//!
//! ```
//! use ws_core::Codec;
//!
//! assert_eq!(Codec::negotiate("chat.v1", "chat.v2.msgpack, chat.v1.msgpack"), Some(Codec::MessagePack));
//! assert_eq!(Codec::negotiate("chat.v1", "chat.v1.json, chat.v1.msgpack"), Some(Codec::Json));
//! // Only unknown names: none selected (the connection speaks JSON).
//! assert_eq!(Codec::negotiate("chat.v1", "chat.v2.msgpack"), None);
//! assert_eq!(Codec::MessagePack.subprotocol("chat.v1"), "chat.v1.msgpack");
//! ```

use std::fmt;

/// How a connection's messages are encoded on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// JSON text frames: the default, and what a client that offers no
    /// subprotocol gets.
    #[default]
    Json,
    /// MessagePack binary frames, objects as maps keyed by field name.
    MessagePack,
}

/// MessagePack that does not transcode to JSON (truncated, trailing bytes,
/// a map key that is not a string or an integer, nested too deep). A
/// string that is not UTF-8 or a `bin` value transcodes to an array of
/// bytes, which a message's typed decoding then refuses like any other
/// value of the wrong type.
#[derive(Debug)]
pub struct InvalidMessagePack(String);

impl fmt::Display for InvalidMessagePack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid MessagePack: {}", self.0)
    }
}

impl std::error::Error for InvalidMessagePack {}

/// The deepest nesting accepted in an inbound MessagePack message: the
/// limit `serde_json` applies to JSON, so that both codecs refuse alike.
const MAX_DEPTH: usize = 128;

impl Codec {
    /// Every codec, in the order a client that does not mind prefers them.
    pub const ALL: [Codec; 2] = [Codec::Json, Codec::MessagePack];

    /// The codec's suffix in a subprotocol name: `json`, `msgpack`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::MessagePack => "msgpack",
        }
    }

    /// The subprotocol name of this codec for the base name `base`
    /// (`chat.v1` → `chat.v1.msgpack`).
    pub fn subprotocol(self, base: &str) -> String {
        format!("{base}.{}", self.suffix())
    }

    /// The codec selected for a `Sec-WebSocket-Protocol` header's value
    /// (a comma-separated list): the first name offered that is `base` and
    /// a known codec; `None` when none is.
    pub fn negotiate(base: &str, offered: &str) -> Option<Codec> {
        offered.split(',').find_map(|name| {
            let codec = name.trim().strip_prefix(base)?.strip_prefix('.')?;
            Codec::ALL.into_iter().find(|c| c.suffix() == codec)
        })
    }

    /// Whether frames of this codec are binary.
    pub const fn is_binary(self) -> bool {
        matches!(self, Codec::MessagePack)
    }
}

/// Appends the MessagePack of `json` to `out`. Fails only on JSON nested
/// deeper than `serde_json` reads (128 levels), which the runtime does not
/// write for any protocol a schema describes.
pub(crate) fn pack_into(json: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidMessagePack> {
    let mut from = serde_json::Deserializer::from_slice(json);
    let mut to = rmp_serde::Serializer::new(out);
    serde_transcode::transcode(&mut from, &mut to)
        .map_err(|error| InvalidMessagePack(error.to_string()))?;
    from.end()
        .map_err(|error| InvalidMessagePack(error.to_string()))
}

/// The JSON of one MessagePack message: the whole of `bytes`, one value.
pub(crate) fn unpack(bytes: &[u8]) -> Result<String, InvalidMessagePack> {
    let invalid = |error: &dyn fmt::Display| InvalidMessagePack(error.to_string());
    // Read through `&[u8]` to learn what is left after the value; its
    // reads are bounded by the bytes there, whatever length a header claims.
    let mut rest = bytes;
    let mut from = rmp_serde::Deserializer::new(&mut rest);
    from.set_max_depth(MAX_DEPTH);
    let mut json = Vec::with_capacity(bytes.len() + bytes.len() / 2);
    let mut to = serde_json::Serializer::new(&mut json);
    serde_transcode::transcode(&mut from, &mut to).map_err(|e| invalid(&e))?;
    drop(from);
    if !rest.is_empty() {
        return Err(invalid(&format_args!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    // serde_json writes UTF-8 only (MessagePack strings that are not UTF-8
    // fail above).
    String::from_utf8(json).map_err(|e| invalid(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_messagepack_round_trip_with_field_names() {
        let json = r#"{"type":"said","text":"hé","n":-3,"big":18446744073709551615,"f":1.5,"list":[true,null,{}]}"#;
        let mut packed = Vec::new();
        pack_into(json.as_bytes(), &mut packed).unwrap();
        // A map of 6 named entries, its first key `type`.
        assert_eq!(&packed[..6], b"\x86\xa4type");
        assert_eq!(unpack(&packed).unwrap(), json);
    }

    #[test]
    fn malformed_messagepack_is_refused() {
        let mut packed = Vec::new();
        pack_into(br#"{"a":"b"}"#, &mut packed).unwrap();
        for bad in [
            &packed[..packed.len() - 1],            // truncated
            &[packed.as_slice(), b"\xc0"].concat(), // trailing
            b"\xc1",                                // never used
            b"\x81\xc4\x01a\x01",                   // a binary key
            &[0x91; 200],                           // too deep
            b"",
        ] {
            assert!(unpack(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn negotiation_takes_the_first_known_name() {
        let base = "chat.v1";
        assert_eq!(
            Codec::negotiate(base, "chat.v1.msgpack"),
            Some(Codec::MessagePack)
        );
        assert_eq!(
            Codec::negotiate(base, " x , chat.v1.json ,chat.v1.msgpack"),
            Some(Codec::Json)
        );
        for none in [
            "",
            "chat.v1",
            "chat.v1.",
            "chat.v1.xml",
            "chat.v10.json",
            "chat.v1msgpack",
        ] {
            assert_eq!(Codec::negotiate(base, none), None, "{none}");
        }
    }
}
