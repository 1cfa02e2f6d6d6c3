//! The JSON Schema of a protocol, both directions in one document.
//!
//! ```text
//! {
//!   "$schema": "https://json-schema.org/draft/2020-12/schema",
//!   "title": "Chat",
//!   "anyOf": [ {"$ref": "#/$defs/ClientMessage"}, {"$ref": "#/$defs/ServerMessage"} ],
//!   "$defs": {
//!     "ClientMessage": {"$ref": "#/$defs/ChatClient"},   // what clients send
//!     "ServerMessage": {"anyOf": [{"$ref": "#/$defs/ChatServer"},
//!                                 {"$ref": "#/$defs/ErrorFrame"}]},
//!     "ChatClient": {"oneOf": [ ...one schema per message, the tag a `const`... ]},
//!     ...
//!   }
//! }
//! ```
//! Doc comments become `description`s. [`for_direction`] cuts the document
//! down to one direction, e.g. to validate what a server sends.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Value, json};

use crate::handler::ErrorFrame;

/// A direction of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Messages clients send (`#[ws(client)]`).
    Client,
    /// Messages the server sends (`#[ws(server)]`, and [`ErrorFrame`]).
    Server,
}

/// Builds the document from the two schema-only enums the macro generates.
#[doc(hidden)]
pub fn document<C: JsonSchema, S: JsonSchema>(
    name: &'static str,
    description: Option<&'static str>,
) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let client = generator.subschema_for::<C>();
    let server = generator.subschema_for::<S>();
    let error = generator.subschema_for::<ErrorFrame>();
    let mut defs = generator.take_definitions(true);
    defs.insert("ClientMessage".into(), client.to_value());
    defs.insert(
        "ServerMessage".into(),
        json!({ "anyOf": [server.to_value(), error.to_value()] }),
    );
    let mut document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "anyOf": [
            { "$ref": "#/$defs/ClientMessage" },
            { "$ref": "#/$defs/ServerMessage" },
        ],
        "$defs": defs,
    });
    if let Some(description) = description {
        document["description"] = description.trim().into();
    }
    document
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
