//! `impl Protocol for Chat` (name, configuration, wire names, directions,
//! schema) and the inherent `Chat::json_schema()`.

use std::time::Duration;

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, format_ident, quote};

use crate::ast::{Protocol, Shape, Tagging, unraw};
use crate::attr::Options;
use crate::config::table::Value;
use crate::expand::{private, schema};

pub fn protocol_impl(protocol: &Protocol) -> TokenStream {
    let private = private();
    let ident = protocol.ident;
    let vis = protocol.vis;
    let name = unraw(ident);
    let config = config(&protocol.options);
    let (client, server) = schema::mirror_idents();
    let description = match &protocol.doc {
        Some(doc) => quote!(::core::option::Option::Some(#doc)),
        None => quote!(::core::option::Option::None),
    };
    let wire_arms = protocol.messages.iter().map(|message| {
        let variant = message.ident;
        let wire = &message.wire;
        quote!(#ident::#variant { .. } => #wire,)
    });
    let direction_arms = protocol.messages.iter().map(|message| {
        let variant = message.ident;
        let from_client = message.direction.client;
        quote!(#ident::#variant { .. } => #from_client,)
    });
    let some_str = |text: Option<&str>| match text {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    };
    let reply_wire = |message: &crate::ast::Message| {
        some_str(message.reply_to.map(|i| protocol.messages[i].wire.as_str()))
    };
    // Requests of clients only: a request of the server is never decoded
    // as a client message.
    let reply_arms = protocol.messages.iter().map(|message| {
        let variant = message.ident;
        let reply = if message.direction.client {
            reply_wire(message)
        } else {
            some_str(None)
        };
        quote!(#ident::#variant { .. } => #reply,)
    });
    // Only a protocol whose server makes requests overrides the default `false`.
    let answers = crate::check::server_request_replies(protocol);
    let answers_fn = (!answers.is_empty()).then(|| {
        let arms = protocol
            .messages
            .iter()
            .enumerate()
            .map(|(index, message)| {
                let variant = message.ident;
                let answer = answers.contains(&index);
                quote!(#ident::#variant { .. } => #answer,)
            });
        quote! {
            fn answers_server_request(&self) -> bool {
                match *self {
                    #(#arms)*
                }
            }
        }
    });
    let infos = protocol
        .messages
        .iter()
        .filter(|message| message.shape != Shape::Tuple)
        .map(|message| {
            let variant = unraw(message.ident);
            let wire = &message.wire;
            let (client, server) = (message.direction.client, message.direction.server);
            let reply = reply_wire(message);
            let doc = some_str(message.doc.as_deref());
            let recorded = message.history.as_ref().map(|_| quote!(.recorded()));
            quote!(#private::MessageInfo::new(#variant, #wire, #client, #server, #reply, #doc) #recorded)
        });
    // Only a protocol with recorded messages overrides the default `false`.
    let recorded_fn = protocol
        .messages
        .iter()
        .any(|message| message.history.is_some())
        .then(|| {
            let arms = protocol.messages.iter().map(|message| {
                let variant = message.ident;
                let recorded = message.history.is_some();
                quote!(#ident::#variant { .. } => #recorded,)
            });
            quote! {
                fn is_recorded(&self) -> bool {
                    match *self {
                        #(#arms)*
                    }
                }
            }
        });
    let tagging = match &protocol.tagging {
        Tagging::Internal { tag } => quote!(#private::Tagging::Internal { tag: #tag }),
        Tagging::Adjacent { tag, content } => {
            quote!(#private::Tagging::Adjacent { tag: #tag, content: #content })
        }
        Tagging::External => quote!(#private::Tagging::External),
        Tagging::Untagged => quote!(#private::Tagging::Untagged),
    };
    let path = protocol
        .options
        .path
        .as_ref()
        .map_or("/ws", |path| path.value.as_str());
    // The default base name: the enum's name and version 1 (`Chat` ->
    // `chat.v1`); a protocol that changes incompatibly sets `chat.v2`.
    let subprotocol = protocol.options.subprotocol.as_ref().map_or_else(
        || format!("{}.v1", crate::case::to_snake_case(&name)),
        |base| base.value.clone(),
    );
    let correlate_all = protocol
        .options
        .correlate
        .as_ref()
        .is_some_and(|c| c.value == crate::attr::Correlate::All);
    let session = crate::expand::handler::session_type(protocol);
    let doc = format!(
        "The JSON Schema of `{name}`: the messages of both directions, as \
         [`Protocol::json_schema`](::ws_core::Protocol::json_schema) documents."
    );
    let asyncapi_doc = format!(
        "The AsyncAPI 3.0 document of `{name}`, as \
         [`Protocol::asyncapi`](::ws_core::Protocol::asyncapi) documents."
    );
    let typescript_doc = format!(
        "TypeScript definitions and a typed client of `{name}`, as \
         [`Protocol::typescript`](::ws_core::Protocol::typescript) documents."
    );
    quote! {
        impl #private::Protocol for #ident {
            type Session = #session;
            const NAME: &'static str = #name;
            const CONFIG: #private::Config = #config;
            const DESCRIPTION: ::core::option::Option<&'static str> = #description;
            const PATH: &'static str = #path;
            const SUBPROTOCOL: &'static str = #subprotocol;
            const VERSION: &'static str = match ::core::option_env!("CARGO_PKG_VERSION") {
                ::core::option::Option::Some(version) => version,
                ::core::option::Option::None => "0.0.0",
            };
            const TAGGING: #private::Tagging = #tagging;
            const CORRELATE_ALL: bool = #correlate_all;
            const MESSAGES: &'static [#private::MessageInfo] = &[#(#infos),*];

            fn message_type(&self) -> &'static str {
                match *self {
                    #(#wire_arms)*
                }
            }

            fn is_from_client(&self) -> bool {
                match *self {
                    #(#direction_arms)*
                }
            }

            fn reply_type(&self) -> ::core::option::Option<&'static str> {
                match *self {
                    #(#reply_arms)*
                }
            }

            #recorded_fn

            #answers_fn

            fn json_schema() -> #private::serde_json::Value {
                #private::schema_document::<Self, #client, #server>()
            }
        }

        impl #ident {
            #[doc = #doc]
            #vis fn json_schema() -> #private::serde_json::Value {
                <Self as #private::Protocol>::json_schema()
            }

            #[doc = #asyncapi_doc]
            #vis fn asyncapi() -> #private::serde_json::Value {
                <Self as #private::Protocol>::asyncapi()
            }

            #[doc = #typescript_doc]
            #vis fn typescript() -> ::std::string::String {
                <Self as #private::Protocol>::typescript()
            }
        }

        // What the three functions above are for is the application's to
        // call or not; an unnamed constant counts as their use.
        const _: () = {
            let _ = (#ident::json_schema, #ident::asyncapi, #ident::typescript);
        };
    }
}

/// `Config::DEFAULT` with a setter for each option given, and only those,
/// in the table's order: the value `check` validated.
fn config(options: &Options) -> TokenStream {
    let private = private();
    let config = options.to_config();
    let mut tokens = quote!(#private::Config::DEFAULT);
    for spec in options.config_options() {
        // `rate_burst` is in `rate_limit`'s value.
        let Some(value) = (spec.get)(&config) else {
            continue;
        };
        let setter = format_ident!("with_{}", spec.name);
        let value = value_tokens(&value);
        tokens.extend(quote!(.#setter(#value)));
    }
    tokens
}

/// An option's value as a constant expression.
fn value_tokens(value: &Value) -> TokenStream {
    let private = private();
    let some = |inner: Option<TokenStream>| match inner {
        Some(inner) => quote!(::core::option::Option::Some(#inner)),
        None => quote!(::core::option::Option::None),
    };
    let millis = |duration: Duration| {
        let ms = Literal::u128_unsuffixed(duration.as_millis());
        quote!(::core::time::Duration::from_millis(#ms))
    };
    match value {
        Value::Count(n) => Literal::usize_unsuffixed(*n).into_token_stream(),
        Value::Duration(duration) => millis(*duration),
        Value::MaybeDuration(duration) => some(duration.map(millis)),
        Value::Rate(limit) => some(limit.map(|limit| {
            let messages = Literal::u32_unsuffixed(limit.messages());
            let per = millis(limit.per());
            let burst = (limit.burst() != limit.messages()).then(|| {
                let burst = Literal::u32_unsuffixed(limit.burst());
                quote!(.with_burst(#burst))
            });
            quote!(#private::RateLimit::new(#messages, #per) #burst)
        })),
        Value::ByteRate(rate) => some(rate.map(|rate| {
            let bytes = Literal::u64_unsuffixed(rate.bytes());
            let per = millis(rate.per());
            quote!(#private::ByteRate::new(#bytes, #per))
        })),
        Value::Choice { ty, variant } => {
            let (ty, variant) = (format_ident!("{}", ty), format_ident!("{}", variant));
            quote!(#private::#ty::#variant)
        }
        // Builder's and environment's only: the attribute does not take them.
        Value::Proxies(_) | Value::Origins(_) => TokenStream::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctxt::Ctxt;
    use syn::parse_quote;

    #[test]
    fn config_has_only_the_options_given() {
        let cx = Ctxt::new();
        let attr = parse_quote!(#[__ws_protocol(send_queue = 8, heartbeat = "off", idle_timeout = "1m30s", on_full = "drop_newest")]);
        let options = Options::from_attrs(&cx, &[attr]);
        cx.check().unwrap();
        assert_eq!(
            config(&options).to_string(),
            quote! {
                ::ws_core::__private::Config::DEFAULT
                    .with_send_queue(8)
                    .with_on_full(::ws_core::__private::Overflow::DropNewest)
                    .with_heartbeat(::core::option::Option::None)
                    .with_idle_timeout(::core::option::Option::Some(::core::time::Duration::from_millis(90000)))
            }
            .to_string()
        );
        assert_eq!(
            config(&Options::default()).to_string(),
            quote!(::ws_core::__private::Config::DEFAULT).to_string()
        );
    }
}
