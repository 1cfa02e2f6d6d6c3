//! The documents generated from a protocol: its JSON Schema (this module),
//! an AsyncAPI 3.0 document ([`asyncapi`]) and TypeScript definitions with a
//! typed client ([`typescript`]), all built from the same JSON Schema and the
//! metadata `#[ws_protocol]` emits ([`Protocol::MESSAGES`], [`Protocol::TAGGING`]).
//!
//! The JSON Schema holds both directions in one document:
//!
//! ```text
//! {
//!   "$schema": "https://json-schema.org/draft/2020-12/schema",
//!   "title": "Chat",
//!   "anyOf": [ {"$ref": "#/$defs/ClientMessage"}, {"$ref": "#/$defs/ServerMessage"} ],
//!   "$defs": {
//!     "ClientMessage": {"anyOf": [{"$ref": "#/$defs/ChatClient"},   // what clients send
//!                                 {"$ref": "#/$defs/RefreshFrame"}]},
//!     "ServerMessage": {"anyOf": [{"$ref": "#/$defs/ChatServer"},
//!                                 {"$ref": "#/$defs/ErrorFrame"},
//!                                 {"$ref": "#/$defs/RefreshRequired"}]},
//!     "ChatClient": {"oneOf": [ ...one schema per message, the tag a `const`... ]},
//!     ...
//!   }
//! }
//! ```
//! The framework's own frames are in every document, beside the protocol's
//! messages: the error frame ([`ErrorFrame`]) and the session refresh
//! ([`RefreshRequired`] sent, [`RefreshFrame`] read), whose wire names the
//! macro reserves for every protocol. The refresh frames are listed whether
//! or not a session of the protocol ever expires: that is a property of
//! session values ([`Session::expires_at`](crate::Session::expires_at)) and
//! of the handler's `refresh` hook, neither of which the protocol, and so
//! the document, knows; and the server reads a `refresh` on every
//! connection (the default hook refuses it). With `correlate = "all"` the
//! `AckFrame` is one of them too.
//! Doc comments become `description`s. A message that declares a reply, and
//! the reply, get an optional `id` property (the correlation id, see
//! [`correlation`](crate::correlation)), and the request an `x-reply`
//! annotation naming the reply's wire name. [`for_direction`] cuts the
//! document down to one direction, e.g. to validate what a server sends.

pub mod asyncapi;
pub mod typescript;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::handler::{ErrorFrame, RefreshFrame, RefreshRequired};
use crate::protocol::{MessageInfo, Protocol, Tagging};
use crate::wire::close::close_code;

/// A direction of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Messages clients send (`#[ws(client)]`, and [`RefreshFrame`]).
    Client,
    /// Messages the server sends (`#[ws(server)]`, [`ErrorFrame`] and
    /// [`RefreshRequired`]).
    Server,
}

/// Builds the document from the two schema-only enums the macro generates.
#[doc(hidden)]
pub fn document<P: Protocol, C: JsonSchema, S: JsonSchema>() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let client = generator.subschema_for::<C>();
    let server = generator.subschema_for::<S>();
    let error = generator.subschema_for::<ErrorFrame>();
    let mut defs = generator.take_definitions(true);
    defs.insert(REFRESH_FRAME.into(), refresh_frame());
    defs.insert(
        "ClientMessage".into(),
        json!({ "anyOf": [client.to_value(), { "$ref": format!("#/$defs/{REFRESH_FRAME}") }] }),
    );
    let mut server_any = vec![server.to_value(), error.to_value()];
    if P::CORRELATE_ALL {
        defs.insert("AckFrame".into(), ack_frame());
        server_any.push(json!({ "$ref": "#/$defs/AckFrame" }));
    }
    defs.insert(REFRESH_REQUIRED.into(), refresh_required_frame());
    server_any.push(json!({ "$ref": format!("#/$defs/{REFRESH_REQUIRED}") }));
    defs.insert("ServerMessage".into(), json!({ "anyOf": server_any }));
    let mut document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": P::NAME,
        "anyOf": [
            { "$ref": "#/$defs/ClientMessage" },
            { "$ref": "#/$defs/ServerMessage" },
        ],
        "$defs": defs,
    });
    if let Some(description) = P::DESCRIPTION {
        document["description"] = description.trim().into();
    }
    if let Some(error) = document.pointer_mut("/$defs/ErrorFrame") {
        describe_error_frame(error);
    }
    add_correlation::<P>(&mut document);
    add_positions::<P>(&mut document);
    document
}

