//! Keeps the crate layered: each top-level module may use only modules
//! below it, so the data path reads bottom to top and a lower layer that
//! must call up does it through a trait it owns (see `backend::Node`).
//!
//! The check reads the sources rather than rustc's output: every
//! `crate::name` path outside a comment is an edge from the file's
//! top-level module to `name`'s (a root re-export such as `crate::Ctx`
//! counts as its defining module). Tests count too: a test that needs an
//! upper layer belongs in that layer.
//!
//! Beside it, the other rules of the structure (issue 22): no file past a
//! reader's span, no `allow(dead_code)`, and a `wire` module that stays
//! sans-IO.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module -> module it uses -> files that use it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    // Not vacuous: the parser sees the edges it must see.
    assert!(graph["connection"].contains_key("manager"), "{graph:#?}");
    assert!(graph["manager"].contains_key("registry"), "{graph:#?}");
    match layers(&graph) {
        Ok(layers) => {
            println!("ws-core's layers, bottom to top:");
            for (level, modules) in layers.iter().enumerate() {
                println!("  {level}: {}", modules.join(", "));
            }
        }
        Err(cycle) => panic!(
            "import cycle among ws-core's top-level modules; a module may use only \
             modules below it (a lower layer calls up through a trait it owns):\n{cycle}"
        ),
    }
}

/// The longest a file may be: past it, a reader loses the thread.
const MAX_LINES: usize = 900;

/// The source folders of ws-core and ws-macros.
fn source_dirs() -> [PathBuf; 2] {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [manifest.join("src"), manifest.join("../ws-macros/src")]
}

