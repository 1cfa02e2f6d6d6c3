//! The AsyncAPI 3.0 document of a protocol.
//!
//! One channel at the protocol's path ([`Protocol::PATH`]); one message per
//! wire name, its payload the variant's JSON Schema (the tag a `const`, doc
//! comments as descriptions, shared types under `components/schemas`); one
//! operation per message and direction. The document describes the
//! **server**: it `receive`s what clients send and `send`s what the server
//! sends, [`ErrorFrame`](crate::ErrorFrame) included. A message that declares
//! a reply gets an operation `reply` naming it, and both carry the
//! correlation id `$message.payload#/id` (see [`correlation`](crate::correlation)).
//! With `correlate = "all"`, every client message carries it, the `ack`
//! message (its payload the `AckFrame` schema) is sent, and a message that
//! declares no reply gets the `ack` as its operation's `reply`.
//!
//! The session refresh is in every document, as the error frame is (see
//! [`schema`](super) for why always): the server `send`s `refresh_required`
//! (payload the `RefreshRequired` schema) and `receive`s `refresh`
//! (`RefreshFrame`). They carry no correlation id, so the send operation
//! names no `reply`; its description says what answers it.
//!
//! The channel's WebSocket binding (`bindings.ws`, [bindings 0.1.0]) holds
//! the handshake: `GET`, and the `Sec-WebSocket-Protocol` header with the
//! protocol's subprotocol names (`<subprotocol>.json`, `<subprotocol>.msgpack`,
//! see [`Codec`](crate::Codec)) as the header schema's `examples` and
//! described there.
//!
//! [bindings 0.1.0]: https://github.com/asyncapi/bindings/blob/master/websockets/README.md
//!
//! ```text
//! {
//!   "asyncapi": "3.0.0",
//!   "info": {"title": "Chat", "version": "0.1.0", "description": "..."},
//!   "channels": {"Chat": {"address": "/ws", "messages": {"join": {"$ref": ...}, ...},
//!                         "bindings": {"ws": {"method": "GET", "headers": ...}}}},
//!   "operations": {
//!     "receiveJoin": {"action": "receive", "channel": {"$ref": "#/channels/Chat"},
//!                     "messages": [{"$ref": "#/channels/Chat/messages/join"}]},
//!     "receivePing": {..., "reply": {"channel": ..., "messages": [{"$ref": ".../pong"}]}},
//!     "sendSaid": {"action": "send", ...}, "sendError": {...},
//!     "sendRefreshRequired": {...}, "receiveRefresh": {...}
//!   },
//!   "components": {"messages": {...}, "schemas": {...}, "correlationIds": {"id": ...}}
//! }
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{Direction, MessageSchema, REFRESH_FRAME, REFRESH_REQUIRED, messages, shared_defs};
use crate::protocol::{MessageInfo, Protocol};
use crate::wire::close::close_code;
use crate::wire::codec::Codec;

