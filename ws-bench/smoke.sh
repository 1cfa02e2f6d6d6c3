#!/usr/bin/env bash
# A seconds-long check that the load tool works against the chat example:
# fanout (20 clients x 200 messages), echo (2 s), connect (200) and drops
# (20 subscribers cut every 0.5 s for 2 s), each required to report no loss
# and no failure; and the server's memory: per idle connection (5,000 held)
# and under one 1 MB message to 2,000 recipients, measured on the server
# process alone.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p ws-bench --bin ws-bench
cargo build -q -p ws-core --example chat
BENCH=${CARGO_TARGET_DIR:-target}/debug/ws-bench
CHAT=${CARGO_TARGET_DIR:-target}/debug/examples/chat

# A free port: ask the kernel for one (bind to port 0), else a fixed fallback.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 3987)
LOG=$(mktemp)
# 2,000 recipients hold 2,000 sockets in each process, plus the others'.
ulimit -n "$(ulimit -Hn)"
# Room for the 1 MB message of the memory check (the example allows 64 KiB).
CHAT_MAX_MESSAGE_SIZE=2MiB "$CHAT" --addr "127.0.0.1:$PORT" > "$LOG" 2>&1 &
CHAT_PID=$!
cleanup() { kill "$CHAT_PID" 2>/dev/null || true; wait "$CHAT_PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT

for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    if ! kill -0 "$CHAT_PID" 2>/dev/null; then cat "$LOG" >&2; echo "smoke: chat example exited" >&2; exit 1; fi
    sleep 0.05
done
URL="ws://127.0.0.1:$PORT/ws"

fail() { echo "smoke: $1" >&2; exit 1; }
# expect JSON FIELD VALUE: the JSON line has "FIELD":VALUE
expect() { grep -q "\"$2\":$3[,}]" <<< "$1" || fail "expected \"$2\":$3 in $1"; }

out=$(timeout 60 "$BENCH" fanout --url "$URL" --clients 20 --messages 200 --server-pid "$CHAT_PID")
echo "$out"
expect "$out" lost 0
expect "$out" reordered 0
expect "$out" deliveries 4000

out=$(timeout 60 "$BENCH" echo --url "$URL" --clients 4 --seconds 2)
echo "$out"
expect "$out" errors 0
grep -q '"round_trips":[1-9]' <<< "$out" || fail "no echo round trips"

out=$(timeout 60 "$BENCH" connect --url "$URL" --count 200 --concurrency 20)
echo "$out"
expect "$out" failures 0
expect "$out" connected 200

# Idle memory per connection (issue 12's target: 4 KiB at 10,000, release
# build, deflate negotiated; measured 3.72 there, and 3.81 at 5,000 in this
# debug build). The bound, 4.5 KiB, leaves room for the allocator's noise
# and fails on the 6.4-6.6 KiB the round started from.
out=$(timeout 120 "$BENCH" idle --url "$URL" --count 5000 --hold 2 --deflate --server-pid "$CHAT_PID")
echo "$out"
expect "$out" failures 0
expect "$out" deflate_agreed 5000
per=$(grep -o '"server_rss_kib_per_connection":[0-9.]*' <<< "$out" | cut -d: -f2)
[ -n "$per" ] || fail "no server_rss_kib_per_connection in $out"
awk -v r="$per" 'BEGIN { exit !(r <= 4.5) }' || fail "server RSS per idle connection $per KiB; bound 4.5 KiB"

# Memory does not scale with recipients: the server encodes a broadcast once
# and every queue shares those bytes. Its peak RSS rise (VmHWM after, reset
# just before, minus VmRSS before) while 1 MB goes to 2,000 readers is the
# message a few times over (read buffer, decoded text, encoded frame: ~3 MB,
# doubled for allocator rounding), and measured +2.7 MiB. The bound, 32 MiB,
# leaves 5x of that. One copy per recipient is up to 2,000 x 1 MB = 1,907 MiB
# (less at the peak, as writers free theirs while others are still copied):
# a deliberate copy in broadcast::enqueue measured +310.8 MiB, 10x the bound.
out=$(timeout 120 "$BENCH" large --url "$URL" --clients 2000 --size 1000000 --server-pid "$CHAT_PID" --timeout 60)
echo "$out"
expect "$out" delivered 2000
expect "$out" peak_reset true
rise=$(grep -o '"server_peak_rise_mib":[0-9.]*' <<< "$out" | cut -d: -f2)
[ -n "$rise" ] || fail "no server_peak_rise_mib in $out"
awk -v r="$rise" 'BEGIN { exit !(r < 32) }' || fail "server peak RSS rose by $rise MiB for one 1 MB broadcast to 2,000; bound 32 MiB"

# Delivery under drops, tiny: 20 subscribers each cut (TCP reset) every
# 0.5 s for 2 s while 100 messages/s arrive, resuming with `since`.
out=$(timeout 60 "$BENCH" drops --url "$URL" --clients 20 --rate 100 --seconds 2 --cut-every 0.5)
echo "$out"
expect "$out" delivered_pct 100.0
expect "$out" duplicates 0
expect "$out" recovered_false 0
expect "$out" errors 0

"$BENCH" --help > /dev/null
echo "smoke: ok"
