//! TypeScript types from JSON Schema: the subset schemars emits, anything
//! else `unknown`; and the names, property names, string literals and JSDoc
//! of the generated module.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

/// `export interface Name { .. }` for plain objects, else `export type Name = ..;`.
pub(super) fn declare(out: &mut String, name: &str, schema: &Value) {
    if let Some(description) = schema.get("description").and_then(Value::as_str) {
        out.push_str(&jsdoc(description, ""));
    }
    if is_plain_object(schema) {
        let _ = writeln!(out, "export interface {name} {}\n", object(schema, ""));
    } else {
        let _ = writeln!(out, "export type {name} = {};\n", ty(schema, ""));
    }
}

fn is_plain_object(schema: &Value) -> bool {
    let Some(object) = schema.as_object() else {
        return false;
    };
    let typed_object = match object.get("type") {
        Some(Value::String(t)) => t == "object",
        None => object.contains_key("properties"),
        _ => false,
    };
    typed_object
        && !["oneOf", "anyOf", "allOf", "$ref", "const", "enum"]
            .iter()
            .any(|key| object.contains_key(*key))
}

/// The TypeScript type of `schema`; `indent` is the current indentation.
fn ty(schema: &Value, indent: &str) -> String {
    let object = match schema {
        Value::Bool(true) => return "unknown".into(),
        Value::Bool(false) => return "never".into(),
        Value::Object(object) => object,
        _ => return "unknown".into(),
    };
    if let Some(Value::String(reference)) = object.get("$ref") {
        return match reference.strip_prefix("#/$defs/") {
            Some(name) => ident(name),
            None => "unknown".into(),
        };
    }
    if let Some(value) = object.get("const") {
        return value.to_string();
    }
    if let Some(Value::Array(values)) = object.get("enum") {
        return union(values.iter().map(Value::to_string).collect());
    }
    let mut parts = Vec::new();
    match object.get("type") {
        Some(Value::String(t)) => parts.push(typed(t, schema, indent)),
        Some(Value::Array(types)) => parts.push(union(
            types
                .iter()
                .filter_map(Value::as_str)
                .map(|t| typed(t, schema, indent))
                .collect(),
        )),
        _ if object.contains_key("properties") => parts.push(object_type(schema, indent)),
        _ => {}
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = object.get(key) {
            parts.push(union(branches.iter().map(|b| ty(b, indent)).collect()));
        }
    }
    if let Some(Value::Array(all)) = object.get("allOf") {
        parts.extend(all.iter().map(|b| ty(b, indent)));
    }
    match parts.len() {
        0 => "unknown".into(),
        1 => parts.remove(0),
        _ => parts
            .iter()
            .map(|p| paren(p))
            .collect::<Vec<_>>()
            .join(" & "),
    }
}

fn typed(t: &str, schema: &Value, indent: &str) -> String {
    match t {
        "string" => "string".into(),
        "integer" | "number" => "number".into(),
        "boolean" => "boolean".into(),
        "null" => "null".into(),
        "array" => {
            if let Some(Value::Array(items)) = schema.get("prefixItems") {
                let items: Vec<String> = items.iter().map(|i| ty(i, indent)).collect();
                return format!("[{}]", items.join(", "));
            }
            match schema.get("items") {
                Some(items) => format!("{}[]", paren(&ty(items, indent))),
                None => "unknown[]".into(),
            }
        }
        "object" => object_type(schema, indent),
        _ => "unknown".into(),
    }
}

/// An object type: the literal of its properties, or a record.
fn object_type(schema: &Value, indent: &str) -> String {
    let has_properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    match (has_properties, schema.get("additionalProperties")) {
        (false, Some(value @ Value::Object(_))) => {
            format!("{{ [key: string]: {} }}", ty(value, indent))
        }
        (false, Some(Value::Bool(false))) => "Record<string, never>".into(),
        (false, _) => "{ [key: string]: unknown }".into(),
        (true, _) => object(schema, indent),
    }
}

