#!/usr/bin/env bash
# Bytes and server CPU per delivery by codec (issue 12 §2-3): the chat
# example (history off) fans a realistic 2 KB JSON chat message out to N
# subscribers that speak JSON, then to N that negotiated MessagePack
# (`chat.v1.msgpack`), alternating on fresh servers, RUNS rounds; then the
# sample's bytes as a message of its own (`ws-bench codec`).
#
#   bash ws-bench/codecs.sh             # RUNS=3
#   RUNS=5 OUT=/tmp/wsc bash ws-bench/codecs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SAMPLE=ws-bench/samples/message-2k.json

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh codecs 3600 results.jsonl

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs: $RUNS" >&2
for i in $(seq "$RUNS"); do
    echo "--- round $i of $RUNS" >&2
    for shape in "100 2000" "1000 400"; do
        read -r clients messages <<< "$shape"
        for codec in json msgpack; do
            start "$CHAT" --max-connections 20000 --history 0
            timeout 600 "$BENCH" fanout --url "$URL" --server-pid "$SERVER_PID" \
                --clients "$clients" --messages "$messages" --text-file "$SAMPLE" \
                --codec "$codec" --label "$codec" >> "$RESULTS"
            stop_server
        done
    done
done
"$BENCH" codec --sample "$SAMPLE" >> "$RESULTS"

# Medians per codec and N, and MessagePack's ratio to JSON.
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fan = [r for r in runs if r.get("bench") == "fanout"]
print("| N | codec | bytes / delivery | server CPU µs / delivery | deliveries/s | p99 µs | lost / reordered |")
print("|---|-------|-----------------:|-------------------------:|-------------:|-------:|------------------|")
med = {}
for n in sorted({r["clients"] for r in fan}):
    for codec in ("json", "msgpack"):
        rs = [r for r in fan if r["clients"] == n and r["codec"] == codec]
        if not rs:
            continue
        m = lambda k: statistics.median(r[k] for r in rs)
        med[n, codec] = (m("bytes_per_delivery"), m("server_cpu_us_per_delivery"))
        print(f"| {n:,} | {codec} | {m('bytes_per_delivery'):,.0f} | {m('server_cpu_us_per_delivery'):.3f} | "
              f"{m('deliveries_per_s'):,.0f} | {m('p99_us'):,.0f} | "
              f"{max(r['lost'] for r in rs)} / {max(r['reordered'] for r in rs)} |")
for n in sorted({k[0] for k in med}):
    if (n, "json") in med and (n, "msgpack") in med:
        (bj, cj), (bm, cm) = med[n, "json"], med[n, "msgpack"]
        print(f"N={n:,}: MessagePack / JSON: bytes {bm / bj:.3f}x, CPU {cm / cj:.3f}x")
for r in runs:
    if r.get("bench") == "codec":
        for shape, s in r["shapes"].items():
            print(f"codec {shape}: JSON {s['json_frame_bytes']} B, MessagePack {s['msgpack_frame_bytes']} B "
                  f"({s['msgpack_to_json']}x); JSON encode {s['json_encode_ns']:.0f} ns, transcode {s['msgpack_transcode_ns']:.0f} ns")
PY
