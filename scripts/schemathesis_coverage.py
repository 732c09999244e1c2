#!/usr/bin/env python3
"""Which roles exercised which operation in scripts/schemathesis.sh.

  record DOC NDJSON TALLY PASS ROLE  adds one pass's answered requests,
                                    per operation, to the TALLY file (and
                                    the answers to undocumented methods)
  check DOC TALLY                   prints every operation with its roles
                                    and exits 1 when one has fewer than 2

The NDJSON file is schemathesis' event stream (`--report ndjson`): every
finished scenario lists its cases (method and path template) and the
response each got. A role counts for an operation when at least one of its
requests got an answer that shows the token was taken, i.e. anything but
401 (for the public operations, which take no token, any answer counts):
a pass whose token had been revoked would otherwise look like coverage.
"""

import json
import sys
from collections import Counter, defaultdict

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
MIN_ROLES = 2


def operations(doc_path):
    """(METHOD, path template) -> (operationId, needs a token)."""
    with open(doc_path) as f:
        doc = json.load(f)
    ops = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                # `security: [{}]` marks an operation anyone may call.
                security = op.get("security", doc.get("security", []))
                public = not security or any(not req for req in security)
                ops[(method.upper(), path)] = (op["operationId"], not public)
    return ops


def record(doc_path, ndjson_path, tally_path, pass_name, role):
    ops = operations(doc_path)
    paths = {path for _, path in ops}
    statuses = defaultdict(Counter)
    probes = Counter()
    running_time = None
    with open(ndjson_path) as f:
        for line in f:
            event = json.loads(line)
            if "EngineFinished" in event:
                running_time = event["EngineFinished"].get("running_time")
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished.get("recorder") or {}
            interactions = recorder.get("interactions") or {}
            for case_id, case in (recorder.get("cases") or {}).items():
                value = case.get("value") or {}
                key = (str(value.get("method", "")).upper(), value.get("path"))
                response = (interactions.get(case_id) or {}).get("response")
                if response is None:
                    continue
                status = str(response["status_code"])
                if key in ops:
                    statuses[ops[key][0]][status] += 1
                elif key[1] in paths:
                    # A probe with a method the path does not document.
                    probes[status] += 1
    try:
        with open(tally_path) as f:
            tally = json.load(f)
    except FileNotFoundError:
        tally = {"passes": [], "operations": {}, "probes": {}}
    cases = sum(sum(c.values()) for c in statuses.values())
    tally["passes"].append(
        {"name": pass_name, "role": role, "cases": cases, "seconds": running_time}
    )
    for status, n in probes.items():
        tally["probes"][status] = tally["probes"].get(status, 0) + n
    for op_id, counter in statuses.items():
        tally["operations"].setdefault(op_id, []).append(
            {"pass": pass_name, "role": role, "statuses": dict(counter)}
        )
    with open(tally_path, "w") as f:
        json.dump(tally, f)
    seconds = f"{running_time:.0f} s" if running_time is not None else "?"
    print(f"{pass_name}: {cases} answered requests to {len(statuses)} operations in {seconds}")


def check(doc_path, tally_path):
    ops = operations(doc_path)
    with open(tally_path) as f:
        tally = json.load(f)
    short = []
    print(f"{'operation':<26} roles that exercised it (answered requests, of them 2xx)")
    for (method, path), (op_id, needs_token) in sorted(ops.items(), key=lambda kv: kv[1][0]):
        by_role = defaultdict(Counter)
        for run in tally["operations"].get(op_id, []):
            by_role[run["role"]].update(run["statuses"])
        counted = {
            role: counter
            for role, counter in by_role.items()
            if not needs_token or any(status != "401" for status in counter)
        }
        cells = []
        for role, counter in sorted(by_role.items()):
            total = sum(counter.values())
            ok = sum(n for status, n in counter.items() if status.startswith("2"))
            mark = "" if role in counted else " (only 401: not counted)"
            cells.append(f"{role} {total}/{ok}{mark}")
        print(f"{op_id:<26} {', '.join(cells) or '-'}")
        if len(counted) < MIN_ROLES:
            short.append(f"{op_id} ({method} {path}): {len(counted)} role(s)")
    total = sum(p["cases"] for p in tally["passes"])
    seconds = sum(p["seconds"] or 0 for p in tally["passes"])
    print(f"{len(tally['passes'])} passes, {total} answered requests, {seconds:.0f} s of fuzzing")
    probes = ", ".join(f"{n} x {status}" for status, n in sorted(tally["probes"].items()))
    print(f"undocumented methods probed: {probes or 'none'}")
    if short:
        print(f"operations exercised by fewer than {MIN_ROLES} roles:")
        for line in short:
            print(f"  {line}")
        return 1
    print(f"every one of the {len(ops)} operations was exercised by at least {MIN_ROLES} roles")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "record":
        record(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
