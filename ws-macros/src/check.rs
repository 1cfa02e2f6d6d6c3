//! Cross-cutting checks on the model: directions, shapes, wire names, method
//! names, and limits that depend on each other.

use std::collections::BTreeMap;

use quote::ToTokens;

use crate::ast::{self, Message, Protocol, Shape};
use crate::attr::{self, DEFAULT_HEARTBEAT_MS, DEFAULT_IDLE_TIMEOUT_MS};
use crate::ctxt::Ctxt;

/// The hooks of the generated handler trait, which variants cannot shadow.
pub const HOOKS: &[&str] = &["authenticate", "on_connect", "on_disconnect"];

pub fn check(cx: &Ctxt, protocol: &mut Protocol) {
    check_directions(cx, protocol);
    check_shapes(cx, protocol);
    check_wire_names(cx, protocol);
    check_methods(cx, protocol);
    check_timeouts(cx, protocol);
    check_rate(cx, protocol);
    check_module(cx, protocol);
}

/// A burst means nothing without a rate to burst above.
fn check_rate(cx: &Ctxt, protocol: &Protocol) {
    let options = &protocol.options;
    let has_rate = options
        .rate_limit
        .as_ref()
        .is_some_and(|rate| rate.value.is_some());
    if let (Some(burst), false) = (&options.rate_burst, has_rate) {
        cx.error_spanned_by(
            &burst.tokens,
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
        if message.lenient && !written {
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

fn check_timeouts(cx: &Ctxt, protocol: &Protocol) {
    let options = &protocol.options;
    let heartbeat = options
        .heartbeat
        .as_ref()
        .map_or(Some(DEFAULT_HEARTBEAT_MS), |s| s.value);
    let idle = options
        .idle_timeout
        .as_ref()
        .map_or(Some(DEFAULT_IDLE_TIMEOUT_MS), |s| s.value);
    let (Some(heartbeat), Some(idle)) = (heartbeat, idle) else {
        return;
    };
    if idle > heartbeat {
        return;
    }
    let (hb, it) = (
        attr::format_duration(heartbeat),
        attr::format_duration(idle),
    );
    match (&options.idle_timeout, &options.heartbeat) {
        (Some(given), _) => cx.error_spanned_by(
            &given.tokens,
            format!(
                "`idle_timeout` ({it}) must be greater than `heartbeat` ({hb}): a peer that answers every ping would still be closed as idle"
            ),
        ),
        (None, Some(given)) => cx.error_spanned_by(
            &given.tokens,
            format!(
                "`heartbeat` ({hb}) must be shorter than the default `idle_timeout` ({it}): a peer that answers every ping would still be closed as idle; set `idle_timeout` too"
            ),
        ),
        (None, None) => {}
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
    fn timeouts() {
        let input = parse_quote! {
            #[__ws_protocol(heartbeat = "30s", idle_timeout = "30s")]
            enum Chat {}
        };
        assert_eq!(
            errors(input),
            [
                "`idle_timeout` (30s) must be greater than `heartbeat` (30s): a peer that answers every ping would still be closed as idle"
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
}
