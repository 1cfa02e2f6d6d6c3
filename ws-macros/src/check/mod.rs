//! Cross-cutting checks on the model, one module for each thing checked:
//! directions and shapes of variants, serde representations, wire names,
//! handler method names, replies, history, and options that depend on each
//! other.

mod history;
mod methods;
mod options;
mod replies;
mod representation;
mod variants;
mod wire_names;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::Field;

use crate::ast::{self, Protocol};
use crate::attr;
use crate::ctxt::Ctxt;

pub use self::replies::server_request_replies;

pub fn check(cx: &Ctxt, protocol: &mut Protocol) {
    variants::check_directions(cx, protocol);
    variants::check_shapes(cx, protocol);
    representation::check_representation(cx, protocol);
    wire_names::check_wire_names(cx, protocol);
    methods::check_methods(cx, protocol);
    options::check_config(cx, protocol);
    options::check_rate(cx, protocol);
    options::check_module(cx, protocol);
    replies::check_replies(cx, protocol);
    history::check_history(cx, protocol);
}

/// The name `field` goes by on the wire: serde's `rename`, else its Rust
/// name.
fn wire_name(field: &Field) -> Option<String> {
    match attr::serde_rename(&field.attrs) {
        Some(rename) => rename.serialize.map(|lit| lit.value()),
        None => field.ident.as_ref().map(ast::unraw),
    }
}

/// What an error about `field` points at: its name, else the whole field.
fn field_tokens(field: &Field) -> TokenStream {
    field
        .ident
        .as_ref()
        .map_or_else(|| field.to_token_stream(), ToTokens::to_token_stream)
}

/// The errors `check` reports on `input`, in order.
#[cfg(test)]
fn errors(input: syn::DeriveInput) -> Vec<String> {
    let cx = Ctxt::new();
    if let Some(mut protocol) = Protocol::from_ast(&cx, &input) {
        check(&cx, &mut protocol);
    }
    match cx.check() {
        Ok(()) => Vec::new(),
        Err(err) => err.into_iter().map(|err| err.to_string()).collect(),
    }
}

/// Asserts that `check` reports one error on `input` for each of `starts`,
/// in order, each starting with its own.
#[cfg(test)]
#[track_caller]
fn assert_errors_start(input: syn::DeriveInput, starts: &[&str]) {
    let errors = errors(input);
    assert_eq!(errors.len(), starts.len(), "{errors:?}");
    for (error, start) in errors.iter().zip(starts) {
        assert!(error.starts_with(start), "{error}");
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::errors;

    #[test]
    fn a_valid_protocol_passes() {
        let input = parse_quote! {
            #[__ws_protocol(heartbeat = "10s", idle_timeout = "11s")]
            #[serde(rename_all = "snake_case")]
            enum Chat { #[ws(client)] Join { room: String }, #[ws(server)] Kicked }
        };
        assert_eq!(errors(input), Vec::<String>::new());
    }
}
