#!/usr/bin/env bash
# Audit benchmark (issue 5, docs/benchmarks.md):
#  1. GET /v1/audit/export of BENCH_EVENTS (default 2,000,000) events, NDJSON
#     and CSV, against psql running the very COPY statement the server runs
#     (`gezinsregie audit export --print-statement`) on the same database:
#     throughput ratio, and the server's peak RSS over its idle RSS.
#  2. The plan view (GET /v1/plans/{id}) at BENCH_CONCURRENCY for
#     BENCH_DURATION seconds: as served (audit write with MAC, queued for
#     the sealer); with the audit write but without the chain (the queue
#     trigger disabled for the run, so the sealer idles); and without the
#     audit write (a build with the `bench-unaudited-reads` feature, which
#     refuses to start without GEZINSREGIE_BENCH_UNAUDITED=yes).
#  3. `gezinsregie audit verify` over the whole trail.
#
#   scripts/bench-audit.sh
#
# Owns its data folder (BENCH_DATA_DIR, wiped first). Exits non-zero when a
# target is missed: memory growth < 50 MiB, export >= 30% of COPY.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${BENCH_DATA_DIR:-/tmp/gz-bench-audit}
EVENTS=${BENCH_EVENTS:-2000000}
FAMILIES=${BENCH_FAMILIES:-10000}
CONCURRENCY=${BENCH_CONCURRENCY:-8}
DURATION=${BENCH_DURATION:-30}
WARMUP=${BENCH_WARMUP:-5}
ROUNDS=${BENCH_ROUNDS:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release/gezinsregie
BIN_UNAUDITED=$TARGET_DIR/release/gezinsregie-bench-unaudited
LOADGEN=$TARGET_DIR/release/examples/loadgen

unset DATABASE_URL GEZINSREGIE__DATABASE__URL
export GEZINSREGIE__DATA_DIR=$DATA_DIR
export GEZINSREGIE__LOG__FILTER=warn
export GEZINSREGIE_ENV=local

LOG_DIR=$(mktemp -d /tmp/gz-bench-audit-logs.XXXXXX)
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }

# export_run FORMAT: prints "bytes seconds rows peak_rss_kib"
export_run() {
    local samples=$LOG_DIR/rss-$1.txt out=$LOG_DIR/export.$1
    : >"$samples"
    (while kill -0 "$SERVER_PID" 2>/dev/null; do rss_kib >>"$samples"; sleep 0.02; done) &
    local sampler=$!
    local stats
    stats=$(curl -sf -o "$out" -w '%{size_download} %{time_total}' \
        -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT/v1/audit/export?municipalityCode=0546&format=$1")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local rows
    rows=$(wc -l <"$out")
    rm -f "$out"
    echo "$stats $rows $(sort -n "$samples" | tail -1)"
}

# copy_run FORMAT: prints "bytes seconds" of psql running the server's COPY.
copy_run() {
    local sql started ended bytes
    sql=$("$BIN" audit export --municipality 0546 --format "$1" --print-statement 2>/dev/null)
    started=$(date +%s.%N)
    bytes=$("$(pg_bin)/psql" -X -q "$PG_URL" -c "$sql" | wc -c)
    ended=$(date +%s.%N)
    echo "$bytes $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.3f", b - a }')"
}

echo "== machine"
echo "cores: $(nproc); memory: $(free -g | awk '/^Mem:/ { print $2 " GiB" }'); $("$(pg_bin)/postgres" --version)"

echo "== build (release; a second binary with bench-unaudited-reads)"
cargo build --release --quiet --features bench-unaudited-reads --bin gezinsregie
cp "$BIN" "$BIN_UNAUDITED"
cargo build --release --quiet --bin gezinsregie --example loadgen

echo "== data: demo + $FAMILIES families + $EVENTS audit events (data folder $DATA_DIR, wiped)"
stop_cluster
rm -rf "$DATA_DIR"
started=$(date +%s)
"$BIN" demo --families "$FAMILIES" --audit-events "$EVENTS" | tee "$LOG_DIR/generate.log" | grep -E "written|sealed|^generated" | tail -4
echo "generated in $(( $(date +%s) - started )) s"

