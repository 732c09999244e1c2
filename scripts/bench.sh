#!/usr/bin/env bash
# Benchmark driver (docs/benchmarks.md, "Load benchmark"): the server against
# raw PostgreSQL, workload by workload, at several concurrencies.
#
#   scripts/bench.sh
#
# 1. Builds the release server and the load generator (examples/loadgen),
#    wipes BENCH_DATA_DIR and generates BENCH_FAMILIES families
#    (`gezinsregie demo --families N`), then starts that PostgreSQL itself,
#    so the server (pointed at it with DATABASE_URL) can stop and start
#    while the database stays up.
# 2. Captures, per workload, the statements one request issues: the
#    cluster's `log_statement` is switched on around exactly one request
#    (`loadgen --once`), and scripts/pgbench-from-log.py turns that log into
#    a pgbench script with the same statements (kept in the log folder).
# 3. Per workload: starts the server, runs loadgen at each concurrency of
#    BENCH_CONCURRENCY for BENCH_DURATION s after BENCH_WARMUP s, with the
#    server's peak RSS per run, and stops the server.
# 4. Runs `gezinsregie check-invariants` over what the server runs wrote.
# 5. With the server down, runs each pgbench script the same way (the mix
#    as the weighted scripts of its parts).
# 6. Prints both tables and the ratio server/PostgreSQL and checks the
#    targets of issue 6 (exit 1 when one is missed).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${BENCH_DATA_DIR:-/tmp/gz-bench-load}
FAMILIES=${BENCH_FAMILIES:-100000}
CONCURRENCIES=${BENCH_CONCURRENCY:-1 8 32}
DURATION=${BENCH_DURATION:-20}
WARMUP=${BENCH_WARMUP:-5}
SEED=${BENCH_SEED:-1}
WORKLOADS=(${BENCH_WORKLOADS:-plan-view family-signal create-involvement director-handover referral-intake mix})
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release/gezinsregie
LOADGEN=$TARGET_DIR/release/examples/loadgen
# Shares of the mix, as in examples/loadgen/workload.rs (MIX).
MIX_WEIGHTS="plan-view@12 family-signal@4 create-involvement@2 director-handover@1 referral-intake@1"

unset DATABASE_URL GEZINSREGIE__DATABASE__URL
export GEZINSREGIE__DATA_DIR=$DATA_DIR
export GEZINSREGIE__LOG__FILTER=warn
export GEZINSREGIE_ENV=local

LOG_DIR=$(mktemp -d /tmp/gz-bench-logs.XXXXXX)
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

as_postgres() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The generated cluster, started by this script (not by the server).
start_cluster() {
    PG_PORT=$(free_port)
    as_postgres "$(pg_bin)/pg_ctl" -D "$DATA_DIR/postgres" -l "$DATA_DIR/postgres/server.log" -w \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=100" \
        start >/dev/null
    PG_URL="postgres://gezinsregie:$(cat "$DATA_DIR/postgres.password")@127.0.0.1:$PG_PORT/gezinsregie"
}

psql_q() { "$(pg_bin)/psql" -qAtX "$PG_URL" "$@"; }

# capture WORKLOAD: the statements of one request -> LOG_DIR/pgbench/WORKLOAD.sql
capture() {
    local w=$1 log=$DATA_DIR/postgres/server.log out=$LOG_DIR/pgbench
    mkdir -p "$out"
    local on="$(pg_bin)/psql -qX '$PG_URL' -c \"ALTER SYSTEM SET log_statement = 'all'\" -c 'SELECT pg_reload_conf()' >/dev/null && sleep 0.5 && wc -c < '$log' > '$out/$w.pos'"
    local off="sleep 0.5; $(pg_bin)/psql -qX '$PG_URL' -c 'ALTER SYSTEM RESET log_statement' -c 'SELECT pg_reload_conf()' >/dev/null"
    "$LOADGEN" --base-url "http://127.0.0.1:$PORT" --workload "$w" --once \
        --before "$on" --after "$off" >"$out/$w.json" 2>>"$LOG_DIR/loadgen.log"
    tail -c +$(($(cat "$out/$w.pos") + 1)) "$log" >"$out/$w.log"
    python3 scripts/pgbench-from-log.py "$w" "$out/$w.log" "$out/$w.json" >"$out/$w.sql"
    echo "$w: $(sed -n 2p "$out/$w.sql" | sed 's/^-- //')"
}

