//! The model the expansion works from, built from the derive input (cfgs
//! applied, `#[ws]` attributes inert) by the hidden `WsProtocol` derive.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{Attribute, DeriveInput, Field, Ident, LitStr, Path, Variant, Visibility};

use crate::attr::{self, Direction, OPTIONS_ATTR, Options, SerdeRename};
use crate::case::{self, RenameRule};
use crate::ctxt::Ctxt;

/// A protocol enum.
pub struct Protocol<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    /// The enum's `#[doc]` attributes and their text, trimmed like rustdoc.
    pub doc: Option<String>,
    /// The enum's own `#[derive(...)]` paths, given to the message structs
    /// (serde's and schemars' derives are the enum's alone).
    pub derives: Vec<Path>,
    /// Container `#[serde]` attributes but `crate = ..`, for the schema mirrors.
    pub serde_attrs: Vec<&'a Attribute>,
    pub rename_all: Option<SerdeRename<RenameRule>>,
    /// How serde tags the variants on the wire.
    pub tagging: Tagging,
    /// Container `#[serde(untagged)]`, refused by `check`.
    pub untagged: Option<TokenStream>,
    /// Container `#[serde(deny_unknown_fields)]`, which the correlation id
    /// would trip over.
    pub deny_unknown_fields: Option<TokenStream>,
    pub options: Options,
    /// The module of per-variant structs.
    pub module: Ident,
    pub messages: Vec<Message<'a>>,
    /// serde will reject the enum (and say why) and derive nothing: the
    /// artefacts that need `Serialize`/`Deserialize` are left out rather than
    /// failing after serde's error. See [`serde_fails`].
    pub serde_fails: bool,
}

/// serde's enum representations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tagging {
    Internal { tag: String },
    Adjacent { tag: String, content: String },
    External,
    Untagged,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `X { a: T }`, also `X {}`.
    Named,
    /// `X`.
    Unit,
    /// `X(T)`: reported, and left out of everything but the match arms.
    Tuple,
}

/// A variant of the enum: one message.
pub struct Message<'a> {
    pub variant: &'a Variant,
    pub ident: &'a Ident,
    pub shape: Shape,
    pub fields: Vec<&'a Field>,
    pub direction: Direction,
    /// `#[ws(reply = Pong)]` as written.
    pub reply: Option<Ident>,
    /// `#[ws(history)]` as written: a room's history keeps this message.
    pub history: Option<syn::Path>,
    /// The index in `Protocol::messages` of the reply, once `check` has
    /// resolved `reply` to a server message; `None` when there is no reply
    /// or it is invalid (reported).
    pub reply_to: Option<usize>,
    /// The variant's doc comment, trimmed.
    pub doc: Option<String>,
    /// The variant had no usable `#[ws(...)]`: it is reported, and expanded as
    /// both directions with a default handler so nothing else fails with it.
    pub lenient: bool,
    /// `#[ws(reply = ..)]` without a direction: reported, and modelled as
    /// `#[ws(client, reply = ..)]`.
    pub implied_client: bool,
    /// The wire name when serializing; see `wire_de`.
    pub wire: String,
    /// The wire name when deserializing; `check` reports a difference.
    pub wire_de: String,
    pub rename: Option<SerdeRename<LitStr>>,
    /// `#[serde(alias = "..")]`: more names that decode as this message.
    pub aliases: Vec<LitStr>,
    /// `#[serde(other)]` or `#[serde(untagged)]` on the variant: it would
    /// decode inputs that no other variant does (refused by `check`).
    pub catch_all: Option<TokenStream>,
    /// `#[serde(skip)]`, `skip_serializing` or `skip_deserializing` on the
    /// variant (refused by `check`).
    pub skipped: Option<TokenStream>,
    /// The handler method, `snake_case` of the variant, spanned at the variant.
    pub method: Ident,
    /// Whether the handler trait gets this method; false when it collides
    /// with a hook or another method (reported in `check`).
    pub has_method: bool,
}

