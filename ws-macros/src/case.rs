//! Case conversions: serde's `rename_all` rules, copied from
//! `serde_derive/src/internals/case.rs` so that wire names match serde's
//! byte for byte, and the Rust-identifier snake case used for the generated
//! module and handler methods.

/// One of serde's `rename_all` rules, as applied to enum variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameRule {
    /// No `rename_all`: the variant's own name.
    None,
    LowerCase,
    UpperCase,
    PascalCase,
    CamelCase,
    SnakeCase,
    ScreamingSnakeCase,
    KebabCase,
    ScreamingKebabCase,
}

/// The spellings serde accepts, in serde's order.
pub static RENAME_RULES: &[(&str, RenameRule)] = &[
    ("lowercase", RenameRule::LowerCase),
    ("UPPERCASE", RenameRule::UpperCase),
    ("PascalCase", RenameRule::PascalCase),
    ("camelCase", RenameRule::CamelCase),
    ("snake_case", RenameRule::SnakeCase),
    ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnakeCase),
    ("kebab-case", RenameRule::KebabCase),
    ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebabCase),
];

impl RenameRule {
    pub fn from_str(rule: &str) -> Option<RenameRule> {
        RENAME_RULES
            .iter()
            .find(|(name, _)| *name == rule)
            .map(|(_, rule)| *rule)
    }

    /// serde's `apply_to_variant`. serde slices `variant[..1]` for camelCase;
    /// this lowers the first character instead, which is the same for the
    /// ASCII names serde can handle and does not panic on the others.
    pub fn apply_to_variant(self, variant: &str) -> String {
        match self {
            RenameRule::None | RenameRule::PascalCase => variant.to_owned(),
            RenameRule::LowerCase => variant.to_ascii_lowercase(),
            RenameRule::UpperCase => variant.to_ascii_uppercase(),
            RenameRule::CamelCase => {
                let mut chars = variant.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::SnakeCase => {
                let mut snake = String::new();
                for (i, ch) in variant.char_indices() {
                    if i > 0 && ch.is_uppercase() {
                        snake.push('_');
                    }
                    snake.push(ch.to_ascii_lowercase());
                }
                snake
            }
            RenameRule::ScreamingSnakeCase => RenameRule::SnakeCase
                .apply_to_variant(variant)
                .to_ascii_uppercase(),
            RenameRule::KebabCase => RenameRule::SnakeCase
                .apply_to_variant(variant)
                .replace('_', "-"),
            RenameRule::ScreamingKebabCase => RenameRule::ScreamingSnakeCase
                .apply_to_variant(variant)
                .replace('_', "-"),
        }
    }
}

/// Snake case for Rust identifiers: `ChatProtocol` -> `chat_protocol`,
/// `HTTPRequest` -> `http_request`, `Say2` -> `say2`. Unlike serde's rule it
/// keeps acronyms together, since the result is read as a module or method
/// name rather than matched against a wire format.
pub fn to_snake_case(ident: &str) -> String {
    let chars: Vec<char> = ident.chars().collect();
    let mut snake = String::with_capacity(ident.len() + 4);
    for (i, &ch) in chars.iter().enumerate() {
        if ch.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(prev) if prev.is_lowercase() || prev.is_ascii_digit() => true,
                // The last capital of an acronym starts the next word: `HTTPRequest`.
                Some(prev) if prev.is_uppercase() => next.is_some_and(char::is_lowercase),
                Some(_) => false,
            };
            if boundary {
                snake.push('_');
            }
            snake.extend(ch.to_lowercase());
        } else {
            snake.push(ch);
        }
    }
    snake
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected values are serde's own test table (case.rs, `rename_variants`).
    #[test]
    fn variants_match_serde() {
        for &(original, lower, upper, camel, snake, screaming, kebab, screaming_kebab) in &[
            (
                "Outcome", "outcome", "OUTCOME", "outcome", "outcome", "OUTCOME", "outcome",
                "OUTCOME",
            ),
            (
                "VeryTasty",
                "verytasty",
                "VERYTASTY",
                "veryTasty",
                "very_tasty",
                "VERY_TASTY",
                "very-tasty",
                "VERY-TASTY",
            ),
            ("A", "a", "A", "a", "a", "A", "a", "A"),
            ("Z42", "z42", "Z42", "z42", "z42", "Z42", "z42", "Z42"),
        ] {
            assert_eq!(RenameRule::None.apply_to_variant(original), original);
            assert_eq!(RenameRule::LowerCase.apply_to_variant(original), lower);
            assert_eq!(RenameRule::UpperCase.apply_to_variant(original), upper);
            assert_eq!(RenameRule::PascalCase.apply_to_variant(original), original);
            assert_eq!(RenameRule::CamelCase.apply_to_variant(original), camel);
            assert_eq!(RenameRule::SnakeCase.apply_to_variant(original), snake);
            assert_eq!(
                RenameRule::ScreamingSnakeCase.apply_to_variant(original),
                screaming
            );
            assert_eq!(RenameRule::KebabCase.apply_to_variant(original), kebab);
            assert_eq!(
                RenameRule::ScreamingKebabCase.apply_to_variant(original),
                screaming_kebab
            );
        }
    }

    #[test]
    fn serde_splits_every_capital() {
        // serde's rule, kept for wire names even where it reads oddly.
        assert_eq!(
            RenameRule::SnakeCase.apply_to_variant("HTTPGet"),
            "h_t_t_p_get"
        );
        assert_eq!(
            RenameRule::KebabCase.apply_to_variant("JoinRoom"),
            "join-room"
        );
        assert_eq!(RenameRule::CamelCase.apply_to_variant(""), "");
    }

    #[test]
    fn rules_parse_by_serde_spelling() {
        assert_eq!(
            RenameRule::from_str("snake_case"),
            Some(RenameRule::SnakeCase)
        );
        assert_eq!(
            RenameRule::from_str("SCREAMING-KEBAB-CASE"),
            Some(RenameRule::ScreamingKebabCase)
        );
        assert_eq!(RenameRule::from_str("snake"), None);
        assert_eq!(RenameRule::from_str("Snake_Case"), None);
    }

    #[test]
    fn identifiers() {
        assert_eq!(to_snake_case("Chat"), "chat");
        assert_eq!(to_snake_case("ChatProtocol"), "chat_protocol");
        assert_eq!(to_snake_case("JoinRoom"), "join_room");
        assert_eq!(to_snake_case("HTTPRequest"), "http_request");
        assert_eq!(to_snake_case("GetHTTP"), "get_http");
        assert_eq!(to_snake_case("Say2"), "say2");
        assert_eq!(to_snake_case("V2Join"), "v2_join");
        assert_eq!(to_snake_case("A"), "a");
        assert_eq!(to_snake_case("Already_Snake"), "already_snake");
    }
}
