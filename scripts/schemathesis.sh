#!/usr/bin/env bash
# Starts the server the way a newcomer does (`cargo run`: private PostgreSQL,
# demo data), checks that it works, fuzzes the API with schemathesis in
# passes, each with a valid token of one role and the operations that role
# uses, for a bounded time; then checks that every operation of the document
# was exercised by at least two roles, stops the server with Ctrl-C (SIGINT)
# and checks that it shut down cleanly, PostgreSQL included.
#
# Passes, in this order (seconds, env to change them):
#   team lead         every operation but login/refresh/logout  ST_MAX_TIME (95)
#   provider user     Care                                      ST_PROVIDER_TIME (30)
#   demo GP client    Referrals                                 ST_CLIENT_TIME (30)
#   auditor           Audit, Reports                            ST_AUDITOR_TIME (30)
#   JGT worker        Families, Plans, Directors, Care, getMe   ST_JGT_TIME (45)
#   GI worker         Families, Plans, Directors, Referrals,
#                     getMe                                     ST_GI_TIME (40)
#   JGT worker, auditor: Auth but getMe, on sessions of their
#                     own, so a logout ends no other pass's
#                     token                                     ST_AUTH_TIME (15 each)
#   admin             Administration, last: it may disable users
#                     or change passwords                       ST_ADMIN_TIME (45)
# Every token is taken before the first pass: the Auth passes try the
# document's example login until that account is locked, and the admin pass
# may disable accounts. Half of the ids the passes send are those of real
# rows of both municipalities (scripts/schemathesis_data.py), the other half
# random.
#
# Env: SCHEMATHESIS (binary), the times above, SCHEMATHESIS_USER /
#      SCHEMATHESIS_PASSWORD (default: the demo team lead).
set -euo pipefail
cd "$(dirname "$0")/.."

ST="${SCHEMATHESIS:-schemathesis}"
MAX_TIME="${ST_MAX_TIME:-95}"
PROVIDER_TIME="${ST_PROVIDER_TIME:-30}"
CLIENT_TIME="${ST_CLIENT_TIME:-30}"
AUDITOR_TIME="${ST_AUDITOR_TIME:-30}"
JGT_TIME="${ST_JGT_TIME:-45}"
GI_TIME="${ST_GI_TIME:-40}"
AUTH_TIME="${ST_AUTH_TIME:-15}"
ADMIN_TIME="${ST_ADMIN_TIME:-45}"
DEMO_PASSWORD="gezinsregie-demo"
USER_NAME="${SCHEMATHESIS_USER:-teamlead.leiden}"
USER_PASSWORD="${SCHEMATHESIS_PASSWORD:-$DEMO_PASSWORD}"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DATA="$(mktemp -d /tmp/gezinsregie-ci.XXXXXX)"
LOG="$DATA.server.log"
BASE="http://127.0.0.1:$PORT"

cargo build --locked --quiet
# `cargo run` replaces itself with the server, so $! is the server's pid.
# The fuzzer sends thousands of login and token requests from one address:
# with the per-address limit on, they would answer 429 instead of showing
# what the endpoints do with the input. The limit itself is tested in
# tests/api/login_limits.rs and tests/login_flood.rs.
GEZINSREGIE__AUTH__LOGIN_PER_ADDRESS_BURST=1000000 \
GEZINSREGIE__AUTH__LOGIN_PER_ADDRESS_PER_MINUTE=1000000 \
GEZINSREGIE__DATA_DIR="$DATA" GEZINSREGIE__SERVER__PORT="$PORT" cargo run --locked --quiet >"$LOG" 2>&1 &
SERVER=$!
cleanup() {
  if kill -0 "$SERVER" 2>/dev/null; then kill -INT "$SERVER" 2>/dev/null || true; sleep 5; kill -9 "$SERVER" 2>/dev/null || true; fi
}
trap cleanup EXIT

ready=""
for _ in $(seq 1 240); do
  if curl -fsS "$BASE/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "server did not become ready; log tail:"; tail -n 40 "$LOG"; exit 1
fi
grep -q "Demo data loaded" "$LOG" || { echo "demo data was not loaded"; tail -n 40 "$LOG"; exit 1; }

login() {
  curl -fsS -X POST "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])'
}
TOKEN="$(login "$USER_NAME" "$USER_PASSWORD")"

echo "--- newcomer smoke check"
families="$(curl -fsS "$BASE/v1/families" -H "Authorization: Bearer $TOKEN")"
count="$(printf '%s' "$families" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))')"
[ "$count" -ge 1 ] || { echo "the demo team lead sees no families"; exit 1; }
curl -fsS -o /dev/null "$BASE/docs/" || { echo "Swagger UI is not served"; exit 1; }
curl -fsS "$BASE/metrics" | grep -q "gezinsregie_http_requests_total" || { echo "/metrics lacks request counters"; exit 1; }
echo "demo login works; the team lead sees $count families; /docs and /metrics answer"

