#!/usr/bin/env bash
# Idle memory per connection with and without a session (issue 11): in each
# round, on fresh servers back to back, BASE's chat example (a build from
# before typed sessions), this checkout's anonymous (its session,
# `Option<UserId>`, holds no user) and with a user in every session
# (`?user=u`: the session and the user index hold it). The figure is the
# server's RSS per held connection, (RSS with N held - RSS before) / N;
# each line is printed, then the median of each kind.
#
#   BASE=/tmp/base-target/release/examples/chat ROUNDS=3 bash ws-bench/session_idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-10000}
: "${BASE:?set BASE to the reference build of the chat example}"

# shellcheck source=ws-bench/servers.sh
source ws-bench/servers.sh session 3800 session_idle.jsonl
NEW=${NEW:-$CHAT}

# run BINARY LABEL QUERY: one idle run on a fresh server.
run() {
    start "$1" --max-connections 20000 --history 0
    timeout 600 "$BENCH" idle --url "$URL$3" --count "$COUNT" --hold 5 \
        --server-pid "$SERVER_PID" --label "$2" >> "$RESULTS"
    stop_server
}

for i in $(seq "$ROUNDS"); do
    echo "--- round $i of $ROUNDS" >&2
    run "$BASE" base ""
    run "$NEW" session-anonymous ""
    run "$NEW" session-user "?user=u"
done

cat "$RESULTS"
for label in base session-anonymous session-user; do
    mapfile -t figures < <(grep "\"label\":\"$label\"" "$RESULTS" |
        grep -o '"server_rss_kib_per_connection":[0-9.]*' | cut -d: -f2 | sort -n)
    echo "$label: KiB per connection, median of ${#figures[@]}: ${figures[$(( ${#figures[@]} / 2 ))]}"
done
