//! Cross-cutting checks on the model: directions, shapes, wire names, method
//! names, and limits that depend on each other.

use std::collections::BTreeMap;

use quote::ToTokens;

use crate::ast::{self, Message, Protocol, Shape, Tagging};
use crate::attr;
use crate::ctxt::Ctxt;

/// The hooks of the generated handler trait, which variants cannot shadow.
pub const HOOKS: &[&str] = &[
    "authenticate",
    "authorize_join",
    "refresh",
    "on_connect",
    "on_disconnect",
];

/// Wire names of the framework's own frames (ws-core's `ErrorFrame` and
/// `RefreshRequired` sent, `RefreshFrame` read; tagged `"type"` whatever
/// the protocol's tag): a message named the same would be routed, and
/// decoded by clients, as that frame. Both sides decode a frame as the
/// protocol first and as a framework frame second, so each name is
/// reserved in both directions and every tagging.
pub const RESERVED_WIRE_NAMES: &[(&str, &str)] = &[
    (
        "error",
        "the framework sends its error frames, `{\"type\":\"error\",\"code\":..,\"message\":..}`",
    ),
    (
        "refresh_required",
        "the framework sends it to ask for a new credential, `{\"type\":\"refresh_required\",\"expires_in_ms\":..}`",
    ),
    (
        "refresh",
        "the framework reads a client's new credential from it, `{\"type\":\"refresh\",\"token\":..}`",
    ),
];

pub fn check(cx: &Ctxt, protocol: &mut Protocol) {
    check_directions(cx, protocol);
    check_shapes(cx, protocol);
    check_representation(cx, protocol);
    check_wire_names(cx, protocol);
    check_methods(cx, protocol);
    check_config(cx, protocol);
    check_rate(cx, protocol);
    check_module(cx, protocol);
    check_replies(cx, protocol);
    check_history(cx, protocol);
}

/// A recorded message goes to clients with `epoch` and `offset` beside its
/// tag: it is a server message of a tagged enum, and leaves those names to
/// the framework.
fn check_history(cx: &Ctxt, protocol: &Protocol) {
    let enum_name = protocol.ident;
    for message in &protocol.messages {
        let Some(history) = &message.history else {
            continue;
        };
        if !message.direction.server || message.lenient {
            cx.error_spanned_by(
                history,
                format!(
                    "`history` keeps what the server sends to a room; mark `{}` `#[ws(server, history)]`",
                    message.ident
                ),
            );
        }
        match &protocol.tagging {
            Tagging::External | Tagging::Untagged => cx.error_spanned_by(
                history,
                format!(
                    "`history` needs a tagged enum, so that `epoch` and `offset` can go beside the tag; add `#[serde(tag = \"type\")]` to `{enum_name}`"
                ),
            ),
            Tagging::Internal { tag } | Tagging::Adjacent { tag, .. }
                if tag == "epoch" || tag == "offset" =>
            {
                cx.error_spanned_by(
                    history,
                    format!("`{tag}` is the stream position that `history` adds and cannot be the tag; choose another `tag`"),
                )
            }
            _ => {}
        }
        if protocol.options.has("history") && protocol.options.to_config().history() == 0 {
            cx.error_spanned_by(
                history,
                format!(
                    "`{}` would never be kept: this protocol sets `history = 0`, which keeps no history; remove this `history`, or set `history` above 0",
                    message.ident
                ),
            );
        }
        if message.direction.server && !message.lenient && !names_its_room(message) {
            cx.error_spanned_by(
                history,
                format!(
                    "`history` keeps a message in the history of the room its `room` field names, and clients resume from the position they saw per room; add a field `room: String` to `{}`",
                    message.ident
                ),
            );
        }
        if !matches!(protocol.tagging, Tagging::Internal { .. }) {
            continue;
        }
        for field in &message.fields {
            let wire = match attr::serde_rename(&field.attrs) {
                Some(rename) => rename.serialize.map(|lit| lit.value()),
                None => field.ident.as_ref().map(ast::unraw),
            };
            if let Some(name @ ("epoch" | "offset")) = wire.as_deref() {
                let tokens = field
                    .ident
                    .as_ref()
                    .map_or_else(|| field.to_token_stream(), ToTokens::to_token_stream);
                cx.error_spanned_by(
                    tokens,
                    format!(
                        "field `{name}` of `{}` collides with the stream position that `history` adds beside the tag; rename the field (or keep its Rust name with `#[serde(rename = \"...\")]`)",
                        message.ident
                    ),
                );
            }
        }
    }
    if let (Some(deny), Some(_)) = (
        &protocol.deny_unknown_fields,
        protocol.messages.iter().find(|m| m.history.is_some()),
    ) {
        cx.error_spanned_by(
            deny,
            "`deny_unknown_fields` would refuse the `epoch` and `offset` that `history` adds; remove it, or the `history`",
        );
    }
}

