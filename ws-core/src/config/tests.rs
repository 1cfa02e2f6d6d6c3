use super::*;

fn expected(option: &str) -> &'static str {
    table::form(option).1
}

fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::DEFAULT.override_with(|option| {
        vars.iter()
            .find(|(k, _)| k == option)
            .map(|(k, v)| (format!("CHAT_{}", k.to_ascii_uppercase()), v.clone()))
    })
}

fn refused(option: &str, value: &str) -> String {
    match with(&[(option, value), ("rate_limit", "20/s")]) {
        Ok(config) => panic!("CHAT_{option}={value:?} accepted as {config:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn overrides_parse_every_option() {
    let config = with(&[
        ("max_connections", "5"),
        ("max_per_user", "0"),
        ("send_queue", "8"),
        ("on_full", "drop_oldest"),
        ("max_message_size", "1MiB"),
        ("heartbeat", "off"),
        ("idle_timeout", "1m"),
        ("on_invalid", "close"),
        ("rate_limit", "600/m"),
        ("rate_burst", "5"),
        ("on_rate_limit", "close"),
        ("read_buffer", "4_096"),
        ("write_buffer", "16 KiB"),
        ("compression", "off"),
        ("compress_min_size", "1KiB"),
    ])
    .unwrap();
    assert_eq!(config.max_connections(), 5);
    assert_eq!(config.max_per_user(), 0);
    assert_eq!(config.send_queue(), 8);
    assert_eq!(config.on_full(), Overflow::DropOldest);
    assert_eq!(config.max_message_size(), 1 << 20);
    assert_eq!(config.heartbeat(), None);
    assert_eq!(config.idle_timeout(), Some(Duration::from_secs(60)));
    assert_eq!(config.on_invalid(), OnInvalid::Close);
    assert_eq!(
        config.rate_limit(),
        Some(RateLimit::new(600, Duration::from_secs(60)).with_burst(5))
    );
    assert_eq!(config.on_rate_limit(), OnRateLimit::Close);
    assert_eq!(config.read_buffer(), 4096);
    assert_eq!(config.write_buffer(), 16 << 10);
    assert_eq!(config.compression(), Compression::Off);
    assert_eq!(config.compress_min_size(), 1 << 10);
    let every = with(&[("compression", "deflate"), ("compress_min_size", "0")]).unwrap();
    assert_eq!(every.compression(), Compression::Deflate);
    assert_eq!(every.compress_min_size(), 0);
}

/// Every option that has a zero to refuse, at zero, negative, too large
/// and malformed: the variable, its value and the accepted form.
#[test]
fn every_option_refuses_zero_negative_overflow_and_malformed() {
    let count_forms = [
        ("max_connections", expected("max_connections")),
        ("max_per_user", expected("max_per_user")),
    ];
    for (option, form) in count_forms {
        let var = option.to_ascii_uppercase();
        assert_eq!(with(&[(option, "0")]).map(|_| ()), Ok(()), "0 is unlimited");
        for bad in ["-1", "ten", "1.5", "1KiB", ""] {
            assert_eq!(
                refused(option, bad),
                format!("CHAT_{var}={bad:?}: {option} must be {form}")
            );
        }
        assert_eq!(
            refused(option, "99999999999999999999"),
            format!(
                "CHAT_{var}=\"99999999999999999999\": {option} is too large; it must be {form}"
            )
        );
    }
    for option in [
        "send_queue",
        "max_message_size",
        "heartbeat",
        "idle_timeout",
        "rate_limit",
        "rate_burst",
        "read_buffer",
        "write_buffer",
    ] {
        let var = option.to_ascii_uppercase();
        let form = expected(option);
        let zero = match option {
            "heartbeat" | "idle_timeout" => "0s",
            "rate_limit" => "0/s",
            "max_message_size" | "read_buffer" | "write_buffer" => "0KiB",
            _ => "0",
        };
        let overflow = match option {
            "heartbeat" | "idle_timeout" => "99999999999999999h",
            "rate_limit" => "4294967296/s",
            "rate_burst" => "4294967296",
            "max_message_size" | "read_buffer" | "write_buffer" => "18446744073709551616KiB",
            _ => "99999999999999999999",
        };
        for bad in [
            zero, "-1", "-1s", "ten", "1.5", "4.2s", "30sec", "", "off off",
        ] {
            assert_eq!(
                refused(option, bad),
                format!("CHAT_{var}={bad:?}: {option} must be {form}"),
            );
        }
        assert_eq!(
            refused(option, overflow),
            format!("CHAT_{var}={overflow:?}: {option} is too large; it must be {form}"),
        );
    }
    for option in ["on_full", "on_invalid", "on_rate_limit", "compression"] {
        let var = option.to_ascii_uppercase();
        for bad in ["0", "-1", "Close", "drop", ""] {
            assert_eq!(
                refused(option, bad),
                format!("CHAT_{var}={bad:?}: {option} must be {}", expected(option))
            );
        }
    }
}

#[test]
fn the_issue_s_examples() {
    assert_eq!(
        with(&[("heartbeat", "0s")]).unwrap_err().to_string(),
        r#"CHAT_HEARTBEAT="0s": heartbeat must be a non-zero duration like "30s" or "off""#
    );
    assert_eq!(
        with(&[("write_buffer", "0")]).unwrap_err().to_string(),
        r#"CHAT_WRITE_BUFFER="0": write_buffer must be a non-zero size like "64KiB""#
    );
    assert_eq!(
        with(&[("max_message_size", "0")]).unwrap_err().to_string(),
        r#"CHAT_MAX_MESSAGE_SIZE="0": max_message_size must be a non-zero size like "64KiB" or "1MiB""#
    );
    // The attribute's grammar, which the environment refused before.
    assert_eq!(
        with(&[("heartbeat", "1_000ms")]).unwrap().heartbeat(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn a_burst_needs_a_rate() {
    assert_eq!(
        with(&[("rate_burst", "5")]).unwrap_err().to_string(),
        r#"CHAT_RATE_BURST="5": rate_burst must be a whole number of at least 1, like "40", with a rate_limit"#
    );
    // A rate from the attribute is one to burst above.
    let limited = Config::DEFAULT.with_rate_limit(Some(RateLimit::new(2, Duration::from_secs(1))));
    let config = limited
        .override_with(|o| (o == "rate_burst").then(|| ("B".into(), "9".into())))
        .unwrap();
    assert_eq!(config.rate_limit().unwrap().burst(), 9);
}

#[test]
fn idle_timeout_is_checked_against_heartbeat_naming_the_variable_given() {
    let within = r#"idle_timeout (1m) must be longer than heartbeat (2m), or "off": a peer that answers every ping would still be closed as idle"#;
    assert_eq!(
        with(&[("heartbeat", "2m")]).unwrap_err().to_string(),
        format!(r#"CHAT_HEARTBEAT="2m": {within}"#)
    );
    assert_eq!(
        with(&[("heartbeat", "2m"), ("idle_timeout", "1m")])
            .unwrap_err()
            .to_string(),
        format!(r#"CHAT_IDLE_TIMEOUT="1m": {within}"#)
    );
    assert!(with(&[("heartbeat", "2m"), ("idle_timeout", "off")]).is_ok());
    assert!(with(&[("heartbeat", "2m"), ("idle_timeout", "2m1s")]).is_ok());
}

#[test]
fn validate_refuses_what_the_setters_take() {
    let d = Duration::from_secs;
    let rate = |n, per| Some(RateLimit::new(n, per));
    let cases: [(Config, &str); 11] = [
        (Config::DEFAULT.with_send_queue(0), "send_queue"),
        (Config::DEFAULT.with_max_message_size(0), "max_message_size"),
        (
            Config::DEFAULT.with_heartbeat(Some(Duration::ZERO)),
            "heartbeat",
        ),
        (
            Config::DEFAULT.with_idle_timeout(Some(Duration::ZERO)),
            "idle_timeout",
        ),
        (Config::DEFAULT.with_rate_limit(rate(0, d(1))), "rate_limit"),
        (
            Config::DEFAULT.with_rate_limit(rate(1, Duration::ZERO)),
            "rate_limit",
        ),
        (
            Config::DEFAULT.with_rate_limit(Some(RateLimit::new(1, d(1)).with_burst(0))),
            "rate_burst",
        ),
        (Config::DEFAULT.with_read_buffer(0), "read_buffer"),
        (Config::DEFAULT.with_write_buffer(0), "write_buffer"),
        (Config::DEFAULT.with_heartbeat(Some(d(60))), "idle_timeout"),
        (
            Config::DEFAULT.with_idle_timeout(Some(d(1))),
            "idle_timeout",
        ),
    ];
    for (config, option) in cases {
        let err = config.validate().unwrap_err();
        assert_eq!(err.options()[0], option, "{err}");
    }
    // Nothing was clamped on the way.
    assert_eq!(Config::DEFAULT.with_send_queue(0).send_queue(), 0);
    assert_eq!(RateLimit::new(0, Duration::ZERO).with_burst(0).burst(), 0);
    assert_eq!(
        Config::DEFAULT
            .with_send_queue(0)
            .with_write_buffer(0)
            .errors()
            .len(),
        2
    );
}

#[test]
fn untrusted_peer_options_from_the_environment() {
    let config = with(&[
        ("handshake_timeout", "2s"),
        ("max_per_ip", "20"),
        ("handshake_rate", "10/s"),
        ("trusted_proxies", "10.0.0.0/8, 127.0.0.1 ,::1"),
    ])
    .unwrap();
    assert_eq!(config.handshake_timeout(), Duration::from_secs(2));
    assert_eq!(config.max_per_ip(), 20);
    assert_eq!(
        config.handshake_rate(),
        Some(RateLimit::new(10, Duration::from_secs(1)))
    );
    let proxies: Vec<String> = config
        .trusted_proxies()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(proxies, ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]);
    assert_eq!(Config::DEFAULT.handshake_timeout(), Duration::from_secs(10));
    assert!(with(&[("handshake_timeout", "off")]).is_err());
    assert_eq!(
        with(&[("handshake_timeout", "0s")])
            .unwrap_err()
            .to_string(),
        r#"CHAT_HANDSHAKE_TIMEOUT="0s": handshake_timeout must be a non-zero duration like "10s""#
    );
    assert!(with(&[("max_per_ip", "-1")]).is_err());
    assert!(with(&[("handshake_rate", "0/s")]).is_err());
    assert_eq!(
        with(&[("trusted_proxies", "10.0.0.0/33")])
            .unwrap_err()
            .to_string(),
        r#"CHAT_TRUSTED_PROXIES="10.0.0.0/33": trusted_proxies must be a comma-separated list of IPs or CIDRs like "10.0.0.0/8, ::1""#
    );
}

#[test]
fn work_bounds_from_the_environment() {
    let config = with(&[
        ("inflate_rate", "512KiB/500ms"),
        ("inflate_node_rate", "off"),
        ("max_fragments", "0"),
        ("fragment_timeout", "off"),
    ])
    .unwrap();
    assert_eq!(
        config.inflate_rate(),
        Some(ByteRate::new(512 << 10, Duration::from_millis(500)))
    );
    assert_eq!(config.inflate_node_rate(), None);
    assert_eq!(config.max_fragments(), 0);
    assert_eq!(config.fragment_timeout(), None);
    for (option, bad) in [
        ("inflate_rate", "0/s"),
        ("inflate_rate", "1MiB/0s"),
        ("inflate_rate", "1MiB"),
        ("inflate_node_rate", "0KiB/s"),
        ("max_fragments", "-1"),
        ("fragment_timeout", "0s"),
    ] {
        let error = with(&[(option, bad)]).unwrap_err();
        assert_eq!(error.options(), [option], "{error}");
    }
    assert_eq!(
        with(&[("inflate_rate", "0/s")]).unwrap_err().to_string(),
        r#"CHAT_INFLATE_RATE="0/s": inflate_rate must be a non-zero byte rate like "1MiB/s" or "512KiB/500ms", or "off""#
    );
}

#[test]
fn peer_limits_from_the_environment() {
    let config = with(&[("max_rooms", "16"), ("max_room_name", "0")]).unwrap();
    assert_eq!((config.max_rooms(), config.max_room_name()), (16, 0));
    assert_eq!(
        with(&[("max_rooms", "-1")]).unwrap_err().to_string(),
        r#"CHAT_MAX_ROOMS="-1": max_rooms must be a whole number like "128", or 0 for unlimited"#
    );
    assert!(with(&[("max_room_name", "1KiB")]).is_err());
    assert!(with(&[("max_rooms", "99999999999999999999999")]).is_err());
    let config = with(&[("max_presence_meta", "2KiB")]).unwrap();
    assert_eq!(config.max_presence_meta(), 2048);
    assert_eq!(
        with(&[("max_presence_meta", "0")])
            .unwrap()
            .max_presence_meta(),
        0
    );
    assert!(with(&[("max_presence_meta", "big")]).is_err());
}

/// The rows of a markdown table in `text` whose first cell names an option
/// of the table, as (name, default), the default in column `column`.
fn rows(text: &str, prefix: &str, column: usize) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim_start().strip_prefix(prefix))
        .filter_map(|row| {
            let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
            let name = cells.first()?.trim().strip_prefix('`')?.strip_suffix('`')?;
            let spec = OPTIONS.iter().find(|spec| spec.name == name)?;
            Some((spec.name.to_owned(), cells.get(column)?.trim().to_owned()))
        })
        .collect()
}

/// What a table of options must list: `options`, each with its default.
fn expected_rows(attribute_only: bool) -> Vec<(String, String)> {
    OPTIONS
        .iter()
        .filter(|spec| spec.attribute || !attribute_only)
        .map(|spec| (spec.name.to_owned(), spec.default.to_owned()))
        .collect()
}

/// README's options table, the attribute's (on `ws_protocol`) and this
/// module's say what the table of options says: every option, in order,
/// with its default.
#[test]
fn documentation_tables_agree_with_the_table() {
    let readme = include_str!("../../../README.md");
    let attribute = include_str!("../../../ws-macros/src/lib.rs");
    let module = include_str!("../config.rs");
    assert_eq!(rows(readme, "|", 1), expected_rows(true), "README.md");
    assert_eq!(
        rows(attribute, "/// |", 2),
        expected_rows(true),
        "ws-macros/src/lib.rs, the attribute's table"
    );
    assert_eq!(
        rows(module, "//! |", 1),
        expected_rows(false),
        "config.rs, the module's table"
    );
}

/// Each default the documentation writes reads, in the attribute's and the
/// environment's grammar, as `Config::DEFAULT`'s value.
#[test]
fn documented_defaults_are_the_defaults() {
    for spec in OPTIONS {
        let Some(text) = spec
            .default
            .strip_prefix('`')
            .and_then(|d| d.strip_suffix('`'))
        else {
            // "off", "none", "the rate": said in words.
            continue;
        };
        let text = text.trim_matches('"');
        let value = (spec.parse)(text).unwrap_or_else(|e| panic!("{}: {text}: {e:?}", spec.name));
        let config = (spec.set)(Config::DEFAULT, value).expect(spec.name);
        assert_eq!(
            config,
            Config::DEFAULT,
            "{}'s documented default {text}",
            spec.name
        );
    }
    let off: Vec<&str> = OPTIONS
        .iter()
        .filter(|spec| spec.default == "off")
        .map(|spec| spec.name)
        .collect();
    for name in off {
        let spec = OPTIONS.iter().find(|spec| spec.name == name).unwrap();
        let config = (spec.set)(Config::DEFAULT, (spec.parse)("off").unwrap()).unwrap();
        assert_eq!(config, Config::DEFAULT, "{name} is off by default");
    }
}

/// Every environment variable the documentation names is an option's
/// (`CHAT_` and the option in upper case).
#[test]
fn documented_variables_are_options() {
    let docs = [
        include_str!("../../../README.md"),
        include_str!("../config.rs"),
        include_str!("types.rs"),
    ];
    for doc in docs {
        for (at, _) in doc.match_indices("CHAT_") {
            let name: String = doc[at + 5..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if name.is_empty() {
                continue;
            }
            let option = name.to_ascii_lowercase();
            assert!(
                OPTIONS.iter().any(|spec| spec.name == option),
                "CHAT_{name} names no option"
            );
        }
    }
}
