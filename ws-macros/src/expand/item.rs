//! The attribute step: `#[ws_protocol(...)]` re-emits the enum with serde's
//! derives (through ws-core's re-export) and the hidden `WsProtocol` derive,
//! and moves its own arguments into the derive's helper attribute, spans
//! untouched. Done this way (pin-project's way) the derive sees the enum with
//! cfgs applied and `#[ws]` attributes inert.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, DeriveInput, Path, Token};

use crate::ast;
use crate::ctxt::Ctxt;
use crate::expand::private;
use crate::fallback;

pub fn ws_protocol(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: DeriveInput = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            // Not a struct, enum or union (a fn, an impl, ...): point at its
            // first token and leave it as written.
            let first = input.clone().into_iter().next();
            let err = syn::Error::new_spanned(
                first.map(TokenStream::from).unwrap_or_default(),
                ast::not_an_enum(),
            );
            let err = err.to_compile_error();
            return quote!(#err #input);
        }
    };
    let keyword = match &item.data {
        syn::Data::Enum(_) => None,
        syn::Data::Struct(data) => Some(data.struct_token.to_token_stream()),
        syn::Data::Union(data) => Some(data.union_token.to_token_stream()),
    };
    if let Some(keyword) = keyword {
        let err = syn::Error::new_spanned(keyword, ast::not_an_enum()).to_compile_error();
        let item = fallback::strip_item(item);
        return quote!(#err #item);
    }

    let cx = Ctxt::new();
    item.attrs = remove_reserved_derives(&cx, item.attrs);
    let errors = match cx.check() {
        Ok(()) => TokenStream::new(),
        Err(err) => err.to_compile_error(),
    };
    let private = private();
    let serde_crate = "::ws_core::__private::serde";
    let skip = ast::SerdeSkip::of(&item);
    let serialize = (skip != ast::SerdeSkip::Both).then(|| quote!(#private::serde::Serialize,));
    let deserialize = (skip == ast::SerdeSkip::None).then(|| quote!(#private::serde::Deserialize,));
    let marker = (skip != ast::SerdeSkip::None).then(|| {
        let marker = syn::Ident::new(ast::SERDE_SKIP_ATTR, proc_macro2::Span::call_site());
        quote!(#[#marker])
    });
    quote! {
        #errors
        #[derive(
            #serialize
            #deserialize
            #private::WsProtocol
        )]
        #[serde(crate = #serde_crate)]
        #[__ws_protocol(#args)]
        #marker
        #item
    }
}

/// Reports `Serialize`, `Deserialize` and `JsonSchema` in the user's derives
/// and takes them out, so that no conflicting impls follow the error.
fn remove_reserved_derives(cx: &Ctxt, attrs: Vec<Attribute>) -> Vec<Attribute> {
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs {
        if !attr.path().is_ident("derive") {
            kept.push(attr);
            continue;
        }
        let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
        else {
            kept.push(attr);
            continue;
        };
        if !paths.iter().any(ast::is_reserved_derive) {
            kept.push(attr);
            continue;
        }
        let mut rest = Vec::new();
        for path in paths {
            if ast::is_reserved_derive(&path) {
                let name = path
                    .segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .unwrap_or_default();
                cx.error_spanned_by(
                    &path,
                    format!("remove `{name}` from the derive: `#[ws_protocol]` derives it"),
                );
            } else {
                rest.push(path);
            }
        }
        if !rest.is_empty() {
            let pound = attr.pound_token;
            kept.push(syn::parse_quote!(#pound [derive(#(#rest),*)]));
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, input: TokenStream) -> String {
        ws_protocol(args, input).to_string()
    }

    #[test]
    fn an_enum_gets_the_derives_and_keeps_its_attributes() {
        let out = expand(
            quote!(send_queue = 8),
            quote! {
                /// Doc.
                #[derive(Debug, Clone)]
                #[serde(tag = "type")]
                enum Chat { #[ws(client)] Join { room: String } }
            },
        );
        let expected = quote! {
            #[derive(
                ::ws_core::__private::serde::Serialize,
                ::ws_core::__private::serde::Deserialize,
                ::ws_core::__private::WsProtocol
            )]
            #[serde(crate = "::ws_core::__private::serde")]
            #[__ws_protocol(send_queue = 8)]
            /// Doc.
            #[derive(Debug, Clone)]
            #[serde(tag = "type")]
            enum Chat { #[ws(client)] Join { room: String } }
        };
        assert_eq!(out, expected.to_string());
    }

    #[test]
    fn reserved_derives_are_reported_and_removed() {
        let out = expand(
            TokenStream::new(),
            quote! {
                #[derive(Debug, serde::Serialize, Deserialize)]
                #[derive(schemars::JsonSchema)]
                enum Chat {}
            },
        );
        assert!(out.contains("remove `Serialize` from the derive: `#[ws_protocol]` derives it"));
        assert!(out.contains("remove `Deserialize` from the derive"));
        assert!(out.contains("remove `JsonSchema` from the derive"));
        assert!(
            out.contains(
                &quote!(
                    #[derive(Debug)]
                    enum Chat {}
                )
                .to_string()
            )
        );
    }

    #[test]
    fn a_struct_is_reported_and_left_without_serde_attributes() {
        let out = expand(
            TokenStream::new(),
            quote! {
                #[serde(tag = "type")]
                struct Chat { #[serde(default)] room: String }
            },
        );
        assert!(out.contains("compile_error"));
        assert!(out.contains(ast::not_an_enum()));
        let stripped: TokenStream = syn::parse_str("struct Chat { room: String }").unwrap();
        assert!(out.ends_with(&stripped.to_string()));
    }

    #[test]
    fn an_item_that_is_not_a_type_is_reported_and_kept() {
        let out = expand(
            TokenStream::new(),
            quote!(
                fn chat() {}
            ),
        );
        assert!(out.contains(ast::not_an_enum()));
        assert!(
            out.ends_with(
                &quote!(
                    fn chat() {}
                )
                .to_string()
            )
        );
    }
}
