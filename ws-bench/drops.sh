#!/usr/bin/env bash
# Delivery under drops: the figures of BENCHMARKS.md's "Delivery under
# drops" section. The release chat example (history on: 1,000 messages of
# 5 minutes per room), N subscribers, a publisher at a fixed rate, every
# subscriber cut (TCP reset, no close frame) once per K seconds and resuming
# with `since`. Loopback only; every run bounded.
#
#   bash ws-bench/drops.sh                  # RUNS=1, about 2 minutes
#   RUNS=3 CLIENTS=1000 RATE=200 DURATION=20 bash ws-bench/drops.sh
#
# one-node:  one chat process.
# two-nodes: two chat processes sharing a redis-server of this script's own
#            (no persistence); subscribers start alternating between them
#            and each resumes on the other node; the publisher is on A.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1}
CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-200}
DURATION=${DURATION:-20}
CUT_EVERY=${CUT_EVERY:-5}
EXTRA=${EXTRA:-}

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh drops 3700 drops.jsonl

# run LABEL: one drops run on a fresh set-up.
run() {
    local label=$1 url2=()
    start_set_up "$label" --max-connections 20000
    [[ ${#URLS[@]} == 2 ]] && url2=(--url2 "${URLS[1]}")
    # shellcheck disable=SC2086 # EXTRA is a list of flags
    "$BENCH" drops --url "${URLS[0]}" "${url2[@]}" --clients "$CLIENTS" --rate "$RATE" \
        --seconds "$DURATION" --cut-every "$CUT_EVERY" --label "$label" $EXTRA \
        >> "$RESULTS" 2>> "$OUT/drops.log"
    stop_all
    tail -n 1 "$OUT/drops.log" >&2
}

for round in $(seq "$RUNS"); do
    echo "round $round/$RUNS" >&2
    run one-node
    run two-nodes
done

python3 - "$RESULTS" << 'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| set-up | clients | rate/s | cuts | delivered | % | duplicates | out of order | recovered=false | replayed frames | cut→joined p50 / p99 ms | cut→first replayed p50 / p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['label']} | {r['clients']:,} | {r['rate']:,.0f} | {r['cuts']:,} | {r['delivered']:,} / {r['expected']:,} | "
          f"{r['delivered_pct']}% | {r['duplicates']} | {r['out_of_order']} | {r['recovered_false']} | "
          f"{r['replayed']:,} in {r['resumes_with_replay']:,} resumes | {r['resume_p50_ms']} / {r['resume_p99_ms']} | "
          f"{r['replay_p50_ms']} / {r['replay_p99_ms']} |")
EOF
echo "raw results: $RESULTS" >&2
