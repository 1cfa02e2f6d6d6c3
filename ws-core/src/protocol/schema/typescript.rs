//! TypeScript definitions of a protocol and a small typed client.
//!
//! Converted from the protocol's JSON Schema by a converter of the subset
//! schemars emits (objects and `required`, strings, numbers, integers,
//! booleans, `null`, arrays and tuples, `const` and `enum`, `oneOf`/`anyOf`/
//! `allOf`, `$ref` to `$defs`, nullable types as type arrays); anything else
//! becomes `unknown`. The module holds:
//!
//! - one `export interface` per shared type (`$defs`) and per message, named
//!   after the variant (`Join`), the tag a string literal type, doc comments
//!   as JSDoc;
//! - `ClientMessage` and `ServerMessage`, discriminated unions of each
//!   direction with the framework's frames: `ClientMessage` includes
//!   `RefreshFrame`, `ServerMessage` includes `ErrorFrame` and
//!   `RefreshRequired` (and `AckFrame` with `correlate = "all"`);
//! - `Replies`, request wire name → reply type; `Answers`, the same for
//!   requests of the server (`#[ws(server, reply = Answer)]`), when it has any;
//! - for tagged enums, a client class (`ChatClient`) over the browser's
//!   `WebSocket`: `connect`, `send(ClientMessage)`, `on(type, handler)` with
//!   the handler's argument narrowed to that message, `request(message)`
//!   returning a `Promise` of the declared reply (correlated by `id`, with a
//!   timeout), `onRequest(type, handler)` answering requests of the server
//!   with what the (async) handler returns, `onError` and `close`. It
//!   answers `refresh_required` itself with a `refresh` from
//!   `ClientOptions.getToken` (so `on` never sees it). It
//!   reconnects by itself after a drop (`ReconnectPolicy`: exponential backoff with full jitter, capped;
//!   `RECONNECT_CODES` lists the close codes it retries), reports its
//!   `ConnectionState` to `onState`, and calls `onReconnect` handlers, where
//!   the application rejoins;
//! - for protocols with recorded messages (`#[ws(server, history)]`), the
//!   client also tracks the last `epoch` and `offset` seen per room
//!   (`since(room)`, the position a rejoin sends) and reports each join's
//!   outcome (`recovered`, `reason`) to `onRecovery`.
//!
//! - `SUBPROTOCOL`, the protocol's subprotocol base name, and
//!   `BinaryCodec`: given one in `ClientOptions.msgpack` (e.g. `{ encode,
//!   decode }` of the npm package `@msgpack/msgpack`), the client asks for
//!   `<SUBPROTOCOL>.msgpack` and, if the server selects it, sends and
//!   receives MessagePack (see `ws_core::Codec`); the module itself imports
//!   nothing.
//!
//! The file needs the `ES2020` and `DOM` libraries (`tsc --target es2020`).
//!
//! The client class is written in TypeScript, in `typescript/client.ts`:
//! a template that `frontend/check.sh` type-checks with `tsc --strict` by
//! itself, beside the modules generated from it. The types of the
//! messages come from JSON Schema, in `typescript/types.rs`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

mod types;

use self::types::{declare, ident, jsdoc, json_str, property_name};
use super::{Direction, MessageSchema, REFRESH_FRAME, REFRESH_REQUIRED, messages, shared_defs};
use crate::protocol::{Protocol, Tagging};

