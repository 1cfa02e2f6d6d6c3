//! The traits that `#[ws_protocol]` implements for a user's enum.
//!
//! Users never implement them by hand: the macro does, and the runtime is
//! generic over them. They are public so that bounds in signatures such as
//! [`endpoint`](crate::endpoint) can be read, and so that rustc's errors can
//! name them with a hint (`#[diagnostic::on_unimplemented]`).
//!
//! The documents derived from their metadata ([`schema`]: JSON Schema,
//! AsyncAPI, TypeScript) live here too: [`Protocol::asyncapi`] and
//! [`Protocol::typescript`] produce them, so the trait and its documents
//! are one layer (re-exported as `ws_core::schema`).

pub mod schema;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;

/// A protocol: one enum holding the messages of both directions.
///
/// Implemented by `#[ws_protocol]`; the attribute's options become
/// [`Protocol::CONFIG`].
///
/// ```
/// use ws_core::{Protocol, ws_protocol};
///
/// #[ws_protocol(send_queue = 32)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Ping {
///     #[ws(client)]
///     Ping { n: u32 },
///     #[ws(server)]
///     Pong { n: u32 },
/// }
///
/// assert_eq!(Ping::NAME, "Ping");
/// // Clients ask for `ping.v1.json` or `ping.v1.msgpack` (see `Codec`).
/// assert_eq!(Ping::SUBPROTOCOL, "ping.v1");
/// assert_eq!(Ping::CONFIG.send_queue(), 32);
/// assert_eq!(Ping::Ping { n: 1 }.message_type(), "ping");
/// assert!(Ping::Ping { n: 1 }.is_from_client());
/// assert!(!Ping::Pong { n: 1 }.is_from_client());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket protocol",
    label = "not annotated with `#[ws_protocol]`",
    note = "annotate the enum with `#[ws_core::ws_protocol]`"
)]
pub trait Protocol: Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    /// The connection's session (`session = Type`, default `()`): what
    /// `authenticate` returns and [`Ctx::session`](crate::Ctx::session)
    /// reads. See [`Session`](crate::Session).
    type Session: crate::session::Session;
    /// The enum's name, used as the schema's title.
    const NAME: &'static str;
    /// The limits and policies given in the attribute (defaults elsewhere).
    const CONFIG: Config;
    /// The enum's doc comment, trimmed; the documents' description.
    const DESCRIPTION: Option<&'static str>;
    /// The path the protocol is served at (`path = "/ws"`, the default):
    /// the AsyncAPI channel's address, and where
    /// `ws_core::testing::TestServer` serves it.
    const PATH: &'static str;
    /// The base of the protocol's subprotocol names (`subprotocol =
    /// "chat.v1"`; by default the enum's name in snake case and `.v1`): a
    /// client asks for `chat.v1.json` or `chat.v1.msgpack` in
    /// `Sec-WebSocket-Protocol`. See [`Codec`](crate::Codec).
    const SUBPROTOCOL: &'static str;
    /// The version of the crate that declares the protocol
    /// (`CARGO_PKG_VERSION`), the AsyncAPI document's `info.version`.
    const VERSION: &'static str;
    /// How serde tags the messages on the wire.
    const TAGGING: Tagging;
    /// Whether every client message may carry a correlation id
    /// (`correlate = "all"`), not only requests: see
    /// [`correlation`](crate::correlation).
    const CORRELATE_ALL: bool = false;
    /// Every message, in declaration order.
    const MESSAGES: &'static [MessageInfo];

    /// The message's wire name: the value of its tag after serde's renames.
    fn message_type(&self) -> &'static str;

    /// Whether clients may send this message (`#[ws(client)]`).
    fn is_from_client(&self) -> bool;

    /// The wire name of the reply this message declares
    /// (`#[ws(client, reply = Pong)]`), if it declares one. Only such
    /// messages have their correlation id read: see [`correlation`](crate::correlation).
    fn reply_type(&self) -> Option<&'static str>;

    /// Whether this client message answers a request of the server
    /// (`#[ws(server, reply = Answer)]` on some server variant): such a
    /// message completes the request that waits for it and is never routed
    /// to the handler. See [`Ctx::request`](crate::Ctx::request).
    fn answers_server_request(&self) -> bool {
        false
    }

    /// Whether a stream's history records this message
    /// (`#[ws(server, history)]`): sent to a room of a manager with
    /// [`history`](crate::Config::with_history), it gets the room's `epoch`
    /// and `offset` beside its tag, and is replayed to members that resume.
    /// See [`history`](crate::history).
    fn is_recorded(&self) -> bool {
        false
    }

    /// The JSON Schema of both directions: see [`schema`](crate::schema).
    fn json_schema() -> serde_json::Value;

    /// The AsyncAPI 3.0 document of the protocol: see
    /// [`schema::asyncapi`](crate::schema::asyncapi).
    fn asyncapi() -> serde_json::Value {
        schema::asyncapi::document::<Self>()
    }

    /// TypeScript definitions and a typed client for the protocol: see
    /// [`schema::typescript`](crate::schema::typescript).
    fn typescript() -> String {
        schema::typescript::module::<Self>()
    }
}

