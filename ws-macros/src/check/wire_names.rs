//! One wire name per message, none shared with another message or with the
//! framework's own frames, aliases included.

use std::collections::BTreeMap;

use crate::ast::{self, Message, Protocol};
use crate::ctxt::Ctxt;

/// Wire names of the framework's own frames (ws-core's `ErrorFrame` and
/// `RefreshRequired` sent, `RefreshFrame` read; tagged `"type"` whatever
/// the protocol's tag): a message named the same would be routed, and
/// decoded by clients, as that frame. Both sides decode a frame as the
/// protocol first and as a framework frame second, so each name is
/// reserved in both directions and every tagging.
pub(super) const RESERVED_WIRE_NAMES: &[(&str, &str)] = &[
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

pub(super) fn check_wire_names(cx: &Ctxt, protocol: &Protocol) {
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

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::super::{assert_errors_start, errors};

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
        assert_errors_start(
            input,
            &[
                "`rename_all` gives variant `JoinRoom` different wire names",
                "variant `Say` has different wire names",
            ],
        );
    }
}
