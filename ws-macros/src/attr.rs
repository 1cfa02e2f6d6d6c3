//! Attribute parsing: the `#[ws_protocol(...)]` options, `#[ws(...)]` on
//! variants, and the few serde attributes that decide wire names.
//!
//! Every parser reports into the [`Ctxt`] and carries on, leaving a bad option
//! unset (its default applies) so that the expansion stays usable.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, Lit, LitStr, Token};

use crate::case::RenameRule;
use crate::config::units::{self, UnitError};
use crate::config::{self, Compression, Config, ConfigError, RateLimit};
use crate::ctxt::Ctxt;

/// The helper attribute through which `#[ws_protocol(...)]` hands its options
/// to the hidden derive, tokens and spans untouched.
pub const OPTIONS_ATTR: &str = "__ws_protocol";

/// Every option of `#[ws_protocol(...)]`, in documentation order.
pub const OPTIONS: &[&str] = &[
    "max_connections",
    "max_per_user",
    "send_queue",
    "on_full",
    "max_message_size",
    "heartbeat",
    "idle_timeout",
    "on_invalid",
    "rate_limit",
    "rate_burst",
    "on_rate_limit",
    "read_buffer",
    "write_buffer",
    "compression",
    "compress_min_size",
    "inflate_rate",
    "inflate_node_rate",
    "max_fragments",
    "fragment_timeout",
    "stall_timeout",
    "refresh_before",
    "max_rooms",
    "max_room_name",
    "handshake_timeout",
    "max_per_ip",
    "handshake_rate",
    "history",
    "history_ttl",
    "history_bytes",
    "history_memory",
    "history_streams",
    "module",
    "path",
    "subprotocol",
    "correlate",
    "session",
];

/// The keys of `#[ws(...)]` on a variant.
pub const WS_KEYS: &[&str] = &["client", "server", "reply", "history"];

/// An option's value with the tokens it came from, for error spans.
#[derive(Clone, Debug)]
pub struct Setting<T> {
    pub value: T,
    pub tokens: TokenStream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Close,
    DropNewest,
    DropOldest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInvalid {
    Error,
    Close,
}

/// Which client messages carry a correlation id (`correlate = ".."`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correlate {
    /// Requests (`reply = ..`) only: the default.
    Requests,
    /// Every client message: each is answered by its reply, an `ack` or an
    /// error, with its `id`.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRateLimit {
    Error,
    Close,
}

/// `messages` per `per_ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub messages: u32,
    pub per_ms: u64,
}

/// `bytes` per `per_ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRate {
    pub bytes: u64,
    pub per_ms: u64,
}

/// The options of `#[ws_protocol(...)]`; `None` means "not given".
#[derive(Default, Debug)]
pub struct Options {
    pub max_connections: Option<Setting<u64>>,
    pub max_per_user: Option<Setting<u64>>,
    pub send_queue: Option<Setting<u64>>,
    pub on_full: Option<Setting<Overflow>>,
    pub max_message_size: Option<Setting<u64>>,
    /// Milliseconds; `None` inside is `"off"`.
    pub heartbeat: Option<Setting<Option<u64>>>,
    /// Milliseconds; `None` inside is `"off"`.
    pub idle_timeout: Option<Setting<Option<u64>>>,
    pub on_invalid: Option<Setting<OnInvalid>>,
    /// `None` inside is `"off"`.
    pub rate_limit: Option<Setting<Option<Rate>>>,
    pub rate_burst: Option<Setting<u64>>,
    pub on_rate_limit: Option<Setting<OnRateLimit>>,
    pub read_buffer: Option<Setting<u64>>,
    pub write_buffer: Option<Setting<u64>>,
    pub compression: Option<Setting<Compression>>,
    pub compress_min_size: Option<Setting<u64>>,
    /// `None` inside is `"off"`.
    pub inflate_rate: Option<Setting<Option<ByteRate>>>,
    /// `None` inside is `"off"`.
    pub inflate_node_rate: Option<Setting<Option<ByteRate>>>,
    pub max_fragments: Option<Setting<u64>>,
    /// Milliseconds; `None` inside is `"off"`.
    pub fragment_timeout: Option<Setting<Option<u64>>>,
    /// What one peer may make the server hold; `0` is unlimited.
    pub stall_timeout: Option<Setting<u64>>,
    /// Milliseconds.
    pub refresh_before: Option<Setting<u64>>,
    pub max_rooms: Option<Setting<u64>>,
    pub max_room_name: Option<Setting<u64>>,
    // Untrusted peers: the handshake deadline and the per-IP limits.
    /// Milliseconds; never "off".
    pub handshake_timeout: Option<Setting<u64>>,
    pub max_per_ip: Option<Setting<u64>>,
    /// `None` inside is `"off"`.
    pub handshake_rate: Option<Setting<Option<Rate>>>,
    // Delivery guarantees: the history per room and its bounds.
    pub history: Option<Setting<u64>>,
    /// Milliseconds; `None` inside is `"off"`.
    pub history_ttl: Option<Setting<Option<u64>>>,
    pub history_bytes: Option<Setting<u64>>,
    pub history_memory: Option<Setting<u64>>,
    pub history_streams: Option<Setting<u64>>,
    pub module: Option<Setting<Ident>>,
    /// The path the protocol is served at, for documents and test servers.
    pub path: Option<Setting<String>>,
    /// The base of the subprotocol names (`chat.v1`: `chat.v1.json`,
    /// `chat.v1.msgpack`).
    pub subprotocol: Option<Setting<String>>,
    pub correlate: Option<Setting<Correlate>>,
    /// The connection's session type (`session = Claims`); `None` is `()`.
    pub session: Option<syn::Type>,
    /// The tokens of every option given, by name, for errors found later.
    pub given: BTreeMap<String, TokenStream>,
}

