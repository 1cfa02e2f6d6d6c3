#!/usr/bin/env bash
# The frontend checks, with the real tools:
#   1. `cargo run --example export_schema -- DIR` writes the chat example's
#      schema.json, asyncapi.json and chat.ts; a browser test writes the same for
#      a protocol with request/reply (ws-core/tests/support/rpc.rs);
#   2. @asyncapi/parser validates both AsyncAPI documents;
#   3. `tsc --strict` compiles the client template by itself
#      (ws-core/src/protocol/schema/typescript/*.ts, every optional part
#      kept), then chat.ts and rpc.ts against usage files (frontend/usage/)
#      in which a wrong or loose type fails the build;
#   4. the generated clients run in Node (frontend/run/): `ChatClient`
#      against the chat example, `RpcClient` against the request/reply
#      protocol served by the browser test
#      `typescript_client::rpc_client_runs_in_node`;
#      and `ChatClient` reconnecting and resuming after a dropped TCP
#      connection and after a restart of the chat example (SIGTERM, 1012);
#      and `ChatClient` speaking MessagePack (@msgpack/msgpack) beside a
#      JSON one; `RpcClient` with `getToken` refreshing an expiring session
#      and closed with 4003 for a refused token;
#   5. the chat example's page in headless Chromium: two pages in one room
#      exchange messages, and a page error fails the run; then the page
#      reconnects after its connection drops and after the chat server is
#      restarted; screenshots in target/browser/.
# Installs what it needs: npm packages from package-lock.json (`npm ci`), and
# Debian's chromium if /usr/bin/chromium is missing (as root, or with sudo).
# Run from anywhere: `bash frontend/check.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

target=$(cargo metadata --format-version 1 --no-deps \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
out="$target/frontend"
rm -rf "$out"
mkdir -p "$out/chat" "$out/rpc"

echo "== npm ci"
(cd frontend && npm ci --no-audit --no-fund --loglevel=error)

echo "== export"
cargo run -q --example export_schema -- "$out/chat"
WS_FRONTEND_OUT="$out/rpc" cargo test -q -p ws-core --test browser -- --exact typescript_client::export_rpc_documents >/dev/null

echo "== AsyncAPI (@asyncapi/parser)"
node frontend/validate-asyncapi.mjs "$out/chat/asyncapi.json" "$out/rpc/asyncapi.json"

echo "== TypeScript (tsc --strict)"
# The template the generated clients come from, with its placeholders
# declared: a mistake in an optional part fails here even when neither
# protocol below uses it.
frontend/node_modules/.bin/tsc --strict --noEmit --target es2020 --lib es2020,dom \
  --module esnext --moduleResolution bundler ws-core/src/protocol/schema/typescript/*.ts
echo "template: client.ts placeholders.ts compile"
cp frontend/usage/chat.usage.ts "$out/chat/usage.ts"
cp frontend/usage/rpc.usage.ts "$out/rpc/usage.ts"
for dir in chat rpc; do
  frontend/node_modules/.bin/tsc --strict --noEmit --target es2020 --lib es2020,dom \
    --module esnext --moduleResolution bundler "$out/$dir"/*.ts
  echo "$dir: $(ls "$out/$dir" | tr '\n' ' ')compile"
done

echo "== generated clients in Node"
# Compiled as they are, with small runners (frontend/run/) that import them;
# the output is ES modules. Node has a global WebSocket from 22 on; Node 20
# and 21 have it behind a flag.
mkdir -p "$out/run/src"
cp "$out/chat/chat.ts" "$out/rpc/rpc.ts" frontend/run/*.ts "$out/run/src/"
# The runners import npm packages (@msgpack/msgpack): tsc and node find them
# here, whatever the target directory.
ln -sfn "$root/frontend/node_modules" "$out/run/node_modules"
frontend/node_modules/.bin/tsc --strict --target es2022 --lib es2022,dom \
  --module esnext --moduleResolution bundler --outDir "$out/run/js" "$out/run/src"/*.ts
echo '{"type":"module"}' >"$out/run/js/package.json"
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)'; then
  export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-websocket"
fi
cargo build -q --example chat
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$target/debug/examples/chat" --addr "127.0.0.1:$port" >"$out/chat-server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
# Up to 60 s for the server to answer HTTP.
node -e '
  const up = async (url) => {
    for (let i = 0; i < 600; i++) {
      try { await fetch(url); return; } catch { await new Promise((r) => setTimeout(r, 100)); }
    }
    console.error(`${url} did not answer`);
    process.exit(1);
  };
  up(process.argv[1]);' "http://127.0.0.1:$port/"
node "$out/run/js/chat.run.js" "ws://127.0.0.1:$port/ws"
node "$out/run/js/msgpack.run.js" "ws://127.0.0.1:$port/ws"
# Starts a chat server of its own, to cut connections and restart it.
node "$out/run/js/reconnect.run.js" "$target/debug/examples/chat"
# The browser test serves the protocol and runs node; its last line must be the
# runner's: a renamed test would otherwise pass by running nothing.
rpc=$(WS_FRONTEND_RUN="$out/run/js/rpc.run.js" cargo test -q -p ws-core --test browser -- \
  --exact typescript_client::rpc_client_runs_in_node --nocapture 2>&1) || { echo "$rpc"; exit 1; }
grep '^rpc: ' <<<"$rpc"
grep -q '^rpc: all .* steps passed' <<<"$rpc" || { echo "$rpc"; echo "the RpcClient run did not run"; exit 1; }

echo "== browser (headless Chromium)"
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "installing Debian's chromium"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
CHROMIUM="$chromium" node frontend/browser.mjs "http://127.0.0.1:$port/" "$target/browser/chat.png" \
  "$target/debug/examples/chat"

echo "== browser over TLS (headless Chromium, https:// and wss://)"
# A certificate made for this run; Chromium is told to take it, and Node's
# readiness probe likewise. Chromium may carry the sockets over HTTP/2
# (RFC 8441) once ALPN chose h2.
tls="$out/tls"
mkdir -p "$tls"
if ! command -v openssl >/dev/null; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssl >/dev/null
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
tport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$target/debug/examples/chat" --addr "127.0.0.1:$tport" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem" \
  >"$out/chat-tls-server.log" 2>&1 &
tserver=$!
trap 'kill "$server" "$tserver" 2>/dev/null || true' EXIT
NODE_TLS_REJECT_UNAUTHORIZED=0 CHROMIUM="$chromium" node frontend/browser.mjs \
  "https://127.0.0.1:$tport/" "$target/browser/chat-tls.png"
echo "frontend checks passed"
