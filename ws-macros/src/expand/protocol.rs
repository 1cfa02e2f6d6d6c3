//! `impl Protocol for Chat` (name, configuration, wire names, directions,
//! schema) and the inherent `Chat::json_schema()`.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ast::{Protocol, Shape, Tagging, unraw};
use crate::attr::{OnInvalid, OnRateLimit, Options, Overflow};
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
            #[allow(dead_code)]
            #vis fn json_schema() -> #private::serde_json::Value {
                <Self as #private::Protocol>::json_schema()
            }

            #[doc = #asyncapi_doc]
            #[allow(dead_code)]
            #vis fn asyncapi() -> #private::serde_json::Value {
                <Self as #private::Protocol>::asyncapi()
            }

            #[doc = #typescript_doc]
            #[allow(dead_code)]
            #vis fn typescript() -> ::std::string::String {
                <Self as #private::Protocol>::typescript()
            }
        }
    }
}

/// `Config::DEFAULT` with a setter for each option given, and only those.
fn config(options: &Options) -> TokenStream {
    let private = private();
    let mut config = quote!(#private::Config::DEFAULT);
    let number = |n: u64| Literal::u64_unsuffixed(n);
    let duration = |ms: Option<u64>| match ms {
        Some(ms) => {
            let ms = Literal::u64_unsuffixed(ms);
            quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms)))
        }
        None => quote!(::core::option::Option::None),
    };
    let counts = [
        (&options.max_connections, quote!(with_max_connections)),
        (&options.max_per_user, quote!(with_max_per_user)),
        (&options.send_queue, quote!(with_send_queue)),
        (&options.max_message_size, quote!(with_max_message_size)),
        (&options.max_rooms, quote!(with_max_rooms)),
        (&options.max_room_name, quote!(with_max_room_name)),
        (&options.history, quote!(with_history)),
        (&options.history_bytes, quote!(with_history_bytes)),
        (&options.history_memory, quote!(with_history_memory)),
        (&options.history_streams, quote!(with_history_streams)),
    ];
    for (setting, setter) in counts {
        if let Some(setting) = setting {
            let n = number(setting.value);
            config.extend(quote!(.#setter(#n)));
        }
    }
    if let Some(on_full) = &options.on_full {
        let policy = match on_full.value {
            Overflow::Close => quote!(Close),
            Overflow::DropNewest => quote!(DropNewest),
            Overflow::DropOldest => quote!(DropOldest),
        };
        config.extend(quote!(.with_on_full(#private::Overflow::#policy)));
    }
    if let Some(heartbeat) = &options.heartbeat {
        let every = duration(heartbeat.value);
        config.extend(quote!(.with_heartbeat(#every)));
    }
    if let Some(idle_timeout) = &options.idle_timeout {
        let after = duration(idle_timeout.value);
        config.extend(quote!(.with_idle_timeout(#after)));
    }
    if let Some(ttl) = &options.history_ttl {
        let ttl = duration(ttl.value);
        config.extend(quote!(.with_history_ttl(#ttl)));
    }
    for (setting, setter) in [
        (&options.inflate_rate, quote!(with_inflate_rate)),
        (&options.inflate_node_rate, quote!(with_inflate_node_rate)),
    ] {
        if let Some(setting) = setting {
            let rate = match setting.value {
                Some(rate) => {
                    let bytes = Literal::u64_unsuffixed(rate.bytes);
                    let per = Literal::u64_unsuffixed(rate.per_ms);
                    quote!(::core::option::Option::Some(#private::ByteRate::new(#bytes, ::core::time::Duration::from_millis(#per))))
                }
                None => quote!(::core::option::Option::None),
            };
            config.extend(quote!(.#setter(#rate)));
        }
    }
    if let Some(max) = &options.max_fragments {
        let n = number(max.value);
        config.extend(quote!(.with_max_fragments(#n)));
    }
    if let Some(after) = &options.fragment_timeout {
        let after = duration(after.value);
        config.extend(quote!(.with_fragment_timeout(#after)));
    }
    if let Some(stall_timeout) = &options.stall_timeout {
        let ms = Literal::u64_unsuffixed(stall_timeout.value);
        config.extend(quote!(.with_stall_timeout(::core::time::Duration::from_millis(#ms))));
    }
    if let Some(refresh_before) = &options.refresh_before {
        let ms = Literal::u64_unsuffixed(refresh_before.value);
        config.extend(quote!(.with_refresh_before(::core::time::Duration::from_millis(#ms))));
    }
    if let Some(on_invalid) = &options.on_invalid {
        let policy = match on_invalid.value {
            OnInvalid::Error => quote!(Error),
            OnInvalid::Close => quote!(Close),
        };
        config.extend(quote!(.with_on_invalid(#private::OnInvalid::#policy)));
    }
    if let Some(rate_limit) = &options.rate_limit {
        let limit = match rate_limit.value {
            Some(rate) => {
                let messages = Literal::u32_unsuffixed(rate.messages);
                let per = Literal::u64_unsuffixed(rate.per_ms);
                let mut limit = quote!(#private::RateLimit::new(#messages, ::core::time::Duration::from_millis(#per)));
                if let Some(burst) = &options.rate_burst {
                    let burst = Literal::u64_unsuffixed(burst.value);
                    limit.extend(quote!(.with_burst(#burst)));
                }
                quote!(::core::option::Option::Some(#limit))
            }
            None => quote!(::core::option::Option::None),
        };
        config.extend(quote!(.with_rate_limit(#limit)));
    }
    if let Some(compression) = &options.compression {
        let choice = match compression.value {
            crate::config::Compression::Deflate => quote!(Deflate),
            crate::config::Compression::Off => quote!(Off),
        };
        config.extend(quote!(.with_compression(#private::Compression::#choice)));
    }
    if let Some(on_rate_limit) = &options.on_rate_limit {
        let policy = match on_rate_limit.value {
            OnRateLimit::Error => quote!(Error),
            OnRateLimit::Close => quote!(Close),
        };
        config.extend(quote!(.with_on_rate_limit(#private::OnRateLimit::#policy)));
    }
    let buffers = [
        (&options.read_buffer, quote!(with_read_buffer)),
        (&options.write_buffer, quote!(with_write_buffer)),
        (&options.compress_min_size, quote!(with_compress_min_size)),
    ];
    for (setting, setter) in buffers {
        if let Some(setting) = setting {
            let n = number(setting.value);
            config.extend(quote!(.#setter(#n)));
        }
    }
    // Untrusted peers: the handshake deadline and the per-IP limits.
    if let Some(timeout) = &options.handshake_timeout {
        let ms = number(timeout.value);
        config.extend(quote!(.with_handshake_timeout(::core::time::Duration::from_millis(#ms))));
    }
    if let Some(max) = &options.max_per_ip {
        let n = number(max.value);
        config.extend(quote!(.with_max_per_ip(#n)));
    }
    if let Some(rate) = &options.handshake_rate {
        let rate = match rate.value {
            Some(rate) => {
                let messages = Literal::u32_unsuffixed(rate.messages);
                let per = Literal::u64_unsuffixed(rate.per_ms);
                quote!(::core::option::Option::Some(#private::RateLimit::new(#messages, ::core::time::Duration::from_millis(#per))))
            }
            None => quote!(::core::option::Option::None),
        };
        config.extend(quote!(.with_handshake_rate(#rate)));
    }
    config
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
