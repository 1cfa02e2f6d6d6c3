//! `impl<H: ChatHandler> Route<H> for Chat`: decoded client messages to the
//! handler's methods, and the hooks forwarded.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{Protocol, Shape};
use crate::expand::handler::trait_ident;
use crate::expand::messages::bind_fields;
use crate::expand::private;

pub fn route_impl(protocol: &Protocol) -> TokenStream {
    let private = private();
    let ident = protocol.ident;
    let handler = trait_ident(protocol);
    let handler = quote!(#handler<__S>);
    let arms = protocol.messages.iter().map(|message| {
        let name = message.ident;
        let routed =
            message.shape != Shape::Tuple && message.direction.client && message.has_method;
        if !routed {
            let wire = &message.wire;
            return quote!(#ident::#name { .. } => #private::not_from_client(#wire),);
        }
        let method = &message.method;
        let (pattern, value) = bind_fields(protocol, message);
        match (message.reply_to, &message.reply) {
            (Some(_), _) => quote! {
                #pattern => #private::reply(
                    ctx,
                    id,
                    <__H as #handler>::#method(handler, ctx, #value).await,
                ),
            },
            // An invalid `reply` (reported; see `handler::method`).
            (None, Some(_)) => quote! {
                #pattern => <__H as #handler>::#method(handler, ctx, #value).await.map(|_| ()),
            },
            (None, None) => quote! {
                #pattern => <__H as #handler>::#method(handler, ctx, #value).await,
            },
        }
    });
    // What the hooks' futures give: a result, a session, or nothing.
    let future = |output: TokenStream| quote!(impl ::core::future::Future<Output = #output> + ::core::marker::Send + 'a);
    let result = future(quote!(#private::HandlerResult));
    let session = |error: TokenStream| {
        future(quote!(::core::result::Result<<Self as #private::Protocol>::Session, #error>))
    };
    let authenticated = session(quote!(#private::Response));
    let refreshed = session(quote!(#private::RefreshRefused));
    let authorized = future(quote!(::core::result::Result<(), #private::JoinRefused>));
    let nothing = future(quote!(()));
    quote! {
        impl<__H: #handler, __S: 'static> #private::Route<__H, __S> for #ident {
            fn route<'a>(
                handler: &'a __H,
                ctx: &'a #private::Ctx<Self>,
                message: Self,
                id: ::core::option::Option<#private::CorrelationId>,
            ) -> #result {
                async move {
                    // Read by the arms of requests only.
                    let _ = id;
                    match message {
                        #(#arms)*
                    }
                }
            }

            fn authenticate<'a>(
                handler: &'a __H,
                request: &'a mut #private::Parts,
                state: &'a __S,
            ) -> #authenticated {
                <__H as #handler>::authenticate(handler, request, state)
            }

            fn authorize_join<'a>(
                handler: &'a __H,
                ctx: &'a #private::Ctx<Self>,
                room: &'a ::core::primitive::str,
            ) -> #authorized {
                <__H as #handler>::authorize_join(handler, ctx, room)
            }

            fn refresh<'a>(
                handler: &'a __H,
                ctx: &'a #private::Ctx<Self>,
                token: ::std::string::String,
            ) -> #refreshed {
                <__H as #handler>::refresh(handler, ctx, token)
            }

            fn on_connect<'a>(
                handler: &'a __H,
                ctx: &'a #private::Ctx<Self>,
            ) -> #result {
                <__H as #handler>::on_connect(handler, ctx)
            }

            fn on_disconnect<'a>(
                handler: &'a __H,
                ctx: &'a #private::Ctx<Self>,
                disconnect: &'a #private::Disconnect,
            ) -> #nothing {
                <__H as #handler>::on_disconnect(handler, ctx, disconnect)
            }
        }
    }
}