/// The TypeScript module of `P`, as `P::typescript()` returns it.
///
/// ```
/// use ws_core::{Protocol, ws_protocol};
///
/// #[ws_protocol]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// pub enum Chat {
///     /// Join a room.
///     #[ws(client)]
///     Join { room: String },
///     #[ws(client, reply = Pong)]
///     Ping { n: u32 },
///     #[ws(server)]
///     Pong { n: u32 },
/// }
///
/// let ts = Chat::typescript();
/// assert!(ts.contains("export interface Join {\n  type: \"join\";\n  room: string;\n}"));
/// assert!(ts.contains("export type ClientMessage = Join | Ping | RefreshFrame;"));
/// assert!(ts.contains("export type ServerMessage = Pong | ErrorFrame | RefreshRequired;"));
/// assert!(ts.contains("export interface RefreshRequired {\n  type: \"refresh_required\";"));
/// assert!(ts.contains("  ping: Pong;"));
/// assert!(ts.contains("export class ChatClient {"));
/// assert!(ts.contains("onReconnect(handler: () => void)"));
/// // No recorded messages: no position tracking.
/// assert!(!ts.contains("since(room: string)"));
/// ```
pub fn module<P: Protocol>() -> String {
    let schema = P::json_schema();
    let defs = shared_defs::<P>(&schema);
    let client = messages::<P>(&schema, Direction::Client);
    let server = messages::<P>(&schema, Direction::Server);
    let class = format!("{}Client", ident(P::NAME));

    let mut names = Names::default();
    for reserved in [
        "ClientMessage",
        "ServerMessage",
        "Replies",
        "ClientOptions",
        "ServerError",
        "RequestTimeout",
        "ReconnectPolicy",
        "RECONNECT_CODES",
        "ConnectionState",
        "StateChange",
        "StreamPosition",
        "Recovery",
        "PATH",
        "withToken",
        "withoutToken",
        class.as_str(),
    ] {
        names.taken.insert(reserved.to_owned());
    }
    for name in defs.keys() {
        names.taken.insert(ident(name));
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by ws-core from the `{name}` protocol (`{name}::typescript()`); do not edit.\n\
         // JSON text frames on ws://HOST{path}. Needs the ES2020 and DOM libraries.\n",
        name = P::NAME,
        path = P::PATH,
    );
    // The enum's own doc describes the module, not the first declaration:
    // a plain comment, which no editor attaches to `PATH`.
    if let Some(description) = P::DESCRIPTION {
        for line in description.trim().lines() {
            let _ = writeln!(out, "// {line}");
        }
        out.push('\n');
    }
    out.push_str(&jsdoc("The path the server serves the protocol at.", ""));
    let _ = writeln!(out, "export const PATH = {};\n", json_str(P::PATH));

    for (name, def) in &defs {
        declare(&mut out, &ident(name), def);
    }

    // One interface per wire name; a message of both directions once.
    let mut wire_names: Vec<(&str, String)> = Vec::new();
    for MessageSchema { info, schema } in client.iter().chain(&server) {
        if wire_names.iter().any(|(wire, _)| *wire == info.wire()) {
            continue;
        }
        let name = names.allocate(&ident(info.variant()));
        let mut schema = schema.clone().unwrap_or(Value::Bool(true));
        if let (Some(description), Some(object)) = (info.description(), schema.as_object_mut()) {
            object
                .entry("description")
                .or_insert_with(|| description.into());
        }
        declare(&mut out, &name, &schema);
        wire_names.push((info.wire(), name));
    }
    let name_of = |wire: &str| {
        wire_names
            .iter()
            .find(|(w, _)| *w == wire)
            .map_or_else(|| "never".to_owned(), |(_, name)| name.clone())
    };
    let union = |messages: &[MessageSchema], extra: Option<&str>| {
        let mut members: Vec<String> = messages.iter().map(|m| name_of(m.info.wire())).collect();
        members.extend(extra.map(str::to_owned));
        if members.is_empty() {
            "never".to_owned()
        } else {
            members.join(" | ")
        }
    };
    let _ = writeln!(
        out,
        "/** Messages a client sends; `{REFRESH_FRAME}` renews the session (the client sends it itself with `getToken`). */\n\
         export type ClientMessage = {};\n",
        union(&client, Some(REFRESH_FRAME))
    );
    let ack = if P::CORRELATE_ALL { " | AckFrame" } else { "" };
    let _ = writeln!(
        out,
        "/** Messages the server sends; `ErrorFrame` when a message was refused or its handler failed, `{REFRESH_REQUIRED}` ahead of the session's expiry. */\n\
         export type ServerMessage = {};\n",
        union(
            &server,
            Some(format!("ErrorFrame{ack} | {REFRESH_REQUIRED}").as_str())
        )
    );
    out.push_str("/** The reply each request declares, by the request's wire name. */\nexport interface Replies {\n");
    for MessageSchema { info, .. } in &client {
        if let Some(reply) = info.reply() {
            let _ = writeln!(out, "  {}: {};", property_name(info.wire()), name_of(reply));
        }
    }
    out.push_str("}\n");
    // Requests of the server (`#[ws(server, reply = Answer)]`), answered by
    // `onRequest` handlers.
    let server_requests: Vec<(&str, &str)> = server
        .iter()
        .filter(|m| !m.info.is_client())
        .filter_map(|m| Some((m.info.wire(), m.info.reply()?)))
        .collect();
    if !server_requests.is_empty() {
        out.push_str("\n/** The answer each request of the server expects, by the request's wire name. */\nexport interface Answers {\n");
        for (wire, answer) in &server_requests {
            let _ = writeln!(out, "  {}: {};", property_name(wire), name_of(answer));
        }
        out.push_str("}\n");
    }

    if let Some(tag) = P::TAGGING.tag() {
        // The tag the client dispatches on; `ErrorFrame` is tagged `type`.
        // Not `RefreshRequired`: the client answers it and hands it to no
        // handler.
        let mut tagged: Vec<String> = server.iter().map(|m| name_of(m.info.wire())).collect();
        if tag == "type" {
            tagged.push("ErrorFrame".to_owned());
            if P::CORRELATE_ALL {
                tagged.push("AckFrame".to_owned());
            }
        }
        let tagged = if tagged.is_empty() {
            "never".to_owned()
        } else {
            tagged.join(" | ")
        };
        let resume = P::MESSAGES
            .iter()
            .any(crate::protocol::MessageInfo::is_recorded);
        out.push('\n');
        let requests: Vec<String> = server_requests.iter().map(|(w, _)| json_str(w)).collect();
        let client = regions(CLIENT, |region| match region {
            "resume" => resume,
            "ack" => P::CORRELATE_ALL,
            "server_requests" => !server_requests.is_empty(),
            // `tsc`: what lets tsc check the template alone.
            _ => false,
        });
        out.push_str(
            &client
                .replace("__REQUESTS__", &requests.join(", "))
                .replace("__SUBPROTOCOL__", &json_str(P::SUBPROTOCOL))
                .replace("__CLIENT__", &class)
                .replace("__NAME__", P::NAME)
                .replace("__TAGGED__", &tagged)
                .replace("__TAG_KEY__", &property_name(tag))
                .replace("__TAG__", &json_str(tag)),
        );
    } else {
        let how = match P::TAGGING {
            Tagging::External => "externally tagged",
            _ => "untagged",
        };
        let _ = writeln!(
            out,
            "\n// No client class: `{}` is {how}; add `#[serde(tag = \"type\")]` to get one.",
            P::NAME
        );
    }
    out
}

