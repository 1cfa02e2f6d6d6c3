use super::*;
use std::time::Duration;
use syn::parse_quote;

fn options(attr: Attribute) -> (Options, Vec<String>) {
    let cx = Ctxt::new();
    let options = Options::from_attrs(&cx, &[attr]);
    let errors = match cx.check() {
        Ok(()) => Vec::new(),
        Err(err) => err.into_iter().map(|err| err.to_string()).collect(),
    };
    (options, errors)
}

#[test]
fn every_option() {
    let (options, errors) = options(parse_quote! {
        #[__ws_protocol(
            max_connections = 10_000, max_per_user = 3, send_queue = 256,
            on_full = "drop_oldest", max_message_size = "64KiB",
            heartbeat = "30s", idle_timeout = "off", on_invalid = "close",
            read_buffer = 4096, write_buffer = "16 KiB", module = "messages",
            max_rooms = 0, max_room_name = 64, compression = "off",
            compress_min_size = "1KiB", inflate_rate = "2MiB/s",
            inflate_node_rate = "off", max_fragments = 64, fragment_timeout = "5s",
        )]
    });
    assert_eq!(errors, Vec::<String>::new());
    let config = options.to_config();
    assert_eq!(
        config.inflate_rate(),
        Some(config::ByteRate::new(2 << 20, Duration::from_secs(1)))
    );
    assert_eq!(config.inflate_node_rate(), None);
    assert_eq!(config.max_fragments(), 64);
    assert_eq!(config.fragment_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(config.compression(), config::Compression::Off);
    assert_eq!(config.compress_min_size(), 1024);
    assert_eq!(config.max_connections(), 10_000);
    assert_eq!(config.max_per_user(), 3);
    assert_eq!(config.send_queue(), 256);
    assert_eq!(config.on_full(), config::Overflow::DropOldest);
    assert_eq!(config.max_message_size(), 65536);
    assert_eq!(config.heartbeat(), Some(Duration::from_secs(30)));
    assert_eq!(config.idle_timeout(), None);
    assert_eq!(config.on_invalid(), config::OnInvalid::Close);
    assert_eq!(config.read_buffer(), 4096);
    assert_eq!(config.write_buffer(), 16384);
    assert_eq!(options.module.unwrap().value, "messages");
    assert_eq!(config.max_rooms(), 0);
    assert_eq!(config.max_room_name(), 64);
}

#[test]
fn untrusted_peer_options() {
    let (given, errors) = options(parse_quote! {
        #[__ws_protocol(handshake_timeout = "5s", max_per_ip = 20, handshake_rate = "10/s")]
    });
    assert_eq!(errors, Vec::<String>::new());
    let config = given.to_config();
    assert_eq!(config.handshake_timeout(), Duration::from_secs(5));
    assert_eq!(config.max_per_ip(), 20);
    assert_eq!(
        config.handshake_rate(),
        Some(config::RateLimit::new(10, Duration::from_secs(1)))
    );
    let (refused, errors) = options(parse_quote! {
        #[__ws_protocol(handshake_timeout = "off", handshake_rate = "10 per second")]
    });
    assert!(!refused.has("handshake_timeout"));
    assert_eq!(
        errors,
        [
            "handshake_timeout must be a non-zero duration like \"10s\"",
            "handshake_rate must be a rate of at least 1 handshake per non-zero period, like \"10/s\", or \"off\"",
        ]
    );
}

