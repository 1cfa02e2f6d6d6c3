//! The module of per-variant structs (`chat::Join`), `From<chat::X> for Chat`
//! for each, and `Outbound<Chat>` for the server-direction ones.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::{Message, Protocol, Shape};
use crate::expand::private;

/// `pub mod chat { pub struct Join { pub room: String } ... }`
pub fn module(protocol: &Protocol) -> TokenStream {
    let vis = protocol.vis;
    let module = &protocol.module;
    let ident = protocol.ident;
    let doc = format!("Messages of [`{ident}`], one struct per variant.");
    let derives = &protocol.derives;
    let derive = (!derives.is_empty()).then(|| quote!(#[derive(#(#derives),*)]));
    let structs = protocol.struct_messages().map(|message| {
        let name = message.ident;
        let docs: Vec<_> = message.docs().collect();
        let default_doc = docs.is_empty().then(|| {
            let doc = format!("The `{name}` message of [`{ident}`](super::{ident}).");
            quote!(#[doc = #doc])
        });
        let body = match message.shape {
            Shape::Named => {
                let fields = message.fields.iter().map(|field| {
                    let docs = field
                        .attrs
                        .iter()
                        .filter(|attr| attr.path().is_ident("doc"));
                    let name = &field.ident;
                    let ty = &field.ty;
                    quote!(#(#docs)* pub #name: #ty)
                });
                quote!({ #(#fields,)* })
            }
            Shape::Unit | Shape::Tuple => quote!(;),
        };
        quote! {
            #(#docs)*
            #default_doc
            #derive
            pub struct #name #body
        }
    });
    quote! {
        #[doc = #doc]
        #vis mod #module {
            // Field types are written relative to the enum's module.
            #[allow(unused_imports)]
            use super::*;
            #(#structs)*
        }
    }
}

/// `From<chat::X> for Chat` for every message.
pub fn froms(protocol: &Protocol) -> TokenStream {
    let ident = protocol.ident;
    let module = &protocol.module;
    let froms = protocol.struct_messages().map(|message| {
        let name = message.ident;
        let (pattern, value) = destructure(protocol, message);
        quote! {
            impl ::core::convert::From<#module::#name> for #ident {
                #[inline]
                fn from(message: #module::#name) -> Self {
                    let #pattern = message;
                    #value
                }
            }
        }
    });
    quote!(#(#froms)*)
}

/// `Outbound<Chat>` for the structs of server messages, and no others.
pub fn outbounds(protocol: &Protocol) -> TokenStream {
    let outbounds = protocol.server_messages().map(|message| {
        // A request of the server (`#[ws(server, reply = Answer)]`).
        let request = message
            .reply_to
            .filter(|_| !message.direction.client)
            .map(|reply| {
                struct_impl(
                    protocol,
                    message,
                    quote!(ServerRequest),
                    reply_type(protocol, reply),
                )
            });
        let outbound = struct_impl(
            protocol,
            message,
            quote!(Outbound),
            into_enum(protocol, quote!(into_message)),
        );
        quote!(#request #outbound)
    });
    quote!(#(#outbounds)*)
}

/// `impl Outbound<Chat> for chat::Said { .. }`: `trait_name` implemented
/// by the generated struct of `message`, with `body`.
fn struct_impl(
    protocol: &Protocol,
    message: &Message,
    trait_name: TokenStream,
    body: TokenStream,
) -> TokenStream {
    let private = private();
    let ident = protocol.ident;
    let module = &protocol.module;
    let name = message.ident;
    quote! {
        impl #private::#trait_name<#ident> for #module::#name {
            #body
        }
    }
}

/// `fn into_message(self) -> Chat` (or `into_client_message`): the struct
/// into the enum.
fn into_enum(protocol: &Protocol, method: TokenStream) -> TokenStream {
    let ident = protocol.ident;
    quote! {
        #[inline]
        fn #method(self) -> #ident {
            <#ident as ::core::convert::From<Self>>::from(self)
        }
    }
}

/// `type Reply = chat::Pong;`, in `Request` or `ServerRequest`: the
/// request's struct names its reply's.
fn reply_type(protocol: &Protocol, reply: usize) -> TokenStream {
    let module = &protocol.module;
    let reply = protocol.messages[reply].ident;
    quote!(type Reply = #module::#reply;)
}

/// `ClientMessage<Chat>` for the structs of client messages, `Request<Chat>`
/// for those that declare a reply, and `Variant<Chat>` for every struct.
pub fn client_side(protocol: &Protocol) -> TokenStream {
    let ident = protocol.ident;
    let clients = protocol.client_messages().map(|message| {
        let client = struct_impl(
            protocol,
            message,
            quote!(ClientMessage),
            into_enum(protocol, quote!(into_client_message)),
        );
        let request = message.reply_to.map(|reply| {
            struct_impl(
                protocol,
                message,
                quote!(Request),
                reply_type(protocol, reply),
            )
        });
        quote!(#client #request)
    });
    let variants = protocol.struct_messages().map(|message| {
        let wire = &message.wire;
        let (pattern, value) = bind_fields(protocol, message);
        let body = quote! {
            const WIRE: &'static str = #wire;

            #[allow(unreachable_patterns)]
            fn from_message(message: #ident) -> ::core::result::Result<Self, #ident> {
                match message {
                    #pattern => ::core::result::Result::Ok(#value),
                    __ws_other => ::core::result::Result::Err(__ws_other),
                }
            }
        };
        struct_impl(protocol, message, quote!(Variant), body)
    });
    quote!(#(#clients)* #(#variants)*)
}

/// The enum variant's pattern binding every field to a name of our own
/// (`__ws_field0`, ...: a field called `ctx` or `handler` cannot shadow the
/// generated code's parameters), and the struct built from the bindings:
/// `Chat::Join { room: __ws_field0 }` and `chat::Join { room: __ws_field0 }`.
pub fn bind_fields(protocol: &Protocol, message: &Message) -> (TokenStream, TokenStream) {
    let ident = protocol.ident;
    let module = &protocol.module;
    let name = message.ident;
    let fields = message.field_idents();
    let bindings: Vec<_> = (0..fields.len())
        .map(|i| format_ident!("__ws_field{}", i))
        .collect();
    match message.shape {
        Shape::Named => (
            quote!(#ident::#name { #(#fields: #bindings),* }),
            quote!(#module::#name { #(#fields: #bindings),* }),
        ),
        Shape::Unit | Shape::Tuple => (quote!(#ident::#name), quote!(#module::#name)),
    }
}

/// The struct pattern binding every field, and the enum variant built from
/// the bindings: `chat::Join { room }` and `Chat::Join { room }`.
pub fn destructure(protocol: &Protocol, message: &Message) -> (TokenStream, TokenStream) {
    let ident = protocol.ident;
    let module = &protocol.module;
    let name = message.ident;
    match message.shape {
        Shape::Named => {
            let fields = message.field_idents();
            (
                quote!(#module::#name { #(#fields),* }),
                quote!(#ident::#name { #(#fields),* }),
            )
        }
        Shape::Unit | Shape::Tuple => (quote!(#module::#name), quote!(#ident::#name)),
    }
}
