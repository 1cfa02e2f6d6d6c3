//! The handler trait's method names: one per client variant, none a hook's.

use std::collections::BTreeMap;

use crate::ast::{self, Protocol, Shape};
use crate::ctxt::Ctxt;

/// The hooks of the generated handler trait, which variants cannot shadow.
const HOOKS: &[&str] = &[
    "authenticate",
    "authorize_join",
    "refresh",
    "on_connect",
    "on_disconnect",
];

pub(super) fn check_methods(cx: &Ctxt, protocol: &mut Protocol) {
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

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::super::errors;

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
}