/// The client class, for protocols with a tag: a TypeScript file that tsc
/// checks by itself, with regions and placeholders (see its head).
const CLIENT: &str = include_str!("typescript/client.ts");

/// `template` without its `//#` lines, and without the lines of each
/// `//#if NAME` .. `//#end` region whose NAME `keep` refuses.
fn regions(template: &str, keep: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut kept = true;
    for line in template.split_inclusive('\n') {
        let Some(directive) = line.trim_start().strip_prefix("//#") else {
            if kept {
                out.push_str(line);
            }
            continue;
        };
        if let Some(name) = directive.strip_prefix("if ") {
            kept = keep(name.trim_end());
        } else if directive.trim_end() == "end" {
            kept = true;
        }
    }
    out
}

/// Type and interface names: variant names, then `Message`, then digits.
#[derive(Default)]
struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    fn allocate(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        if !self.taken.insert(name.clone()) {
            name = format!("{base}Message");
            let mut n = 2;
            while !self.taken.insert(name.clone()) {
                name = format!("{base}Message{n}");
                n += 1;
            }
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_template_has_known_flat_regions() {
        let mut open = false;
        for line in CLIENT.lines() {
            let directive = line.trim_start();
            if let Some(name) = directive.strip_prefix("//#if ") {
                assert!(!open, "nested region `{name}`");
                assert!(
                    ["tsc", "resume", "ack", "server_requests"].contains(&name),
                    "unknown region `{name}`"
                );
                open = true;
            } else if directive == "//#end" {
                assert!(open, "`//#end` without `//#if`");
                open = false;
            }
        }
        assert!(!open, "a region is not closed");
        let none = regions(CLIENT, |_| false);
        assert!(!none.contains("//#") && !none.contains("./placeholders"));
        assert!(!none.contains("since(") && !none.contains("sendWithAck"));
        let all = regions(CLIENT, |region| region != "tsc");
        assert!(all.contains("since(") && all.contains("sendWithAck") && all.contains("onRequest"));
    }

    #[test]
    fn names_take_a_suffix_when_taken() {
        let mut names = Names::default();
        names.taken.insert("Point".into());
        assert_eq!(names.allocate("Point"), "PointMessage");
        assert_eq!(names.allocate("Point"), "PointMessage2");
    }
}
