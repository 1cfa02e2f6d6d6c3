#!/usr/bin/env bash
# The benchmark suite behind BENCHMARKS.md: the framework (the chat example,
# and `serve-core` where its limits do not fit) against the naive hub and the
# raw baseline, each workload RUNS times on a fresh server, then the table of
# medians and ratios. Loopback only; every run is bounded in count and time.
#
#   bash ws-bench/bench.sh              # RUNS=3, about 16 minutes on 2 cores
#   RUNS=5 OUT=/tmp/wsb bash ws-bench/bench.sh
#   PEERS=0 bash ws-bench/bench.sh      # without the peers (no socketioxide build)
#
# The peers a Rust user would pick instead run beside them (ws-bench feature
# `peers`): a plain tokio-tungstenite hub and socketioxide, the latter driven
# in the load tool's Socket.IO mode (a /socket.io/ URL).
#
# The steady figures are the server's CPU time per unit of work (read from
# /proc/PID/stat): wall-clock rates move with whatever else the machine runs.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}

PEERS=${PEERS:-1}
KINDS="core naive raw"
if [[ "$PEERS" != 0 ]]; then
    export WS_BENCH_FEATURES=peers
    KINDS="$KINDS tungstenite socketio"
fi

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh results 3400 results.jsonl

# start_server KIND: a fresh server of that kind; sets SERVER_PID and URL.
start_server() {
    # History off: these are fan-out comparisons against the raw baseline
    # (the chat example keeps 1,000 messages per room by default).
    case "$1" in
        core) start "$CHAT" --max-connections 20000 --history 0 ;;
        core-large) CHAT_MAX_MESSAGE_SIZE=2MiB start "$BENCH" serve-core --max-connections 20000 --history 0 ;;
        naive) start "$BENCH" serve-naive ;;
        naive-nodelay) start "$BENCH" serve-naive --nodelay ;;
        raw) start "$BENCH" serve-raw ;;
        tungstenite) start "$BENCH" serve-tungstenite ;;
        socketio)
            start "$BENCH" serve-socketio
            URL="ws://127.0.0.1:$PORT/socket.io/"
            ;;
    esac
}

# run KIND LABEL COMMAND ARGS...: one run on a fresh server.
run() {
    local kind=$1 label=$2
    shift 2
    start_server "$kind"
    # A failed run is reported and leaves its cell empty; the others go on.
    if ! timeout 600 "$BENCH" "$@" --url "$URL" --server-pid "$SERVER_PID" --label "$label" >> "$RESULTS"; then
        echo "FAILED: $label $*" >&2
    fi
    stop_server
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; runs: $RUNS" >&2
for i in $(seq "$RUNS"); do
    echo "--- round $i of $RUNS" >&2
    for kind in $KINDS; do
        run "$kind" "$kind" fanout --clients 100 --messages 20000 --size 100
        run "$kind" "$kind" fanout --clients 1000 --messages 2000 --size 100
        run "$kind" "$kind" echo --clients 50 --seconds 5
        run "$kind" "$kind" connect --count 2000 --concurrency 50
        run "$kind" "$kind" idle --count 10000 --hold 5
    done
    # The naive hub with TCP_NODELAY, as ws-core sets it: no Nagle batching.
    if [[ -z "${SKIP_NODELAY:-}" ]]; then
        run naive-nodelay naive-nodelay fanout --clients 100 --messages 20000 --size 100
        run naive-nodelay naive-nodelay fanout --clients 1000 --messages 2000 --size 100
        run naive-nodelay naive-nodelay echo --clients 50 --seconds 5
    fi
done
# Memory and capacity: once each (they measure limits, not rates).
run core core idle --count 15000 --hold 10
run core-large core large --clients 10000 --size 1000000
run raw raw large --clients 10000 --size 1000000

"$BENCH" summarize "$RESULTS"
echo "raw results: $RESULTS" >&2
