#!/usr/bin/env python3
"""Turns the PostgreSQL statement log of one request into a pgbench script
that issues the very same statements (part of scripts/bench.sh).

    pgbench-from-log.py WORKLOAD LOG ROLES_JSON > WORKLOAD.sql

LOG is the cluster's log while `log_statement = 'all'` was on for exactly one
request of WORKLOAD (sent by `loadgen --once`); ROLES_JSON is what loadgen
printed about that request (the plan, provider or director it used, the
text it made up). The script keeps every statement of the request in order,
with its exact text (`$n` become pgbench variables, so `-M prepared` sends
the same prepared statements with parameters), including the pool's
`SELECT 1` test of a connection that was idle, the BEGIN and the COMMIT.
What the server's background tasks did in the same moment (the audit
sealer, the notification worker, the signal refresh) is left out.

Each transaction starts with one extra statement, a `SELECT ... \\gset`
that sets the parameters of this transaction:
- values that name the workload's subject (the plan read, the plan and
  provider of a new involvement, the director taking over) come from a row
  of a table in schema `bench` (see SETUP), picked at random for reads and
  by a per-client counter for writes, so no two transactions create the
  same involvement;
- ids the server generated for the request (first seen in an INSERT) are
  fresh `gen_random_uuid()`s, made-up text (an external reference, a
  child's name) fresh text, advisory-lock keys fresh numbers;
- timestamps keep their distance from the request's "now", shifted a
  second ahead (the lookup runs before the transaction: a handover's new
  start must not precede the end its own transaction writes);
- everything else (the session, codes, the audit detail, the MAC bytes) is
  sent as captured.
NULL parameters are written as NULL in the statement text (pgbench has no
NULL variables).
"""

import datetime
import json
import re
import sys

# The subject rows per workload: SQL (run before pgbench) creating
# bench.<table>(k, ...), and per role the expression over its row `r`.
SETUP = {
    "plan-view": (
        "plan_view",
        """CREATE TABLE bench.plan_view AS
             SELECT row_number() OVER (ORDER BY f.id) - 1 AS k, p.id AS plan_id, p.family_id
               FROM (SELECT id FROM families WHERE municipality_code = '0546' ORDER BY id LIMIT 2000) f
               JOIN plans p ON p.family_id = f.id AND p.status <> 'closed'""",
        {"plan_id": "r.plan_id", "family_id": "r.family_id"},
    ),
    "create-involvement": (
        "create_involvement",
        """INSERT INTO providers (id, name, agb_code)
             SELECT gen_random_uuid(), 'pgbench aanbieder ' || i, (96000000 + i)::text
               FROM generate_series(1, 200) i ON CONFLICT DO NOTHING;
           CREATE TABLE bench.create_involvement AS
             SELECT row_number() OVER (ORDER BY pr.id, wp.family_id) - 1 AS k,
                    wp.plan_id, wp.family_id, pr.id AS provider_id
               FROM bench.write_plans wp
              CROSS JOIN (SELECT id FROM providers WHERE agb_code LIKE '96%') pr""",
        {"plan_id": "r.plan_id", "family_id": "r.family_id", "provider_id": "r.provider_id"},
    ),
    "director-handover": (
        "director_handover",
        """CREATE TABLE bench.director_handover AS
             SELECT row_number() OVER (ORDER BY wp.family_id) - 1 AS k, wp.plan_id, wp.family_id
               FROM bench.write_plans wp""",
        {
            "plan_id": "r.plan_id",
            "family_id": "r.family_id",
            # The eligible director that is not the current one.
            "target_user": "(SELECT u FROM unnest(ARRAY[{directors}]::uuid[]) u"
            " WHERE u IS DISTINCT FROM (SELECT user_id FROM director_assignments"
            " WHERE plan_id = r.plan_id AND ended_at IS NULL) LIMIT 1)",
        },
    ),
}

# The write plans: active plans of the families on pages 11 to 60 of the
# team lead's list (the server's write workloads use the same ones).
WRITE_PLANS = """CREATE TABLE bench.write_plans AS
  SELECT p.id AS plan_id, p.family_id
    FROM (SELECT id FROM families WHERE municipality_code = '0546' ORDER BY id OFFSET 2000 LIMIT 10000) f
    JOIN plans p ON p.family_id = f.id AND p.status = 'active'"""

# Units of work of the server's own background tasks.
BACKGROUND = (
    "pg_try_advisory_xact_lock",
    "audit_unsealed",
    "FROM notifications",
    "make_interval(days => $1)",
    "ALTER SYSTEM",
    "pg_reload_conf",
)

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[(\d+)\] (\w+):  (.*)$")
PARAM = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\+00$")


def entries(text):
    """(pid, sql, params) per logged statement, in log order."""
    out = []
    current = None
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            if current is not None and line.startswith("\t"):
                current[1].append(line[1:])
            continue
        pid, level, rest = m.groups()
        if level == "LOG":
            stmt = re.match(r"^(?:execute [^:]+|statement): (.*)$", rest)
            if stmt:
                current = [pid, [stmt.group(1)], {}]
                out.append(current)
            else:
                current = None
        elif level == "DETAIL" and current is not None and rest.startswith("parameters: "):
            for p in PARAM.finditer(rest):
                current[2][int(p.group(1))] = None if p.group(2) == "NULL" else p.group(3).replace("''", "'")
    return [(pid, "\n".join(lines), params) for pid, lines, params in out]


