#!/usr/bin/env bash
# Three chat nodes on one Redis, 15,000 connections each (45,000 in all):
# BENCHMARKS.md's "A 45,000-connection cluster". Loopback only; bounded.
#
#   bash ws-bench/cluster3.sh                  # RUNS=1, about 2 minutes on 2 cores
#   RUNS=3 PER_NODE=15000 OUT=/tmp/wsc3 bash ws-bench/cluster3.sh
#   WORKLOADS=1000-rooms WINDOW_ROOMS=32 bash ws-bench/cluster3.sh   # one workload
#
# Each workload runs on a fresh set-up: a redis-server of this script's own
# (no persistence) and three `chat --redis URL --history 0
# --max-connections 20000` nodes A, B, C. Three load processes (the open
# files limit is 20,000 per process), one per node, PER_NODE subscribers
# each: on B and C `ws-bench fanout --subscribe-only` (connect, join, write a
# ready file, count deliveries, loss and reordering); once both are ready,
# on A a `ws-bench fanout --wall-clock` whose one publisher is on A and keeps
# at most --window messages in flight to A's subscribers. Every message
# then reaches A's members locally and B's and C's through Redis.
#   one room:   all 3 x PER_NODE subscribers in one room (subscriber i of
#               each process joins it), MESSAGES_ONE messages;
#   1000 rooms: subscriber i of each process joins room i mod 1000, so each
#               room has members on every node; message s goes to room
#               s mod 1000; MESSAGES_ROOMS messages.
# CPU is user+system time from /proc/PID/stat for each chat node and
# redis-server, from the end of the set-up (all subscribers joined) to the
# end of the run: per node, divided by the deliveries on it. RSS is
# each node's VmRSS and VmHWM at the end, with everything still connected.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1}
PER_NODE=${PER_NODE:-15000}
MESSAGES_ONE=${MESSAGES_ONE:-100}
MESSAGES_ROOMS=${MESSAGES_ROOMS:-50000}
# The publisher's window bounds A's subscribers only (per subscriber: in
# 1,000 rooms that is 1,000 x W messages in flight); B and C, and the
# Redis publish queue, are not in it, so it is kept small.
WINDOW_ONE=${WINDOW_ONE:-8}
WINDOW_ROOMS=${WINDOW_ROOMS:-4}
# A subset, e.g. WORKLOADS=1000-rooms to chase a loss.
WORKLOADS=${WORKLOADS:-one-room 1000-rooms one-node-one-room one-node-1000-rooms}

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh cluster3 3700 cluster3.jsonl

