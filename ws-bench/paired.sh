#!/usr/bin/env bash
# A paired comparison of two builds of the chat example on the fan-out
# workloads of bench.sh (N=100 and N=1,000 subscribers, 100 B): in each round
# BASE and NEW run back to back on fresh servers, in alternating order, so
# both see the same load on a shared machine; the figure is NEW/BASE per
# round, then the median of the rounds.
#
#   BASE=/work/base-target/release/examples/chat ROUNDS=5 bash ws-bench/paired.sh
#   BASE=raw ROUNDS=10 bash ws-bench/paired.sh   # against the raw baseline
#
# With BASE=raw the base is `ws-bench serve-raw` and NEW runs with
# `--history 0`, as in bench.sh: the issue's "within 1.1x of raw" measured
# pairwise, so that the machine's load between runs cancels.
#
# NEW defaults to this checkout's chat example, built here; the load tool is
# this checkout's. Ratios below 1 mean NEW uses less server CPU per delivery.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
: "${BASE:?set BASE to the reference build of the chat example}"

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh paired 3700 paired.jsonl
NEW=${NEW:-$CHAT}

# run BINARY LABEL ROUND CLIENTS MESSAGES: one fan-out run on a fresh server.
run() {
    if [[ "$1" == raw ]]; then
        start "$BENCH" serve-raw
    elif [[ "$BASE" == raw ]]; then
        start "$1" --max-connections 20000 --history 0
    else
        start "$1" --max-connections 20000
    fi
    timeout 600 "$BENCH" fanout --clients "$4" --messages "$5" --size 100 \
        --url "$URL" --server-pid "$SERVER_PID" --label "$2 r$3" >> "$RESULTS"
    stop_server
}

for round in $(seq "$ROUNDS"); do
    echo "--- round $round of $ROUNDS" >&2
    for shape in "100 20000" "1000 2000"; do
        # shellcheck disable=SC2086
        if ((round % 2)); then
            run "$BASE" base "$round" $shape
            run "$NEW" new "$round" $shape
        else
            run "$NEW" new "$round" $shape
            run "$BASE" base "$round" $shape
        fi
    done
done

python3 - "$RESULTS" << 'EOF'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
by = {(r["label"], r["clients"]): r for r in runs}
rounds = sorted({int(r["label"].split(" r")[1]) for r in runs})
for clients in (100, 1000):
    print(f"N={clients:,}: server CPU us/delivery base -> new (ratio); deliveries/s ratio; lost")
    cpu, rate = [], []
    for n in rounds:
        b, a = by[(f"base r{n}", clients)], by[(f"new r{n}", clients)]
        c = a["server_cpu_us_per_delivery"] / b["server_cpu_us_per_delivery"]
        d = a["deliveries_per_s"] / b["deliveries_per_s"]
        cpu.append(c)
        rate.append(d)
        print(f"  round {n}: {b['server_cpu_us_per_delivery']:.3f} -> "
              f"{a['server_cpu_us_per_delivery']:.3f} ({c:.3f}x); {d:.3f}x; "
              f"{b['lost']}/{a['lost']}")
    print(f"  median: CPU {statistics.median(cpu):.3f}x, deliveries/s {statistics.median(rate):.3f}x")
EOF
echo "raw results: $RESULTS" >&2