impl<'a> Protocol<'a> {
    /// Builds the model. Shapes that cannot be expanded at all (not an enum,
    /// generics) give `None`; everything else is reported and modelled leniently.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Protocol<'a>> {
        let syn::Data::Enum(data) = &input.data else {
            let keyword = match &input.data {
                syn::Data::Struct(data) => data.struct_token.to_token_stream(),
                syn::Data::Union(data) => data.union_token.to_token_stream(),
                syn::Data::Enum(data) => data.enum_token.to_token_stream(),
            };
            cx.error_spanned_by(keyword, not_an_enum());
            return None;
        };
        if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
            let generics = &input.generics;
            let where_clause = &input.generics.where_clause;
            cx.error_spanned_by(
                quote::quote!(#generics #where_clause),
                format!(
                    "`#[ws_protocol]` does not support generic enums; a protocol is one concrete set of messages: remove the generics from `{}`",
                    input.ident
                ),
            );
            return None;
        }
        for attr in input.attrs.iter().filter(|attr| attr.path().is_ident("ws")) {
            cx.error_spanned_by(
                attr,
                "`#[ws(...)]` goes on variants; protocol options go in `#[ws_protocol(...)]`",
            );
        }

        let options = Options::from_attrs(cx, &input.attrs);
        let module = match &options.module {
            Some(module) => module.value.clone(),
            None => Ident::new(
                &case::to_snake_case(&unraw(&input.ident)),
                input.ident.span(),
            ),
        };
        let rename_all = attr::serde_rename_all(&input.attrs);
        let messages: Vec<Message> = data
            .variants
            .iter()
            .map(|variant| Message::from_ast(cx, variant, rename_all.as_ref()))
            .collect();
        let serde_fails = serde_fails(&input.attrs, &messages);
        let tagging = match (
            attr::serde_tag(&input.attrs),
            attr::serde_content(&input.attrs),
        ) {
            (Some(tag), Some(content)) => Tagging::Adjacent { tag, content },
            (Some(tag), None) => Tagging::Internal { tag },
            _ if attr::serde_flag(&input.attrs, "untagged").is_some() => Tagging::Untagged,
            _ => Tagging::External,
        };
        let untagged = attr::serde_flag(&input.attrs, "untagged");
        Some(Protocol {
            ident: &input.ident,
            vis: &input.vis,
            doc: doc_text(&input.attrs),
            derives: derives(&input.attrs),
            serde_attrs: input
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("serde") && !attr::is_serde_crate_attr(attr))
                .collect(),
            rename_all,
            tagging,
            untagged,
            deny_unknown_fields: attr::serde_flag(&input.attrs, "deny_unknown_fields"),
            options,
            module,
            messages,
            serde_fails,
        })
    }

    pub fn client_messages(&self) -> impl Iterator<Item = &Message<'a>> {
        self.messages
            .iter()
            .filter(|m| m.shape != Shape::Tuple && m.direction.client)
    }

    pub fn server_messages(&self) -> impl Iterator<Item = &Message<'a>> {
        self.messages
            .iter()
            .filter(|m| m.shape != Shape::Tuple && m.direction.server)
    }

    /// Messages that get a struct in the module.
    pub fn struct_messages(&self) -> impl Iterator<Item = &Message<'a>> {
        self.messages.iter().filter(|m| m.shape != Shape::Tuple)
    }

    /// The server message a misspelt `reply = ..` most likely meant: the
    /// only one, or the one within a third of the name's length in edits.
    pub fn closest_server_message(&self, name: &Ident) -> Option<&Message<'a>> {
        let name = unraw(name).to_string();
        let mut servers = self.server_messages();
        if let (Some(only), None) = (servers.next(), servers.next()) {
            return Some(only);
        }
        self.server_messages()
            .map(|m| (edits(&name, &unraw(m.ident).to_string()), m))
            .filter(|(d, _)| *d <= (name.len() / 3).max(1))
            .min_by_key(|(d, _)| *d)
            .map(|(_, m)| m)
    }
}

/// The Levenshtein distance between `a` and `b`, case-insensitive.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.to_lowercase().chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

