//! Other implementations as peers: the Python `websockets` client
//! negotiates permessage-deflate with the server and talks compressed.

use std::time::Duration;

use tokio::time::timeout;

use crate::support::Server;

/// python `websockets` offers permessage-deflate by default: it negotiates
/// it, sends compressed and reads compressed frames (installed by .ci/run).
#[tokio::test]
async fn python_websockets_negotiates_and_talks_compressed() {
    let server = Server::default().await;
    let script = r#"
import asyncio, json, sys
from websockets.asyncio.client import connect

async def main():
    async with connect(sys.argv[1]) as ws:
        names = [type(e).__name__ for e in ws.protocol.extensions]
        assert names == ["PerMessageDeflate"], names
        text = " ".join(["a chat message that compresses well"] * 100)
        for _ in range(3):
            await ws.send(json.dumps({"type": "echo", "text": text}))
            reply = json.loads(await ws.recv())
            assert reply["text"] == text, reply
        await ws.send(json.dumps({"type": "echo", "text": "short"}))
        assert json.loads(await ws.recv())["text"] == "short"
    print("ok", ws.close_code)

asyncio.run(main())
"#;
    let output = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(server.url(""))
        .output();
    let output = timeout(Duration::from_secs(30), output)
        .await
        .expect("python websockets timed out")
        .expect("python3 runs (install with `pip install websockets`)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python websockets failed (`pip install websockets` if missing):\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.trim(), "ok 1000");
}