/// How serde tags a protocol's messages, read from the enum's `#[serde]`
/// attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tagging {
    /// `#[serde(tag = "type")]`: `{"type": "join", "room": "r"}`.
    Internal {
        /// The tag field.
        tag: &'static str,
    },
    /// `#[serde(tag = "t", content = "c")]`: `{"t": "join", "c": {"room": "r"}}`.
    Adjacent {
        /// The tag field.
        tag: &'static str,
        /// The content field.
        content: &'static str,
    },
    /// serde's default: `{"Join": {"room": "r"}}`.
    External,
    /// `#[serde(untagged)]`: no wire name on the wire.
    Untagged,
}

impl Tagging {
    /// The tag field, for internally and adjacently tagged enums.
    pub const fn tag(self) -> Option<&'static str> {
        match self {
            Self::Internal { tag } | Self::Adjacent { tag, .. } => Some(tag),
            Self::External | Self::Untagged => None,
        }
    }
}

/// What `#[ws_protocol]` knows about one message: the metadata the
/// generated documents, the TypeScript client and `ws_core::client::Client` read.
///
/// ```
/// use ws_core::{Protocol, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Calc {
///     /// Add two numbers.
///     #[ws(client, reply = Sum)]
///     Add { a: i64, b: i64 },
///     #[ws(server)]
///     Sum { value: i64 },
/// }
///
/// let add = &Calc::MESSAGES[0];
/// assert_eq!((add.variant(), add.wire(), add.reply()), ("Add", "add", Some("sum")));
/// assert!(add.is_client() && !add.is_server());
/// assert_eq!(add.description(), Some("Add two numbers."));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    variant: &'static str,
    wire: &'static str,
    client: bool,
    server: bool,
    reply: Option<&'static str>,
    description: Option<&'static str>,
    recorded: bool,
}

impl MessageInfo {
    #[doc(hidden)]
    pub const fn new(
        variant: &'static str,
        wire: &'static str,
        client: bool,
        server: bool,
        reply: Option<&'static str>,
        description: Option<&'static str>,
    ) -> Self {
        Self {
            variant,
            wire,
            client,
            server,
            reply,
            description,
            recorded: false,
        }
    }

    /// Marks the message as kept in a room's history (`#[ws(server, history)]`).
    #[doc(hidden)]
    pub const fn recorded(mut self) -> Self {
        self.recorded = true;
        self
    }

    /// Whether a room's history keeps it (`#[ws(server, history)]`): sent
    /// to a room with history, it carries `epoch` and `offset` beside its
    /// tag. See [`history`](crate::history).
    pub const fn is_recorded(&self) -> bool {
        self.recorded
    }