/// A value as written after `name =`: its tokens, and the literal if it is one.
struct Value {
    tokens: TokenStream,
    lit: Option<Lit>,
}

impl Value {
    fn setting<T>(&self, value: T) -> Setting<T> {
        Setting {
            value,
            tokens: self.tokens.clone(),
        }
    }
}

impl Options {
    /// Reads every `#[__ws_protocol(...)]` attribute among `attrs`.
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Options {
        let mut options = Options::default();
        let mut seen = BTreeSet::new();
        for attr in attrs
            .iter()
            .filter(|attr| attr.path().is_ident(OPTIONS_ATTR))
        {
            // `#[ws_protocol]` without arguments arrives as an empty list.
            if let syn::Meta::List(list) = &attr.meta
                && list.tokens.is_empty()
            {
                continue;
            }
            let result = attr.parse_nested_meta(|meta| options.parse_one(cx, &mut seen, &meta));
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        options
    }

    fn parse_one(
        &mut self,
        cx: &Ctxt,
        seen: &mut BTreeSet<String>,
        meta: &ParseNestedMeta,
    ) -> syn::Result<()> {
        let name = meta.path.get_ident().map(Ident::to_string);
        let Some(name) = name.filter(|name| OPTIONS.contains(&name.as_str())) else {
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "unknown ws_protocol option `{}`; expected one of: {}",
                    path_to_string(&meta.path),
                    backticked(OPTIONS)
                ),
            );
            return skip_value(meta.input);
        };
        if !seen.insert(name.clone()) {
            cx.error_spanned_by(&meta.path, format!("duplicate ws_protocol option `{name}`"));
            return skip_value(meta.input);
        }
        if name == "session" {
            // A type, which may hold commas (`Map<K, V>`): parsed whole
            // rather than cut at the next comma.
            if !meta.input.peek(Token![=]) {
                cx.error_spanned_by(
                    &meta.path,
                    "expected a type: `session = Claims` (a type implementing `ws_core::Session`)",
                );
                return skip_value(meta.input);
            }
            meta.input.parse::<Token![=]>()?;
            let ty: syn::Type = meta.input.parse()?;
            self.given.insert(name, ty.to_token_stream());
            self.session = Some(ty);
            return Ok(());
        }
        let Some(value) = parse_value(cx, meta, &name)? else {
            return Ok(());
        };
        self.given.insert(name.clone(), value.tokens.clone());
        match name.as_str() {
            "max_connections" => self.max_connections = read(cx, &name, &value, units::parse_count),
            "max_per_user" => self.max_per_user = read(cx, &name, &value, units::parse_count),
            "send_queue" => self.send_queue = read(cx, &name, &value, units::parse_count),
            "on_full" => {
                self.on_full = choice(
                    cx,
                    &name,
                    "policy",
                    &value,
                    &[
                        ("close", Overflow::Close),
                        ("drop_newest", Overflow::DropNewest),
                        ("drop_oldest", Overflow::DropOldest),
                    ],
                );
            }
            "max_message_size" => {
                self.max_message_size = read(cx, &name, &value, units::parse_size)
            }
            "heartbeat" => self.heartbeat = read(cx, &name, &value, duration_or_off),
            "idle_timeout" => self.idle_timeout = read(cx, &name, &value, duration_or_off),
            "on_invalid" => {
                self.on_invalid = choice(
                    cx,
                    &name,
                    "policy",
                    &value,
                    &[("error", OnInvalid::Error), ("close", OnInvalid::Close)],
                );
            }
            "correlate" => {
                self.correlate = choice(
                    cx,
                    &name,
                    "choice",
                    &value,
                    &[("requests", Correlate::Requests), ("all", Correlate::All)],
                );
            }
            "rate_limit" => self.rate_limit = read(cx, &name, &value, rate_or_off),
            "rate_burst" => {
                self.rate_burst = read(cx, &name, &value, |text| {
                    let burst = units::parse_count(text)?;
                    u32::try_from(burst).map_err(|_| UnitError::TooLarge)?;
                    Ok(burst)
                });
            }
            "on_rate_limit" => {
                self.on_rate_limit = choice(
                    cx,
                    &name,
                    "policy",
                    &value,
                    &[("error", OnRateLimit::Error), ("close", OnRateLimit::Close)],
                );
            }
            "read_buffer" => self.read_buffer = read(cx, &name, &value, units::parse_size),
            "write_buffer" => self.write_buffer = read(cx, &name, &value, units::parse_size),
            "compression" => {
                self.compression = choice(
                    cx,
                    &name,
                    "choice",
                    &value,
                    &[("deflate", Compression::Deflate), ("off", Compression::Off)],
                );
            }
            "compress_min_size" => {
                self.compress_min_size = read(cx, &name, &value, units::parse_size);
            }
            "inflate_rate" => self.inflate_rate = read(cx, &name, &value, byte_rate_or_off),
            "inflate_node_rate" => {
                self.inflate_node_rate = read(cx, &name, &value, byte_rate_or_off);
            }
            "max_fragments" => self.max_fragments = read(cx, &name, &value, units::parse_count),
            "fragment_timeout" => {
                self.fragment_timeout = read(cx, &name, &value, duration_or_off);
            }
            "stall_timeout" => self.stall_timeout = read(cx, &name, &value, duration),
            "refresh_before" => self.refresh_before = read(cx, &name, &value, duration),
            "max_rooms" => self.max_rooms = read(cx, &name, &value, units::parse_count),
            "max_room_name" => self.max_room_name = read(cx, &name, &value, units::parse_count),
            "handshake_timeout" => self.handshake_timeout = read(cx, &name, &value, duration),
            "max_per_ip" => self.max_per_ip = read(cx, &name, &value, units::parse_count),
            "handshake_rate" => self.handshake_rate = read(cx, &name, &value, rate_or_off),
            "history" => self.history = read(cx, &name, &value, units::parse_count),
            "history_ttl" => self.history_ttl = read(cx, &name, &value, duration_or_off),
            "history_bytes" => self.history_bytes = read(cx, &name, &value, units::parse_size),
            "history_memory" => self.history_memory = read(cx, &name, &value, units::parse_size),
            "history_streams" => self.history_streams = read(cx, &name, &value, units::parse_count),
            "module" => self.module = module(cx, &value),
            "path" => self.path = path(cx, &value),
            "subprotocol" => self.subprotocol = subprotocol(cx, &value),
            // Parsed above, as a type.
            "session" => {}
            _ => unreachable!("every name in OPTIONS has an arm"),
        }
        Ok(())
    }
    /// ws-core's `Config::DEFAULT` with the options given, for
    /// `Config::validate`: the generated code builds the same value.
    pub fn to_config(&self) -> Config {
        let n = |setting: &Setting<u64>| usize::try_from(setting.value).unwrap_or(usize::MAX);
        let ms = |setting: &Setting<Option<u64>>| setting.value.map(Duration::from_millis);
        let mut config = Config::DEFAULT;
        if let Some(max) = &self.max_connections {
            config = config.with_max_connections(n(max));
        }
        if let Some(max) = &self.max_per_user {
            config = config.with_max_per_user(n(max));
        }
        if let Some(frames) = &self.send_queue {
            config = config.with_send_queue(n(frames));
        }
        if let Some(bytes) = &self.max_message_size {
            config = config.with_max_message_size(n(bytes));
        }
        if let Some(every) = &self.heartbeat {
            config = config.with_heartbeat(ms(every));
        }
        if let Some(after) = &self.idle_timeout {
            config = config.with_idle_timeout(ms(after));
        }
        if let Some(rate) = &self.rate_limit {
            let limit = rate.value.map(|rate| {
                let limit = RateLimit::new(rate.messages, Duration::from_millis(rate.per_ms));
                match &self.rate_burst {
                    Some(burst) => limit.with_burst(u32::try_from(burst.value).unwrap_or(u32::MAX)),
                    None => limit,
                }
            });
            config = config.with_rate_limit(limit);
        }
        if let Some(bytes) = &self.read_buffer {
            config = config.with_read_buffer(n(bytes));
        }
        if let Some(bytes) = &self.write_buffer {
            config = config.with_write_buffer(n(bytes));
        }
        if let Some(compression) = &self.compression {
            config = config.with_compression(compression.value);
        }
        if let Some(bytes) = &self.compress_min_size {
            config = config.with_compress_min_size(n(bytes));
        }
        let byte_rate = |setting: &Setting<Option<ByteRate>>| {
            setting
                .value
                .map(|rate| config::ByteRate::new(rate.bytes, Duration::from_millis(rate.per_ms)))
        };
        if let Some(rate) = &self.inflate_rate {
            config = config.with_inflate_rate(byte_rate(rate));
        }
        if let Some(rate) = &self.inflate_node_rate {
            config = config.with_inflate_node_rate(byte_rate(rate));
        }
        if let Some(max) = &self.max_fragments {
            config = config.with_max_fragments(n(max));
        }
        if let Some(after) = &self.fragment_timeout {
            config = config.with_fragment_timeout(ms(after));
        }
        if let Some(after) = &self.stall_timeout {
            config = config.with_stall_timeout(Duration::from_millis(after.value));
        }
        if let Some(lead) = &self.refresh_before {
            config = config.with_refresh_before(Duration::from_millis(lead.value));
        }
        if let Some(max) = &self.max_rooms {
            config = config.with_max_rooms(n(max));
        }
        if let Some(max) = &self.max_room_name {
            config = config.with_max_room_name(n(max));
        }
        if let Some(timeout) = &self.handshake_timeout {
            config = config.with_handshake_timeout(Duration::from_millis(timeout.value));
        }
        if let Some(max) = &self.max_per_ip {
            config = config.with_max_per_ip(n(max));
        }
        if let Some(rate) = &self.handshake_rate {
            config = config.with_handshake_rate(
                rate.value
                    .map(|rate| RateLimit::new(rate.messages, Duration::from_millis(rate.per_ms))),
            );
        }
        if let Some(messages) = &self.history {
            config = config.with_history(n(messages));
        }
        if let Some(ttl) = &self.history_ttl {
            config = config.with_history_ttl(ms(ttl));
        }
        if let Some(bytes) = &self.history_bytes {
            config = config.with_history_bytes(n(bytes));
        }
        if let Some(bytes) = &self.history_memory {
            config = config.with_history_memory(n(bytes));
        }
        if let Some(max) = &self.history_streams {
            config = config.with_history_streams(n(max));
        }
        config
    }
}

