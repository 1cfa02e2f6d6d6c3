//! `#[ws_protocol(...)]` options: the limits, through ws-core's own
//! `Config::validate`, a burst without a rate, and the module's name.

use quote::ToTokens;

use crate::ast::Protocol;
use crate::ctxt::Ctxt;

/// The options given, over ws-core's defaults, through ws-core's own
/// `Config::validate`: refused here as they would be from the builder or the
/// environment, with the same message, on the option to change first.
pub(super) fn check_config(cx: &Ctxt, protocol: &Protocol) {
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

/// A burst means nothing without a rate to burst above.
pub(super) fn check_rate(cx: &Ctxt, protocol: &Protocol) {
    let options = &protocol.options;
    if options.has("rate_burst") && options.to_config().rate_limit().is_none() {
        cx.error_spanned_by(
            &options.given["rate_burst"],
            "`rate_burst` needs a rate to burst above: add `rate_limit = \"20/s\"` (or remove `rate_burst`)",
        );
    }
}

pub(super) fn check_module(cx: &Ctxt, protocol: &Protocol) {
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
    use syn::parse_quote;

    use super::super::errors;

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