/// The AsyncAPI 3.0 document of `P`, as `P::asyncapi()` returns it.
///
/// ```
/// use ws_core::{Protocol, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     #[ws(client, reply = Pong)]
///     Ping { n: u32 },
///     #[ws(server)]
///     Pong { n: u32 },
/// }
///
/// let doc = Chat::asyncapi();
/// assert_eq!(doc["asyncapi"], "3.0.0");
/// assert_eq!(doc["channels"]["Chat"]["address"], "/ws");
/// assert_eq!(doc["operations"]["receivePing"]["action"], "receive");
/// assert_eq!(
///     doc["operations"]["receivePing"]["reply"]["messages"][0]["$ref"],
///     "#/channels/Chat/messages/pong"
/// );
/// assert_eq!(doc["components"]["correlationIds"]["id"]["location"], "$message.payload#/id");
/// ```
pub fn document<P: Protocol>() -> Value {
    let schema = P::json_schema();
    let channel = channel_key(P::NAME);
    let client = messages::<P>(&schema, Direction::Client);
    let server = messages::<P>(&schema, Direction::Server);
    let has_replies = P::MESSAGES.iter().any(|m| m.reply().is_some());
    let correlates = has_replies || P::CORRELATE_ALL;

    // One message per wire name; a message of both directions once.
    let mut ids = Ids::default();
    let mut components = Map::new();
    let mut channel_messages = Map::new();
    let mut message_id = |info: &MessageInfo| ids.get(info.wire());
    let mut add = |id: &str, message: Value| {
        channel_messages.insert(
            id.to_owned(),
            json!({ "$ref": format!("#/components/messages/{id}") }),
        );
        components.insert(id.to_owned(), message);
    };
    let mut wire_ids = Map::new();
    for MessageSchema { info, schema } in client.iter().chain(&server) {
        if wire_ids.contains_key(info.wire()) {
            continue;
        }
        let id = message_id(info);
        wire_ids.insert(info.wire().to_owned(), id.clone().into());
        let correlated = info.reply().is_some()
            || info.is_reply_in(P::MESSAGES)
            || (P::CORRELATE_ALL && client.iter().any(|c| c.info.wire() == info.wire()));
        add(&id, message(info, schema.as_ref(), correlated));
    }
    let error_id = ids.get("error");
    add(&error_id, error_message(&schema, correlates));
    let ack_id = P::CORRELATE_ALL.then(|| ids.get("ack"));
    if let Some(ack_id) = &ack_id {
        add(ack_id, ack_message(&schema));
    }
    let refresh_required_id = ids.get("refresh_required");
    add(
        &refresh_required_id,
        framework_message(
            &schema,
            REFRESH_REQUIRED,
            "refresh_required",
            "The session is about to expire: answer with `refresh`.",
        ),
    );
    let refresh_id = ids.get("refresh");
    add(
        &refresh_id,
        framework_message(
            &schema,
            REFRESH_FRAME,
            "refresh",
            "A new credential for the session.",
        ),
    );

    let channel_ref = json!({ "$ref": format!("#/channels/{channel}") });
    let message_ref = |id: &str| json!({ "$ref": format!("#/channels/{channel}/messages/{id}") });
    let id_of = |wire: &str| {
        wire_ids
            .get(wire)
            .and_then(Value::as_str)
            .unwrap_or(wire)
            .to_owned()
    };
    let mut operations = Map::new();
    let mut operation_ids = BTreeSet::new();
    let mut operation = |action: &str, info: Option<&MessageInfo>, id: &str| {
        let name = info.map_or("Error", MessageInfo::variant);
        let mut key = format!("{action}{}", upper_first(name));
        while !operation_ids.insert(key.clone()) {
            key.push('_');
        }
        let mut op = json!({
            "action": action,
            "channel": channel_ref,
            "messages": [message_ref(id)],
        });
        match info {
            Some(info) => {
                if let Some(description) = info.description() {
                    op["summary"] = summary(description).into();
                }
                let reply = match (action, info.reply(), &ack_id) {
                    ("receive", Some(reply), _) => Some(id_of(reply)),
                    // A request of the server, answered by the client.
                    ("send", Some(reply), _) if !info.is_client() => Some(id_of(reply)),
                    ("receive", None, Some(ack_id)) => Some(ack_id.clone()),
                    _ => None,
                };
                if let Some(reply) = reply {
                    op["reply"] = json!({
                        "channel": channel_ref,
                        "messages": [message_ref(&reply)],
                    });
                }
            }
            None => op["summary"] = "A message was refused or its handler failed.".into(),
        }
        operations.insert(key, op);
    };
    for MessageSchema { info, .. } in &client {
        operation("receive", Some(info), &id_of(info.wire()));
    }
    for MessageSchema { info, .. } in &server {
        operation("send", Some(info), &id_of(info.wire()));
    }
    operation("send", None, &error_id);
    // The framework's own operations, after the protocol's so that its
    // names win a clash.
    let mut framework_operation = |key: &str, op: Value| {
        let mut key = key.to_owned();
        while !operation_ids.insert(key.clone()) {
            key.push('_');
        }
        operations.insert(key, op);
    };
    if let Some(ack_id) = &ack_id {
        framework_operation(
            "sendAck",
            json!({
                "action": "send",
                "channel": channel_ref,
                "messages": [message_ref(ack_id)],
                "summary": "A client message that carried an id was handled.",
            }),
        );
    }
    // No `reply`: a reply in AsyncAPI is found by correlation id, and the
    // refresh frames carry none (one refresh is outstanding at a time).
    framework_operation(
        "sendRefreshRequired",
        json!({
            "action": "send",
            "channel": channel_ref,
            "messages": [message_ref(&refresh_required_id)],
            "summary": "Asks for a new credential ahead of the session's expiry.",
            "description": format!(
                "Sent once per expiry, `refresh_before` ahead of it, to a connection whose \
                 session has one. The client answers with `{refresh_id}`; without a valid \
                 one by the expiry, the connection is closed with {}.",
                close_code::SESSION_EXPIRED
            ),
        }),
    );
    framework_operation(
        "receiveRefresh",
        json!({
            "action": "receive",
            "channel": channel_ref,
            "messages": [message_ref(&refresh_id)],
            "summary": "Replaces the session in place with the one the new credential gives.",
            "description": format!(
                "The answer to `{refresh_required_id}`, or sent unasked. Nothing is sent back \
                 when the credential is accepted; a refused one closes the connection with {}.",
                close_code::REFRESH_REFUSED
            ),
        }),
    );

    let mut schemas = Map::new();
    for (name, mut def) in shared_defs::<P>(&schema) {
        if ["ErrorFrame", "AckFrame", REFRESH_REQUIRED, REFRESH_FRAME].contains(&name.as_str()) {
            continue; // inlined as the framework messages' payloads
        }
        rewrite_refs(&mut def);
        schemas.insert(name, def);
    }

    let mut description = P::DESCRIPTION.unwrap_or_default().to_owned();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    let [json_name, msgpack_name] = Codec::ALL.map(|codec| codec.subprotocol(P::SUBPROTOCOL));
    let _ = write!(
        description,
        "Operations are the server's: it receives what clients send and sends the rest. \
         Every message is a JSON text frame, or a MessagePack binary frame (the same \
         objects, as maps keyed by field name) on a connection that negotiated \
         `{msgpack_name}` in `Sec-WebSocket-Protocol` (see the channel's `ws` binding).",
    );
    let mut channel_object = json!({
        "address": P::PATH,
        "title": P::NAME,
        "messages": channel_messages,
        "bindings": { "ws": handshake_binding(&json_name, &msgpack_name) },
    });
    if let Some(text) = P::DESCRIPTION {
        channel_object["description"] = text.into();
    }
    let mut components_object = json!({ "messages": components, "schemas": schemas });
    if correlates {
        let description = if P::CORRELATE_ALL {
            "The `id` a client puts in a message; the reply, the error frame or the `ack` carries the same `id`"
        } else {
            "The `id` a client puts in a request; the reply, or the error frame, carries the same `id`"
        };
        let description = format!(
            "{description}: an unsigned integer or a string of at most {} bytes, echoed as it was sent (`7` as `7`, `\"7\"` as `\"7\"`).",
            crate::correlation::MAX_ID_LEN
        );
        components_object["correlationIds"] = json!({
            "id": {
                "description": description,
                "location": "$message.payload#/id",
            }
        });
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": P::NAME,
            "version": P::VERSION,
            "description": description,
        },
        "defaultContentType": "application/json",
        "channels": { channel: channel_object },
        "operations": operations,
        "components": components_object,
    })
}

