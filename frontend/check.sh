#!/usr/bin/env bash
# The frontend checks, with the real tools:
#   1. `cargo run --example export_schema -- DIR` writes the chat example's
#      schema.json, asyncapi.json and chat.ts; an e2e test writes the same for
#      a protocol with request/reply (ws-core/tests/e2e/frontend.rs);
#   2. @asyncapi/parser validates both AsyncAPI documents;
#   3. `tsc --strict` compiles chat.ts and rpc.ts against usage files
#      (frontend/usage/) in which a wrong or loose type fails the build;
#   4. the chat example's page in headless Chromium: two pages in one room
#      exchange messages; screenshot in target/browser/chat.png.
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
WS_FRONTEND_OUT="$out/rpc" cargo test -q -p ws-core --test e2e -- --exact frontend::export_rpc_documents >/dev/null

echo "== AsyncAPI (@asyncapi/parser)"
node frontend/validate-asyncapi.mjs "$out/chat/asyncapi.json" "$out/rpc/asyncapi.json"

echo "== TypeScript (tsc --strict)"
cp frontend/usage/chat.usage.ts "$out/chat/usage.ts"
cp frontend/usage/rpc.usage.ts "$out/rpc/usage.ts"
for dir in chat rpc; do
  frontend/node_modules/.bin/tsc --strict --noEmit --target es2020 --lib es2020,dom \
    --module esnext --moduleResolution bundler "$out/$dir"/*.ts
  echo "$dir: $(ls "$out/$dir" | tr '\n' ' ')compile"
done

echo "== browser (headless Chromium)"
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "installing Debian's chromium"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
cargo build -q --example chat
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$target/debug/examples/chat" --addr "127.0.0.1:$port" >"$out/chat-server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
CHROMIUM="$chromium" node frontend/browser.mjs "http://127.0.0.1:$port/" "$target/browser/chat.png"
echo "frontend checks passed"
