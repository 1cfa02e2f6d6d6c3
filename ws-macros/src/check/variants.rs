//! Each variant has a direction and named fields (or none).

use crate::ast::{Protocol, Shape};
use crate::ctxt::Ctxt;

pub(super) fn check_directions(cx: &Ctxt, protocol: &Protocol) {
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

pub(super) fn check_shapes(cx: &Ctxt, protocol: &Protocol) {
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

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::super::errors;

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
    fn a_reply_implies_no_direction() {
        let input = parse_quote! {
            #[serde(tag = "type")]
            enum Chat { #[ws(reply = Pong)] Ping, #[ws(server)] Pong }
        };
        assert_eq!(
            errors(input),
            [
                "variant `Ping` has no direction: a variant with a `reply` is a request, which clients send; write `#[ws(client, reply = Pong)]`"
            ]
        );
    }
}
