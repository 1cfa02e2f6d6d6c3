//! Writes the JSON Schema of the chat example's protocol.
//!
//! ```text
//! cargo run --example export_schema -- out.json   # to a file
//! cargo run --example export_schema               # to stdout
//! ```

#[path = "../chat/protocol.rs"]
#[allow(dead_code)] // the handler side of the protocol is the chat example's
mod protocol;

fn main() {
    let schema = protocol::Chat::json_schema();
    let text = serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n";
    match std::env::args().nth(1) {
        Some(path) => {
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
            eprintln!("wrote {path}");
        }
        None => print!("{text}"),
    }
}
