//! The expansion, one file per generated artefact.
//!
//! `#[ws_protocol]` ([`item`]) re-emits the enum with serde's derives and the
//! hidden `WsProtocol` derive, which sees the enum with cfgs applied and
//! generates the rest ([`derive`]):
//!
//! - [`messages`]: the module of per-variant structs, `From`, `Outbound`,
//!   and for clients `ClientMessage`, `Request` and `Variant`;
//! - [`protocol`]: `impl Protocol` (with the message metadata) and the
//!   inherent `json_schema`, `asyncapi` and `typescript`;
//! - [`schema`]: the two schema-only mirror enums;
//! - [`handler`]: the `{Enum}Handler` trait;
//! - [`route`]: `impl<H: {Enum}Handler> Route<H>`.

pub mod handler;
pub mod item;
pub mod messages;
pub mod protocol;
pub mod route;
pub mod schema;

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::Protocol;
use crate::check;
use crate::ctxt::Ctxt;
use crate::fallback;

/// The hidden derive: everything but the enum itself.
pub fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let Some(mut protocol) = Protocol::from_ast(&cx, input) else {
        return match cx.check() {
            Ok(()) => TokenStream::new(),
            Err(err) => fallback::errors_only(err),
        };
    };
    check::check(&cx, &mut protocol);

    let module = messages::module(&protocol);
    let handler = handler::handler_trait(&protocol);
    let froms = messages::froms(&protocol);
    // Everything below needs the serde impls (`Protocol: Serialize +
    // DeserializeOwned`, and schemars reads the same attributes).
    let serde_based = (!protocol.serde_fails).then(|| {
        let outbounds = messages::outbounds(&protocol);
        let client_side = messages::client_side(&protocol);
        let mirrors = schema::mirrors(&protocol);
        let protocol_impl = protocol::protocol_impl(&protocol);
        let route = route::route_impl(&protocol);
        quote!(#outbounds #client_side #mirrors #protocol_impl #route)
    });
    let errors = match cx.check() {
        Ok(()) => TokenStream::new(),
        Err(err) => err.to_compile_error(),
    };
    quote! {
        #errors
        #module
        #handler
        const _: () = {
            #froms
            #serde_based
        };
    }
}

/// `::ws_core::__private`, the only door generated code goes through.
pub fn private() -> TokenStream {
    quote!(::ws_core::__private)
}

#[cfg(test)]
mod tests {
    /// Reads the expansion's shape (run with `--nocapture` to see it whole):
    /// server variants, and only they, can be sent; each client variant has
    /// a handler method; every path is absolute.
    #[test]
    fn expansion_shape() {
        let input = syn::parse_quote! {
            /// A chat protocol.
            #[__ws_protocol(send_queue = 8)]
            #[derive(Debug, Clone)]
            #[serde(tag = "type", rename_all = "snake_case")]
            pub enum Chat {
                /// Join a room.
                #[ws(client)]
                Join { room: String },
                #[ws(client, server)]
                Echo { text: String },
                #[ws(server)]
                Kicked,
            }
        };
        let expansion = super::derive(&input).to_string();
        println!("{expansion}");
        let has = |needle: &str| expansion.contains(needle);
        assert!(has("pub trait ChatHandler"));
        assert!(has("fn join (& self"));
        assert!(has("fn echo (& self"));
        assert!(
            !has("fn kicked (& self"),
            "server-only variants get no handler"
        );
        assert!(has("Outbound < Chat > for chat :: Kicked"));
        assert!(has("Outbound < Chat > for chat :: Echo"));
        assert!(
            !has("Outbound < Chat > for chat :: Join"),
            "client-only variants cannot be sent"
        );
        assert!(has("ClientMessage < Chat > for chat :: Join"));
        assert!(
            !has("ClientMessage < Chat > for chat :: Kicked"),
            "clients cannot send server-only variants"
        );
        assert!(has("Variant < Chat > for chat :: Kicked"));
        assert!(has(
            "MessageInfo :: new (\"Join\" , \"join\" , true , false"
        ));
        assert!(has(
            ":: ws_core :: __private :: Config :: DEFAULT . with_send_queue (8)"
        ));
        for dependency in ["serde ::", "schemars ::", "serde_json ::"] {
            let all = expansion.matches(dependency).count();
            let through_private = expansion
                .matches(&format!("__private :: {dependency}"))
                .count();
            assert_eq!(
                all, through_private,
                "`{dependency}` reached other than through __private"
            );
        }
    }
}