    /// The variant's Rust name.
    pub const fn variant(&self) -> &'static str {
        self.variant
    }

    /// The wire name: the value of the tag.
    pub const fn wire(&self) -> &'static str {
        self.wire
    }

    /// Whether clients send it (`#[ws(client)]`).
    pub const fn is_client(&self) -> bool {
        self.client
    }

    /// Whether the server sends it (`#[ws(server)]`).
    pub const fn is_server(&self) -> bool {
        self.server
    }

    /// The wire name of the reply it declares, if any.
    pub const fn reply(&self) -> Option<&'static str> {
        self.reply
    }

    /// The variant's doc comment, trimmed.
    pub const fn description(&self) -> Option<&'static str> {
        self.description
    }

    /// Whether it is the reply of some message of `messages`.
    pub fn is_reply_in(&self, messages: &[MessageInfo]) -> bool {
        messages.iter().any(|m| m.reply == Some(self.wire))
    }
}

/// A message the server may send on protocol `P`: the generated struct of a
/// `#[ws(server)]` variant, or an already encoded [`Frame`](crate::Frame).
///
/// There is deliberately no implementation for `P` itself: a value of the
/// enum could be a client-only message, and sending one must not compile.
///
/// The note names no example struct: `on_unimplemented` can only name
/// `Self` and `P`, not the protocol's module or variants, and rustc's help
/// lists the structs that do implement this trait right below it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a server message of `{P}`",
    label = "only variants marked `#[ws(server)]` can be sent",
    note = "mark the variant `#[ws(server)]` (or `#[ws(client, server)]`) and send its struct from the module `#[ws_protocol]` generated for `{P}`; the server messages of `{P}` are listed below"
)]
pub trait Outbound<P: Protocol> {
    /// Converts into the protocol's enum, ready to be encoded.
    fn into_message(self) -> P;
}

/// A message a client may send on protocol `P`: the generated struct of a
/// `#[ws(client)]` variant. The mirror of [`Outbound`], for
/// `ws_core::client::Client::send`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a client message of `{P}`",
    label = "only variants marked `#[ws(client)]` can be sent by a client",
    note = "mark the variant `#[ws(client)]` (or `#[ws(client, server)]`) and send its struct from the module `#[ws_protocol]` generated for `{P}`; the client messages of `{P}` are listed below"
)]
pub trait ClientMessage<P: Protocol> {
    /// Converts into the protocol's enum, ready to be encoded.
    fn into_client_message(self) -> P;
}

/// A client message that declares a reply (`#[ws(client, reply = Pong)]`):
/// `ws_core::client::Client::request` sends it with a
/// correlation id and resolves with [`Request::Reply`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request of `{P}`",
    label = "this message declares no reply",
    note = "declare the reply on the variant: `#[ws(client, reply = Pong)]`"
)]
pub trait Request<P: Protocol>: ClientMessage<P> {
    /// The generated struct of the reply's variant.
    type Reply: Variant<P>;
}

/// A request the server sends to a client (`#[ws(server, reply = Answer)]`):
/// the generated struct of the server variant, whose answer is the client
/// variant `Reply`. Sent with [`Ctx::request`](crate::Ctx::request) or
/// [`Broadcast::request`](crate::Broadcast::request).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request of the server in `{P}`",
    label = "this message declares no reply",
    note = "declare the client's answer on the server variant: `#[ws(server, reply = Answer)]`"
)]
pub trait ServerRequest<P: Protocol>: Outbound<P> {
    /// The generated struct of the client variant that answers it.
    type Reply: Variant<P>;
}

/// The generated struct of one variant of `P`, which can be picked out of a
/// received `P` (e.g. by `ws_core::testing::TestClient::expect`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a message of `{P}`",
    label = "expected a struct generated for one of the variants of `{P}`",
    note = "use the structs of the module `#[ws_protocol]` generates, e.g. `chat::Said`"
)]
pub trait Variant<P: Protocol>: Sized {
    /// The variant's wire name.
    const WIRE: &'static str;

    /// The struct if `message` is this variant, else the message back.
    fn from_message(message: P) -> Result<Self, P>;
}