/// schemars leaves out the tag of a struct (`#[serde(tag = "type")]`) and
/// takes the rustdoc as it is; the wire has `"type": "error"`, and readers of
/// the documents need no Rust.
fn describe_error_frame(error: &mut Value) {
    let codes = [
        crate::error_code::INVALID_MESSAGE,
        crate::error_code::WRONG_DIRECTION,
        crate::error_code::BINARY_NOT_SUPPORTED,
        crate::error_code::RATE_LIMITED,
        crate::error_code::INTERNAL,
    ]
    .map(|code| format!("`{code}`"))
    .join(", ");
    error["description"] =
        "The frame a client gets when its message was refused or its handler failed.".into();
    if let Some(properties) = error.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("type".into(), json!({ "type": "string", "const": "error" }));
        properties.insert(
            "code".into(),
            json!({
                "type": "string",
                "description": format!("Machine-readable code: one of {codes}, or a handler's own."),
            }),
        );
    }
    if let Some(required) = error.get_mut("required").and_then(Value::as_array_mut)
        && !required.iter().any(|r| r == "type")
    {
        required.insert(0, "type".into());
    }
}

/// The frame that acknowledges a client message with an id that declares
/// no reply (`correlate = "all"`).
fn ack_frame() -> Value {
    json!({
        "description": "The server handled the message that carried this correlation id (`correlate = \"all\"`).",
        "type": "object",
        "properties": {
            "type": { "type": "string", "const": "ack" },
            "id": crate::correlation::schema("Correlation id: the id of the message handled."),
        },
        "required": ["type", "id"],
    })
}

/// The `$defs` name of [`RefreshRequired`]'s schema (and its TypeScript
/// interface).
pub(crate) const REFRESH_REQUIRED: &str = "RefreshRequired";
/// The `$defs` name of [`RefreshFrame`]'s schema (and its TypeScript
/// interface).
pub(crate) const REFRESH_FRAME: &str = "RefreshFrame";

/// [`RefreshRequired`], written out: its `try_from` checks the tag, which
/// a derived schema would not show, and readers of the documents need no
/// Rust.
fn refresh_required_frame() -> Value {
    let example = RefreshRequired {
        expires_in_ms: 30_000,
    };
    json!({
        "description": format!(
            "The client's session expires in `expires_in_ms` milliseconds: it answers with a \
             `refresh` frame carrying a new credential, or is closed with {} (session expired) \
             at the expiry. Sent `refresh_before` ahead of the expiry, only for sessions that \
             have one.",
            close_code::SESSION_EXPIRED
        ),
        "type": "object",
        "properties": {
            "type": { "type": "string", "const": "refresh_required" },
            "expires_in_ms": {
                "description": "Milliseconds until the session expires (0 when it has).",
                "type": "integer",
                "format": "uint64",
                "minimum": 0,
            },
        },
        "required": ["type", "expires_in_ms"],
        "examples": [serde_json::to_value(example).unwrap_or_default()],
    })
}

/// [`RefreshFrame`], written out (see [`refresh_required_frame`]).
fn refresh_frame() -> Value {
    let example = RefreshFrame {
        token: "eyJ...".to_owned(),
    };
    json!({
        "description": format!(
            "A new credential for the connection's session, answering `refresh_required` (or \
             sent unasked). Accepted: the session is replaced in place (rooms, history \
             positions and queued messages kept) and nothing is sent back; refused: the \
             connection is closed with {} (refresh refused).",
            close_code::REFRESH_REFUSED
        ),
        "type": "object",
        "properties": {
            "type": { "type": "string", "const": "refresh" },
            "token": {
                "description": "The new credential, for the handler's `refresh` hook.",
                "type": "string",
            },
        },
        "required": ["type", "token"],
        "examples": [serde_json::to_value(example).unwrap_or_default()],
    })
}