/// Parses `= <tokens up to the next comma>`; reports `name` written without a
/// value (or as `name(...)`) and returns `None` then.
fn parse_value(cx: &Ctxt, meta: &ParseNestedMeta, name: &str) -> syn::Result<Option<Value>> {
    if !meta.input.peek(Token![=]) {
        let mut tokens = meta.path.to_token_stream();
        if meta.input.peek(syn::token::Paren) {
            let group: TokenTree = meta.input.parse()?;
            tokens.extend([group]);
        }
        cx.error_spanned_by(tokens, format!("expected a value: `{name} = ...`"));
        return Ok(None);
    }
    let eq: Token![=] = meta.input.parse()?;
    let mut tokens = TokenStream::new();
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        tokens.extend([meta.input.parse::<TokenTree>()?]);
    }
    if tokens.is_empty() {
        cx.error_spanned_by(
            quote::quote!(#eq),
            format!("expected a value after `{name} =`"),
        );
        return Ok(None);
    }
    let mut trees = tokens.clone().into_iter();
    let lit = match (trees.next(), trees.next()) {
        (Some(TokenTree::Literal(lit)), None) => Some(Lit::new(lit)),
        _ => None,
    };
    Ok(Some(Value { tokens, lit }))
}

/// Skips `= tokens` or `(...)` after a name that is reported already.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        while !input.is_empty() && !input.peek(Token![,]) {
            input.parse::<TokenTree>()?;
        }
    } else if input.peek(syn::token::Paren) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Reads a value in the grammar of ws-core's `config::units`: an integer
