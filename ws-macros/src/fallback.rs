//! What is emitted beside `compile_error!` when the input cannot be expanded,
//! so that the real error is not drowned by follow-on errors.
//!
//! Inputs that can be modelled are expanded in full even with errors: bad
//! options fall back to their defaults, a variant without a direction gets
//! both directions and a default handler method. What remains here is the
//! input that cannot be: items that are not enums, and generic enums.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, DeriveInput};

/// The item as written, minus the attributes that only `#[ws_protocol]` gives
/// a meaning to (`ws`, `serde`, `schemars`): without the derives that declare
/// them they would each be an "unknown attribute" error.
pub fn strip_item(mut item: DeriveInput) -> TokenStream {
    strip(&mut item.attrs);
    match &mut item.data {
        syn::Data::Struct(data) => data.fields.iter_mut().for_each(|f| strip(&mut f.attrs)),
        syn::Data::Union(data) => data
            .fields
            .named
            .iter_mut()
            .for_each(|f| strip(&mut f.attrs)),
        syn::Data::Enum(data) => {
            for variant in data.variants.iter_mut() {
                strip(&mut variant.attrs);
                variant.fields.iter_mut().for_each(|f| strip(&mut f.attrs));
            }
        }
    }
    quote!(#item)
}

fn strip(attrs: &mut Vec<Attribute>) {
    attrs.retain(|attr| {
        let path = attr.path();
        !(path.is_ident("ws") || path.is_ident("serde") || path.is_ident("schemars"))
    });
}

/// The errors alone, for the derive when the enum cannot be modelled
/// (generics): the enum itself is already emitted by the attribute.
pub fn errors_only(err: syn::Error) -> TokenStream {
    err.to_compile_error()
}
