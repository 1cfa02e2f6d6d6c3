//! `reply = X`: requests and replies, of the client and of the server, and
//! the correlation id they carry (also every client message's, with
//! `correlate = "all"`).

use quote::ToTokens;

use super::{field_tokens, wire_name};
use crate::ast::{self, Protocol, Shape, Tagging};
use crate::attr;
use crate::ctxt::Ctxt;

/// `reply = X` names a server message; a protocol with replies has a tag for
/// the correlation id to sit beside, and leaves the name `id` to it.
pub(super) fn check_replies(cx: &Ctxt, protocol: &mut Protocol) {
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
                    if wire_name(field).as_deref() == Some("id") {
                        cx.error_spanned_by(
                            field_tokens(field),
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

#[cfg(test)]
mod tests {
    use syn::{DeriveInput, parse_quote};

    use super::super::{assert_errors_start, check, errors};
    use crate::ast::Protocol;
    use crate::ctxt::Ctxt;

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
        assert_errors_start(input, &["field `id` of `Ping` collides"]);
    }
}