fn message(info: &MessageInfo, schema: Option<&Value>, correlated: bool) -> Value {
    let mut payload = schema.cloned().unwrap_or_else(|| json!({}));
    rewrite_refs(&mut payload);
    let mut message = json!({
        "name": info.wire(),
        "title": info.variant(),
        "contentType": "application/json",
        "payload": payload,
    });
    if let Some(description) = info.description() {
        message["summary"] = summary(description).into();
        message["description"] = description.into();
    }
    if correlated {
        message["correlationId"] = json!({ "$ref": "#/components/correlationIds/id" });
    }
    message
}

/// The channel's WebSocket binding: the opening handshake, and in it the
/// subprotocols the server negotiates (see [`Codec::negotiate`]). The
/// header's value is a list the client orders by preference, with names of
/// other protocols allowed, so the schema is a string and the names are its
/// `examples`, not an `enum`.
fn handshake_binding(json_name: &str, msgpack_name: &str) -> Value {
    json!({
        "method": "GET",
        "headers": {
            "type": "object",
            "properties": {
                "Sec-WebSocket-Protocol": {
                    "description": format!(
                        "Optional: the subprotocols the client offers, comma-separated, \
                         preferred first. The server speaks `{json_name}` (JSON text frames) \
                         and `{msgpack_name}` (MessagePack binary frames); it selects the \
                         first of these offered and echoes it. Without either offered the \
                         connection speaks JSON and the response has no \
                         `Sec-WebSocket-Protocol`."
                    ),
                    "type": "string",
                    "examples": [json_name, msgpack_name, format!("{msgpack_name}, {json_name}")],
                },
            },
        },
        "bindingVersion": "0.1.0",
    })
}