start_server audited "$BIN"
PG_URL=$(pg_url)
TOKEN=$(curl -sf "http://127.0.0.1:$PORT/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"auditor.leiden","password":"gezinsregie-demo"}' | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')
# Warm the server (and PostgreSQL's cache) with one small export, then settle.
curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/v1/audit/export?municipalityCode=0546&from=$(date -u +%F)"
"$(pg_bin)/psql" -X -q "$PG_URL" -c "SELECT count(*) FROM audit_events" >/dev/null
sleep 2
IDLE=$(rss_kib)
echo "server idle RSS: $((IDLE / 1024)) MiB"

echo
echo "== export of the 0546 trail: server (HTTP) vs psql COPY, best of 2 each"
echo "| format | rows | MB | COPY s | COPY MB/s | server s | server MB/s | server / COPY | server peak RSS MiB | growth over idle MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
status=0
for format in ndjson csv; do
    best_copy=""; best_srv=""; peak=0
    for _ in 1 2; do
        read -r cbytes csec < <(copy_run "$format")
        [[ -z $best_copy ]] || awk -v a="$csec" -v b="$best_copy" 'BEGIN { exit !(a < b) }' && best_copy=$csec
        read -r sbytes ssec rows speak < <(export_run "$format")
        [[ -z $best_srv ]] || awk -v a="$ssec" -v b="$best_srv" 'BEGIN { exit !(a < b) }' && best_srv=$ssec
        (( speak > peak )) && peak=$speak
    done
    line=$(awk -v f="$format" -v r="$rows" -v cb="$cbytes" -v cs="$best_copy" -v sb="$sbytes" -v ss="$best_srv" \
        -v peak="$peak" -v idle="$IDLE" 'BEGIN {
        cm = cb / 1e6 / cs; sm = sb / 1e6 / ss; ratio = sm / cm; growth = (peak - idle) / 1024
        printf "| %s | %d | %.0f | %.2f | %.0f | %.2f | %.0f | %.0f%% | %.1f | %.1f |\n", f, r, sb / 1e6, cs, cm, ss, sm, ratio * 100, peak / 1024, growth
        ok = (ratio >= 0.30 && growth < 50)
        exit !ok }') || status=1
    echo "$line"
done
stop_server

echo
echo "== plan view, concurrency $CONCURRENCY, $DURATION s after $WARMUP s warm-up, $ROUNDS rounds"
echo "| build | workload | concurrency | seconds | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms | server peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
sql() { "$(pg_bin)/psql" -X -qtA "$PG_URL" -c "$1"; }
# The three builds take turns, BENCH_ROUNDS times, each on a fresh server:
# one run of each shows more about the machine's mood than about auditing.
for round in $(seq 1 "$ROUNDS"); do
    for run in audited unchained unaudited; do
        if [[ $run == unaudited ]]; then
            GEZINSREGIE_BENCH_UNAUDITED=yes start_server unaudited "$BIN_UNAUDITED"
        else
            start_server "$run" "$BIN"
        fi
        PG_URL=$(pg_url)
        [[ $run == unchained ]] && sql "ALTER TABLE audit_events DISABLE TRIGGER audit_events_enqueue" >/dev/null
        before=$(sql "SELECT count(*) FROM audit_events WHERE action = 'read' AND resource_type = 'plan'")
        "$LOADGEN" --base-url "http://127.0.0.1:$PORT" --workload plan-view --concurrency "$CONCURRENCY" \
            --duration "$DURATION" --warmup "$WARMUP" --label "$run #$round" 2>>"$LOG_DIR/loadgen.log" | tee -a "$LOG_DIR/plan-$run.txt"
        after=$(sql "SELECT count(*) FROM audit_events WHERE action = 'read' AND resource_type = 'plan'")
        echo "  ($run #$round: $((after - before)) plan-read audit events written)"
        if [[ $run == unchained ]]; then
            # Queue what the run wrote, so the trail verifies whole below.
            sql "ALTER TABLE audit_events ENABLE TRIGGER audit_events_enqueue;
                 INSERT INTO audit_unsealed SELECT seq FROM audit_events e
                  WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = e.seq)
                 ON CONFLICT DO NOTHING" >/dev/null
        fi
        stop_server
    done
done
median_rate() {
    awk -F'|' '{ gsub(/ /, "", $7); print $7 }' "$LOG_DIR/plan-$1.txt" | sort -n |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
awk -v a="$(median_rate audited)" -v c="$(median_rate unchained)" -v u="$(median_rate unaudited)" 'BEGIN {
    printf "plan view, median of %d runs: %.0f req/s without the audit write, %.0f with it but without the chain, %.0f as served\n", '"$ROUNDS"', u, c, a
    printf "  the audit write costs %.1f%% of throughput, the chain (queue and sealer) another %.1f%%\n", (1 - c / u) * 100, (c - a) / u * 100 }'

echo
echo "== gezinsregie audit verify over the whole trail"
started=$(date +%s.%N)
"$BIN" audit verify >"$LOG_DIR/verify.json" 2>>"$LOG_DIR/verify.log" || status=1
ended=$(date +%s.%N)
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("valid: %s, chain entries checked: %d, problems: %d" % (r["valid"], r["checkedEntries"], r["problemCount"]))' "$LOG_DIR/verify.json"
awk -v a="$started" -v b="$ended" 'BEGIN { printf "verified in %.1f s\n", b - a }'
echo "logs: $LOG_DIR"
exit $status
