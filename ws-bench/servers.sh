# Sourced by bench.sh and paired.sh: the release builds, and one server at a
# time on a fresh loopback port, stopped when the script exits.
# Needs OUT and PORT set; sets BENCH, CHAT, SERVER_PID and URL.

cargo build --release -q -p ws-bench --bin ws-bench ${WS_BENCH_FEATURES:+--features "$WS_BENCH_FEATURES"}
cargo build --release -q -p ws-core --example chat
BENCH=${CARGO_TARGET_DIR:-target}/release/ws-bench
CHAT=${CARGO_TARGET_DIR:-target}/release/examples/chat

SERVER_PID=
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

# start COMMAND ARGS...: runs it with `--addr` on the next port nothing
# listens on (other services may hold some) and waits until it listens.
start() {
    PORT=$((PORT + 1))
    while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
    "$@" --addr "127.0.0.1:$PORT" > "$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    URL="ws://127.0.0.1:$PORT/ws"
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server $1 did not start" >&2
    cat "$OUT/server.log" >&2
    exit 1
}
