//! Attribute parsing: the `#[ws_protocol(...)]` options, `#[ws(...)]` on
//! variants, and the few serde attributes that decide wire names.
//!
//! Every parser reports into the [`Ctxt`] and carries on, leaving a bad option
//! unset (its default applies) so that the expansion stays usable.

use std::collections::BTreeSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, Lit, LitStr, Token};

use crate::case::RenameRule;
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
    "module",
    "path",
];

/// The keys of `#[ws(...)]` on a variant.
pub const WS_KEYS: &[&str] = &["client", "server", "reply"];

/// ws-core's default heartbeat and idle timeout, for the check between the
/// two when only one is given. The generated code never restates defaults.
pub const DEFAULT_HEARTBEAT_MS: u64 = 30_000;
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;

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
    pub module: Option<Setting<Ident>>,
    /// The path the protocol is served at, for documents and test servers.
    pub path: Option<Setting<String>>,
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
        let Some(value) = parse_value(cx, meta, &name)? else {
            return Ok(());
        };
        match name.as_str() {
            "max_connections" => self.max_connections = int(cx, &name, "10_000", &value),
            "max_per_user" => self.max_per_user = int(cx, &name, "4", &value),
            "send_queue" => {
                self.send_queue = int(cx, &name, "256", &value).filter(|setting| {
                    if setting.value == 0 {
                        cx.error_spanned_by(
                            &setting.tokens,
                            "`send_queue` must be at least 1: every connection needs room for one queued frame",
                        );
                    }
                    setting.value > 0
                });
            }
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
            "max_message_size" => self.max_message_size = size(cx, &name, &value),
            "heartbeat" => self.heartbeat = duration(cx, &name, &value),
            "idle_timeout" => self.idle_timeout = duration(cx, &name, &value),
            "on_invalid" => {
                self.on_invalid = choice(
                    cx,
                    &name,
                    "policy",
                    &value,
                    &[("error", OnInvalid::Error), ("close", OnInvalid::Close)],
                );
            }
            "rate_limit" => self.rate_limit = rate(cx, &value),
            "rate_burst" => {
                self.rate_burst = int(cx, &name, "40", &value).filter(|setting| {
                    let fits = (1..=u64::from(u32::MAX)).contains(&setting.value);
                    if !fits {
                        cx.error_spanned_by(
                            &setting.tokens,
                            "`rate_burst` must be between 1 and 4294967295 messages",
                        );
                    }
                    fits
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
            "read_buffer" => self.read_buffer = size(cx, &name, &value),
            "write_buffer" => self.write_buffer = size(cx, &name, &value),
            "module" => self.module = module(cx, &value),
            "path" => self.path = path(cx, &value),
            _ => unreachable!("every name in OPTIONS has an arm"),
        }
        Ok(())
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

fn int(cx: &Ctxt, name: &str, example: &str, value: &Value) -> Option<Setting<u64>> {
    match &value.lit {
        Some(Lit::Int(lit)) => match lit.base10_parse::<u64>() {
            Ok(n) => Some(value.setting(n)),
            Err(_) => {
                cx.error_spanned_by(&value.tokens, format!("`{name}` is too large"));
                None
            }
        },
        _ => {
            cx.error_spanned_by(
                &value.tokens,
                format!("expected an integer for `{name}`, e.g. `{name} = {example}`"),
            );
            None
        }
    }
}

fn size(cx: &Ctxt, name: &str, value: &Value) -> Option<Setting<u64>> {
    let parsed = match &value.lit {
        Some(Lit::Int(lit)) => lit.base10_parse::<u64>().map_err(|_| SizeError::TooLarge),
        Some(Lit::Str(lit)) => parse_size(&lit.value()),
        _ => {
            cx.error_spanned_by(
                &value.tokens,
                format!(
                    "expected a size for `{name}`, e.g. `{name} = \"64KiB\"` or `{name} = 65536`"
                ),
            );
            return None;
        }
    };
    let shown = match &value.lit {
        Some(Lit::Str(lit)) => lit.value(),
        _ => value.tokens.to_string(),
    };
    match parsed {
        Ok(0) => {
            cx.error_spanned_by(&value.tokens, format!("`{name}` must be greater than zero"));
            None
        }
        Ok(bytes) => Some(value.setting(bytes)),
        Err(SizeError::TooLarge) => {
            cx.error_spanned_by(
                &value.tokens,
                format!("size `{shown}` for `{name}` is too large"),
            );
            None
        }
        Err(SizeError::Malformed) => {
            cx.error_spanned_by(
                &value.tokens,
                format!(
                    "invalid size `{shown}` for `{name}`; expected a number of bytes with an optional unit `KiB`, `MiB` or `GiB` (`KB`, `MB`, `GB` mean the same), e.g. `\"64KiB\"`, `\"1 MB\"` or `65536`"
                ),
            );
            None
        }
    }
}

fn duration(cx: &Ctxt, name: &str, value: &Value) -> Option<Setting<Option<u64>>> {
    let Some(Lit::Str(lit)) = &value.lit else {
        cx.error_spanned_by(
            &value.tokens,
            format!(
                "expected a duration string for `{name}`, e.g. `{name} = \"30s\"`, or `{name} = \"off\"` to disable it"
            ),
        );
        return None;
    };
    match parse_duration(&lit.value()) {
        Ok(ms) => Some(value.setting(ms)),
        Err(DurationError::Zero) => {
            cx.error_spanned_by(
                lit,
                format!(
                    "`{name}` of zero is not a duration; write `{name} = \"off\"` to disable it"
                ),
            );
            None
        }
        Err(DurationError::TooLarge) => {
            cx.error_spanned_by(lit, format!("`{name}` is too large"));
            None
        }
        Err(DurationError::Malformed) => {
            cx.error_spanned_by(
                lit,
                format!(
                    "invalid duration `{}` for `{name}`; expected numbers with units among `ms`, `s`, `m`, `h`, e.g. `\"30s\"`, `\"500ms\"` or `\"1m30s\"`, or `\"off\"`",
                    lit.value()
                ),
            );
            None
        }
    }
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

fn rate(cx: &Ctxt, value: &Value) -> Option<Setting<Option<Rate>>> {
    const EXPECTED: &str = "expected a rate for `rate_limit`, e.g. `rate_limit = \"20/s\"`, `\"600/m\"` or `\"5/500ms\"`, or `\"off\"`";
    let Some(Lit::Str(lit)) = &value.lit else {
        cx.error_spanned_by(&value.tokens, EXPECTED);
        return None;
    };
    match parse_rate(&lit.value()) {
        Some(rate) => Some(value.setting(rate)),
        None => {
            cx.error_spanned_by(lit, format!("invalid rate `{}`; {EXPECTED}", lit.value()));
            None
        }
    }
}

/// Parses `20/s`, `600/m`, `3600/h`, `5/500ms` (a count of at least 1 per a
/// non-zero duration), or `off`.
pub fn parse_rate(text: &str) -> Option<Option<Rate>> {
    let text = text.trim();
    if text == "off" {
        return Some(None);
    }
    let (messages, per) = text.split_once('/')?;
    let messages: u32 = messages.trim().parse().ok().filter(|n| *n > 0)?;
    let per_ms = match per.trim() {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => parse_duration(other).ok()??,
    };
    Some(Some(Rate { messages, per_ms }))
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

#[derive(Debug, PartialEq, Eq)]
pub enum SizeError {
    Malformed,
    TooLarge,
}

/// Parses `65536`, `65_536`, `64KiB`, `64KB`, `64k`, `1 MiB`, `1MB`, `2g`:
/// digits (with `_`), optional spaces, an optional case-insensitive unit.
/// `KB`, `MB`, `GB` are binary units, as in ws-core's `Config` overrides.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(SizeError::Malformed);
    }
    let scale: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(SizeError::Malformed),
    };
    let n: u64 = digits
        .replace('_', "")
        .parse()
        .map_err(|_| SizeError::TooLarge)?;
    n.checked_mul(scale).ok_or(SizeError::TooLarge)
}

#[derive(Debug, PartialEq, Eq)]
pub enum DurationError {
    Malformed,
    Zero,
    TooLarge,
}

/// Parses `"off"` (`Ok(None)`) or a sum of `<number><unit>` terms with units
/// `ms`, `s`, `m`, `h`, optionally separated by spaces: `30s`, `500ms`, `1m30s`,
/// `1h 30m`. Returns milliseconds.
pub fn parse_duration(text: &str) -> Result<Option<u64>, DurationError> {
    let text = text.trim();
    if text == "off" {
        return Ok(None);
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut terms = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '_')
            .unwrap_or(rest.len());
        let (digits, after) = rest.split_at(digits_end);
        if !digits.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(DurationError::Malformed);
        }
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(DurationError::Malformed),
        };
        let n: u64 = digits
            .replace('_', "")
            .parse()
            .map_err(|_| DurationError::TooLarge)?;
        total = n
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or(DurationError::TooLarge)?;
        terms += 1;
        rest = after.trim_start();
    }
    match (terms, total) {
        (0, _) => Err(DurationError::Malformed),
        (_, 0) => Err(DurationError::Zero),
        (_, ms) => Ok(Some(ms)),
    }
}

