//! The generated TypeScript client against a real server. With
//! `WS_FRONTEND_OUT=DIR` set, `export_rpc_documents` writes the `Rpc`
//! protocol's `asyncapi.json`, `schema.json` and `rpc.ts` into DIR for
//! `frontend/check.sh` to check with the real tools (the chat example
//! declares no replies); with `WS_FRONTEND_RUN` set, `rpc_client_runs_in_node`
//! runs the compiled client in Node. Without them, both have nothing to do.

use std::time::Duration;

use serde_json::Value;

use crate::support::rpc::{Rpc, server};

/// Writes this protocol's documents for `frontend/check.sh` when
/// `WS_FRONTEND_OUT` names a directory.
#[test]
fn export_rpc_documents() {
    let Some(dir) = std::env::var_os("WS_FRONTEND_OUT") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap() + "\n";
    std::fs::write(dir.join("asyncapi.json"), pretty(&Rpc::asyncapi())).unwrap();
    std::fs::write(dir.join("schema.json"), pretty(&Rpc::json_schema())).unwrap();
    std::fs::write(dir.join("rpc.ts"), Rpc::typescript()).unwrap();
}

/// Runs the generated `RpcClient` in Node against this protocol: with
/// `WS_FRONTEND_RUN` naming the compiled `rpc.run.js` (frontend/run/,
/// compiled by `frontend/check.sh`), `node` must exit 0. Without it, the
/// test has nothing to run (plain `cargo test` has no compiled client).
#[tokio::test]
async fn rpc_client_runs_in_node() {
    let Some(script) = std::env::var_os("WS_FRONTEND_RUN") else {
        return;
    };
    let server = server().await;
    let mut node = tokio::process::Command::new("node");
    node.arg(&script).arg(server.url("")).kill_on_drop(true);
    // The runner's own watchdog ends it after 60 s; this one covers a node
    // that does not start at all.
    let output = tokio::time::timeout(Duration::from_secs(90), node.output())
        .await
        .expect("node did not finish within 90 s")
        .unwrap_or_else(|error| panic!("cannot run node {script:?}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the RpcClient run failed ({}):\n{stdout}{stderr}",
        output.status
    );
    assert!(stdout.contains("rpc: all "), "{stdout}");
}