#[test]
fn no_file_is_past_a_readers_span() {
    let mut long = Vec::new();
    for dir in source_dirs() {
        for file in files(&dir, |_| true) {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines; split each into modules named for what they hold:\n{}",
        long.join("\n")
    );
}

/// The one exception: ws-macros compiles ws-core's options table by
/// `#[path]` and uses only its grammar half, and says so with an `expect`
/// (which fails once the code is used).
const SHARED_CONFIG: &str =
    "#[expect(dead_code, reason = \"the runtime half of ws-core's shared options table\")]";

#[test]
fn no_code_is_allowed_to_be_dead() {
    let mut allowed = Vec::new();
    for dir in source_dirs() {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            let quoted = quoted(&text);
            let mut at = 0;
            for line in text.split_inclusive('\n') {
                let start = at;
                at += line.len();
                let attribute = line.trim_start();
                if attribute.starts_with('#')
                    && attribute.contains("dead_code")
                    && !attribute.starts_with(SHARED_CONFIG)
                    && !quoted.iter().any(|range| range.contains(&start))
                {
                    allowed.push(format!("{}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        allowed.is_empty(),
        "dead code allowed; compile code only where it is used (a `cfg` on the module \
         that needs it) or remove it:\n{}",
        allowed.join("\n")
    );
}

/// The byte ranges of `text` inside `quote! { .. }` and
/// `quote_spanned! { .. }`: code the macros write into a user's crate, where
/// a message the application never sends is not dead code of ours.
fn quoted(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    for (at, _) in text.match_indices("quote") {
        let rest = &text[at..];
        if !(rest.starts_with("quote!") || rest.starts_with("quote_spanned!")) {
            continue;
        }
        let Some(open) = rest.find('{') else { continue };
        let mut depth = 0;
        for (offset, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => continue,
            }
            if depth == 0 {
                ranges.push(at + open..at + open + offset);
                break;
            }
        }
    }
    ranges
}

/// `wire` is sans-IO: frames, close frames and deflate as functions over
/// bytes and state, which the server, the client, the conformance echo and
/// the HTTP/2 transport share and fuzzers call directly; no runtime.
#[test]
fn wire_uses_no_tokio() {
    let wire = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/wire");
    if !wire.is_dir() {
        println!("no src/wire yet: nothing to check");
        return;
    }
    let mut uses = Vec::new();
    for file in rust_files(&wire) {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in code_lines(&text) {
            let tokio = line.match_indices("tokio").any(|(at, _)| {
                !line[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if tokio {
                uses.push(format!("{}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        uses.is_empty(),
        "`wire` uses tokio; it takes and returns bytes, and its callers do the IO:\n{}",
        uses.join("\n")
    );
}

/// The top-level modules of `lib.rs`, by file stem (`#[path]` honoured),
/// and the names the crate root re-exports, by the module defining them.
fn root(src: &Path) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut modules = BTreeMap::new();
    let mut path = None;
    for line in code_lines(&lib) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("#[path = \"") {
            path = rest
                .split('"')
                .next()
                .map(|p| p.trim_end_matches(".rs").to_owned());
        } else if let Some(name) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'))
        {
            let stem = path.take().unwrap_or_else(|| name.to_owned());
            modules.insert(stem, name.to_owned());
        }
    }
    let names: BTreeSet<&String> = modules.values().collect();
    let mut reexports = BTreeMap::new();
    for (_, tail) in paths(&lib, "pub use ") {
        let module = tail.first().cloned().unwrap_or_default();
        if names.contains(&module) {
            for name in exported(&lib, &module) {
                reexports.insert(name, module.clone());
            }
        }
    }
    (modules, reexports)
}

/// The names `pub use module::...` brings into the root.
fn exported(lib: &str, module: &str) -> Vec<String> {
    let mut names = Vec::new();
    let prefix = format!("pub use {module}::");
    let flat: String = code_lines(lib).collect::<Vec<_>>().join(" ");
    let mut rest = flat.as_str();
    while let Some(at) = rest.find(&prefix) {
        rest = &rest[at + prefix.len()..];
        let end = rest.find(';').unwrap_or(rest.len());
        let item = &rest[..end];
        // The last segment of each path in the group (`a::b` -> `b`), or
        // the alias after `as`.
        let inner = item.trim_start_matches('{').trim_end_matches('}');
        for part in inner.split(',') {
            let part = part.trim();
            let name = part
                .rsplit(" as ")
                .next()
                .unwrap_or(part)
                .rsplit("::")
                .next()
                .unwrap_or(part)
                .trim();
            if !name.is_empty() && name != "self" {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn graph(src: &Path) -> Graph {
    let (modules, reexports) = root(src);
    let mut graph: Graph = modules
        .values()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap();
        let stem = first.as_os_str().to_str().unwrap().trim_end_matches(".rs");
        if stem == "lib" {
            continue;
        }
        let from = modules
            .get(stem)
            .unwrap_or_else(|| panic!("{} is not a module of lib.rs", relative.display()));
        let text = std::fs::read_to_string(&file).unwrap();
        for (name, _) in paths(&text, "crate::") {
            let to = if graph.contains_key(&name) {
                name
            } else if let Some(module) = reexports.get(&name) {
                module.clone()
            } else {
                panic!(
                    "{}: `{name}` (after `crate::`) is neither a top-level module nor a root re-export",
                    relative.display()
                );
            };
            if &to != from {
                graph
                    .get_mut(from)
                    .unwrap()
                    .entry(to)
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    graph
}

/// The modules by layer: each uses only modules of the layers before it.
/// On a cycle, the edges among the modules on cycles.
fn layers(graph: &Graph) -> Result<Vec<Vec<String>>, String> {
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut layers: Vec<Vec<String>> = Vec::new();
    loop {
        let ready: Vec<&str> = graph
            .iter()
            .filter(|(m, uses)| {
                !placed.contains_key(m.as_str())
                    && uses.keys().all(|u| placed.contains_key(u.as_str()))
            })
            .map(|(m, _)| m.as_str())
            .collect();
        if ready.is_empty() {
            break;
        }
        for m in &ready {
            placed.insert(m, layers.len());
        }
        layers.push(ready.iter().map(|m| m.to_string()).collect());
    }
    if placed.len() == graph.len() {
        return Ok(layers);
    }
    // What is left uses a cycle; peel off what only uses one without being
    // part of it (nothing left uses it), to report the cycles alone.
    let mut left: BTreeSet<&str> = graph
        .keys()
        .map(String::as_str)
        .filter(|m| !placed.contains_key(m))
        .collect();
    loop {
        let unused: Vec<&str> = left
            .iter()
            .copied()
            .filter(|m| !left.iter().any(|from| graph[*from].contains_key(*m)))
            .collect();
        if unused.is_empty() {
            break;
        }
        for m in unused {
            left.remove(m);
        }
    }
    let mut report = String::new();
    for (from, uses) in graph {
        if !left.contains(from.as_str()) {
            continue;
        }
        for (to, files) in uses {
            if left.contains(to.as_str()) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                report += &format!("  {from} -> {to}  ({})\n", files.join(", "));
            }
        }
    }
    Err(report)
}

/// The lines that are not comments (doc comments included: an intra-doc
/// link is not a dependency).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

/// Every path starting with `prefix` (e.g. `crate::`) in the code, as its
/// first segment after the prefix; a group (`crate::{a::X, b}`) gives each
/// of its first segments. The second item is the rest of the path.
fn paths(text: &str, prefix: &str) -> Vec<(String, Vec<String>)> {
    let code: String = code_lines(text).collect::<Vec<_>>().join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        // `$crate::` and `foo_crate::` are not this crate.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut start = true;
            let mut ident = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => start = true,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && start {
                    if c.is_alphanumeric() || c == '_' {
                        ident.push(c);
                    } else if !ident.is_empty() {
                        found.push((std::mem::take(&mut ident), Vec::new()));
                        start = false;
                    }
                }
            }
            if !ident.is_empty() {
                found.push((ident, Vec::new()));
            }
        } else {
            let segments: Vec<String> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default()
                .split("::")
                .map(str::to_owned)
                .collect();
            if let Some((first, _)) = segments.split_first()
                && !first.is_empty()
            {
                found.push((first.clone(), segments.clone()));
            }
        }
    }
    found
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    files(dir, |path| path.extension().is_some_and(|e| e == "rs"))
}

/// The files below `dir` that `keep` keeps, sorted.
fn files(dir: &Path, keep: fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(self::files(&path, keep));
        } else if keep(&path) {
            files.push(path);
        }
    }
    files.sort();
    files
}
