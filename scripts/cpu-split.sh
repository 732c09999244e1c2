#!/usr/bin/env bash
# Where a request's CPU goes: the server, PostgreSQL and the load generator,
# in microseconds of CPU per request over a steady window of a loadgen run
# (docs/benchmarks.md, "Changed on the way").
#
#   scripts/cpu-split.sh WORKLOAD PORT [CONCURRENCY]
#
# Expects a release server on 127.0.0.1:PORT (as scripts/bench.sh starts
# one) and its PostgreSQL running as user postgres on this machine. Runs
# loadgen for 14 s, and reads /proc CPU times of the three and the server's
# request counter (/metrics) from second 4 to second 12.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKLOAD=$1
PORT=$2
CONCURRENCY=${3:-8}
LOADGEN=${CARGO_TARGET_DIR:-target}/release/examples/loadgen

server=$(pgrep -f "release/gezinsregie serve" | head -1)
# utime + stime, in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
    local total=0 pid
    for pid in $(pgrep -u postgres); do total=$((total + $(ticks "$pid"))); done
    echo "$total"
}
requests() {
    curl -sf "http://127.0.0.1:$PORT/metrics" |
        awk '/^gezinsregie_http_requests_total/ { s += $2 } END { print s + 0 }'
}

row=$(mktemp)
"$LOADGEN" --base-url "http://127.0.0.1:$PORT" --workload "$WORKLOAD" \
    --concurrency "$CONCURRENCY" --duration 14 >"$row" 2>/dev/null &
load=$!
sleep 4
s0=$(ticks "$server") p0=$(pg_ticks) l0=$(ticks "$load") r0=$(requests)
sleep 8
s1=$(ticks "$server") p1=$(pg_ticks) l1=$(ticks "$load") r1=$(requests)
wait "$load"
tail -1 "$row"
rm -f "$row"
n=$((r1 - r0))
hz=$(getconf CLK_TCK)
per() { echo $(( ($1) * 1000000 / hz / n )); }
echo "$WORKLOAD c=$CONCURRENCY: $n requests in 8 s; CPU per request (us):" \
    "server $(per $((s1 - s0))), PostgreSQL $(per $((p1 - p0))), loadgen $(per $((l1 - l0)))"
