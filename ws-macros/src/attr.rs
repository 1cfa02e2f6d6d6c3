//! Attribute parsing: the `#[ws_protocol(...)]` options, `#[ws(...)]` on
//! variants, and the few serde attributes that decide wire names.
//!
//! Every parser reports into the [`Ctxt`] and carries on, leaving a bad option
//! unset (its default applies) so that the expansion stays usable.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, Lit, LitStr, Token};

use crate::case::RenameRule;
use crate::config::units::UnitError;
use crate::config::{self, Config, ConfigError};
use crate::ctxt::Ctxt;

/// The helper attribute through which `#[ws_protocol(...)]` hands its options
/// to the hidden derive, tokens and spans untouched.
pub const OPTIONS_ATTR: &str = "__ws_protocol";

/// The options of `#[ws_protocol(...)]` that are not ws-core's `Config`'s:
/// they shape the generated code, and no start-up can change them.
const CODE_OPTIONS: &[&str] = &["module", "path", "subprotocol", "correlate", "session"];

/// Every option of `#[ws_protocol(...)]`, in documentation order: those of
/// ws-core's table of options that the attribute takes, then the code's.
pub fn option_names() -> Vec<&'static str> {
    config::OPTIONS
        .iter()
        .filter(|spec| spec.attribute)
        .map(|spec| spec.name)
        .chain(CODE_OPTIONS.iter().copied())
        .collect()
}

/// The keys of `#[ws(...)]` on a variant.
pub const WS_KEYS: &[&str] = &["client", "server", "reply", "history"];

/// An option's value with the tokens it came from, for error spans.
#[derive(Clone, Debug)]
pub struct Setting<T> {
    pub value: T,
    pub tokens: TokenStream,
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

/// The options of `#[ws_protocol(...)]`; `None` means "not given".
#[derive(Default, Debug)]
pub struct Options {
    /// The values of ws-core's options that read, by their index in
    /// `config::OPTIONS`, in the order given.
    config: Vec<(usize, config::table::Value)>,
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
        let names = option_names();
        let name = meta.path.get_ident().map(Ident::to_string);
        let Some(name) = name.filter(|name| names.contains(&name.as_str())) else {
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "unknown ws_protocol option `{}`; expected one of: {}",
                    path_to_string(&meta.path),
                    backticked(&names)
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
        if let Some(index) = config::OPTIONS.iter().position(|spec| spec.name == name) {
            let spec = &config::OPTIONS[index];
            let read = match spec.choices {
                Some(choices) => choice(cx, &name, choices.what, &value, choices.names)
                    .and_then(|text| (spec.parse)(text).ok()),
                None => read(cx, &name, &value, spec.parse),
            };
            self.config.extend(read.map(|read| (index, read)));
            return Ok(());
        }
        match name.as_str() {
            "module" => self.module = module(cx, &value),
            "path" => self.path = path(cx, &value),
            "subprotocol" => self.subprotocol = subprotocol(cx, &value),
            "correlate" => {
                self.correlate =
                    choice(cx, &name, "choice", &value, &["requests", "all"]).map(|text| {
                        value.setting(match text {
                            "all" => Correlate::All,
                            _ => Correlate::Requests,
                        })
                    });
            }
            _ => unreachable!("every name in CODE_OPTIONS has an arm"),
        }
        Ok(())
    }

    /// The table's entries of the options given that read, in the table's
    /// order.
    pub fn config_options(&self) -> impl Iterator<Item = &'static config::table::Spec> {
        let mut indices: Vec<usize> = self.config.iter().map(|(index, _)| *index).collect();
        indices.sort_unstable();
        indices.into_iter().map(|index| &config::OPTIONS[index])
    }

    /// Whether option `name` was given and read.
    pub fn has(&self, name: &str) -> bool {
        self.config_options().any(|spec| spec.name == name)
    }

    /// ws-core's `Config::DEFAULT` with the options given, applied in the
    /// table's order (a rate before its burst), for `Config::validate`: the
    /// generated code builds the same value.
    pub fn to_config(&self) -> Config {
        let mut values = self.config.clone();
        values.sort_by_key(|(index, _)| *index);
        values
            .into_iter()
            .fold(Config::DEFAULT, |config, (index, value)| {
                // A burst without a rate is `check`'s to report.
                (config::OPTIONS[index].set)(config.clone(), value).unwrap_or(config)
            })
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
fn read(
    cx: &Ctxt,
    name: &str,
    value: &Value,
    parse: fn(&str) -> Result<config::table::Value, UnitError>,
) -> Option<config::table::Value> {
    let text = match &value.lit {
        Some(Lit::Int(lit)) => Some(lit.to_string()),
        Some(Lit::Str(lit)) => Some(lit.value()),
        _ => None,
    };
    match text.map_or(Err(UnitError::Malformed), |text| parse(&text)) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            cx.error_spanned_by(
                &value.tokens,
                ConfigError::unreadable(name, error).to_string(),
            );
            None
        }
    }
}

/// One of `choices`, as a string literal.
fn choice(
    cx: &Ctxt,
    name: &str,
    what: &str,
    value: &Value,
    choices: &[&'static str],
) -> Option<&'static str> {
    let listed = choices
        .iter()
        .map(|choice| format!("`\"{choice}\"`"))
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
    let found = choices.iter().find(|choice| **choice == given).copied();
    if found.is_none() {
        cx.error_spanned_by(
            lit,
            format!("unknown `{name}` {what} `{given}`; expected one of: {listed}"),
        );
    }
    found
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
    checked_string(
        cx,
        value,
        EXPECTED,
        |path| path.starts_with('/') && !path.contains(char::is_whitespace),
        |path| format!("invalid path `{path}`; {EXPECTED}"),
    )
}

/// A subprotocol name is an HTTP token (RFC 6455 4.1, RFC 7230 3.2.6):
/// visible ASCII but separators; the codec's suffix follows a dot.
fn subprotocol(cx: &Ctxt, value: &Value) -> Option<Setting<String>> {
    const EXPECTED: &str = "expected a subprotocol base name with a version, e.g. `subprotocol = \"chat.v1\"` (clients then ask for `chat.v1.json` or `chat.v1.msgpack`)";
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    checked_string(
        cx,
        value,
        EXPECTED,
        |name| !name.is_empty() && name.chars().all(token),
        |name| {
            format!(
                "invalid subprotocol `{name}`: a subprotocol name is a token (no spaces, commas or separators); {EXPECTED}"
            )
        },
    )
}

/// A string literal that `valid` accepts; `invalid` words the error for
/// one it refuses, `expected` the error for a value that is no string.
fn checked_string(
    cx: &Ctxt,
    value: &Value,
    expected: &str,
    valid: impl Fn(&str) -> bool,
    invalid: impl Fn(&str) -> String,
) -> Option<Setting<String>> {
    match &value.lit {
        Some(Lit::Str(lit)) if valid(&lit.value()) => Some(value.setting(lit.value())),
        Some(Lit::Str(lit)) => {
            cx.error_spanned_by(lit, invalid(&lit.value()));
            None
        }
        _ => {
            cx.error_spanned_by(&value.tokens, expected);
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
    serde_string(attrs, "content")
}

/// The string of `#[serde(key = "..")]`.
fn serde_string(attrs: &[Attribute], key: &str) -> Option<String> {
    let mut found = None;
    for_each_serde_meta(attrs, key, |meta| {
        found = Some(meta.value()?.parse::<LitStr>()?.value());
        Ok(())
    });
    found
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
    serde_string(attrs, "tag")
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
mod tests;