/// literal as written (`10_000`) or a string's contents. A value that does
/// not read gets the message the environment gives for it.
fn read<T>(
    cx: &Ctxt,
    name: &str,
    value: &Value,
    parse: impl FnOnce(&str) -> Result<T, UnitError>,
) -> Option<Setting<T>> {
    let text = match &value.lit {
        Some(Lit::Int(lit)) => Some(lit.to_string()),
        Some(Lit::Str(lit)) => Some(lit.value()),
        _ => None,
    };
    match text.map_or(Err(UnitError::Malformed), |text| parse(&text)) {
        Ok(parsed) => Some(value.setting(parsed)),
        Err(error) => {
            cx.error_spanned_by(
                &value.tokens,
                ConfigError::unreadable(name, error).to_string(),
            );
            None
        }
    }
}

/// `"30s"` as milliseconds, `"off"` as `None`.
fn duration_or_off(text: &str) -> Result<Option<u64>, UnitError> {
    units::or_off(text, units::parse_duration)?
        .map(|duration| u64::try_from(duration.as_millis()).map_err(|_| UnitError::TooLarge))
        .transpose()
}

/// A duration in milliseconds.
fn duration(text: &str) -> Result<u64, UnitError> {
    u64::try_from(units::parse_duration(text)?.as_millis()).map_err(|_| UnitError::TooLarge)
}

