#!/usr/bin/env bash
# The Autobahn TestSuite's fuzzing client (wstest -m fuzzingclient, all 517
# cases) against ws-core's conformance echo (examples/conformance) on
# 127.0.0.1. Fails on any case whose behavior or close behavior is neither
# OK nor INFORMATIONAL (NON-STRICT and UNIMPLEMENTED fail too), and prints a
# summary table (the one in README's "Conformance" section).
#
#   bash conformance/autobahn.sh            # every case
#   CASES='2.*,6.4.*' bash conformance/autobahn.sh
#
# wstest is installed by conformance/install.sh where it is missing (Python
# 2.7 from Debian bullseye, pinned; a virtualenv under ~/.cache/ws-autobahn).
# The reports stay in $AUTOBAHN_OUT (default target/autobahn): each
# */reports/index.html shows its cases' frames.
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${CASES:-*}"
out="${AUTOBAHN_OUT:-${CARGO_TARGET_DIR:-$PWD/target}/autobahn}"
start=$(date +%s)

wstest=$(bash conformance/install.sh)
# Release: the 9.x cases move 16 MiB messages by the hundred.
cargo build -q --release -p ws-core --features conformance --example conformance
server_bin="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/conformance"

rm -rf "$out"
mkdir -p "$out"
"$server_bin" 127.0.0.1:0 >"$out/server.log" 2>&1 &
server=$!
pids=()
trap 'kill "$server" "${pids[@]}" 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$out/server.log")
    [ -n "$addr" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$out/server.log"; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "autobahn: the echo server did not start" >&2; exit 1; }

# wstest is one single-threaded Python process: on two cores the cases run
# as two of them side by side, 13.x (compression with each offer) in one and
# the rest in the other, each with its own report, merged below.
if [ -n "${CASES:-}" ]; then
    shards=("all|$cases|")
else
    shards=("a|*|13.*" "b|13.*|")
fi
for shard in "${shards[@]}"; do
    IFS='|' read -r name include exclude <<<"$shard"
    mkdir -p "$out/$name"
    python3 - "$out/$name" "$addr" "$include" "$exclude" <<'PY'
import json, sys
out, addr, include, exclude = sys.argv[1:]
json.dump({
    "outdir": out + "/reports",
    "servers": [{"agent": "ws-core", "url": "ws://%s/" % addr}],
    "cases": include.split(","),
    "exclude-cases": exclude.split(",") if exclude else [],
    "exclude-agent-cases": {},
}, open(out + "/fuzzingclient.json", "w"), indent=2)
PY
    (cd "$out/$name" && exec "$wstest" -m fuzzingclient -s fuzzingclient.json >wstest.log 2>&1) &
    pids+=($!)
done
echo "autobahn: wstest fuzzingclient against ws://$addr/ (cases: $cases; ${#shards[@]} at a time)"
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        name=${shards[$i]%%|*}
        tail -20 "$out/$name/wstest.log" >&2
        echo "autobahn: wstest failed (log: $out/$name/wstest.log)" >&2
        exit 1
    fi
done
kill "$server" 2>/dev/null || true

# The whole suite is 517 cases: fewer in the reports is a failure too.
python3 - "$out" "$(($(date +%s) - start))" "${CASES:+any}" <<'PY'
import glob, json, sys
from collections import Counter, OrderedDict
out, seconds, subset = sys.argv[1], int(sys.argv[2]), sys.argv[3]
results = {}
for report in glob.glob(out + "/*/reports/index.json"):
    results.update(json.load(open(report))["ws-core"])
passing = ("OK", "INFORMATIONAL")

def key(case):
    return tuple(int(part) for part in case.split("."))

NAMES = {"1": "framing ", "2": "pings and pongs ", "3": "reserved bits ",
         "4": "opcodes ", "5": "fragmentation ", "6": "UTF-8 ", "7": "closing ",
         "9": "limits and performance ", "10": "auto-fragmentation ",
         "12": "permessage-deflate ", "13": "permessage-deflate offers "}
groups = OrderedDict()
for case in sorted(results, key=key):
    groups.setdefault(case.split(".")[0], []).append(case)
behaviors = ["OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED"]
others = sorted({r["behavior"] for r in results.values()} - set(behaviors))
columns = behaviors + others
print("| cases | " + " | ".join(columns) + " | close not OK |")
print("|---|" + "---:|" * (len(columns) + 1))
totals = Counter()
for group, names in groups.items():
    counts = Counter(results[n]["behavior"] for n in names)
    bad_close = sum(results[n]["behaviorClose"] not in passing for n in names)
    totals.update(counts)
    totals["close"] += bad_close
    print("| %s.x %s(%d) | " % (group, NAMES.get(group, ""), len(names))
          + " | ".join(str(counts[c]) for c in columns) + " | %d |" % bad_close)
print("| **all (%d)** | " % len(results)
      + " | ".join("**%d**" % totals[c] for c in columns) + " | **%d** |" % totals["close"])
failed = [n for n in sorted(results, key=key)
          if results[n]["behavior"] not in passing
          or results[n]["behaviorClose"] not in passing]
ok = len(results) - len(failed)
print("")
print("autobahn: %d of %d cases OK or INFORMATIONAL in %d s" % (ok, len(results), seconds))
for n in failed:
    r = results[n]
    print("  %s: behavior %s, close %s (remote close code %s)"
          % (n, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode")))
print("%d passed, %d failed" % (ok, len(failed)))
if not subset and len(results) != 517:
    print("autobahn: %d cases in the reports, expected 517" % len(results))
    sys.exit(1)
sys.exit(1 if failed else 0)
PY