fn error_message(schema: &Value, correlated: bool) -> Value {
    let mut payload = schema
        .pointer("/$defs/ErrorFrame")
        .cloned()
        .unwrap_or_else(|| json!({}));
    rewrite_refs(&mut payload);
    let mut message = json!({
        "name": "error",
        "title": "ErrorFrame",
        "summary": "A message was refused or its handler failed.",
        "contentType": "application/json",
        "payload": payload,
    });
    if correlated {
        message["correlationId"] = json!({ "$ref": "#/components/correlationIds/id" });
    }
    message
}

/// The `ack` message (`correlate = "all"`), its payload the `AckFrame` schema.
fn ack_message(schema: &Value) -> Value {
    let mut payload = schema
        .pointer("/$defs/AckFrame")
        .cloned()
        .unwrap_or_else(|| json!({}));
    rewrite_refs(&mut payload);
    json!({
        "name": "ack",
        "title": "AckFrame",
        "summary": "A client message that carried an id was handled.",
        "contentType": "application/json",
        "payload": payload,
        "correlationId": { "$ref": "#/components/correlationIds/id" },
    })
}

/// A framework frame without a correlation id (`refresh_required`,
/// `refresh`), its payload the `$defs` schema `def`.
fn framework_message(schema: &Value, def: &str, wire: &str, summary: &str) -> Value {
    let mut payload = schema
        .pointer(&format!("/$defs/{def}"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    rewrite_refs(&mut payload);
    json!({
        "name": wire,
        "title": def,
        "summary": summary,
        "contentType": "application/json",
        "payload": payload,
    })
}

/// `#/$defs/X` to `#/components/schemas/X`, and no `$schema` inside.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.remove("$schema");
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/$defs/")
            {
                *reference = format!("#/components/schemas/{name}");
            }
            object.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// Component keys must match `^[a-zA-Z0-9.\-_]+$`: other characters become
/// `_`, and clashes get a numeric suffix.
#[derive(Default)]
struct Ids {
    taken: BTreeSet<String>,
}

impl Ids {
    fn get(&mut self, wire: &str) -> String {
        let base: String = wire
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        let base = if base.is_empty() {
            "message".to_owned()
        } else {
            base
        };
        let mut id = base.clone();
        let mut n = 2;
        while !self.taken.insert(id.clone()) {
            id = format!("{base}_{n}");
            n += 1;
        }
        id
    }
}

fn channel_key(name: &str) -> String {
    Ids::default().get(name)
}

fn upper_first(name: &str) -> String {
    let mut chars = name.trim_start_matches("r#").chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The first line (sentence) of a description.
fn summary(description: &str) -> &str {
    description.lines().next().unwrap_or(description).trim()
}