/// `"1MiB/s"`, `"off"` as `None`.
fn byte_rate_or_off(text: &str) -> Result<Option<ByteRate>, UnitError> {
    units::or_off(text, units::parse_byte_rate)?
        .map(|(bytes, per)| {
            let per_ms = u64::try_from(per.as_millis()).map_err(|_| UnitError::TooLarge)?;
            Ok(ByteRate { bytes, per_ms })
        })
        .transpose()
}

/// `"20/s"`, `"off"` as `None`.
fn rate_or_off(text: &str) -> Result<Option<Rate>, UnitError> {
    units::or_off(text, units::parse_rate)?
        .map(|(messages, per)| {
            let per_ms = u64::try_from(per.as_millis()).map_err(|_| UnitError::TooLarge)?;
            Ok(Rate { messages, per_ms })
        })
        .transpose()
}

fn choice<T: Copy>(
    cx: &Ctxt,
    name: &str,
    what: &str,
    value: &Value,
    choices: &[(&str, T)],
) -> Option<Setting<T>> {
    let listed = choices
        .iter()
        .map(|(choice, _)| format!("`\"{choice}\"`"))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(Lit::Str(lit)) = &value.lit else {
        cx.error_spanned_by(
            &value.tokens,
            format!("expected a string for `{name}`, one of: {listed}"),
        );
        return None;
    };
    let given = lit.value();
    match choices.iter().find(|(choice, _)| *choice == given) {
        Some((_, policy)) => Some(value.setting(*policy)),
        None => {
            cx.error_spanned_by(
                lit,
                format!("unknown `{name}` {what} `{given}`; expected one of: {listed}"),
            );
            None
        }
    }
}

fn module(cx: &Ctxt, value: &Value) -> Option<Setting<Ident>> {
    let Some(Lit::Str(lit)) = &value.lit else {
        cx.error_spanned_by(
            &value.tokens,
            "expected a string for `module`, e.g. `module = \"chat\"`",
        );
        return None;
    };
    match lit.parse::<Ident>() {
        Ok(ident) if !ident.to_string().starts_with("r#") => Some(value.setting(ident)),
        _ => {
            cx.error_spanned_by(
                lit,
                format!(
                    "`module = \"{}\"` is not a module name; expected an identifier that is not a keyword, e.g. `module = \"chat\"`",
                    lit.value()
                ),
            );
            None
        }
    }
}

fn path(cx: &Ctxt, value: &Value) -> Option<Setting<String>> {
    const EXPECTED: &str = "expected a path starting with `/` for `path`, e.g. `path = \"/ws\"`";
    match &value.lit {
        Some(Lit::Str(lit))
            if lit.value().starts_with('/') && !lit.value().contains(char::is_whitespace) =>
        {
            Some(value.setting(lit.value()))
        }
        Some(Lit::Str(lit)) => {
            cx.error_spanned_by(lit, format!("invalid path `{}`; {EXPECTED}", lit.value()));
            None
        }
        _ => {
            cx.error_spanned_by(&value.tokens, EXPECTED);
            None
        }
    }
}

/// A subprotocol name is an HTTP token (RFC 6455 4.1, RFC 7230 3.2.6):
/// visible ASCII but separators; the codec's suffix follows a dot.
fn subprotocol(cx: &Ctxt, value: &Value) -> Option<Setting<String>> {
    const EXPECTED: &str = "expected a subprotocol base name with a version, e.g. `subprotocol = \"chat.v1\"` (clients then ask for `chat.v1.json` or `chat.v1.msgpack`)";
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    match &value.lit {
        Some(Lit::Str(lit)) if !lit.value().is_empty() && lit.value().chars().all(token) => {
            Some(value.setting(lit.value()))
        }
        Some(Lit::Str(lit)) => {
            cx.error_spanned_by(
                lit,
                format!(
                    "invalid subprotocol `{}`: a subprotocol name is a token (no spaces, commas or separators); {EXPECTED}",
                    lit.value()
                ),
            );
            None
        }
        _ => {
            cx.error_spanned_by(&value.tokens, EXPECTED);
            None
        }
    }
}