/// `{ a: T; b?: U; }` over several lines, with JSDoc.
fn object(schema: &Value, indent: &str) -> String {
    let inner = format!("{indent}  ");
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::from("{\n");
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        // The tag (a `const`) first, then the correlation id, then the rest.
        let mut properties: Vec<(&String, &Value)> = properties.iter().collect();
        properties.sort_by_key(|(name, property)| {
            (
                property.get("const").is_none(),
                name.as_str() != crate::correlation::FIELD,
            )
        });
        for (name, property) in properties {
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                out.push_str(&jsdoc(description, &inner));
            }
            let optional = if required.contains(name.as_str()) {
                ""
            } else {
                "?"
            };
            let _ = writeln!(
                out,
                "{inner}{}{optional}: {};",
                property_name(name),
                ty(property, &inner)
            );
        }
    }
    match schema.get("additionalProperties") {
        Some(value @ Value::Object(_)) => {
            let _ = writeln!(
                out,
                "{inner}[key: string]: unknown; // {}",
                ty(value, &inner)
            );
        }
        Some(Value::Bool(false)) | None => {}
        Some(_) => {
            let _ = writeln!(out, "{inner}[key: string]: unknown;");
        }
    }
    out.push_str(indent);
    out.push('}');
    out
}

fn union(members: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::new();
    for member in members {
        if !unique.contains(&member) {
            unique.push(member);
        }
    }
    match unique.len() {
        0 => "never".into(),
        _ => unique
            .iter()
            .map(|m| paren_fn(m))
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// Parenthesized if it is a union or intersection (for `T[]` and `&`).
fn paren(ty: &str) -> String {
    if needs_parens(ty) {
        format!("({ty})")
    } else {
        ty.to_owned()
    }
}

fn paren_fn(ty: &str) -> String {
    if ty.contains(" & ") && needs_parens(ty) {
        format!("({ty})")
    } else {
        ty.to_owned()
    }
}

/// Whether `|` or `&` occurs outside brackets and strings.
fn needs_parens(ty: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for c in ty.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' | '(' | '<' => depth += 1,
            '}' | ']' | ')' | '>' => depth -= 1,
            '|' | '&' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// A TypeScript identifier from a schema or variant name.
pub(super) fn ident(name: &str) -> String {
    let name = name.trim_start_matches("r#");
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A property name: bare if it is an identifier, else a string literal.
pub(super) fn property_name(name: &str) -> String {
    let is_ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if is_ident {
        name.to_owned()
    } else {
        json_str(name)
    }
}

pub(super) fn json_str(text: &str) -> String {
    Value::from(text).to_string()
}

pub(super) fn jsdoc(text: &str, indent: &str) -> String {
    let text = text.replace("*/", "*\\/");
    let lines: Vec<&str> = text.trim().lines().collect();
    if let [line] = lines.as_slice() {
        return format!("{indent}/** {line} */\n");
    }
    let mut out = format!("{indent}/**\n");
    for line in lines {
        let _ = writeln!(
            out,
            "{indent} *{}{line}",
            if line.is_empty() { "" } else { " " }
        );
    }
    let _ = writeln!(out, "{indent} */");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_of_the_schemars_subset() {
        let cases = [
            (json!({"type": "string"}), "string"),
            (json!({"type": ["string", "null"]}), "string | null"),
            (json!({"type": "integer", "format": "uint64"}), "number"),
            (
                json!({"type": "array", "items": {"type": ["string", "null"]}}),
                "(string | null)[]",
            ),
            (
                json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}]}),
                "[string, boolean]",
            ),
            (json!({"enum": ["a", "b"]}), "\"a\" | \"b\""),
            (json!({"const": 3}), "3"),
            (json!({"$ref": "#/$defs/Point"}), "Point"),
            (
                json!({"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}]}),
                "Point | null",
            ),
            (
                json!({"type": "object", "additionalProperties": {"type": "integer"}}),
                "{ [key: string]: number }",
            ),
            (json!(true), "unknown"),
            (json!({}), "unknown"),
        ];
        for (schema, expected) in cases {
            assert_eq!(ty(&schema, ""), expected, "{schema}");
        }
    }

    #[test]
    fn objects_mark_optional_properties_and_quote_odd_names() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "string", "description": "The a."},
                "b-c": {"type": "boolean"}
            },
            "required": ["a"]
        });
        assert_eq!(
            ty(&schema, ""),
            "{\n  /** The a. */\n  a: string;\n  \"b-c\"?: boolean;\n}"
        );
        assert!(is_plain_object(&schema));
    }

    #[test]
    fn names() {
        assert_eq!(ident("r#Type"), "Type");
        assert_eq!(ident("Foo<Bar>"), "Foo_Bar_");
        assert_eq!(ident("1st"), "_1st");
        assert_eq!(jsdoc("one\n\ntwo", ""), "/**\n * one\n *\n * two\n */\n");
    }
}