/// The `id` property of requests, replies and error frames (and with
/// `correlate = "all"`, of every client message).
fn add_correlation<P: Protocol>(document: &mut Value) {
    let correlates = P::CORRELATE_ALL || P::MESSAGES.iter().any(|m| m.reply().is_some());
    if !correlates || P::TAGGING.tag().is_none() {
        return;
    }
    for direction in [Direction::Client, Direction::Server] {
        let Some(branches) = branches_mut::<P>(document, direction) else {
            continue;
        };
        let count = messages_of::<P>(direction).count();
        for (index, info) in messages_of::<P>(direction).enumerate() {
            let Some(branch) = position::<P>(branches, info, index, count)
                .and_then(|position| branches.get_mut(position))
            else {
                continue;
            };
            let (description, reply) = match (direction, info.reply()) {
                (Direction::Client, Some(reply)) => (
                    format!("Correlation id: the `{reply}` reply (or error) carries the same id."),
                    Some(reply),
                ),
                // A request of the server (`#[ws(server, reply = Answer)]`).
                (Direction::Server, Some(reply)) if !info.is_client() => (
                    format!(
                        "Correlation id, chosen by the server: the client answers with `{reply}` and the same id."
                    ),
                    Some(reply),
                ),
                (Direction::Client, None) if info.is_reply_in(P::MESSAGES) => (
                    "Correlation id: the id of the request of the server this answers.".to_owned(),
                    None,
                ),
                (Direction::Server, _) if info.is_reply_in(P::MESSAGES) => (
                    "Correlation id: the id of the request this answers.".to_owned(),
                    None,
                ),
                (Direction::Client, None) if P::CORRELATE_ALL => (
                    "Correlation id: an `ack` (or an error) with the same id answers it."
                        .to_owned(),
                    None,
                ),
                _ => continue,
            };
            insert_id(branch, &description);
            if let (Some(reply), Some(object)) = (reply, branch.as_object_mut()) {
                object.insert("x-reply".into(), reply.into());
            }
        }
    }
    if let Some(error) = document.pointer_mut("/$defs/ErrorFrame") {
        insert_id(
            error,
            "Correlation id: the id of the request that failed, when it carried one.",
        );
    }
}

/// The `epoch` and `offset` of recorded messages (`#[ws(server, history)]`):
/// optional, since they are present only when the message went to a room
/// of a manager with history on. See [`history`](crate::history).
fn add_positions<P: Protocol>(document: &mut Value) {
    if !P::MESSAGES.iter().any(MessageInfo::is_recorded) || P::TAGGING.tag().is_none() {
        return;
    }
    let Some(branches) = branches_mut::<P>(document, Direction::Server) else {
        return;
    };
    let count = messages_of::<P>(Direction::Server).count();
    for (index, info) in messages_of::<P>(Direction::Server).enumerate() {
        if !info.is_recorded() {
            continue;
        }
        let properties = position::<P>(branches, info, index, count)
            .and_then(|position| branches.get_mut(position))
            .and_then(|branch| branch.get_mut("properties"))
            .and_then(Value::as_object_mut);
        if let Some(properties) = properties {
            properties.insert(
                "epoch".into(),
                json!({
                    "description": "The history the offset counts in: it changes only when the room's history was lost. Present when the room keeps a history.",
                    "type": "string",
                }),
            );
            properties.insert(
                "offset".into(),
                json!({
                    "description": "The message's place in the room's stream: +1 per message. Present when the room keeps a history.",
                    "type": "integer",
                    "format": "uint64",
                    "minimum": 0,
                }),
            );
        }
    }
}

fn insert_id(schema: &mut Value, description: &str) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert(
            crate::correlation::FIELD.into(),
            crate::correlation::schema(description),
        );
    }
}

/// The messages of one direction, in declaration order.
fn messages_of<P: Protocol>(direction: Direction) -> impl Iterator<Item = &'static MessageInfo> {
    P::MESSAGES.iter().filter(move |m| match direction {
        Direction::Client => m.is_client(),
        Direction::Server => m.is_server(),
    })
}

/// The name of the `$defs` entry of one direction's messages.
fn direction_def(name: &str, direction: Direction) -> String {
    match direction {
        Direction::Client => format!("{name}Client"),
        Direction::Server => format!("{name}Server"),
    }
}

fn branches_mut<P: Protocol>(document: &mut Value, direction: Direction) -> Option<&mut [Value]> {
    let def = document
        .get_mut("$defs")?
        .get_mut(direction_def(P::NAME, direction))?;
    let key = match () {
        () if def.get("oneOf").is_some() => "oneOf",
        () if def.get("anyOf").is_some() => "anyOf",
        // A direction with one message may be that message's schema.
        () => return Some(std::slice::from_mut(def)),
    };
    def.get_mut(key)?.as_array_mut().map(Vec::as_mut_slice)
}