/// The direction(s) given by `#[ws(...)]` on a variant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Direction {
    pub client: bool,
    pub server: bool,
}

/// What `#[ws(...)]` says about a variant.
#[derive(Clone, Debug, Default)]
pub struct VariantOptions {
    pub direction: Direction,
    /// `reply = Variant`: the variant whose struct the handler returns.
    pub reply: Option<Ident>,
    /// `history`: kept in a room's history, stamped with `epoch` and
    /// `offset`; the path, for error spans.
    pub history: Option<syn::Path>,
}

/// Reads the direction of the `#[ws(...)]` attributes of a variant.
#[cfg(test)]
pub fn variant_direction(cx: &Ctxt, attrs: &[Attribute]) -> Direction {
    variant_options(cx, attrs).direction
}

/// Reads the `#[ws(...)]` attributes of a variant.
pub fn variant_options(cx: &Ctxt, attrs: &[Attribute]) -> VariantOptions {
    let mut direction = Direction::default();
    let mut reply: Option<Ident> = None;
    let mut history: Option<syn::Path> = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("ws")) {
        if !matches!(attr.meta, syn::Meta::List(_)) {
            cx.error_spanned_by(
                attr,
                "expected `#[ws(client)]`, `#[ws(server)]` or `#[ws(client, server)]`",
            );
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("reply") {
                return parse_reply(cx, &meta, &mut reply);
            }
            if meta.path.is_ident("history") {
                if history.is_some() {
                    cx.error_spanned_by(&meta.path, "duplicate ws option `history`");
                }
                history = Some(meta.path.clone());
                if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                    skip_value(meta.input)?;
                    cx.error_spanned_by(&meta.path, "`history` takes no value; the bounds are ws_protocol options: `#[ws_protocol(history = 1000, history_ttl = \"5m\")]`");
                }
                return Ok(());
            }
            let slot = if meta.path.is_ident("client") {
                &mut direction.client
            } else if meta.path.is_ident("server") {
                &mut direction.server
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "unknown ws option `{}`; expected one of: {}",
                        path_to_string(&meta.path),
                        backticked(WS_KEYS)
                    ),
                );
                return skip_value(meta.input);
            };
            if *slot {
                cx.error_spanned_by(
                    &meta.path,
                    format!("duplicate ws option `{}`", path_to_string(&meta.path)),
                );
            }
            *slot = true;
            if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                let path = meta.path.clone();
                skip_value(meta.input)?;
                cx.error_spanned_by(&path, format!("`{}` takes no value", path_to_string(&path)));
            }
            Ok(())
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }
    VariantOptions {
        direction,
        reply,
        history,
    }
}

/// `reply = Pong`: the name of a variant of the same enum.
fn parse_reply(cx: &Ctxt, meta: &ParseNestedMeta, reply: &mut Option<Ident>) -> syn::Result<()> {
    const EXPECTED: &str = "expected the name of the reply's variant: `reply = Pong`";
    if !meta.input.peek(Token![=]) {
        let path = meta.path.clone();
        skip_value(meta.input)?;
        cx.error_spanned_by(&path, EXPECTED);
        return Ok(());
    }
    meta.input.parse::<Token![=]>()?;
    let mut tokens = TokenStream::new();
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        tokens.extend([meta.input.parse::<TokenTree>()?]);
    }
    // `reply = Pong`, also `reply = "Pong"` and `reply = Self::Pong`.
    let ident = match syn::parse2::<syn::Expr>(tokens.clone()) {
        Ok(syn::Expr::Path(path))
            if path.qself.is_none()
                && (path.path.segments.len() == 1
                    || (path.path.segments.len() == 2
                        && path.path.segments[0].ident == "Self")) =>
        {
            path.path.segments.last().map(|s| s.ident.clone())
        }
        Ok(syn::Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        })) => lit.parse::<Ident>().ok(),
        _ => None,
    };
    match ident {
        Some(_) if reply.is_some() => {
            cx.error_spanned_by(&meta.path, "duplicate ws option `reply`");
        }
        Some(ident) => *reply = Some(ident),
        None => cx.error_spanned_by(
            if tokens.is_empty() {
                meta.path.to_token_stream()
            } else {
                tokens
            },
            EXPECTED,
        ),
    }
    Ok(())
}