# run LABEL ROOMS MESSAGES WINDOW: one workload on a fresh set-up.
run() {
    local label=$1 rooms=$2 messages=$3 window=$4
    start_redis
    local redis=$REDIS_PID
    local nodes=() urls=()
    for node in a b c; do
        start_logged "chat-$label-$node.log" "$CHAT" --max-connections 20000 --history 0 \
            --redis "$REDIS_URL"
        nodes+=("$SERVER_PID")
        urls+=("$URL")
    done
    sleep 0.3 # the backends connect

    local before=() pid
    local common=(--clients "$PER_NODE" --messages "$messages" --size 100 --rooms "$rooms"
        --window "$window" --drain-timeout 10 --max-seconds 300 --label "$label")
    local subs=() k
    for k in 1 2; do
        rm -f "$OUT/ready-$k"
        "$BENCH" fanout --url "${urls[$k]}" --subscribe-only --ready-file "$OUT/ready-$k" \
            "${common[@]}" > "$OUT/sub-$k.json" 2>> "$OUT/fanout.log" &
        subs+=($!)
    done
    for _ in $(seq 1200); do
        [[ -e $OUT/ready-1 && -e $OUT/ready-2 ]] && break
        for pid in "${subs[@]}"; do kill -0 "$pid" 2> /dev/null || { echo "a subscriber process ended early; see $OUT/fanout.log" >&2; exit 1; }; done
        sleep 0.1
    done
    [[ -e $OUT/ready-1 && -e $OUT/ready-2 ]] || { echo "subscribers not ready in 120 s" >&2; exit 1; }
    # B's and C's subscribers have joined: their set-up is out of the CPU
    # window; A's is too (the load process on A reads A's CPU after its
    # own set-up, --server-pid).
    for pid in "${nodes[@]}" "$redis"; do before+=("$(cpu_ticks "$pid")"); done
    "$BENCH" fanout --url "${urls[0]}" --wall-clock --server-pid "${nodes[0]}" "${common[@]}" \
        > "$OUT/pub.json" 2>> "$OUT/fanout.log"
    for pid in "${subs[@]}"; do wait "$pid"; done
    local after=() rss=() hwm=()
    for pid in "${nodes[@]}" "$redis"; do
        after+=("$(cpu_ticks "$pid")")
        rss+=("$(status_kib "$pid" VmRSS)")
        hwm+=("$(status_kib "$pid" VmHWM)")
    done
    # Each node's counters (evictions, drops, backend publish failures):
    # where a loss happened, beside the logs (read after the CPU figures).
    for k in 0 1 2; do
        local http=${urls[$k]/ws:/http:}
        curl -s --max-time 5 "${http%/ws}/metrics" | grep '^ws_' | grep -v quantile \
            > "$OUT/metrics-$label-${k}.txt" || true
    done
    stop_all
    python3 - "$label" "$TICKS" "${before[*]}" "${after[*]}" "${rss[*]}" "${hwm[*]}" \
        "$OUT/pub.json" "$OUT/sub-1.json" "$OUT/sub-2.json" >> "$RESULTS" << 'EOF'
import json, sys
label, hz = sys.argv[1], int(sys.argv[2])
before, after, rss, hwm = (list(map(int, a.split())) for a in sys.argv[3:7])
procs = [json.load(open(p)) for p in sys.argv[7:10]]
cpu_s = [(a - b) / hz for a, b in zip(after, before)]
cpu_s[0] = procs[0]["server_cpu_s"]
deliveries = [p["deliveries"] for p in procs]
total = sum(deliveries)
start = procs[0]["start_nanos"]
elapsed = (max(p["last_nanos"] for p in procs) - start) / 1e9
row = {
    "bench": "cluster3", "label": label, "nodes": 3, "rooms": procs[0]["rooms"],
    "connections": sum(p["clients"] for p in procs), "messages": procs[0]["messages"],
    "sent": procs[0]["sent"], "window": procs[0]["window"],
    "expected": sum(p["expected"] for p in procs), "deliveries": total,
    "lost": sum(p["lost"] for p in procs), "reordered": sum(p["reordered"] for p in procs),
    "duplicates": sum(p["duplicates"] for p in procs),
    "ended_early": sum(p["ended_early"] for p in procs), "stalled": procs[0]["stalled"],
    "elapsed_s": round(elapsed, 3), "deliveries_per_s": round(total / elapsed) if elapsed > 0 else 0,
    "p50_us_per_node": [p["p50_us"] for p in procs], "p99_us_per_node": [p["p99_us"] for p in procs],
    "p99_us_worst": max(p["p99_us"] for p in procs),
    "node_deliveries": deliveries, "node_cpu_s": cpu_s[:3], "redis_cpu_s": cpu_s[3],
    "node_cpu_us_per_delivery": [round(c * 1e6 / max(d, 1), 3) for c, d in zip(cpu_s, deliveries)],
    "all_cpu_us_per_delivery": round(sum(cpu_s) * 1e6 / max(total, 1), 3),
    "redis_cpu_us_per_message": round(cpu_s[3] * 1e6 / max(procs[0]["sent"], 1), 3),
    "node_rss_kib": rss[:3], "node_hwm_kib": hwm[:3], "redis_rss_kib": rss[3],
    "setup_s_per_process": [p["setup_s"] for p in procs],
}
print(json.dumps(row))
EOF
    tail -n 1 "$RESULTS" | cut -c1-200 >&2
}