def request_statements(all_entries):
    """The request's statements: each connection's log is cut into units at
    the pool's checkout check (`SELECT $1`); units touching what only the
    background tasks touch are dropped."""
    units = {}
    order = []
    for index, (pid, sql, params) in enumerate(all_entries):
        if sql == "SELECT $1" or pid not in units:
            unit = []
            order.append((index, unit))
            units[pid] = unit
        units[pid].append((sql, params))
    kept = []
    for _, unit in sorted(order, key=lambda u: u[0]):
        if any(marker in sql for sql, _ in unit for marker in BACKGROUND):
            continue
        # A checkout that ran nothing (a background task finding no work).
        if all(sql == "SELECT $1" for sql, _ in unit):
            continue
        kept.extend(unit)
    return kept


def capture_start_ms(text):
    """Unix milliseconds of the first log line (the capture's start)."""
    for line in text.splitlines():
        m = re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC ", line)
        if m:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
            return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    return 0


def sql_literal(value):
    return "'" + value.replace("'", "''") + "'"


def convert(workload, log_text, roles):
    statements = request_statements(entries(log_text))
    started_ms = capture_start_ms(log_text)
    if not statements:
        sys.exit("no statements of the request in the log")
    table, _, role_exprs = SETUP.get(workload, (None, None, {}))
    by_value = {}
    directors = ", ".join(sql_literal(d) for d in roles.get("directors", []))
    for role, value in roles.items():
        if role in role_exprs and isinstance(value, str):
            by_value[value] = role_exprs[role].replace("{directors}", directors)
    fresh_text = {v for k, v in roles.items() if k.startswith("fresh_")}

    stamps = [STAMP.match(v).group(1) for _, params in statements for v in params.values()
              if v is not None and STAMP.match(v)]
    reference = max(stamps) if stamps else None

    # Ids the server made for this request: UUID v7 stamped after the
    # capture began (rows that existed before carry older stamps), or
    # random (v4) ones first seen in an INSERT (the request id, an
    # idempotency key). A service may make the id of the row it creates
    # just before it opens its transaction (to name it in the request's
    # span), a millisecond or so before the BEGIN that starts the log: a v7
    # id first seen in an INSERT counts as fresh when stamped up to a second
    # before. The session, made by the login before the capture, is first
    # seen in a SELECT.
    generated = {}
    seen = set()
    for sql, params in statements:
        inserts = sql.lstrip().upper().startswith("INSERT")
        for v in params.values():
            if v is not None and UUID.match(v) and v not in seen and v not in by_value:
                stamp = int(v[:8] + v[9:13], 16)
                fresh_v7 = v[14] == "7" and (
                    stamp >= started_ms or (inserts and stamp >= started_ms - 1000))
                fresh_v4 = v[14] == "4" and inserts
                if fresh_v7 or fresh_v4:
                    generated.setdefault(v, f"g{len(generated)}")
            seen.add(v)

    columns = []  # (variable, expression)
    body = []
    for i, (sql, params) in enumerate(statements):
        text = sql
        for n in sorted(params, reverse=True):
            value = params[n]
            if value is None:
                text = re.sub(rf"\${n}(?!\d)", "NULL", text)
                continue
            var = f"v{i}_{n}"
            if value in by_value:
                expr = by_value[value]
            elif value in generated:
                expr = f"gen.{generated[value]}"
            elif value in fresh_text:
                expr = "'bench-' || gen_random_uuid()"
            elif "pg_advisory_xact_lock" in sql:
                expr = "(random() * 9.2e18 - 4.6e18)::bigint"
            elif STAMP.match(value) and reference:
                expr = (f"(now() + interval '1 second' - (timestamp {sql_literal(reference)}"
                        f" - timestamp {sql_literal(STAMP.match(value).group(1))}))")
            else:
                expr = sql_literal(value)
            columns.append((var, expr))
            text = re.sub(rf"\${n}(?!\d)", f":{var}", text)
        body.append(text.rstrip().rstrip(";") + ";")

    out = [f"-- {workload}: generated by scripts/pgbench-from-log.py from the server's statement log",
           f"-- {len(statements)} statements per request, plus the parameter lookup below."]
    if workload == "create-involvement":
        # New involvements walk their rows with a per-client counter: never
        # the same row twice (-D n=0 -D clients=C -D offset=O, the driver
        # moves the offset past what earlier runs used).
        out += ["\\set n :n + 1", "\\set k :offset + :n * :clients + :client_id"]
    elif workload == "director-handover":
        # Handovers go round the plans, each to the director it lacks.
        out += ["\\set n :n + 1", "\\set k (:offset + :n * :clients + :client_id) % :handover_rows"]
    elif table:
        out.append("\\set k random(0, :plan_rows - 1)")
    select = ",\n       ".join(f"{expr} AS {var}" for var, expr in columns) or "1 AS none"
    source = ""
    if generated:
        gens = ", ".join(f"gen_random_uuid() AS {name}" for name in generated.values())
        source = f"\n  FROM (SELECT {gens}) gen"
    if table:
        source += (", " if generated else "\n  FROM ") + f"bench.{table} r WHERE r.k = :k"
    out.append(f"SELECT {select}{source}\n\\gset")
    out += body
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--setup":
        print("DROP SCHEMA IF EXISTS bench CASCADE;\nCREATE SCHEMA bench;")
        print(WRITE_PLANS + ";")
        for table, sql, _ in SETUP.values():
            print(sql + ";")
            print(f"ALTER TABLE bench.{table} ADD PRIMARY KEY (k);")
        print("ANALYZE bench.plan_view, bench.create_involvement, bench.director_handover;")
        return
    workload, log_path, roles_path = sys.argv[1:4]
    with open(log_path, encoding="utf-8", errors="replace") as f:
        log_text = f.read()
    with open(roles_path, encoding="utf-8") as f:
        roles = json.load(f)
    sys.stdout.write(convert(workload, log_text, roles))


if __name__ == "__main__":
    main()