impl<'a> Message<'a> {
    fn from_ast(
        cx: &Ctxt,
        variant: &'a Variant,
        rename_all: Option<&SerdeRename<RenameRule>>,
    ) -> Message<'a> {
        let (shape, fields) = match &variant.fields {
            syn::Fields::Named(fields) => (Shape::Named, fields.named.iter().collect()),
            syn::Fields::Unit => (Shape::Unit, Vec::new()),
            syn::Fields::Unnamed(fields) => (Shape::Tuple, fields.unnamed.iter().collect()),
        };
        for field in &fields {
            for attr in field.attrs.iter().filter(|attr| attr.path().is_ident("ws")) {
                cx.error_spanned_by(attr, "`#[ws(...)]` goes on variants, not on fields");
            }
        }
        let attr::VariantOptions {
            mut direction,
            reply,
            history,
        } = attr::variant_options(cx, &variant.attrs);
        // `#[ws(reply = Pong)]` alone is a request without its `client`:
        // reported, and modelled as the client message it was meant to be.
        let implied_client = !direction.client && !direction.server && reply.is_some();
        direction.client |= implied_client;
        let lenient = !direction.client && !direction.server;
        if lenient {
            direction = Direction {
                client: true,
                server: true,
            };
        }
        let name = unraw(&variant.ident);
        let rename = attr::serde_rename(&variant.attrs);
        let wire_with = |explicit: Option<&LitStr>, rule: Option<RenameRule>| match explicit {
            Some(lit) => lit.value(),
            None => rule.unwrap_or(RenameRule::None).apply_to_variant(&name),
        };
        let wire = wire_with(
            rename.as_ref().and_then(|r| r.serialize.as_ref()),
            rename_all.and_then(|r| r.serialize),
        );
        let wire_de = wire_with(
            rename.as_ref().and_then(|r| r.deserialize.as_ref()),
            rename_all.and_then(|r| r.deserialize),
        );
        let method = method_ident(&case::to_snake_case(&name), variant.ident.span());
        Message {
            variant,
            ident: &variant.ident,
            shape,
            fields,
            direction,
            reply,
            history,
            reply_to: None,
            doc: doc_text(&variant.attrs),
            lenient,
            implied_client,
            wire,
            wire_de,
            rename,
            aliases: attr::serde_aliases(&variant.attrs),
            catch_all: attr::serde_flag(&variant.attrs, "other")
                .or_else(|| attr::serde_flag(&variant.attrs, "untagged")),
            skipped: ["skip", "skip_serializing", "skip_deserializing"]
                .into_iter()
                .find_map(|key| attr::serde_flag(&variant.attrs, key)),
            method,
            has_method: true,
        }
    }

    /// The variant's attributes that the schema mirror keeps.
    pub fn schema_attrs(&self) -> impl Iterator<Item = &'a Attribute> {
        schema_attrs(&self.variant.attrs)
    }

    /// The variant's doc attributes.
    pub fn docs(&self) -> impl Iterator<Item = &'a Attribute> {
        self.variant
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("doc"))
    }

    /// The field names, for patterns: `{ a, b }` or nothing for unit.
    pub fn field_idents(&self) -> Vec<&'a Ident> {
        self.fields
            .iter()
            .filter_map(|field| field.ident.as_ref())
            .collect()
    }
}

/// The mistakes, among those serde rejects, that are cheap to foresee: an
/// unknown `rename_all` rule, an internal tag named like a field, an internal
/// tag on a tuple variant; and the derives that `#[ws_protocol]` left out
/// (see [`SerdeSkip`]). Not all of serde's checks: the others still show
/// follow-on errors after serde's own.
fn serde_fails(attrs: &[Attribute], messages: &[Message]) -> bool {
    if attr::serde_unknown_rename_rule(attrs)
        || attrs
            .iter()
            .any(|attr| attr.path().is_ident(SERDE_SKIP_ATTR))
    {
        return true;
    }
    let Some(tag) = attr::serde_tag(attrs) else {
        return false;
    };
    !tag_conflicts(&tag, messages).is_empty()
        || messages
            .iter()
            .any(|message| message.shape == Shape::Tuple && message.fields.len() != 1)
}

/// The fields named like the internal tag `tag` (after their renames), which
/// serde refuses: the tag holds the wire name.
pub fn tag_conflicts<'m, 'a>(
    tag: &str,
    messages: &'m [Message<'a>],
) -> Vec<(&'m Message<'a>, &'a Field)> {
    let mut conflicts = Vec::new();
    for message in messages.iter().filter(|m| m.shape == Shape::Named) {
        for field in &message.fields {
            let names = match attr::serde_rename(&field.attrs) {
                Some(rename) => [rename.serialize, rename.deserialize]
                    .into_iter()
                    .flatten()
                    .map(|lit| lit.value())
                    .collect(),
                None => field.ident.iter().map(unraw).collect::<Vec<_>>(),
            };
            if names.iter().any(|name| name == tag) {
                conflicts.push((message, *field));
            }
        }
    }
    conflicts
}

