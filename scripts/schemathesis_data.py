#!/usr/bin/env python3
"""Real ids for the fuzzer: writes a schemathesis config that draws path ids
and id fields from the demo data half of the time.

  schemathesis_data.py BASE STATIC_TOML OUT_TOML

BASE is the server (http://host:port). Tokens come from the environment:
ST_LEAD_TOKEN (Leiden team lead), ST_OTHER_LEAD_TOKEN (a team lead of
another municipality), ST_ADMIN_TOKEN, ST_CLIENT_TOKEN (the demo GP client).
OUT_TOML is STATIC_TOML plus `[dictionaries]` of the ids found and bindings
of the id parameters to them.

Without this a generated UUID never names a row, so every operation with an
id in its path answers 404 and the views behind it (a family as a JGT
worker sees it, a plan as a provider sees it) are never checked against
their schemas. The ids are those of both municipalities, every pass gets
all of them: a role given an id outside its reach must answer 403 or 404,
which the status checks then hold it to. The other half of the draws stay
random, so the unknown-id answers keep being fuzzed too.
"""

import json
import os
import sys
import urllib.error
import urllib.request
import uuid

PROBABILITY = 0.5


def call(base, token, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/v1{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        sys.exit(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}")


def items(base, token, path):
    return call(base, token, "GET", f"{path}{'&' if '?' in path else '?'}limit=200")["items"]


def collect(base):
    lead = os.environ["ST_LEAD_TOKEN"]
    other = os.environ["ST_OTHER_LEAD_TOKEN"]
    admin = os.environ["ST_ADMIN_TOKEN"]
    client = os.environ["ST_CLIENT_TOKEN"]
    ids = {name: set() for name in (
        "families", "members", "plans", "involvements", "referrals",
        "users", "providers", "clients", "teams", "care-forms", "signals",
        "referrer-agb-codes", "referrer-types", "provider-agb-codes",
    )}
    # Clients refer only as themselves: their type and AGB code.
    for c in items(base, admin, "/clients"):
        ids["clients"].add(c["id"])
        ids["referrer-types"].add(c["referrerType"])
        if c.get("agbCode"):
            ids["referrer-agb-codes"].add(c["agbCode"])
    demo_client = items(base, admin, "/clients")[0]

    # Referrals: the demo data has none, so the GP client sends two (one
    # that matches nothing and becomes a new family, one to be declined).
    for n in range(2):
        referral = call(base, client, "POST", "/referrals", {
            "externalReference": f"FUZZ-{n}",
            "referrerType": demo_client["referrerType"],
            "referrerAgbCode": demo_client["agbCode"],
            "municipalityCode": "0546",
            "child": {"givenName": f"Fuzz{n}", "familyName": "Seed", "birthDate": "2016-05-0" + str(n + 1)},
            "reason": "Vastgelopen op school",
            "urgency": "regular",
        }, {"Idempotency-Key": str(uuid.uuid4())})
        ids["referrals"].add(referral["id"])

    for token in (lead, other):
        for family in items(base, token, "/families"):
            ids["families"].add(family["id"])
            ids["teams"].add(family["teamId"])
            details = call(base, token, "GET", f"/families/{family['id']}")
            ids["members"].update(m["id"] for m in details["members"])
            for plan in call(base, token, "GET", f"/families/{family['id']}/plans")["items"]:
                ids["plans"].add(plan["id"])
                view = call(base, token, "GET", f"/plans/{plan['id']}")
                ids["involvements"].update(i["id"] for i in view.get("involvements") or [])
                ids["signals"].update(s["code"] for s in view.get("signals") or [])
        ids["referrals"].update(r["id"] for r in items(base, token, "/referrals"))
    ids["users"].update(u["id"] for u in items(base, admin, "/users"))
    for p in items(base, admin, "/providers"):
        ids["providers"].add(p["id"])
        ids["provider-agb-codes"].add(p["agbCode"])
    ids["teams"].update(t["id"] for t in items(base, admin, "/teams"))
    ids["care-forms"].update(c["code"] for c in call(base, lead, "GET", "/care-forms")["items"])
    return ids


def toml_string(value):
    return json.dumps(value)


def binding(dictionary):
    return f'{{ dictionary = "{dictionary}", probability = {PROBABILITY} }}'


# Path parameters by path prefix: `{id}` means another kind on every resource.
PATHS = {
    "^/families/\\{id\\}": {"path.id": "families", "path.memberId": "members"},
    "^/plans/\\{id\\}": {"path.id": "plans", "path.code": "signals"},
    "^/involvements/\\{id\\}": {"path.id": "involvements"},
    "^/referrals/\\{id\\}": {"path.id": "referrals"},
    "^/users/\\{id\\}": {"path.id": "users"},
    "^/providers/\\{id\\}": {"path.id": "providers"},
    "^/clients/\\{id\\}": {"path.id": "clients"},
}

# Ids in bodies and queries mean the same kind wherever they appear.
FIELDS = {
    "body.teamId": "teams",
    "query.teamId": "teams",
    "body.familyId": "families",
    "query.familyId": "families",
    "body.memberId": "members",
    "body.start[*].memberId": "members",
    "body.userId": "users",
    "body.directorId": "users",
    "query.directorId": "users",
    "query.actorId": "users",
    "body.providerId": "providers",
    "body.start[*].providerId": "providers",
    "body.careFormCode": "care-forms",
    "body.start[*].careFormCode": "care-forms",
    "body.requestedCareFormCode": "care-forms",
    "body.end[*].involvementId": "involvements",
    "body.referrerType": "referrer-types",
    "body.referrerAgbCode": "referrer-agb-codes",
    "body.requestedProviderAgbCode": "provider-agb-codes",
}


def main(base, static_path, out_path):
    ids = collect(base)
    lines = [open(static_path).read().rstrip(), "", "# Generated by scripts/schemathesis_data.py."]
    for name, values in sorted(ids.items()):
        if values:
            lines += ["", f"[dictionaries.{name}]", f"values = [{', '.join(toml_string(v) for v in sorted(values))}]"]
    usable = {name for name, values in ids.items() if values}
    lines += ["", "[parameters]"]
    lines += [f'"{key}" = {binding(kind)}' for key, kind in FIELDS.items() if kind in usable]
    for regex, params in PATHS.items():
        bound = {key: kind for key, kind in params.items() if kind in usable}
        if not bound:
            continue
        lines += ["", "[[operations]]", f"include-path-regex = {toml_string(regex)}"]
        lines += [f'parameters = {{ {", ".join(f"{toml_string(k)} = {binding(v)}" for k, v in bound.items())} }}']
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("real ids for the fuzzer: " + ", ".join(f"{len(v)} {k}" for k, v in sorted(ids.items())))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
