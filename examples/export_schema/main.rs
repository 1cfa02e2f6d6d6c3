//! Writes what a frontend needs of the chat example's protocol: its JSON
//! Schema, its AsyncAPI 3.0 document and TypeScript definitions with a typed
//! client.
//!
//! ```text
//! cargo run --example export_schema -- out           # schema.json, asyncapi.json, chat.ts into out/
//! cargo run --example export_schema -- schema.json   # the JSON Schema alone, to a file
//! cargo run --example export_schema                  # the JSON Schema alone, to stdout
//! ```
//!
//! An argument ending in `.json` that is not an existing directory is the
//! schema's file; anything else is a directory, created if missing.

use std::path::Path;

use ws_core::Protocol;

#[path = "../chat/protocol.rs"]
#[allow(dead_code)] // the handler side of the protocol is the chat example's
mod protocol;

use protocol::Chat;

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("a JSON value serializes") + "\n"
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    eprintln!("wrote {}", path.display());
}

fn main() {
    let Some(target) = std::env::args().nth(1) else {
        print!("{}", pretty(&Chat::json_schema()));
        return;
    };
    let path = Path::new(&target);
    let is_json = path.extension().is_some_and(|ext| ext == "json");
    if is_json && !path.is_dir() {
        write(path, &pretty(&Chat::json_schema()));
        return;
    }
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let file = format!("{}.ts", Chat::NAME.to_lowercase());
    write(&path.join("schema.json"), &pretty(&Chat::json_schema()));
    write(&path.join("asyncapi.json"), &pretty(&Chat::asyncapi()));
    write(&path.join(file), &Chat::typescript());
}
