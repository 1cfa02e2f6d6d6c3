#!/usr/bin/env bash
# permessage-deflate on the fan-out workload: N=1,000 subscribers in one room
# of the chat example (`--history 0`), each message a realistic 2 KB JSON
# chat message (ws-bench/samples/oncall-2k.json, carried in the text). In
# each round the same build runs twice on fresh servers, in alternating
# order: subscribers that offer permessage-deflate (`fanout --deflate`),
# and subscribers that do not (tungstenite). Reported: the wire bytes per
# delivery (text frames, headers included) and the server's CPU per
# delivery, each as deflate/plain per round, then the median of the rounds.
#
#   ROUNDS=3 bash ws-bench/deflate.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-1000}
MESSAGES=${MESSAGES:-1000}

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh deflate 3800 deflate.jsonl

# run LABEL ROUND [--deflate]: one fan-out run on a fresh server.
run() {
    start "$CHAT" --max-connections 20000 --history 0
    timeout 600 "$BENCH" fanout --clients "$CLIENTS" --messages "$MESSAGES" \
        --text-file ws-bench/samples/oncall-2k.json --drain-timeout 10 ${3:-} \
        --url "$URL" --server-pid "$SERVER_PID" --label "$1 r$2" >> "$RESULTS"
    stop_server
}

for round in $(seq "$ROUNDS"); do
    echo "--- round $round of $ROUNDS" >&2
    if ((round % 2)); then
        run plain "$round"
        run deflate "$round" --deflate
    else
        run deflate "$round" --deflate
        run plain "$round"
    fi
done

python3 - "$RESULTS" << 'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
by = {r["label"]: r for r in runs}
rounds = sorted({int(r["label"].split(" r")[1]) for r in runs})
print("N=%d, %d B JSON: wire bytes/delivery and server CPU us/delivery, plain -> deflate"
      % (runs[0]["clients"], runs[0]["size"]))
size, cpu = [], []
for n in rounds:
    p, d = by[f"plain r{n}"], by[f"deflate r{n}"]
    assert d["deflate_agreed"] == d["clients"], d
    s = p["bytes_per_delivery"] / d["bytes_per_delivery"]
    c = d["server_cpu_us_per_delivery"] / p["server_cpu_us_per_delivery"]
    size.append(s)
    cpu.append(c)
    print(f"  round {n}: bytes {p['bytes_per_delivery']:.0f} -> {d['bytes_per_delivery']:.0f} "
          f"({s:.2f}x smaller); CPU {p['server_cpu_us_per_delivery']:.3f} -> "
          f"{d['server_cpu_us_per_delivery']:.3f} ({c:.3f}x); deliveries/s "
          f"{p['deliveries_per_s']:.0f} -> {d['deliveries_per_s']:.0f}; lost {p['lost']}/{d['lost']}, "
          f"reordered {p['reordered']}/{d['reordered']}")
print(f"  median: {statistics.median(size):.2f}x fewer bytes, CPU {statistics.median(cpu):.3f}x")
PY
echo "raw results: $RESULTS" >&2
