//! serde representations under which one input could decode as two
//! messages, or as a message and the framework's own frames.

use quote::ToTokens;

use crate::ast::{self, Message, Protocol, Tagging};
use crate::attr;
use crate::ctxt::Ctxt;

/// serde representations under which one input could decode as two
/// messages, or as a message and the framework's own frames: routing by wire
/// name needs every message to have exactly one.
pub(super) fn check_representation(cx: &Ctxt, protocol: &Protocol) {
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

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::super::assert_errors_start;

    #[test]
    fn representations_that_misroute() {
        let input = parse_quote! {
            #[serde(untagged)]
            enum Chat { #[ws(client)] Join { room: String }, #[ws(client)] Leave { room: String } }
        };
        assert_errors_start(
            input,
            &[
                "`untagged` makes routing ambiguous: serde decodes a message as the first variant whose fields match (`Join` and `Leave` have the same fields",
            ],
        );
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
        let starts = [
            "field `type` of `Notice`",
            "`#[serde(other)]` routes every unknown message type to `Unknown`",
            "`#[serde(untagged)]` on `Raw`",
            "`skip_deserializing` takes message `Hidden` off the wire",
            "wire name `error` of variant `Error` is reserved",
            "alias `unknown` of variant `Other` is already a name of `Unknown`",
        ];
        assert_errors_start(input, &starts);
    }
}