declare -A SERVER PG
OFFSET=0

# server_runs WORKLOAD: one loadgen row per concurrency into SERVER[w,c].
server_runs() {
    local w=$1 c row
    start_server "$w"
    for c in $CONCURRENCIES; do
        row=$("$LOADGEN" --base-url "http://127.0.0.1:$PORT" --workload "$w" --concurrency "$c" \
            --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
            --label "${FAMILIES}" 2>>"$LOG_DIR/loadgen.log")
        SERVER[$w,$c]=$row
        echo "$row"
    done
    stop_server
}

# pgbench_runs WORKLOAD: tps and mean latency per concurrency into PG[w,c].
pgbench_runs() {
    local w=$1 c files=() part out
    if [[ $w == mix ]]; then
        for part in $MIX_WEIGHTS; do files+=(-f "$LOG_DIR/pgbench/${part%@*}.sql@${part#*@}"); done
    else
        files=(-f "$LOG_DIR/pgbench/$w.sql")
    fi
    for c in $CONCURRENCIES; do
        local common=(-n -M prepared -c "$c" -j 1 -D n=0 -D clients="$c"
            -D plan_rows="$PLAN_ROWS" -D handover_rows="$HANDOVER_ROWS" "${files[@]}")
        "$(pg_bin)/pgbench" "$PG_URL" "${common[@]}" -D offset="$OFFSET" -T "$WARMUP" \
            >"$LOG_DIR/pgbench-$w-$c-warmup.log" 2>&1
        OFFSET=$((OFFSET + 2 * $(awk '/actually processed/ { print $NF }' "$LOG_DIR/pgbench-$w-$c-warmup.log") + 1000))
        out=$LOG_DIR/pgbench-$w-$c.log
        rm -f "$LOG_DIR/tx-$w-$c".*
        "$(pg_bin)/pgbench" "$PG_URL" "${common[@]}" -D offset="$OFFSET" -T "$DURATION" \
            -l --log-prefix="$LOG_DIR/tx-$w-$c" >"$out" 2>&1 || true
        # Per-transaction latencies (3rd field, microseconds) -> p99 in ms.
        local p99
        p99=$(cat "$LOG_DIR/tx-$w-$c".* | awk '{ print $3 }' | sort -n |
            awk '{ v[NR] = $1 } END { if (NR) { i = int(0.99 * NR + 0.999); printf "%.1f", v[i] / 1000 } }')
        local processed failed tps lat
        # The totals come first; a mix then repeats them per script.
        processed=$(awk '/actually processed/ { print $NF; exit }' "$out")
        failed=$(awk '/number of failed/ { print $5; exit }' "$out")
        tps=$(awk '/^tps/ { printf "%.0f", $3; exit }' "$out")
        lat=$(awk '/latency average/ { print $4; exit }' "$out")
        OFFSET=$((OFFSET + 2 * ${processed:-0} + 1000))
        if grep -q "aborted\|error" "$out"; then
            failed="$failed (aborted: $(grep -m1 -o 'ERROR:.*' "$out"))"
        fi
        PG[$w,$c]="$tps|$processed|${failed:-?}|$lat|$p99"
        echo "| $w | $c | $DURATION | $processed | $tps | ${failed:-?} | $lat | $p99 |"
    done
}

col() { awk -F'|' -v i="$2" '{ gsub(/ /, "", $(i + 1)); print $(i + 1) }' <<<"$1"; }

echo "== machine"
echo "cores: $(nproc); memory: $(free -g | awk '/^Mem:/ { print $2 " GiB" }'); $("$(pg_bin)/postgres" --version); $(uname -sr)"

echo "== build"
cargo build --release --bin gezinsregie --example loadgen

echo "== data set: $FAMILIES families (data folder $DATA_DIR, wiped)"
stop_cluster
rm -rf "$DATA_DIR"
"$BIN" demo --families "$FAMILIES" --seed "$SEED" >"$LOG_DIR/generate.log"
grep -E '^generated|^  (families|plans|involvements)' "$LOG_DIR/generate.log" || true
start_cluster
export DATABASE_URL=$PG_URL