/// A type's own commas (`Map<K, V>`) do not end the option.
#[test]
fn session_is_a_whole_type() {
    let (options, errors) = options(parse_quote! {
        #[__ws_protocol(session = Map<String, Vec<u8>>, send_queue = 8)]
    });
    assert!(errors.is_empty(), "{errors:?}");
    let session = options.session.as_ref().unwrap();
    assert_eq!(
        quote::quote!(#session).to_string(),
        "Map < String , Vec < u8 > >"
    );
    assert_eq!(options.to_config().send_queue(), 8);
}

#[test]
fn no_options() {
    let (options, errors) = options(parse_quote!(#[__ws_protocol()]));
    assert!(errors.is_empty());
    assert!(!options.has("send_queue") && options.module.is_none());
}

#[test]
fn errors_are_collected_and_bad_options_stay_unset() {
    let (options, errors) = options(parse_quote! {
        #[__ws_protocol(
            max_conn = 5, send_queue = "big", heartbeat = 30, on_full = "drop",
            max_message_size = "64 kilobytes", idle_timeout = "0s", send_queue = 1,
            module = "fn", read_buffer = 0, write_buffer, max_per_user = 2,
            compression = "gzip",
        )]
    });
    assert_eq!(
        errors,
        [
            "unknown ws_protocol option `max_conn`; expected one of: `max_connections`, `max_per_user`, `send_queue`, `on_full`, `max_message_size`, `heartbeat`, `idle_timeout`, `on_invalid`, `rate_limit`, `rate_burst`, `on_rate_limit`, `read_buffer`, `write_buffer`, `compression`, `compress_min_size`, `inflate_rate`, `inflate_node_rate`, `max_fragments`, `fragment_timeout`, `stall_timeout`, `refresh_before`, `max_rooms`, `max_room_name`, `max_presence_meta`, `handshake_timeout`, `max_per_ip`, `handshake_rate`, `history`, `history_ttl`, `history_bytes`, `history_memory`, `history_streams`, `module`, `path`, `subprotocol`, `correlate`, `session`",
            "send_queue must be a whole number of frames of at least 1, like \"256\"",
            "heartbeat must be a non-zero duration like \"30s\" or \"off\"",
            "unknown `on_full` policy `drop`; expected one of: `\"close\"`, `\"drop_newest\"`, `\"drop_oldest\"`",
            "max_message_size must be a non-zero size like \"64KiB\" or \"1MiB\"",
            "duplicate ws_protocol option `send_queue`",
            "`module = \"fn\"` is not a module name; expected an identifier that is not a keyword, e.g. `module = \"chat\"`",
            "expected a value: `write_buffer = ...`",
            "unknown `compression` choice `gzip`; expected one of: `\"deflate\"`, `\"off\"`",
        ]
    );
    assert!(!options.has("send_queue"));
    assert!(!options.has("heartbeat"));
    let config = options.to_config();
    assert_eq!(config.max_per_user(), 2);
    // Zeros read; refusing them is `Config::validate`'s, in `check`.
    assert_eq!(config.idle_timeout(), Some(Duration::ZERO));
    assert_eq!(config.read_buffer(), 0);
}

#[test]
fn values_read_by_the_runtime_s_grammar() {
    let (given, errors) = options(parse_quote! {
        #[__ws_protocol(
            max_connections = "10_000", send_queue = 1_024, heartbeat = "1_000ms",
            idle_timeout = "1h 30m", rate_limit = "5/500ms", rate_burst = "9",
            read_buffer = "2 kib", max_message_size = 65_536,
        )]
    });
    assert_eq!(errors, Vec::<String>::new());
    let config = given.to_config();
    assert_eq!(config.max_connections(), 10_000);
    assert_eq!(config.send_queue(), 1_024);
    assert_eq!(config.heartbeat(), Some(Duration::from_secs(1)));
    assert_eq!(config.idle_timeout(), Some(Duration::from_secs(5_400)));
    assert_eq!(
        config.rate_limit(),
        Some(config::RateLimit::new(5, Duration::from_millis(500)).with_burst(9))
    );
    assert_eq!(config.read_buffer(), 2048);
    assert_eq!(config.max_message_size(), 65_536);
    let (_, errors) = options(parse_quote! {
        #[__ws_protocol(
            send_queue = 256usize, heartbeat = "4.2s", idle_timeout = "30sec",
            max_message_size = "18446744073709551616KiB", rate_burst = 4294967296,
        )]
    });
    assert_eq!(
        errors,
        [
            "send_queue must be a whole number of frames of at least 1, like \"256\"",
            "heartbeat must be a non-zero duration like \"30s\" or \"off\"",
            "idle_timeout must be a non-zero duration like \"60s\" or \"off\"",
            "max_message_size is too large; it must be a non-zero size like \"64KiB\" or \"1MiB\"",
            "rate_burst is too large; it must be a whole number of at least 1, like \"40\", with a rate_limit",
        ]
    );
}

#[test]
fn directions() {
    let cx = Ctxt::new();
    let attrs: Vec<Attribute> = vec![parse_quote!(#[ws(client, server)])];
    assert_eq!(
        variant_direction(&cx, &attrs),
        Direction {
            client: true,
            server: true
        }
    );
    let attrs: Vec<Attribute> = vec![parse_quote!(#[ws(clinet)]), parse_quote!(#[ws(server)])];
    assert_eq!(
        variant_direction(&cx, &attrs),
        Direction {
            client: false,
            server: true
        }
    );
    let err = cx.check().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown ws option `clinet`; expected one of: `client`, `server`, `reply`, `history`"
    );
}

#[test]
fn serde_renames() {
    let attrs: Vec<Attribute> = vec![
        parse_quote!(#[serde(tag = "type", rename_all = "kebab-case")]),
        parse_quote!(#[serde(deny_unknown_fields, bound(serialize = "T: X"))]),
    ];
    let rename_all = serde_rename_all(&attrs).unwrap();
    assert_eq!(rename_all.serialize, Some(RenameRule::KebabCase));
    assert_eq!(rename_all.deserialize, Some(RenameRule::KebabCase));

    let attrs: Vec<Attribute> = vec![
        parse_quote!(#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"))]),
    ];
    let rename_all = serde_rename_all(&attrs).unwrap();
    assert_eq!(rename_all.serialize, Some(RenameRule::CamelCase));
    assert_eq!(rename_all.deserialize, Some(RenameRule::SnakeCase));

    let attrs: Vec<Attribute> = vec![parse_quote!(#[serde(default, rename = "hello")])];
    let rename = serde_rename(&attrs).unwrap();
    assert_eq!(rename.serialize.unwrap().value(), "hello");
    assert_eq!(rename.deserialize.unwrap().value(), "hello");

    let attrs: Vec<Attribute> = vec![parse_quote!(#[serde(rename(deserialize = "hi"))])];
    let rename = serde_rename(&attrs).unwrap();
    assert!(rename.serialize.is_none());
    assert_eq!(rename.deserialize.unwrap().value(), "hi");
}

#[test]
fn serde_crate_attr() {
    assert!(is_serde_crate_attr(
        &parse_quote!(#[serde(crate = "::x::serde")])
    ));
    assert!(!is_serde_crate_attr(&parse_quote!(#[serde(tag = "type")])));
    assert!(!is_serde_crate_attr(
        &parse_quote!(#[serde(crate = "x", tag = "t")])
    ));
}