/// Formats milliseconds the way they are written in the attribute: `1m30s`.
pub fn format_duration(ms: u64) -> String {
    let mut out = String::new();
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1_000, rest % 1_000);
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
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
    VariantOptions { direction, reply }
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
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("65_536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64KB"), Ok(64 << 10));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1 MB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512b"), Ok(512));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size(""), Err(SizeError::Malformed));
        assert_eq!(parse_size("KiB"), Err(SizeError::Malformed));
        assert_eq!(parse_size("_1KiB"), Err(SizeError::Malformed));
        assert_eq!(parse_size("64 kilobytes"), Err(SizeError::Malformed));
        assert_eq!(parse_size("1TiB"), Err(SizeError::Malformed));
        assert_eq!(parse_size("1.5MiB"), Err(SizeError::Malformed));
        assert_eq!(parse_size("-1"), Err(SizeError::Malformed));
        assert_eq!(parse_size("99999999999999999999"), Err(SizeError::TooLarge));
        assert_eq!(parse_size("99999999999GiB"), Err(SizeError::TooLarge));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Some(30_000)));
        assert_eq!(parse_duration("500ms"), Ok(Some(500)));
        assert_eq!(parse_duration("1m"), Ok(Some(60_000)));
        assert_eq!(parse_duration("2h"), Ok(Some(7_200_000)));
        assert_eq!(parse_duration("1m30s"), Ok(Some(90_000)));
        assert_eq!(parse_duration("1h 30m"), Ok(Some(5_400_000)));
        assert_eq!(parse_duration("1 s"), Ok(Some(1_000)));
        assert_eq!(parse_duration("1_000ms"), Ok(Some(1_000)));
        assert_eq!(parse_duration("off"), Ok(None));
        assert_eq!(parse_duration("0s"), Err(DurationError::Zero));
        assert_eq!(parse_duration("0m0s"), Err(DurationError::Zero));
        assert_eq!(parse_duration("30"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("30 seconds"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("s"), Err(DurationError::Malformed));
        assert_eq!(parse_duration(""), Err(DurationError::Malformed));
        assert_eq!(parse_duration("1.5s"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("OFF"), Err(DurationError::Malformed));
        assert_eq!(
            parse_duration("99999999999999999h"),
            Err(DurationError::TooLarge)
        );
    }

    #[test]
    fn durations_format_back() {
        assert_eq!(format_duration(30_000), "30s");
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(500), "500ms");
        assert_eq!(format_duration(3_600_000), "1h");
    }

    #[test]
    fn every_option() {
        let (options, errors) = options(parse_quote! {
            #[__ws_protocol(
                max_connections = 10_000, max_per_user = 3, send_queue = 256,
                on_full = "drop_oldest", max_message_size = "64KiB",
                heartbeat = "30s", idle_timeout = "off", on_invalid = "close",
                read_buffer = 4096, write_buffer = "16 KiB", module = "messages",
            )]
        });
        assert_eq!(errors, Vec::<String>::new());
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
            )]
        });
        assert_eq!(
            errors,
            [
                "unknown ws_protocol option `max_conn`; expected one of: `max_connections`, `max_per_user`, `send_queue`, `on_full`, `max_message_size`, `heartbeat`, `idle_timeout`, `on_invalid`, `rate_limit`, `rate_burst`, `on_rate_limit`, `read_buffer`, `write_buffer`, `module`, `path`",
                "expected an integer for `send_queue`, e.g. `send_queue = 256`",
                "expected a duration string for `heartbeat`, e.g. `heartbeat = \"30s\"`, or `heartbeat = \"off\"` to disable it",
                "unknown `on_full` policy `drop`; expected one of: `\"close\"`, `\"drop_newest\"`, `\"drop_oldest\"`",
                "invalid size `64 kilobytes` for `max_message_size`; expected a number of bytes with an optional unit `KiB`, `MiB` or `GiB` (`KB`, `MB`, `GB` mean the same), e.g. `\"64KiB\"`, `\"1 MB\"` or `65536`",
                "`idle_timeout` of zero is not a duration; write `idle_timeout = \"off\"` to disable it",
                "duplicate ws_protocol option `send_queue`",
                "`module = \"fn\"` is not a module name; expected an identifier that is not a keyword, e.g. `module = \"chat\"`",
                "`read_buffer` must be greater than zero",
                "expected a value: `write_buffer = ...`",
            ]
        );
        assert!(options.send_queue.is_none());
        assert!(options.heartbeat.is_none());
        assert_eq!(options.max_per_user.unwrap().value, 2);
    }

    #[test]
    fn zero_send_queue() {
        let (options, errors) = options(parse_quote!(#[__ws_protocol(send_queue = 0)]));
        assert_eq!(
            errors,
            ["`send_queue` must be at least 1: every connection needs room for one queued frame"]
        );
        assert!(options.send_queue.is_none());
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
            "unknown ws option `clinet`; expected one of: `client`, `server`, `reply`"
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

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate("20/s"),
            Some(Some(Rate {
                messages: 20,
                per_ms: 1_000
            }))
        );
        assert_eq!(
            parse_rate("600/m"),
            Some(Some(Rate {
                messages: 600,
                per_ms: 60_000
            }))
        );
        assert_eq!(
            parse_rate("5/500ms"),
            Some(Some(Rate {
                messages: 5,
                per_ms: 500
            }))
        );
        assert_eq!(parse_rate("off"), Some(None));
        for bad in ["0/s", "20", "20/fortnight", "x/s", "5/0s"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }
}