/// Two messages that decode from the same name (wire name or alias): serde
/// routes the name to the first, and its `Deserialize` would warn of the
/// unreachable second beside `check`'s error.
pub fn decoded_name_collision(messages: &[Message]) -> bool {
    let mut seen = std::collections::BTreeMap::new();
    messages.iter().enumerate().any(|(index, message)| {
        let names = std::iter::once(message.wire_de.clone())
            .chain(message.aliases.iter().map(LitStr::value))
            .collect::<std::collections::BTreeSet<_>>();
        names
            .into_iter()
            .any(|name| seen.insert(name, index).is_some())
    })
}

/// The marker the attribute step puts on the enum when it leaves serde's
/// derives out; the derive then leaves out what needs them.
pub const SERDE_SKIP_ATTR: &str = "__ws_serde_skipped";

/// Which of serde's derives the attribute step leaves out, for inputs that
/// `check` refuses and on which serde would add a worse error (a tag conflict,
/// spanned at the whole attribute) or a warning (an unreachable wire name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerdeSkip {
    None,
    Deserialize,
    Both,
}

impl SerdeSkip {
    /// Decided on the enum as written. Variants and fields under `cfg` are
    /// left out: the derive sees them only once cfgs are applied, and must
    /// come to the same verdict as this from less.
    pub fn of(input: &DeriveInput) -> SerdeSkip {
        let mut input = input.clone();
        input
            .attrs
            .retain(|attr| !attr.path().is_ident(OPTIONS_ATTR));
        let syn::Data::Enum(data) = &mut input.data else {
            return SerdeSkip::None;
        };
        let has_cfg = |attrs: &[Attribute]| attrs.iter().any(|a| a.path().is_ident("cfg"));
        data.variants = std::mem::take(&mut data.variants)
            .into_iter()
            .filter(|variant| !has_cfg(&variant.attrs))
            .collect();
        for variant in data.variants.iter_mut() {
            if let syn::Fields::Named(fields) = &mut variant.fields {
                fields.named = std::mem::take(&mut fields.named)
                    .into_iter()
                    .filter(|field| !has_cfg(&field.attrs))
                    .collect();
            }
        }
        // The model's own errors are the derive's to report.
        let cx = Ctxt::new();
        let verdict = match Protocol::from_ast(&cx, &input) {
            Some(protocol) => match &protocol.tagging {
                Tagging::Internal { tag } if !tag_conflicts(tag, &protocol.messages).is_empty() => {
                    SerdeSkip::Both
                }
                _ if decoded_name_collision(&protocol.messages) => SerdeSkip::Deserialize,
                _ => SerdeSkip::None,
            },
            None => SerdeSkip::None,
        };
        let _ = cx.check();
        verdict
    }
}

/// Doc, serde and schemars attributes: what a schema mirror keeps.
pub fn schema_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| {
        let path = attr.path();
        path.is_ident("doc") || path.is_ident("serde") || path.is_ident("schemars")
    })
}

/// The message when `#[ws_protocol]` is not on an enum.
pub fn not_an_enum() -> &'static str {
    "`#[ws_protocol]` goes on an enum of messages, one variant per message type, e.g. `enum Chat { #[ws(client)] Join { room: String } }`"
}

/// A method name as an identifier: a raw identifier for keywords (`r#type`);
/// the few keywords that cannot be raw (`self`, `super`, `crate`) get a
/// trailing underscore.
fn method_ident(name: &str, span: Span) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        return Ident::new(name, span);
    }
    match name {
        "self" | "super" | "crate" | "_" => Ident::new(&format!("{name}_"), span),
        _ => Ident::new_raw(name, span),
    }
}

/// The identifier's name without `r#`, as serde names variants.
pub fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    match name.strip_prefix("r#") {
        Some(name) => name.to_owned(),
        None => name,
    }
}