/// A serde name that may differ between serialization and deserialization:
/// `rename = ".."` or `rename(serialize = "..", deserialize = "..")`.
#[derive(Clone, Debug)]
pub struct SerdeRename<T> {
    pub serialize: Option<T>,
    pub deserialize: Option<T>,
    /// The whole `rename...` meta, for error spans.
    pub tokens: TokenStream,
}

/// Container `#[serde(rename_all ...)]`. Unknown rules are left to serde,
/// which reports them; they count as no rule here.
pub fn serde_rename_all(attrs: &[Attribute]) -> Option<SerdeRename<RenameRule>> {
    let mut found = None;
    for_each_serde_meta(attrs, "rename_all", |meta| {
        let rename = parse_serde_rename(meta)?;
        let rule = |lit: Option<LitStr>| lit.and_then(|lit| RenameRule::from_str(&lit.value()));
        found = Some(SerdeRename {
            serialize: rule(rename.serialize),
            deserialize: rule(rename.deserialize),
            tokens: rename.tokens,
        });
        Ok(())
    });
    found
}

/// Whether a container `#[serde(rename_all ...)]` names a rule serde does not
/// know: serde reports it and derives nothing.
pub fn serde_unknown_rename_rule(attrs: &[Attribute]) -> bool {
    let mut unknown = false;
    for_each_serde_meta(attrs, "rename_all", |meta| {
        let rename = parse_serde_rename(meta)?;
        for lit in [rename.serialize, rename.deserialize].into_iter().flatten() {
            unknown |= RenameRule::from_str(&lit.value()).is_none();
        }
        Ok(())
    });
    unknown
}

/// Container `#[serde(content = "..")]`: the adjacent content's name.
pub fn serde_content(attrs: &[Attribute]) -> Option<String> {
    let mut content = None;
    for_each_serde_meta(attrs, "content", |meta| {
        content = Some(meta.value()?.parse::<LitStr>()?.value());
        Ok(())
    });
    content
}

/// Whether `#[serde(...)]` holds `key`, as a flag (`untagged`,
/// `deny_unknown_fields`, `other`) or with a value (`skip_serializing_if = ..`);
/// the tokens of the key for error spans.
pub fn serde_flag(attrs: &[Attribute], key: &str) -> Option<TokenStream> {
    let mut found = None;
    for_each_serde_meta(attrs, key, |meta| {
        found = Some(meta.path.to_token_stream());
        skip_value(meta.input)
    });
    found
}

/// Variant `#[serde(alias = "..")]`s: extra names accepted when decoding.
pub fn serde_aliases(attrs: &[Attribute]) -> Vec<LitStr> {
    let mut aliases = Vec::new();
    for_each_serde_meta(attrs, "alias", |meta| {
        aliases.push(meta.value()?.parse::<LitStr>()?);
        Ok(())
    });
    aliases
}

/// Container `#[serde(tag = "..")]`: the internal tag's name.
pub fn serde_tag(attrs: &[Attribute]) -> Option<String> {
    let mut tag = None;
    for_each_serde_meta(attrs, "tag", |meta| {
        tag = Some(meta.value()?.parse::<LitStr>()?.value());
        Ok(())
    });
    tag
}

/// Variant `#[serde(rename ...)]`.
pub fn serde_rename(attrs: &[Attribute]) -> Option<SerdeRename<LitStr>> {
    let mut found = None;
    for_each_serde_meta(attrs, "rename", |meta| {
        found = Some(parse_serde_rename(meta)?);
        Ok(())
    });
    found
}

/// Whether a `#[serde(...)]` attribute says only `crate = ".."`: the one
/// `#[ws_protocol]` adds for the re-exported serde, which the schema mirrors
/// must not copy.
pub fn is_serde_crate_attr(attr: &Attribute) -> bool {
    let mut only_crate = true;
    let mut any = false;
    let result = attr.parse_nested_meta(|meta| {
        any = true;
        only_crate &= meta.path.is_ident("crate");
        skip_value(meta.input)
    });
    result.is_ok() && any && only_crate
}

/// Calls `f` for each `key ...` inside `#[serde(...)]`; malformed serde
/// attributes are serde's to report, so parse errors are dropped here.
fn for_each_serde_meta(
    attrs: &[Attribute],
    key: &str,
    mut f: impl FnMut(&ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                f(&meta)
            } else {
                skip_value(meta.input)
            }
        });
    }
}