# one_node LABEL ROOMS MESSAGES WINDOW: the same load on one chat process
# without Redis and one load process of PER_NODE subscribers: the
# reference for the per-node CPU per delivery above.
one_node() {
    local label=$1 rooms=$2 messages=$3 window=$4
    free_port
    "$CHAT" --addr "127.0.0.1:$PORT" --max-connections 20000 --history 0 > "$OUT/chat-one.log" 2>&1 &
    local node=$!
    PIDS+=("$node")
    wait_port "$PORT"
    "$BENCH" fanout --url "ws://127.0.0.1:$PORT/ws" --server-pid "$node" --clients "$PER_NODE" \
        --messages "$messages" --size 100 --rooms "$rooms" --window "$window" --drain-timeout 10 \
        --max-seconds 300 > "$OUT/one.json" 2>> "$OUT/fanout.log"
    local rss hwm
    rss=$(status_kib "$node" VmRSS)
    hwm=$(status_kib "$node" VmHWM)
    stop_all
    python3 - "$label" "$rss" "$hwm" "$OUT/one.json" >> "$RESULTS" << 'EOF'
import json, sys
p = json.load(open(sys.argv[4]))
row = {
    "bench": "cluster3", "label": sys.argv[1], "nodes": 1, "rooms": p["rooms"],
    "connections": p["clients"], "messages": p["messages"], "sent": p["sent"], "window": p["window"],
    "expected": p["expected"], "deliveries": p["deliveries"], "lost": p["lost"],
    "reordered": p["reordered"], "duplicates": p["duplicates"], "ended_early": p["ended_early"],
    "stalled": p["stalled"], "elapsed_s": p["elapsed_s"], "deliveries_per_s": p["deliveries_per_s"],
    "p50_us_per_node": [p["p50_us"]], "p99_us_per_node": [p["p99_us"]], "p99_us_worst": p["p99_us"],
    "node_deliveries": [p["deliveries"]], "node_cpu_s": [p["server_cpu_s"]], "redis_cpu_s": 0.0,
    "node_cpu_us_per_delivery": [p["server_cpu_us_per_delivery"]],
    "all_cpu_us_per_delivery": p["server_cpu_us_per_delivery"], "redis_cpu_us_per_message": 0.0,
    "node_rss_kib": [int(sys.argv[2])], "node_hwm_kib": [int(sys.argv[3])], "redis_rss_kib": 0,
    "setup_s_per_process": [p["setup_s"]],
}
print(json.dumps(row))
EOF
    tail -n 1 "$RESULTS" | cut -c1-200 >&2
}

wanted() { [[ " $WORKLOADS " == *" $1 "* ]]; }
for round in $(seq "$RUNS"); do
    echo "round $round/$RUNS" >&2
    if wanted one-room; then run one-room 1 "$MESSAGES_ONE" "$WINDOW_ONE"; fi
    if wanted 1000-rooms; then run 1000-rooms 1000 "$MESSAGES_ROOMS" "$WINDOW_ROOMS"; fi
    if wanted one-node-one-room; then one_node one-node-one-room 1 "$MESSAGES_ONE" "$WINDOW_ONE"; fi
    if wanted one-node-1000-rooms; then
        one_node one-node-1000-rooms 1000 "$((MESSAGES_ROOMS / 3))" "$WINDOW_ROOMS"
    fi
done

python3 - "$RESULTS" << 'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| workload | connections | deliveries | deliveries/s | p99 µs (worst node) | lost / reordered | CPU µs / delivery, nodes A, B, C | all (nodes + Redis) | Redis CPU s (µs / message) | RSS KiB A, B, C (KiB / connection) |")
print("|---|---:|---:|---:|---:|---|---|---:|---|---|")
for r in rows:
    per_conn = [round(x / (r["connections"] / r["nodes"]), 2) for x in r["node_rss_kib"]]
    print(f"| {r['label']} | {r['connections']:,} | {r['deliveries']:,} | {r['deliveries_per_s']:,} | "
          f"{r['p99_us_worst']:,.0f} | {r['lost']} / {r['reordered']} | "
          f"{', '.join(f'{x:.3f}' for x in r['node_cpu_us_per_delivery'])} | {r['all_cpu_us_per_delivery']:.3f} | "
          f"{r['redis_cpu_s']:.2f} ({r['redis_cpu_us_per_message']:.1f}) | "
          f"{', '.join(f'{x:,}' for x in r['node_rss_kib'])} ({', '.join(map(str, per_conn))}) |")
EOF