/// The paths of the `#[derive(...)]` attributes, but serde's and schemars'.
fn derives(attrs: &[Attribute]) -> Vec<Path> {
    let mut paths = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("derive")) {
        let Ok(list) = attr
            .parse_args_with(syn::punctuated::Punctuated::<Path, syn::Token![,]>::parse_terminated)
        else {
            continue;
        };
        paths.extend(list.into_iter().filter(|path| !is_reserved_derive(path)));
    }
    paths
}

/// `Serialize`, `Deserialize`, `JsonSchema` (by last segment): derives that
/// `#[ws_protocol]` provides itself.
pub fn is_reserved_derive(path: &Path) -> bool {
    path.segments
        .last()
        .is_some_and(|last| RESERVED_DERIVES.contains(&last.ident.to_string().as_str()))
}

pub const RESERVED_DERIVES: &[&str] = &["Serialize", "Deserialize", "JsonSchema"];

/// The text of the `#[doc = ".."]` attributes, joined and trimmed the way
/// rustdoc and schemars read them; `None` when there is none.
pub fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) = &nv.value
        {
            let text = lit.value();
            lines.extend(
                text.split('\n')
                    .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned()),
            );
        }
    }
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The tokens of a variant's rename if it has one, else its identifier: where
/// a wire-name error points.
pub fn wire_name_span(message: &Message) -> TokenStream {
    match &message.rename {
        Some(rename) => rename.tokens.clone(),
        None => message.ident.to_token_stream(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn with_model(input: DeriveInput, f: impl FnOnce(Option<&Protocol>)) -> Vec<String> {
        let cx = Ctxt::new();
        let model = Protocol::from_ast(&cx, &input);
        f(model.as_ref());
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|err| err.to_string()).collect(),
        }
    }

    #[test]
    fn chat() {
        let input: DeriveInput = parse_quote! {
            /// A chat protocol.
            #[__ws_protocol(send_queue = 8)]
            #[derive(Debug, Clone, serde::Serialize)]
            #[serde(crate = "::ws_core::__private::serde")]
            #[serde(tag = "type", rename_all = "snake_case")]
            pub enum ChatProtocol {
                /// Join a room.
                #[ws(client)]
                JoinRoom { room: String },
                #[ws(client, server)]
                #[serde(rename = "echo!")]
                Echo { text: String },
                #[ws(server)]
                Kicked,
                #[ws(client)]
                r#Type {},
            }
        };
        let errors = with_model(input, |model| {
            let model = model.unwrap();
            assert_eq!(model.module, "chat_protocol");
            assert_eq!(model.doc.as_deref(), Some("A chat protocol."));
            let derives: Vec<String> = model
                .derives
                .iter()
                .map(|path| path.to_token_stream().to_string())
                .collect();
            assert_eq!(derives, ["Debug", "Clone"]);
            assert_eq!(model.serde_attrs.len(), 1);
            assert_eq!(model.options.to_config().send_queue(), 8);
            let wires: Vec<&str> = model.messages.iter().map(|m| m.wire.as_str()).collect();
            assert_eq!(wires, ["join_room", "echo!", "kicked", "type"]);
            let methods: Vec<String> = model
                .messages
                .iter()
                .map(|m| m.method.to_string())
                .collect();
            assert_eq!(methods, ["join_room", "echo", "kicked", "r#type"]);
            assert_eq!(model.client_messages().count(), 3);
            assert_eq!(model.server_messages().count(), 2);
            assert_eq!(model.messages[3].shape, Shape::Named);
            assert_eq!(model.messages[2].shape, Shape::Unit);
        });
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn shapes_that_cannot_be_expanded() {
        let errors = with_model(
            parse_quote!(
                struct S {
                    a: u8,
                }
            ),
            |model| assert!(model.is_none()),
        );
        assert_eq!(errors, [not_an_enum()]);
        let errors = with_model(
            parse_quote!(
                enum E<T> {
                    #[ws(client)]
                    A { t: T },
                }
            ),
            |model| assert!(model.is_none()),
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`#[ws_protocol]` does not support generic enums"));
    }

    #[test]
    fn docs_are_trimmed() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[doc = " First line."]),
            parse_quote!(#[doc = ""]),
            parse_quote!(#[doc = "   indented"]),
            parse_quote!(#[serde(tag = "t")]),
        ];
        assert_eq!(
            doc_text(&attrs).as_deref(),
            Some("First line.\n\n  indented")
        );
        assert_eq!(doc_text(&[]), None);
    }
}
