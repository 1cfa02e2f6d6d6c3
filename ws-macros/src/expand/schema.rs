//! The two schema-only mirror enums, one per direction, which derive
//! `JsonSchema` with the enum's serde attributes so that schemars sees the
//! wire format the real enum has.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::ast::{self, Message, Protocol, Shape, unraw};

/// The mirrors' names inside the `const _` block; unlikely to shadow a type
/// that a field names.
pub fn mirror_idents() -> (Ident, Ident) {
    (
        Ident::new("__WsClientMessages", Span::call_site()),
        Ident::new("__WsServerMessages", Span::call_site()),
    )
}

pub fn mirrors(protocol: &Protocol) -> TokenStream {
    let (client, server) = mirror_idents();
    let client = mirror(
        protocol,
        &client,
        "Client",
        "Messages a client sends.",
        protocol.client_messages(),
    );
    let server = mirror(
        protocol,
        &server,
        "Server",
        "Messages the server sends.",
        protocol.server_messages(),
    );
    quote!(#client #server)
}

fn mirror<'a>(
    protocol: &Protocol,
    ident: &Ident,
    suffix: &str,
    doc: &str,
    messages: impl Iterator<Item = &'a Message<'a>>,
) -> TokenStream {
    let rename = format!("{}{suffix}", unraw(protocol.ident));
    let serde_attrs = &protocol.serde_attrs;
    let variants = messages.map(|message| {
        let attrs = message.schema_attrs();
        let name = message.ident;
        let fields = match message.shape {
            Shape::Named => {
                let fields = message.fields.iter().map(|field| {
                    let attrs = ast::schema_attrs(&field.attrs);
                    let name = &field.ident;
                    let ty = &field.ty;
                    quote!(#(#attrs)* #name: #ty)
                });
                quote!({ #(#fields,)* })
            }
            Shape::Unit | Shape::Tuple => TokenStream::new(),
        };
        quote!(#(#attrs)* #name #fields)
    });
    quote! {
        #[doc = #doc]
        #[derive(::ws_core::__private::schemars::JsonSchema)]
        #[schemars(crate = "::ws_core::__private::schemars", rename = #rename)]
        #(#serde_attrs)*
        enum #ident {
            #(#variants,)*
        }
    }
}