/// Whether a message has a field that goes on the wire as `room`: the key
/// by which clients track their position in a room's history.
fn names_its_room(message: &Message) -> bool {
    matches!(message.shape, Shape::Named)
        && message.fields.iter().any(|field| {
            let wire = match attr::serde_rename(&field.attrs) {
                Some(rename) => rename.serialize.map(|lit| lit.value()),
                None => field.ident.as_ref().map(ast::unraw),
            };
            wire.as_deref() == Some("room")
        })
}

/// `reply = X` names a server message; a protocol with replies has a tag for
/// the correlation id to sit beside, and leaves the name `id` to it.
fn check_replies(cx: &Ctxt, protocol: &mut Protocol) {
    let enum_name = protocol.ident;
    let server_variants: Vec<String> = protocol
        .server_messages()
        .map(|m| format!("`{}`", m.ident))
        .collect();
    let client_variants: Vec<String> = protocol
        .client_messages()
        .map(|m| format!("`{}`", m.ident))
        .collect();
    let mut resolved = Vec::with_capacity(protocol.messages.len());
    for message in &protocol.messages {
        let Some(reply) = &message.reply else {
            resolved.push(None);
            continue;
        };
        if message.shape == Shape::Tuple || message.lenient {
            resolved.push(None); // reported already
            continue;
        }
        // A server-only variant is a request of the server to the client
        // (`ctx.request`), answered by a client message.
        let server_request = !message.direction.client;
        let target = protocol
            .messages
            .iter()
            .position(|m| ast::unraw(m.ident) == ast::unraw(reply));
        let Some(target) = target else {
            let expected = if server_request {
                if client_variants.is_empty() {
                    format!("`{enum_name}` has no `#[ws(client)]` variant")
                } else {
                    format!(
                        "expected one of the `#[ws(client)]` variants: {}",
                        client_variants.join(", ")
                    )
                }
            } else if server_variants.is_empty() {
                format!("`{enum_name}` has no `#[ws(server)]` variant")
            } else {
                format!(
                    "expected one of the `#[ws(server)]` variants: {}",
                    server_variants.join(", ")
                )
            };
            let guess = if server_request {
                None
            } else {
                protocol.closest_server_message(reply)
            };
            let hint = guess.map_or(String::new(), |m| format!(" (did you mean `{}`?)", m.ident));
            cx.error_spanned_by(
                reply,
                format!("no variant `{reply}` in `{enum_name}` to reply with{hint}; {expected}"),
            );
            resolved.push(None);
            continue;
        };
        let target_message = &protocol.messages[target];
        if target_message.shape == Shape::Tuple {
            resolved.push(None);
            continue;
        }
        if server_request && !target_message.direction.client {
            cx.error_spanned_by(
                reply,
                format!(
                    "`{reply}` cannot answer a request of the server: clients do not send it; name a `#[ws(client)]` variant (or mark `{reply}` `#[ws(client, server)]`)"
                ),
            );
            resolved.push(None);
            continue;
        }
        if !server_request && !target_message.direction.server {
            cx.error_spanned_by(
                reply,
                format!(
                    "`{reply}` cannot be a reply: the server does not send it; mark the variant `{reply}` `#[ws(server)]` (or `#[ws(client, server)]`)"
                ),
            );
            resolved.push(None);
            continue;
        }
        resolved.push(Some(target));
    }
    for (message, reply_to) in protocol.messages.iter_mut().zip(&resolved) {
        message.reply_to = *reply_to;
    }
    // The answer to a request of the server completes the request that
    // waits for it; it is never routed, so its variant gets no method.
    for index in server_request_replies(protocol) {
        protocol.messages[index].has_method = false;
    }

    // With `correlate = "all"` every client message carries the id, and
    // answers with `ack` frames: the option's value is what errors point at.
    let correlate_all = protocol
        .options
        .correlate
        .as_ref()
        .filter(|c| c.value == attr::Correlate::All);
    let first = protocol
        .messages
        .iter()
        .find(|m| m.reply_to.is_some())
        .and_then(|m| m.reply.as_ref())
        .map(ToTokens::to_token_stream);
    let Some(first) = correlate_all.map(|c| c.tokens.clone()).or(first) else {
        return;
    };
    if correlate_all.is_some() {
        for message in &protocol.messages {
            if [&message.wire, &message.wire_de]
                .iter()
                .any(|w| *w == "ack")
            {
                cx.error_spanned_by(
                    ast::wire_name_span(message),
                    format!(
                        "wire name `ack` of variant `{0}` is reserved by `correlate = \"all\"`: the framework acknowledges messages with `{{\"type\":\"ack\",\"id\":..}}` frames; rename the variant, or give it another wire name with `#[serde(rename = \"...\")]`",
                        message.ident
                    ),
                );
            }
        }
    }
    match &protocol.tagging {
        Tagging::Untagged => {} // refused in `check_representation`
        Tagging::External => cx.error_spanned_by(
            &first,
            format!(
                "`reply` needs a tagged enum, so that the correlation id `id` can go beside the tag; add `#[serde(tag = \"type\")]` to `{enum_name}`"
            ),
        ),
        Tagging::Internal { tag } if tag == "id" => cx.error_spanned_by(
            &first,
            "`id` is the correlation id of requests and replies and cannot be the tag; choose another `tag`",
        ),
        Tagging::Internal { .. } => {
            let correlated: Vec<usize> = protocol
                .messages
                .iter()
                .filter_map(|m| m.reply_to)
                .collect();
            for (index, message) in protocol.messages.iter().enumerate() {
                let carries_id = message.reply_to.is_some()
                    || correlated.contains(&index)
                    || (correlate_all.is_some() && message.direction.client);
                if !carries_id {
                    continue;
                }
                for field in &message.fields {
                    let wire = match attr::serde_rename(&field.attrs) {
                        Some(rename) => rename.serialize.map(|lit| lit.value()),
                        None => field.ident.as_ref().map(ast::unraw),
                    };
                    if wire.as_deref() == Some("id") {
                        let tokens = field
                            .ident
                            .as_ref()
                            .map_or_else(|| field.to_token_stream(), ToTokens::to_token_stream);
                        cx.error_spanned_by(
                            tokens,
                            format!(
                                "field `id` of `{}` collides with the correlation id that {} carry beside the tag; rename the field (or keep its Rust name with `#[serde(rename = \"...\")]`)",
                                message.ident,
                                if message.reply_to.is_some() || correlated.contains(&index) {
                                    "requests and replies"
                                } else {
                                    "client messages of a protocol with `correlate = \"all\"`"
                                }
                            ),
                        );
                    }
                }
            }
        }
        Tagging::Adjacent { .. } => {}
    }
    if let Some(deny) = &protocol.deny_unknown_fields {
        cx.error_spanned_by(
            deny,
            "`deny_unknown_fields` would refuse the correlation id `id` that requests and replies carry; remove it, or the `reply`",
        );
    }
}