fn parse_serde_rename(meta: &ParseNestedMeta) -> syn::Result<SerdeRename<LitStr>> {
    let mut tokens = meta.path.to_token_stream();
    if meta.input.peek(Token![=]) {
        let eq: Token![=] = meta.input.parse()?;
        let lit: LitStr = meta.input.parse()?;
        eq.to_tokens(&mut tokens);
        lit.to_tokens(&mut tokens);
        return Ok(SerdeRename {
            serialize: Some(lit.clone()),
            deserialize: Some(lit),
            tokens,
        });
    }
    let mut serialize = None;
    let mut deserialize = None;
    let group: TokenTree = meta.input.fork().parse()?;
    meta.parse_nested_meta(|inner| {
        let lit: LitStr = inner.value()?.parse()?;
        if inner.path.is_ident("serialize") {
            serialize = Some(lit);
        } else if inner.path.is_ident("deserialize") {
            deserialize = Some(lit);
        }
        Ok(())
    })?;
    tokens.extend([group]);
    Ok(SerdeRename {
        serialize,
        deserialize,
        tokens,
    })
}

/// `a`, `b`, `c` with backticks, for "expected one of" lists.
pub fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn path_to_string(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(options.compression.unwrap().value, Compression::Off);
        assert_eq!(options.compress_min_size.unwrap().value, 1024);
        assert_eq!(options.max_connections.unwrap().value, 10_000);
        assert_eq!(options.max_per_user.unwrap().value, 3);
        assert_eq!(options.send_queue.unwrap().value, 256);
        assert_eq!(options.on_full.unwrap().value, Overflow::DropOldest);
        assert_eq!(options.max_message_size.unwrap().value, 65536);
        assert_eq!(options.heartbeat.unwrap().value, Some(30_000));
        assert_eq!(options.idle_timeout.unwrap().value, None);
        assert_eq!(options.on_invalid.unwrap().value, OnInvalid::Close);
        assert_eq!(options.read_buffer.unwrap().value, 4096);
        assert_eq!(options.write_buffer.unwrap().value, 16384);
        assert_eq!(options.module.unwrap().value, "messages");
        assert_eq!(options.max_rooms.unwrap().value, 0);
        assert_eq!(options.max_room_name.unwrap().value, 64);
    }

    #[test]
    fn untrusted_peer_options() {
        let (given, errors) = options(parse_quote! {
            #[__ws_protocol(handshake_timeout = "5s", max_per_ip = 20, handshake_rate = "10/s")]
        });
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(given.handshake_timeout.unwrap().value, 5_000);
        assert_eq!(given.max_per_ip.unwrap().value, 20);
        assert_eq!(
            given.handshake_rate.unwrap().value,
            Some(Rate {
                messages: 10,
                per_ms: 1_000
            })
        );
        let (refused, errors) = options(parse_quote! {
            #[__ws_protocol(handshake_timeout = "off", handshake_rate = "10 per second")]
        });
        assert!(refused.handshake_timeout.is_none());
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
        assert_eq!(options.send_queue.unwrap().value, 8);
    }

    #[test]
    fn no_options() {
        let (options, errors) = options(parse_quote!(#[__ws_protocol()]));
        assert!(errors.is_empty());
        assert!(options.send_queue.is_none() && options.module.is_none());
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
                "unknown ws_protocol option `max_conn`; expected one of: `max_connections`, `max_per_user`, `send_queue`, `on_full`, `max_message_size`, `heartbeat`, `idle_timeout`, `on_invalid`, `rate_limit`, `rate_burst`, `on_rate_limit`, `read_buffer`, `write_buffer`, `compression`, `compress_min_size`, `inflate_rate`, `inflate_node_rate`, `max_fragments`, `fragment_timeout`, `stall_timeout`, `refresh_before`, `max_rooms`, `max_room_name`, `handshake_timeout`, `max_per_ip`, `handshake_rate`, `history`, `history_ttl`, `history_bytes`, `history_memory`, `history_streams`, `module`, `path`, `subprotocol`, `correlate`, `session`",
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
        assert!(options.send_queue.is_none());
        assert!(options.heartbeat.is_none());
        assert_eq!(options.max_per_user.unwrap().value, 2);
        // Zeros read; refusing them is `Config::validate`'s, in `check`.
        assert_eq!(options.idle_timeout.unwrap().value, Some(0));
        assert_eq!(options.read_buffer.unwrap().value, 0);
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
        assert_eq!(given.max_connections.unwrap().value, 10_000);
        assert_eq!(given.send_queue.unwrap().value, 1_024);
        assert_eq!(given.heartbeat.unwrap().value, Some(1_000));
        assert_eq!(given.idle_timeout.unwrap().value, Some(5_400_000));
        assert_eq!(
            given.rate_limit.unwrap().value,
            Some(Rate {
                messages: 5,
                per_ms: 500
            })
        );
        assert_eq!(given.read_buffer.unwrap().value, 2048);
        assert_eq!(given.max_message_size.unwrap().value, 65_536);
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
}
