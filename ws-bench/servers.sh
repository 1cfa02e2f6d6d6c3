# Sourced by the benchmark scripts, `source ws-bench/servers.sh NAME PORT
# FILE`: the release builds, the results file OUT/FILE (OUT defaults to
# target/ws-bench-NAME; emptied), and the processes of a run (servers, chat
# nodes, a redis-server), each on a fresh loopback port from PORT (unless
# set), all stopped when the script exits. Sets BENCH, CHAT, TICKS, OUT,
# PORT and RESULTS.

cargo build --release -q -p ws-bench --bin ws-bench ${WS_BENCH_FEATURES:+--features "$WS_BENCH_FEATURES"}
cargo build --release -q -p ws-core --example chat
BENCH=${CARGO_TARGET_DIR:-target}/release/ws-bench
CHAT=${CARGO_TARGET_DIR:-target}/release/examples/chat
TICKS=$(getconf CLK_TCK)
OUT=${OUT:-target/ws-bench-$1}
PORT=${PORT:-$2}
mkdir -p "$OUT"
RESULTS="$OUT/$3"
: > "$RESULTS"

PIDS=()
stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
    PIDS=()
}
trap stop_all EXIT

# The next port nothing listens on (other services may hold some): PORT.
free_port() {
    PORT=$((PORT + 1))
    while (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; do PORT=$((PORT + 1)); done
}

# wait_port PORT PID LOG: until something listens on PORT; fails, showing
# LOG, if PID ends first or nothing listens within 5 s.
wait_port() {
    for _ in $(seq 100); do
        kill -0 "$2" 2> /dev/null || break
        if (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1; $3:" >&2
    cat "$3" >&2
    exit 1
}

# start COMMAND ARGS...: a server with `--addr` on a fresh port, its output
# in OUT/server.log, once it listens; sets SERVER_PID and URL.
start() {
    start_logged server.log "$@"
}

# start_logged LOG COMMAND ARGS...: the same, its output in OUT/LOG.
start_logged() {
    local log=$OUT/$1
    shift
    free_port
    "$@" --addr "127.0.0.1:$PORT" > "$log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    URL="ws://127.0.0.1:$PORT/ws"
    wait_port "$PORT" "$SERVER_PID" "$log"
}

stop_server() {
    stop_all
}

# start_redis: a redis-server of the run's own, without persistence; sets
# REDIS_PID and REDIS_URL.
start_redis() {
    command -v redis-server > /dev/null || { echo "needs redis-server (apt-get install redis-server)" >&2; exit 1; }
    free_port
    redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --loglevel warning > "$OUT/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    REDIS_URL="redis://127.0.0.1:$PORT/"
    wait_port "$PORT" "$REDIS_PID" "$OUT/redis.log"
}

# start_set_up LABEL ARGS...: the chat example with ARGS, one node
# (`one-node`) or two sharing a redis-server of the run's own
# (`two-nodes`); sets URLS (A's first) and SET_UP (the server processes,
# redis-server included).
start_set_up() {
    local label=$1 redis=() node
    shift
    SET_UP=()
    URLS=()
    if [[ $label == two-nodes ]]; then
        start_redis
        SET_UP+=("$REDIS_PID")
        redis=(--redis "$REDIS_URL")
    fi
    for node in a b; do
        [[ $node == b && $label != two-nodes ]] && break
        start_logged "chat-$node.log" "$CHAT" "$@" "${redis[@]}"
        SET_UP+=("$SERVER_PID")
        URLS+=("$URL")
    done
    if [[ $label == two-nodes ]]; then sleep 0.3; fi # the backends connect
}

# cpu_ticks PID...: user+system ticks of the processes, summed.
cpu_ticks() {
    local sum=0 pid
    for pid in "$@"; do
        read -r -a stat < "/proc/$pid/stat"
        sum=$((sum + stat[13] + stat[14]))
    done
    echo "$sum"
}

# status_kib PID FIELD: a size of /proc/PID/status (VmRSS, VmHWM), in KiB.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