/// The client variants that answer requests of the server
/// (`#[ws(server, reply = Answer)]`).
pub fn server_request_replies(protocol: &Protocol) -> Vec<usize> {
    protocol
        .messages
        .iter()
        .filter(|m| !m.direction.client)
        .filter_map(|m| m.reply_to)
        .collect()
}

/// A burst means nothing without a rate to burst above.
fn check_rate(cx: &Ctxt, protocol: &Protocol) {
    let options = &protocol.options;
    if options.has("rate_burst") && options.to_config().rate_limit().is_none() {
        cx.error_spanned_by(
            &options.given["rate_burst"],
            "`rate_burst` needs a rate to burst above: add `rate_limit = \"20/s\"` (or remove `rate_burst`)",
        );
    }
}

fn check_directions(cx: &Ctxt, protocol: &Protocol) {
    for message in &protocol.messages {
        // `#[ws(clinet)]` is reported where it is parsed; say "no direction"
        // only when nothing was written.
        let written = message.variant.attrs.iter().any(|attr| {
            attr.path().is_ident("ws")
                && !matches!(&attr.meta, syn::Meta::List(list) if list.tokens.is_empty())
        });
        if message.implied_client {
            cx.error_spanned_by(
                message.ident,
                format!(
                    "variant `{0}` has no direction: a variant with a `reply` is a request, which clients send; write `#[ws(client, reply = {1})]`",
                    message.ident,
                    message.reply.as_ref().map(ToString::to_string).unwrap_or_default(),
                ),
            );
        } else if message.lenient && !written {
            cx.error_spanned_by(
                message.ident,
                format!(
                    "variant `{}` has no direction; add `#[ws(client)]`, `#[ws(server)]` or `#[ws(client, server)]`",
                    message.ident
                ),
            );
        }
    }
}