export SCHEMATHESIS_TELEMETRY=false
DOC="$DATA.openapi.json"
TALLY="$DATA.coverage.json"
curl -fsS "$BASE/v1/openapi.json" -o "$DOC"

# Checks, beyond the five response conformance ones (no 5xx, documented
# status, content type, headers and body schema):
#   unsupported_method         an undocumented method gets 405 with Allow
#   allow_header_conformance   Allow names exactly the documented methods
#   negative_data_rejection    schema-invalid input is refused (4xx)
#   missing_required_header    a required header left out is refused
#                              (Idempotency-Key, If-Match: see the .toml)
#   ignored_auth               a protected operation refuses no or a bad token
#   ensure_resource_availability  what a POST created can be read back
# Left out: positive_data_acceptance (it wants every schema-valid request
# accepted, but many are refused by rules a schema cannot state: the BSN
# 11-proof, opaque cursors, a team that does not exist, a 'to' before
# 'from'), use_after_free (this API has no DELETE, so it never applies),
# object_level_authorization (needs identities configured in schemathesis'
# own config; tests/api/*_authz.rs cover isolation between users).
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method,allow_header_conformance,negative_data_rejection,missing_required_header,ignored_auth,ensure_resource_availability

# The role behind a user token, as the server sees it.
role_of() {
  curl -fsS "$BASE/v1/me" -H "Authorization: Bearer $1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["role"])'
}

# One schemathesis pass: fuzz <name> <role> <token> <seconds> [operation filters].
# Sets $pass_status to 0 (clean) or non-zero (a finding) and adds the
# operations it exercised, per role, to $TALLY.
fuzz() {
  local name="$1" role="$2" token="$3" seconds="$4"
  shift 4
  local junit="$DATA.pass.junit.xml" events="$DATA.pass.ndjson"
  echo "--- schemathesis: $name, role $role (${seconds}s)"
  pass_status=0
  "$ST" --config-file "$CONFIG" run "$BASE/v1/openapi.json" \
    --url "$BASE/v1" \
    --header "Authorization: Bearer $token" \
    --checks "$CHECKS" \
    "$@" \
    --workers 2 \
    --max-time "$seconds" \
    --request-timeout 10 \
    --generation-database none \
    --report junit,ndjson --report-junit-path "$junit" --report-ndjson-path "$events" \
    --no-color || pass_status=$?

  # A non-zero exit is a finding unless every problem is the known CPython
  # 3.11 bug inside the fuzzer itself ("AST constructor recursion depth
  # mismatch", CPython gh-106905): those are errors of the tool, not answers
  # of this API. Check failures (5xx, schema or status mismatches) always fail.
  if [ "$pass_status" != 0 ] && [ -f "$junit" ]; then
    pass_status="$(python3 - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
failures = root.findall(".//failure")
errors = root.findall(".//error")
tool_bug = "AST constructor recursion depth mismatch"
other = [e for e in errors if tool_bug not in ((e.get("message") or "") + (e.text or ""))]
for f in failures:
    print("FAILURE:", (f.get("message") or f.text or "").strip()[:500], file=sys.stderr)
for e in other:
    print("ERROR:", (e.get("message") or e.text or "").strip()[:500], file=sys.stderr)
if not failures and not other:
    print(f"ignoring {len(errors)} internal error(s) of the fuzzer ({tool_bug})", file=sys.stderr)
print(1 if failures or other else 0)
PY
)"
  fi
  if [ -f "$events" ]; then
    python3 scripts/schemathesis_coverage.py record "$DOC" "$events" "$TALLY" "$name" "$role"
  fi
  rm -f "$junit" "$events"
}

# Every token first (see the top of this file). Sessions are per login, so
# the Auth passes log in again and their logouts end only their own.
PROVIDER_TOKEN="$(login "${SCHEMATHESIS_PROVIDER:-zorg.rijnland}" "$DEMO_PASSWORD")"
CLIENT_TOKEN="$(curl -fsS -u "${SCHEMATHESIS_CLIENT_ID:-019ab000-0000-7000-8000-0000000d0001}:${SCHEMATHESIS_CLIENT_SECRET:-gezinsregie-demo-client-secret}" \
  -d grant_type=client_credentials "$BASE/v1/oauth/token" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
AUDITOR_TOKEN="$(login auditor.leiden "$DEMO_PASSWORD")"
JGT_TOKEN="$(login anna.jgt "$DEMO_PASSWORD")"
GI_TOKEN="$(login carla.gi "$DEMO_PASSWORD")"
AUTH_JGT_TOKEN="$(login bram.jgt "$DEMO_PASSWORD")"
AUTH_AUDITOR_TOKEN="$(login auditor.leiden "$DEMO_PASSWORD")"
ADMIN_TOKEN="$(login admin "$DEMO_PASSWORD")"
OTHER_LEAD_TOKEN="$(login teamlead.katwijk "$DEMO_PASSWORD")"

