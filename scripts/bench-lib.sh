# Shared by the benchmark scripts (sourced, not run): the private cluster in
# DATA_DIR, the release server on a free port, and cleaning up after both.
# Expects DATA_DIR, BIN and LOG_DIR to be set.

SERVER_PID=

pg_bin() {
    local dir
    dir=$(dirname "$(readlink -f "$(command -v pg_ctl 2>/dev/null || echo /nonexistent)")")
    if [[ -x $dir/pg_ctl ]]; then echo "$dir"; return; fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# Stops a local cluster left running in the data folder (an interrupted run).
stop_cluster() {
    local pgdata=$DATA_DIR/postgres
    [[ -f $pgdata/postmaster.pid ]] || return 0
    local pg_ctl
    pg_ctl="$(pg_bin)/pg_ctl"
    if [[ $(id -u) == 0 ]]; then
        runuser -u postgres -- "$pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
    else
        "$pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        # SIGINT: the server drains, then stops its PostgreSQL itself.
        kill -INT "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 120); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            kill -TERM "$SERVER_PID" 2>/dev/null || true
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

cleanup() {
    # Not under errexit: a script that ends with a failure status would
    # otherwise leave the trap at its first command and the cluster running.
    set +e
    stop_server
    stop_cluster
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    local port
    for port in $(seq 18080 18999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port" >&2
    return 1
}

# start_server LABEL [BINARY]: serves on PORT, logs to LOG_DIR/server-LABEL.log.
start_server() {
    PORT=$(free_port)
    GEZINSREGIE__SERVER__PORT=$PORT "${2:-$BIN}" serve >"$LOG_DIR/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 240); do
        if curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server exited; its log:" >&2
            cat "$LOG_DIR/server-$1.log" >&2
            return 1
        fi
        sleep 0.5
    done
    echo "the server did not become ready" >&2
    return 1
}

# URL of the running local cluster (its port changes with every start).
pg_url() {
    echo "postgres://gezinsregie:$(cat "$DATA_DIR/postgres.password")@127.0.0.1:$(sed -n 4p "$DATA_DIR/postgres/postmaster.pid")/gezinsregie"
}