fn check_shapes(cx: &Ctxt, protocol: &Protocol) {
    for message in &protocol.messages {
        if message.shape == Shape::Tuple {
            let example = match message.fields.len() {
                1 => "field: T".to_owned(),
                n => (0..n)
                    .map(|i| format!("field{i}: T"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            cx.error_spanned_by(
                &message.variant.fields,
                format!(
                    "tuple variant `{0}` is not supported: a message has named fields or none; write `{0} {{ {example} }}`",
                    message.ident
                ),
            );
        }
    }
}

/// serde representations under which one input could decode as two
/// messages, or as a message and the framework's own frames: routing by wire
/// name needs every message to have exactly one.
fn check_representation(cx: &Ctxt, protocol: &Protocol) {
    if let Some(untagged) = &protocol.untagged {
        let messages = &protocol.messages;
        let fields = |m: &Message| {
            let mut names: Vec<String> = m.field_idents().into_iter().map(ast::unraw).collect();
            names.sort();
            names
        };
        let twins = messages.iter().enumerate().find_map(|(i, a)| {
            messages[i + 1..]
                .iter()
                .find(|b| fields(a) == fields(b))
                .map(|b| (a, b))
        });
        let example = match twins {
            Some((a, b)) => format!(
                "`{}` and `{}` have the same fields, so every `{}` would be routed as `{}`",
                a.ident, b.ident, b.ident, a.ident
            ),
            None => "variants with the same fields would all be routed as the first".to_owned(),
        };
        cx.error_spanned_by(
            untagged,
            format!(
                "`untagged` makes routing ambiguous: serde decodes a message as the first variant whose fields match ({example}), and clients could decode the framework's error frames as a message; tag the enum with `#[serde(tag = \"type\")]`"
            ),
        );
    }
    if let Tagging::Internal { tag } = &protocol.tagging {
        for (message, field) in ast::tag_conflicts(tag, &protocol.messages) {
            let tokens = match attr::serde_rename(&field.attrs) {
                Some(rename) => rename.tokens,
                None => field.ident.to_token_stream(),
            };
            cx.error_spanned_by(
                tokens,
                format!(
                    "field `{tag}` of `{}` has the name of the tag, which holds the message's wire name; give the field another name on the wire (`#[serde(rename = \"kind\")]` keeps its Rust name), or choose another `tag`",
                    message.ident
                ),
            );
        }
    }
    for message in &protocol.messages {
        let name = message.ident;
        if let Some(catch_all) = &message.catch_all {
            let how = if catch_all.to_string() == "other" {
                format!("`#[serde(other)]` routes every unknown message type to `{name}`")
            } else {
                format!(
                    "`#[serde(untagged)]` on `{name}` routes to it every input that no other variant matches"
                )
            };
            cx.error_spanned_by(
                catch_all,
                format!(
                    "{how}: a misspelt `type` reaches its handler instead of an `invalid_message` error, and clients decode the framework's error frames as `{name}`; remove it, so that `{name}` has its own wire name"
                ),
            );
        }
        if let Some(skipped) = &message.skipped {
            let effect = match skipped.to_string().as_str() {
                "skip_serializing" => "sending it fails at run time",
                "skip_deserializing" => "the peer's messages of this type are refused as unknown",
                _ => "it can be neither sent nor received",
            };
            cx.error_spanned_by(
                skipped,
                format!(
                    "`{skipped}` takes message `{name}` off the wire: {effect}; remove the attribute, or the variant"
                ),
            );
        }
    }
}

fn check_wire_names(cx: &Ctxt, protocol: &Protocol) {
    let mut rename_all_reported = false;
    for message in &protocol.messages {
        if message.wire == message.wire_de {
            continue;
        }
        let own = message
            .rename
            .as_ref()
            .is_some_and(|r| r.serialize.is_some() || r.deserialize.is_some());
        match (&message.rename, &protocol.rename_all) {
            (Some(rename), _) if own => cx.error_spanned_by(
                &rename.tokens,
                format!(
                    "variant `{}` has different wire names for serializing (`{}`) and deserializing (`{}`); a message has one wire name: use `rename = \"...\"`",
                    message.ident, message.wire, message.wire_de
                ),
            ),
            (_, Some(rename_all)) if !rename_all_reported => {
                rename_all_reported = true;
                cx.error_spanned_by(
                    &rename_all.tokens,
                    format!(
                        "`rename_all` gives variant `{}` different wire names for serializing (`{}`) and deserializing (`{}`); a message has one wire name: use `rename_all = \"...\"`",
                        message.ident, message.wire, message.wire_de
                    ),
                );
            }
            _ => {}
        }
    }

    let mut seen: BTreeMap<&str, &Message> = BTreeMap::new();
    for message in &protocol.messages {
        match seen.get(message.wire.as_str()) {
            Some(first) => cx.error_spanned_by(
                ast::wire_name_span(message),
                format!(
                    "duplicate wire name `{wire}`: variants `{}` and `{}` both serialize as `{wire}`; rename one with `#[serde(rename = \"...\")]`",
                    first.ident,
                    message.ident,
                    wire = message.wire,
                ),
            ),
            None => {
                seen.insert(&message.wire, message);
            }
        }
    }

    for message in &protocol.messages {
        let names = [&message.wire, &message.wire_de];
        let reserved = RESERVED_WIRE_NAMES
            .iter()
            .find(|(name, _)| names.iter().any(|wire| wire.as_str() == *name));
        if let Some((name, frames)) = reserved {
            cx.error_spanned_by(
                ast::wire_name_span(message),
                format!(
                    "wire name `{name}` of variant `{}` is reserved: {frames}, and peers could not tell them from `{}`; rename the variant, or give it another wire name with `#[serde(rename = \"...\")]`",
                    message.ident, message.ident
                ),
            );
        }
    }

    // An alias is one more name a message decodes from: it must not be
    // another message's, or serde routes the name to the first declared.
    let mut decoded: BTreeMap<String, &Message> = protocol
        .messages
        .iter()
        .map(|message| (message.wire_de.clone(), message))
        .collect();
    for message in &protocol.messages {
        for alias in &message.aliases {
            let name = alias.value();
            if let Some((reserved, frames)) = RESERVED_WIRE_NAMES.iter().find(|(r, _)| *r == name) {
                cx.error_spanned_by(
                    alias,
                    format!(
                        "alias `{reserved}` of variant `{}` is reserved: {frames}; remove the alias",
                        message.ident
                    ),
                );
                continue;
            }
            match decoded.get(&name) {
                Some(other) if other.ident == message.ident => {}
                Some(other) => cx.error_spanned_by(
                    alias,
                    format!(
                        "alias `{name}` of variant `{}` is already a name of `{}`: an incoming `{name}` would be routed to only one of them; remove the alias, or rename one of the variants",
                        message.ident, other.ident
                    ),
                ),
                None => {
                    decoded.insert(name, message);
                }
            }
        }
    }
}

fn check_methods(cx: &Ctxt, protocol: &mut Protocol) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for message in protocol.messages.iter_mut() {
        if message.shape == Shape::Tuple || !message.direction.client {
            continue;
        }
        let method = ast::unraw(&message.method);
        if HOOKS.contains(&method.as_str()) {
            message.has_method = false;
            if !message.lenient {
                cx.error_spanned_by(
                    message.ident,
                    format!(
                        "variant `{}` would get the handler method `{method}`, which is the name of a hook; rename the variant (keep its wire name with `#[serde(rename = \"...\")]`)",
                        message.ident
                    ),
                );
            }
            continue;
        }
        match seen.get(&method) {
            Some(first) => {
                message.has_method = false;
                cx.error_spanned_by(
                    message.ident,
                    format!(
                        "variants `{first}` and `{}` would both get the handler method `{method}`; rename one of them",
                        message.ident
                    ),
                );
            }
            None => {
                seen.insert(method, message.ident.to_string());
            }
        }
    }
}

/// The options given, over ws-core's defaults, through ws-core's own
/// `Config::validate`: refused here as they would be from the builder or the
/// environment, with the same message, on the option to change first.
fn check_config(cx: &Ctxt, protocol: &Protocol) {
    let options = &protocol.options;
    for error in options.to_config().errors() {
        let given = error
            .options()
            .iter()
            .find_map(|option| options.given.get(*option));
        match given {
            Some(tokens) => cx.error_spanned_by(tokens, error.to_string()),
            // The defaults are valid, so some option given broke the rule.
            None => cx.error_spanned_by(protocol.ident, error.to_string()),
        }
    }
}

fn check_module(cx: &Ctxt, protocol: &Protocol) {
    if protocol.module == *protocol.ident {
        let tokens = match &protocol.options.module {
            Some(module) => module.tokens.clone(),
            None => protocol.ident.to_token_stream(),
        };
        cx.error_spanned_by(
            tokens,
            format!(
                "the module of message structs would be named `{}` like the enum; choose another name with `#[ws_protocol(module = \"...\")]`",
                protocol.module
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{DeriveInput, parse_quote};

    fn errors(input: DeriveInput) -> Vec<String> {
        let cx = Ctxt::new();
        if let Some(mut protocol) = Protocol::from_ast(&cx, &input) {
            check(&cx, &mut protocol);
        }
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|err| err.to_string()).collect(),
        }
    }

    #[test]
    fn a_valid_protocol_passes() {
        let input = parse_quote! {
            #[__ws_protocol(heartbeat = "10s", idle_timeout = "11s")]
            #[serde(rename_all = "snake_case")]
            enum Chat { #[ws(client)] Join { room: String }, #[ws(server)] Kicked }
        };
        assert_eq!(errors(input), Vec::<String>::new());
    }

    #[test]
    fn directions_and_shapes() {
        let input = parse_quote! {
            enum Chat { Join { room: String }, #[ws(client)] Say(String), #[ws()] Leave }
        };
        assert_eq!(
            errors(input),
            [
                "variant `Join` has no direction; add `#[ws(client)]`, `#[ws(server)]` or `#[ws(client, server)]`",
                "variant `Leave` has no direction; add `#[ws(client)]`, `#[ws(server)]` or `#[ws(client, server)]`",
                "tuple variant `Say` is not supported: a message has named fields or none; write `Say { field: T }`",
            ]
        );
    }

    #[test]
    fn duplicate_wire_names() {
        let input = parse_quote! {
            #[serde(rename_all = "lowercase")]
            enum Chat {
                #[ws(client)] Join { room: String },
                #[ws(client)] #[serde(rename = "join")] JoinRoom { room: String },
                #[ws(server)] JOIN,
            }
        };
        assert_eq!(
            errors(input),
            [
                "duplicate wire name `join`: variants `Join` and `JoinRoom` both serialize as `join`; rename one with `#[serde(rename = \"...\")]`",
                "duplicate wire name `join`: variants `Join` and `JOIN` both serialize as `join`; rename one with `#[serde(rename = \"...\")]`",
            ]
        );
    }

    #[test]
    fn one_wire_name_per_message() {
        let input = parse_quote! {
            #[serde(rename_all(serialize = "snake_case", deserialize = "camelCase"))]
            enum Chat {
                #[ws(client)] JoinRoom { room: String },
                #[ws(client)] Leave,
                #[ws(client)] #[serde(rename(serialize = "s", deserialize = "d"))] Say,
            }
        };
        let errors = errors(input);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("`rename_all` gives variant `JoinRoom` different wire names")
        );
        assert!(errors[1].starts_with("variant `Say` has different wire names"));
    }

    #[test]
    fn method_collisions() {
        let input = parse_quote! {
            enum Chat {
                #[ws(client)] OnConnect,
                #[ws(server)] OnDisconnect,
                #[ws(client)] HttpGet,
                #[ws(client)] #[serde(rename = "http")] HTTPGet,
            }
        };
        assert_eq!(
            errors(input),
            [
                "variant `OnConnect` would get the handler method `on_connect`, which is the name of a hook; rename the variant (keep its wire name with `#[serde(rename = \"...\")]`)",
                "variants `HttpGet` and `HTTPGet` would both get the handler method `http_get`; rename one of them",
            ]
        );
    }

    #[test]
    fn replies_resolve_to_server_variants() {
        let input: DeriveInput = parse_quote! {
            #[serde(tag = "type")]
            enum Chat {
                #[ws(client, reply = Pong)] Ping,
                #[ws(client, reply = Self::Pong)] Again,
                #[ws(server)] Pong,
            }
        };
        let cx = Ctxt::new();
        let mut protocol = Protocol::from_ast(&cx, &input).unwrap();
        check(&cx, &mut protocol);
        cx.check().unwrap();
        let replies: Vec<_> = protocol.messages.iter().map(|m| m.reply_to).collect();
        assert_eq!(replies, [Some(2), Some(2), None]);
    }

    #[test]
    fn replies_need_a_tag_and_the_name_id() {
        let input = parse_quote! {
            enum Chat { #[ws(client, reply = Pong)] Ping, #[ws(server)] Pong }
        };
        assert_eq!(
            errors(input),
            [
                "`reply` needs a tagged enum, so that the correlation id `id` can go beside the tag; add `#[serde(tag = \"type\")]` to `Chat`"
            ]
        );
        let input = parse_quote! {
            #[serde(tag = "type")]
            enum Chat {
                #[ws(client, reply = Pong)] Ping { id: u32 },
                #[ws(server)] Pong,
                #[ws(client)] Other { id: u32 },
            }
        };
        let errors = errors(input);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("field `id` of `Ping` collides"));
    }

    #[test]
    fn representations_that_misroute() {
        let input = parse_quote! {
            #[serde(untagged)]
            enum Chat { #[ws(client)] Join { room: String }, #[ws(client)] Leave { room: String } }
        };
        let untagged = errors(input);
        assert_eq!(untagged.len(), 1, "{untagged:?}");
        assert!(untagged[0].contains("`Join` and `Leave` have the same fields"));
        let input = parse_quote! {
            #[serde(tag = "type", rename_all = "snake_case")]
            enum Chat {
                #[ws(client)] #[serde(other)] Unknown,
                #[ws(client)] #[serde(untagged)] Raw { text: String },
                #[ws(client)] #[serde(skip_deserializing)] Hidden,
                #[ws(server)] Error,
                #[ws(client)] #[serde(alias = "unknown")] Other,
                #[ws(client)] Notice { r#type: String },
            }
        };
        let errors = errors(input);
        let starts = [
            "field `type` of `Notice`",
            "`#[serde(other)]` routes every unknown message type to `Unknown`",
            "`#[serde(untagged)]` on `Raw`",
            "`skip_deserializing` takes message `Hidden` off the wire",
            "wire name `error` of variant `Error` is reserved",
            "alias `unknown` of variant `Other` is already a name of `Unknown`",
        ];
        assert_eq!(errors.len(), starts.len(), "{errors:?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{error}");
        }
    }

    #[test]
    fn a_reply_implies_no_direction() {
        let input = parse_quote! {
            #[serde(tag = "type")]
            enum Chat { #[ws(reply = Pong)] Ping, #[ws(server)] Pong }
        };
        let errors = errors(input);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("write `#[ws(client, reply = Pong)]`"));
    }

    #[test]
    fn timeouts() {
        let input = parse_quote! {
            #[__ws_protocol(heartbeat = "30s", idle_timeout = "30s")]
            enum Chat {}
        };
        assert_eq!(
            errors(input),
            [
                "idle_timeout (30s) must be longer than heartbeat (30s), or \"off\": a peer that answers every ping would still be closed as idle"
            ]
        );
        let input = parse_quote! { #[__ws_protocol(heartbeat = "2m")] enum Chat {} };
        assert_eq!(errors(input).len(), 1);
        let input =
            parse_quote! { #[__ws_protocol(heartbeat = "2m", idle_timeout = "off")] enum Chat {} };
        assert!(errors(input).is_empty());
        let input =
            parse_quote! { #[__ws_protocol(idle_timeout = "10s", heartbeat = "off")] enum Chat {} };
        assert!(errors(input).is_empty());
    }

    #[test]
    fn zeros_are_refused_by_config_validate() {
        let input = parse_quote! {
            #[__ws_protocol(
                send_queue = 0, max_message_size = "0KiB", heartbeat = "0s",
                idle_timeout = "0m", rate_limit = "0/s", read_buffer = 0,
                write_buffer = "0", max_connections = 0, max_per_user = 0,
            )]
            enum Chat {}
        };
        assert_eq!(
            errors(input),
            [
                "send_queue must be a whole number of frames of at least 1, like \"256\"",
                "max_message_size must be a non-zero size like \"64KiB\" or \"1MiB\"",
                "heartbeat must be a non-zero duration like \"30s\" or \"off\"",
                "idle_timeout must be a non-zero duration like \"60s\" or \"off\"",
                "rate_limit must be a rate of at least 1 message per non-zero period, like \"20/s\", \"600/m\" or \"5/500ms\", or \"off\"",
                "read_buffer must be a non-zero size like \"1KiB\"",
                "write_buffer must be a non-zero size like \"64KiB\"",
            ]
        );
        let input = parse_quote! {
            #[__ws_protocol(rate_limit = "5/0s", rate_burst = 0)] enum Chat {}
        };
        assert_eq!(errors(input).len(), 2);
    }
}