# Ids of real rows (both municipalities) for the fuzzer to draw half of its
# ids from, so the views behind them are checked too; see the script.
CONFIG="$DATA.schemathesis.toml"
ST_LEAD_TOKEN="$TOKEN" ST_OTHER_LEAD_TOKEN="$OTHER_LEAD_TOKEN" ST_ADMIN_TOKEN="$ADMIN_TOKEN" \
  ST_CLIENT_TOKEN="$CLIENT_TOKEN" python3 scripts/schemathesis_data.py "$BASE" scripts/schemathesis.toml "$CONFIG"

fuzz_started=$(date +%s)
SESSION_OPS=(--exclude-operation-id login --exclude-operation-id refreshToken --exclude-operation-id logout)
st_status=0
# The whole API as a team lead (case work, own municipality)...
fuzz "all operations as $USER_NAME" "$(role_of "$TOKEN")" "$TOKEN" "$MAX_TIME" "${SESSION_OPS[@]}"
[ "$pass_status" = 0 ] || st_status=1
# ...the care endpoints as a provider user (its own limited view)...
fuzz "care as a provider user" "$(role_of "$PROVIDER_TOKEN")" "$PROVIDER_TOKEN" "$PROVIDER_TIME" --include-tag Care
[ "$pass_status" = 0 ] || st_status=1
# ...the referral endpoints as the demo GP system (a machine client with
# the client-credentials grant; its token must be refused everywhere else)...
fuzz "referrals as the demo GP client" client "$CLIENT_TOKEN" "$CLIENT_TIME" --include-tag Referrals
[ "$pass_status" = 0 ] || st_status=1
# ...the audit trail and the reports as the municipality's auditor...
fuzz "audit and reports as an auditor" "$(role_of "$AUDITOR_TOKEN")" "$AUDITOR_TOKEN" "$AUDITOR_TIME" --include-tag Audit --include-tag Reports
[ "$pass_status" = 0 ] || st_status=1
# ...case work as a JGT worker (own team; director of some plans)...
fuzz "case work as a JGT worker" "$(role_of "$JGT_TOKEN")" "$JGT_TOKEN" "$JGT_TIME" \
  --include-tag Families --include-tag Plans --include-tag Directors --include-tag Care --include-operation-id getMe
[ "$pass_status" = 0 ] || st_status=1
# ...case work and referrals as a GI worker (director for the municipalities
# its institution serves)...
fuzz "case work and referrals as a GI worker" "$(role_of "$GI_TOKEN")" "$GI_TOKEN" "$GI_TIME" \
  --include-tag Families --include-tag Plans --include-tag Directors --include-tag Referrals --include-operation-id getMe
[ "$pass_status" = 0 ] || st_status=1
# ...login, refresh, logout and the client token, by two roles on sessions
# of their own (getMe is in the passes above: once the pass has logged its
# session out, every getMe here could only be a 401)...
AUTH_OPS=(--include-tag Auth --exclude-operation-id getMe)
fuzz "sessions as a JGT worker" "$(role_of "$AUTH_JGT_TOKEN")" "$AUTH_JGT_TOKEN" "$AUTH_TIME" "${AUTH_OPS[@]}"
[ "$pass_status" = 0 ] || st_status=1
fuzz "sessions as an auditor" "$(role_of "$AUTH_AUDITOR_TOKEN")" "$AUTH_AUDITOR_TOKEN" "$AUTH_TIME" "${AUTH_OPS[@]}"
[ "$pass_status" = 0 ] || st_status=1
# ...and, last, the administration as the admin: it may disable users or
# change their passwords, so every other pass has run before it.
fuzz "administration as admin" "$(role_of "$ADMIN_TOKEN")" "$ADMIN_TOKEN" "$ADMIN_TIME" --include-tag Administration
[ "$pass_status" = 0 ] || st_status=1

echo "--- coverage: every operation exercised by at least two roles ($(( $(date +%s) - fuzz_started )) s for all passes)"
python3 scripts/schemathesis_coverage.py check "$DOC" "$TALLY" || st_status=1
rm -f "$DOC" "$TALLY" "$CONFIG"

echo "--- shutdown on Ctrl-C"
kill -INT "$SERVER"
exit_code=""
for _ in $(seq 1 60); do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    wait "$SERVER" && exit_code=0 || exit_code=$?
    break
  fi
  sleep 0.5
done
trap - EXIT
[ "$exit_code" = "0" ] || { echo "server did not exit cleanly within 30 s (exit: ${exit_code:-still running})"; tail -n 20 "$LOG"; exit 1; }
if pgrep -f "postgres -D $DATA" >/dev/null 2>&1 || pgrep -f -- "-D $DATA/postgres" >/dev/null 2>&1; then
  echo "PostgreSQL of $DATA is still running after shutdown"; exit 1
fi
echo "server and its PostgreSQL stopped cleanly"
rm -rf "$DATA" "$LOG"
exit "$st_status"
