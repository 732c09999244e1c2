#!/usr/bin/env bash
# Care benchmark: the signal-filtered family list and the full plan view at
# 100,000 and at 1,000,000 families (docs/benchmarks.md).
#
#   scripts/bench-care.sh
#
# Builds the release binary and the load generator, generates the data in a
# private local PostgreSQL under BENCH_DATA_DIR (wiped first), serves it on a
# free port, runs each workload at BENCH_CONCURRENCY for BENCH_DURATION
# seconds (after BENCH_WARMUP unmeasured seconds), tops the data up to
# BENCH_LARGE families, and runs again. Prints both tables, the p95 ratio
# large/small per workload and whether the targets hold (p95 < 50 ms, ratio
# <= 1.5). Exits non-zero when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${BENCH_DATA_DIR:-/tmp/gz-bench}
SMALL=${BENCH_SMALL:-100000}
LARGE=${BENCH_LARGE:-1000000}
CONCURRENCY=${BENCH_CONCURRENCY:-8}
DURATION=${BENCH_DURATION:-30}
WARMUP=${BENCH_WARMUP:-10}
SEED=${BENCH_SEED:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release/gezinsregie
LOADGEN=$TARGET_DIR/release/examples/loadgen
WORKLOADS=(family-signal plan-view)

# The benchmark owns its database: never one named by the environment.
unset DATABASE_URL GEZINSREGIE__DATABASE__URL
export GEZINSREGIE__DATA_DIR=$DATA_DIR
export GEZINSREGIE__LOG__FILTER=warn
export GEZINSREGIE_ENV=local

LOG_DIR=$(mktemp -d /tmp/gz-bench-logs.XXXXXX)
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

# generate LABEL COUNT: adds COUNT families, records the seconds it took.
generate() {
    local started ended
    started=$(date +%s.%N)
    "$BIN" demo --families "$2" --seed "$SEED" | tee "$LOG_DIR/generate-$1.log" | grep -E '^ +[0-9]+ / |^generated|^  (families|plans|involvements|scaling|open)'
    ended=$(date +%s.%N)
    GEN_SECONDS[$1]=$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.0f", b - a }')
}

# measure LABEL: one table row per workload into RESULTS[LABEL].
measure() {
    local rows="" workload
    start_server "$1"
    for workload in "${WORKLOADS[@]}"; do
        rows+=$("$LOADGEN" --base-url "http://127.0.0.1:$PORT" --workload "$workload" \
            --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
            --label "$1" 2>>"$LOG_DIR/loadgen-$1.log")$'\n'
    done
    stop_server
    RESULTS[$1]=$rows
    printf '%s' "$rows"
}

p95_of() { # p95 of WORKLOAD in rows $2
    awk -F'|' -v w="$1" '{ gsub(/ /, "", $3) } $3 == w { gsub(/ /, "", $10); print $10 }' <<<"$2"
}

declare -A GEN_SECONDS RESULTS
HEADER='| data set | workload | concurrency | seconds | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms | server peak RSS MiB |
|---|---|---|---|---|---|---|---|---|---|---|---|'

echo "== machine"
echo "cores: $(nproc); memory: $(free -g | awk '/^Mem:/ { print $2 " GiB" }'); $("$(pg_bin)/postgres" --version)"

echo "== build"
cargo build --release --bin gezinsregie --example loadgen

echo "== data set 1: $SMALL families (data folder $DATA_DIR, wiped)"
stop_cluster
rm -rf "$DATA_DIR"
small_label=$(awk -v n="$SMALL" 'BEGIN { print (n % 1000 == 0 ? n / 1000 "k" : n) }')
large_label=$(awk -v n="$LARGE" 'BEGIN { print (n % 1000000 == 0 ? n / 1000000 "M" : n % 1000 == 0 ? n / 1000 "k" : n) }')
generate "$small_label" "$SMALL"

echo "== measuring at $small_label"
echo "$HEADER"
measure "$small_label"

echo "== data set 2: topping up to $LARGE families"
generate "$large_label" $((LARGE - SMALL))

echo "== measuring at $large_label"
echo "$HEADER"
measure "$large_label"

echo
echo "== results (concurrency $CONCURRENCY, $DURATION s per run after $WARMUP s warm-up)"
echo "generation: $small_label families ${GEN_SECONDS[$small_label]} s; $((LARGE - SMALL)) more to $large_label ${GEN_SECONDS[$large_label]} s"
echo "$HEADER"
printf '%s' "${RESULTS[$small_label]}"
printf '%s' "${RESULTS[$large_label]}"
echo
status=0
for workload in "${WORKLOADS[@]}"; do
    small=$(p95_of "$workload" "${RESULTS[$small_label]}")
    large=$(p95_of "$workload" "${RESULTS[$large_label]}")
    verdict=$(awk -v s="$small" -v l="$large" 'BEGIN {
        r = (s > 0) ? l / s : 0
        ok = (s < 50 && l < 50 && r <= 1.5)
        printf "%.2f %s", r, ok ? "ok" : "MISSED" }')
    echo "$workload: p95 $small ms at $small_label, $large ms at $large_label, ratio ${verdict% *} -> ${verdict#* } (targets: p95 < 50 ms, ratio <= 1.5)"
    [[ ${verdict#* } == ok ]] || status=1
done
if grep -q "filter ignored" <<<"${RESULTS[$small_label]}${RESULTS[$large_label]}"; then
    echo "note: the server ignored signal=, so family-signal measured the unfiltered list"
    status=1
fi
echo "logs: $LOG_DIR"
exit $status