fn branches<P: Protocol>(document: &Value, direction: Direction) -> &[Value] {
    let Some(def) = document
        .get("$defs")
        .and_then(|defs| defs.get(direction_def(P::NAME, direction)))
    else {
        return &[];
    };
    match def.get("oneOf").or_else(|| def.get("anyOf")) {
        Some(Value::Array(branches)) => branches,
        _ => std::slice::from_ref(def),
    }
}

/// Whether `schema` says the value is the string `wire`.
fn is_literal(schema: &Value, wire: &str) -> bool {
    schema.get("const").and_then(Value::as_str) == Some(wire)
        || schema
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|values| values.len() == 1 && values[0] == wire)
}

/// The position in a direction's `oneOf` of message `info`, the `index`th
/// of the direction's `count` messages: by its tag's `const` for tagged
/// enums, by its single property (or its string) for externally tagged ones,
/// by position for untagged ones.
fn position<P: Protocol>(
    branches: &[Value],
    info: &MessageInfo,
    index: usize,
    count: usize,
) -> Option<usize> {
    let wire = info.wire();
    match P::TAGGING {
        Tagging::Internal { tag } | Tagging::Adjacent { tag, .. } => {
            branches.iter().position(|b| {
                b.get("properties")
                    .and_then(|p| p.get(tag))
                    .is_some_and(|t| is_literal(t, wire))
            })
        }
        Tagging::External => branches.iter().position(|b| {
            is_literal(b, wire)
                || b.get("required")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.len() == 1 && r[0] == wire)
        }),
        Tagging::Untagged => (branches.len() == count).then_some(index),
    }
}

/// One message of a direction with its JSON Schema (the branch of the
/// direction's `oneOf`; `$ref`s point into the document's `$defs`).
#[derive(Clone, Debug)]
pub struct MessageSchema {
    /// The message.
    pub info: &'static MessageInfo,
    /// Its schema, `None` if it could not be told apart (e.g. a unit
    /// variant of an untagged enum).
    pub schema: Option<Value>,
}

/// The messages of `direction` with their schemas, from `document`
/// (`P::json_schema()`).
pub fn messages<P: Protocol>(document: &Value, direction: Direction) -> Vec<MessageSchema> {
    let branches = branches::<P>(document, direction);
    let count = messages_of::<P>(direction).count();
    messages_of::<P>(direction)
        .enumerate()
        .map(|(index, info)| MessageSchema {
            info,
            schema: position::<P>(branches, info, index, count).map(|i| branches[i].clone()),
        })
        .collect()
}

/// The `$defs` of `document` that are not the direction enums: the types the
/// messages' fields refer to, and `ErrorFrame`.
pub(crate) fn shared_defs<P: Protocol>(document: &Value) -> Map<String, Value> {
    let skip = [
        "ClientMessage".to_owned(),
        "ServerMessage".to_owned(),
        direction_def(P::NAME, Direction::Client),
        direction_def(P::NAME, Direction::Server),
    ];
    document
        .get("$defs")
        .and_then(Value::as_object)
        .map(|defs| {
            defs.iter()
                .filter(|(name, _)| !skip.contains(name))
                .map(|(name, schema)| (name.clone(), schema.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The document with its root narrowed to one direction.
///
/// ```
/// use ws_core::schema::{for_direction, Direction};
/// # use ws_core::ws_protocol;
/// # #[ws_protocol]
/// # #[serde(tag = "type", rename_all = "snake_case")]
/// # pub enum Chat { #[ws(client)] Join { room: String }, #[ws(server)] Said { text: String } }
/// let server = for_direction(&Chat::json_schema(), Direction::Server);
/// assert_eq!(server["$ref"], "#/$defs/ServerMessage");
/// ```
pub fn for_direction(document: &Value, direction: Direction) -> Value {
    let target = match direction {
        Direction::Client => "#/$defs/ClientMessage",
        Direction::Server => "#/$defs/ServerMessage",
    };
    let mut narrowed = document.clone();
    if let Some(root) = narrowed.as_object_mut() {
        root.remove("anyOf");
        root.insert("$ref".into(), target.into());
    }
    narrowed
}
