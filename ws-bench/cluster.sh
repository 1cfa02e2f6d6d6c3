#!/usr/bin/env bash
# Two-node fan-out with the Redis backend against one node: the figures of
# BENCHMARKS.md's "Several nodes" section. Loopback only; every run bounded.
#
#   bash ws-bench/cluster.sh            # RUNS=3, about 2 minutes on 2 cores
#   RUNS=5 OUT=/tmp/wsc bash ws-bench/cluster.sh
#
# one-node:  one chat process; N subscribers and the publisher on it.
# two-nodes: two chat processes sharing a redis-server of this script's own
#            (no persistence); subscribers alternate between them
#            (`fanout --url A --url2 B`), the publisher is on A, so half of
#            each message's deliveries cross Redis.
# CPU per delivery counts every server process of the set-up: the chat(s)
# and, for two nodes, redis-server (user+system time from /proc/PID/stat).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh cluster 3600 cluster.jsonl

# run LABEL CLIENTS MESSAGES: one fan-out on a fresh set-up.
run() {
    local label=$1 clients=$2 messages=$3 url2=()
    start_set_up "$label" --max-connections 20000
    [[ ${#URLS[@]} == 2 ]] && url2=(--url2 "${URLS[1]}")
    local before after line
    before=$(cpu_ticks "${SET_UP[@]}")
    line=$("$BENCH" fanout --url "${URLS[0]}" "${url2[@]}" --clients "$clients" --messages "$messages" \
        --size 100 --label "$label" --max-seconds 120 2>> "$OUT/fanout.log")
    after=$(cpu_ticks "${SET_UP[@]}")
    stop_all
    # Set-up (connects, joins) is inside the CPU window: small next to the run.
    python3 - "$line" "$((after - before))" "$TICKS" "$label" >> "$RESULTS" << 'EOF'
import json, sys
row = json.loads(sys.argv[1])
ticks, hz, label = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
row["label"] = label
row["all_servers_cpu_s"] = ticks / hz
row["all_servers_cpu_us_per_delivery"] = round(ticks / hz * 1e6 / max(row["deliveries"], 1), 3)
print(json.dumps(row))
EOF
    tail -n 1 "$RESULTS" | cut -c1-160 >&2
}

for round in $(seq "$RUNS"); do
    echo "round $round/$RUNS" >&2
    for label in one-node two-nodes; do
        run "$label" 100 20000
        run "$label" 1000 2000
    done
done

python3 - "$RESULTS" << 'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| workload | set-up | deliveries/s | p50 µs | p99 µs | CPU µs / delivery (all servers) | lost | reordered | duplicates |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for clients in (100, 1000):
    for label in ("one-node", "two-nodes"):
        rs = [r for r in rows if r["label"] == label and r["clients"] == clients]
        if not rs:
            continue
        med = lambda k: statistics.median(r[k] for r in rs)
        worst = lambda k: max(r[k] for r in rs)
        print(f"| N={clients}, 100 B | {label} | {med('deliveries_per_s'):,.0f} | {med('p50_us'):,.0f} | "
              f"{med('p99_us'):,.0f} | {med('all_servers_cpu_us_per_delivery'):.3f} | {worst('lost')} | "
              f"{worst('reordered')} | {worst('duplicates')} |")
EOF
