//! trybuild cases of `#[ws_protocol]`: `ui/pass/<topic>/*.rs` compile and
//! run, `ui/fail/<topic>/*.rs` fail with the `.stderr` beside them. One
//! test a folder (`pass::chat`, `fail::routing`, ...), so that a failure
//! names its case's folder.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite` and read the diff.

/// Runs the cases of `ui/{kind}/{topic}/`.
fn run(kind: &str, topic: &str) {
    let cases = trybuild::TestCases::new();
    let files = format!("tests/ui/{kind}/{topic}/*.rs");
    match kind {
        "pass" => cases.pass(files),
        _ => cases.compile_fail(files),
    }
}

/// A module `kind` with one test per topic folder, and the list of them.
macro_rules! folders {
    ($kind:ident: $($topic:ident),* $(,)?) => {
        mod $kind {
            pub const TOPICS: &[&str] = &[$(stringify!($topic)),*];
            $(
                #[test]
                fn $topic() {
                    super::run(stringify!($kind), stringify!($topic));
                }
            )*
        }
    };
}

folders!(pass: chat, history, hygiene, replies, session, wire_names);
folders!(fail: config, diagnostics, handler, history, newcomer, options, replies,
    reserved_names, routing, session, shape, variants, wire_names);

/// A new folder gets its test: the lists above are the folders on disk.
#[test]
fn every_folder_has_its_test() {
    for (kind, topics) in [("pass", pass::TOPICS), ("fail", fail::TOPICS)] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/ui")
            .join(kind);
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().unwrap().is_dir())
            .map(|entry| entry.file_name().into_string().unwrap())
            .collect();
        found.sort();
        assert_eq!(found, topics, "the folders of {}", dir.display());
    }
}