echo "== statements per request (from the cluster's statement log)"
# Every workload but the mix, and the mix's parts when the mix is run.
captures=()
for w in "${WORKLOADS[@]}"; do
    if [[ $w == mix ]]; then
        for part in $MIX_WEIGHTS; do captures+=("${part%@*}"); done
    else
        captures+=("$w")
    fi
done
start_server capture
for w in $(printf '%s\n' "${captures[@]}" | sort -u); do capture "$w"; done
stop_server
python3 scripts/pgbench-from-log.py --setup | psql_q -v ON_ERROR_STOP=1 2>&1 | grep -v NOTICE || true
PLAN_ROWS=$(psql_q -c "SELECT count(*) FROM bench.plan_view")
HANDOVER_ROWS=$(psql_q -c "SELECT count(*) FROM bench.director_handover")

HEADER='| families | workload | concurrency | seconds | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms | server peak RSS MiB |
|---|---|---|---|---|---|---|---|---|---|---|---|'
PG_HEADER='| workload | concurrency | seconds | transactions | tps | failed | mean latency ms | p99 ms |
|---|---|---|---|---|---|---|---|'
for w in "${WORKLOADS[@]}"; do
    echo "== $w: server"
    echo "$HEADER"
    server_runs "$w"
done

# Checked before the pgbench runs: their audit events carry a copied MAC,
# which the server's sealer (and this check) rightly treats as forged.
echo
echo "== invariants after the server runs"
invariants_ok=1
"$BIN" check-invariants >"$LOG_DIR/invariants.log" 2>&1 || invariants_ok=0
grep -v '^ok ' "$LOG_DIR/invariants.log" || true
echo "$(grep -c '^ok ' "$LOG_DIR/invariants.log") checks without a violation"

for w in "${WORKLOADS[@]}"; do
    echo "== $w: pgbench, the same statements"
    echo "$PG_HEADER"
    pgbench_runs "$w"
done

echo
echo "== results: $FAMILIES families, $DURATION s per run after $WARMUP s warm-up"
echo "$HEADER"
for w in "${WORKLOADS[@]}"; do for c in $CONCURRENCIES; do echo "${SERVER[$w,$c]}"; done; done
echo
echo "| workload | concurrency | server req/s | pgbench tps | server / PostgreSQL | server p99 ms | pgbench p99 ms |"
echo "|---|---|---|---|---|---|---|"
status=0
peak=0
for w in "${WORKLOADS[@]}"; do
    for c in $CONCURRENCIES; do
        row=${SERVER[$w,$c]}
        IFS='|' read -r tps _ _ _ pg_p99 <<<"${PG[$w,$c]}"
        rps=$(col "$row" 6)
        ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }')
        echo "| $w | $c | $rps | $tps | $ratio | $(col "$row" 10) | $pg_p99 |"
        peak=$(awk -v a="$peak" -v b="$(col "$row" 12)" 'BEGIN { print (b + 0 > a + 0 ? b : a) }')
        if [[ $(col "$row" 7) != 0 ]]; then echo "  MISSED: $w at $c had $(col "$row" 7) errors"; status=1; fi
        if [[ $c == 8 ]]; then
            case $w in plan-view | create-involvement)
                awk -v a="$rps" -v b="$tps" 'BEGIN { exit !(a >= 0.5 * b) }' ||
                    { echo "  MISSED: $w below 50% of PostgreSQL at concurrency 8"; status=1; } ;;
            esac
            case $w in plan-view | family-signal | create-involvement)
                awk -v p="$(col "$row" 10)" 'BEGIN { exit !(p < 25) }' ||
                    { echo "  MISSED: $w p99 not under 25 ms at concurrency 8"; status=1; } ;;
            esac
        fi
    done
done
echo
echo "server peak RSS over all runs: $peak MiB (target < 150)"
awk -v p="$peak" 'BEGIN { exit !(p < 150) }' || { echo "MISSED: peak RSS"; status=1; }
[[ $invariants_ok == 1 ]] || { echo "MISSED: invariant violations after the runs"; status=1; }
echo "pgbench scripts and logs: $LOG_DIR"
[[ $status == 0 ]] && echo "all targets met" || echo "some targets missed"
exit $status
