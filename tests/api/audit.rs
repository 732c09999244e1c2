//! The audit trail: append-only, tamper-evident (verify names each changed,
//! removed and inserted event), listed per municipality, exported streaming.

use diesel_async::SimpleAsyncConnection;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::case_world::{case_world, family, get, plan, CaseWorld};
use gezinsregie::audit::AuditEvent;

/// Some traffic in Leiden (and a little in Katwijk), so the trail has events
/// of several kinds and municipalities.
async fn traffic(w: &CaseWorld) -> uuid::Uuid {
    let f = family(w, None, None).await;
    let p = plan(w, f, Some(w.anna.id())).await.id();
    for _ in 0..3 {
        assert_eq!(
            get(&w.app, &format!("/plans/{p}"), &w.lead.token)
                .await
                .status,
            200
        );
    }
    // Denied: Bram is of another team.
    assert_eq!(
        get(&w.app, &format!("/families/{f}"), &w.bram.token)
            .await
            .status,
        403
    );
    assert_eq!(
        get(&w.app, "/families", &w.katwijk_lead.token).await.status,
        200
    );
    f
}

async fn verify(w: &CaseWorld, query: &str) -> Value {
    let r = get(&w.app, &format!("/audit/verify{query}"), &w.admin.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn problems(report: &Value) -> Vec<(String, i64)> {
    let mut found: Vec<(String, i64)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["seq"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    found.sort();
    found
}

async fn seqs(w: &CaseWorld, sql: &str) -> Vec<i64> {
    let rows = w
        .app
        .raw_bytes(&format!("SELECT int8send(seq) AS bytes FROM ({sql}) s"))
        .await;
    rows.into_iter()
        .map(|b| i64::from_be_bytes(b.try_into().unwrap()))
        .collect()
}

#[actix_web::test]
async fn verify_names_every_changed_removed_and_inserted_event() {
    let w = case_world().await;
    traffic(&w).await;

    let clean = verify(&w, "").await;
    assert_eq!(clean["valid"], true, "{clean}");
    let checked = clean["checkedEntries"].as_i64().unwrap();
    assert!(checked >= 10, "{clean}");
    assert_eq!(
        w.app
            .count(
                "SELECT count(*) AS n FROM audit_events e
                  WHERE action <> 'verify' AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = e.seq)"
            )
            .await,
        0,
        "every event before the verification is sealed"
    );
    assert_eq!(checked, clean["head"]["position"].as_i64().unwrap());

    let reads = seqs(
        &w,
        "SELECT seq FROM audit_events WHERE action = 'read' ORDER BY seq",
    )
    .await;
    let (changed, removed) = (reads[0], reads[1]);
    let relinked = seqs(
        &w,
        "SELECT seq FROM audit_events WHERE action = 'create' ORDER BY seq",
    )
    .await[0];

    // As a superuser, with the append-only triggers lifted for the session.
    let mut conn = w.app.conn().await;
    conn.batch_execute(&format!(
        "SET session_replication_role = replica;
         UPDATE audit_events SET outcome = 'denied' WHERE seq = {changed};
         DELETE FROM audit_events WHERE seq = {removed};
         UPDATE audit_chain SET link = sha256(link) WHERE seq = {relinked};
         -- Forged behind the server's back: no MAC the server would accept,
         -- and (triggers lifted) not even queued for sealing.
         INSERT INTO audit_events (occurred_at, actor_type, purpose, action, resource_type,
                                   outcome, municipality_code, row_mac)
         VALUES (now() - interval '1 minute', 'system', 'care_coordination', 'read', 'family',
                 'success', '0546', sha256('forged'));
         SET session_replication_role = origin;
         -- Forged through the front door: queued by the trigger, refused by
         -- the sealer because its MAC fails.
         INSERT INTO audit_events (occurred_at, actor_type, purpose, action, resource_type,
                                   outcome, municipality_code, row_mac)
         VALUES (now(), 'system', 'care_coordination', 'create', 'family', 'success', '0546',
                 sha256('also forged'));"
    ))
    .await
    .unwrap();
    let forged = seqs(&w, "SELECT seq FROM audit_events WHERE row_mac IN (sha256('forged'), sha256('also forged')) ORDER BY seq").await;
    assert_eq!(forged.len(), 2);

    let report = verify(&w, "").await;
    assert_eq!(report["valid"], false, "{report}");
    let mut expected = vec![
        ("changed".to_owned(), changed),
        ("removed".to_owned(), removed),
        ("chain_altered".to_owned(), relinked),
        ("inserted".to_owned(), forged[0]),
        ("inserted".to_owned(), forged[1]),
    ];
    expected.sort();
    assert_eq!(problems(&report), expected, "{report}");
    assert_eq!(report["problemCount"], 5);
    // The forged event was never sealed, and the sealer said so.
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) AS n FROM audit_chain WHERE seq IN ({}, {})",
                forged[0], forged[1]
            ))
            .await,
        0
    );

    // A period that holds none of the tampering is still valid.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let later = verify(&w, &format!("?from={tomorrow}")).await;
    assert_eq!(later["valid"], true, "{later}");
    assert_eq!(later["checkedEntries"], 0);
}

#[actix_web::test]
async fn the_application_role_can_neither_update_nor_delete_the_trail_or_its_chain() {
    let w = case_world().await;
    traffic(&w).await;
    verify(&w, "").await;
    let mut conn = w.app.conn().await;
    for statement in [
        "UPDATE audit_events SET outcome = 'denied'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events CASCADE",
        "UPDATE audit_chain SET link = link",
        "DELETE FROM audit_chain",
        "TRUNCATE audit_chain",
    ] {
        let err = conn.batch_execute(statement).await.unwrap_err().to_string();
        assert!(err.contains("append-only"), "{statement}: {err}");
    }
    assert_eq!(verify(&w, "").await["valid"], true);
}

#[actix_web::test]
async fn concurrent_audited_requests_all_land_in_one_unbroken_chain() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await.id();
    let path = format!("/plans/{p}");
    let replies = join_all((0..60).map(|i| {
        let token = if i % 2 == 0 {
            &w.lead.token
        } else {
            &w.anna.token
        };
        get(&w.app, &path, token)
    }))
    .await;
    assert!(replies.iter().all(|r| r.status == 200));

    let report = verify(&w, "").await;
    assert_eq!(report["valid"], true, "{report}");
    // The background sealer goes on sealing (the verification's own event,
    // at least): count the entries up to a maximum read first, so both
    // figures describe the same chain.
    let max = w
        .app
        .count("SELECT max(position) AS n FROM audit_chain")
        .await;
    let sealed = w
        .app
        .count(&format!(
            "SELECT count(*) AS n FROM audit_chain WHERE position <= {max}"
        ))
        .await;
    assert_eq!(max, sealed, "positions run 1..n without gaps");
    assert!(
        w.app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'read' AND resource_type = 'plan'").await >= 60
    );
    // The head the verification reported covers every read.
    let head = report["head"]["position"].as_i64().unwrap();
    assert!(head <= sealed);
    assert!(
        w.app
            .count("SELECT max(c.position) AS n FROM audit_chain c JOIN audit_events e USING (seq) WHERE e.action = 'read'")
            .await
            <= head
    );
}

#[actix_web::test]
async fn auditors_list_their_own_municipality_only_and_the_listing_is_audited() {
    let w = case_world().await;
    let f = traffic(&w).await;

    let r = get(&w.app, "/audit/events?limit=200", &w.auditor.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|e| e["municipalityCode"] == "0546"),
        "{}",
        r.body
    );
    let leiden = w
        .app
        .count("SELECT count(*) AS n FROM audit_events WHERE municipality_code = '0546'")
        .await;
    // The listing's own event is written after the page was read.
    assert_eq!(items.len() as i64, leiden - 1);
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|p| p[0] > p[1]), "newest first");
    assert!(items
        .iter()
        .all(|e| e["rowMac"].as_str().is_some_and(|m| m.len() == 64)));

    // Filters and the cursor.
    let r = get(
        &w.app,
        &format!("/audit/events?familyId={f}&action=read&limit=2"),
        &w.auditor.token,
    )
    .await;
    assert_eq!(r.status, 200);
    let first = r.body["items"].as_array().unwrap().clone();
    assert_eq!(first.len(), 2);
    assert!(first
        .iter()
        .all(|e| e["familyId"] == f.to_string() && e["action"] == "read"));
    let cursor = r.body["nextCursor"].as_str().unwrap().to_owned();
    let r = get(
        &w.app,
        &format!("/audit/events?familyId={f}&action=read&limit=2&cursor={cursor}"),
        &w.auditor.token,
    )
    .await;
    let second = r.body["items"].as_array().unwrap();
    assert!(!second.is_empty());
    assert!(second[0]["seq"].as_i64() < first[1]["seq"].as_i64());

    // Katwijk's events stay out of sight, whatever is asked.
    let r = get(
        &w.app,
        "/audit/events?municipalityCode=0537",
        &w.auditor.token,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = get(
        &w.app,
        "/audit/export?municipalityCode=0537",
        &w.auditor.token,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Case roles do not read the trail; the attempt is itself recorded.
    for token in [&w.lead.token, &w.anna.token, &w.gi.token] {
        let r = get(&w.app, "/audit/events", token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert_eq!(r.code(), "forbidden");
    }
    let denied = w.app.audit_events("access_denied").await;
    assert!(denied
        .iter()
        .any(|e| e.resource_type == "audit_log" && e.actor_id == Some(w.lead.id())));
    // Nor the auditor the case.
    assert_eq!(
        get(&w.app, &format!("/families/{f}"), &w.auditor.token)
            .await
            .status,
        403
    );

    // Reading the trail is in the trail.
    let searches: Vec<_> = w
        .app
        .audit_events("search")
        .await
        .into_iter()
        .filter(|e| e.resource_type == "audit_log")
        .collect();
    assert!(searches.iter().any(|e| e.actor_id == Some(w.auditor.id())
        && e.municipality_code.as_deref() == Some("0546")
        && e.outcome == "success"));
    let r = get(
        &w.app,
        "/audit/events?from=2026-02-01&to=2026-01-01&action=Read",
        &w.auditor.token,
    )
    .await;
    assert_eq!(r.status, 400);
    let names: Vec<&str> = r.body["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["to", "action"], "{}", r.body);
}

#[actix_web::test]
async fn the_export_streams_ndjson_and_csv_with_the_chain_head_and_is_audited() {
    let w = case_world().await;
    traffic(&w).await;
    // An id a caller chose, that a spreadsheet would run as a formula.
    let conn = w.app.conn().await;
    AuditEvent::system("read", "family", "=HYPERLINK(\"x\")")
        .municipality("0546")
        .record(&conn)
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();

    let res = w
        .app
        .client
        .get(w.app.api(&format!("/audit/export?from={today}&to={today}")))
        .bearer_auth(&w.auditor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let head = res.headers()["audit-chain-head"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = res.text().await.unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every Leiden event up to the export's own (recorded before it streams).
    let leiden = w
        .app
        .count("SELECT count(*) AS n FROM audit_events WHERE municipality_code = '0546'")
        .await;
    assert_eq!(lines.len() as i64, leiden);
    assert!(lines.iter().all(|e| e["municipalityCode"] == "0546"));
    assert!(
        lines
            .windows(2)
            .all(|p| p[0]["seq"].as_i64() < p[1]["seq"].as_i64()),
        "oldest first"
    );
    let last = lines.last().unwrap();
    assert_eq!(last["action"], "export");
    assert_eq!(last["actorId"], w.auditor.id().to_string());
    assert!(last["occurredAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(last["detail"]["format"], "ndjson");
    let formula = lines
        .iter()
        .find(|e| {
            e["resourceId"]
                .as_str()
                .is_some_and(|r| r.contains("HYPERLINK"))
        })
        .unwrap();
    assert_eq!(
        formula["resourceId"], "=HYPERLINK(\"x\")",
        "NDJSON keeps values as they are"
    );
    // The head names a real chain entry that covers every exported event
    // but the export's own (which the sealer may or may not have reached).
    let fields: Vec<&str> = head.split("; ").collect();
    let position: i64 = fields[0].trim_start_matches("position=").parse().unwrap();
    let seq: i64 = fields[1].trim_start_matches("seq=").parse().unwrap();
    let link = fields[2].trim_start_matches("link=");
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) AS n FROM audit_chain
                  WHERE position = {position} AND seq = {seq} AND encode(link, 'hex') = '{link}'"
            ))
            .await,
        1,
        "{head}"
    );
    let covered = w
        .app
        .count(
            "SELECT max(c.position) AS n FROM audit_chain c JOIN audit_events e USING (seq)
              WHERE e.municipality_code = '0546' AND e.action <> 'export'",
        )
        .await;
    assert!(covered <= position, "{covered} > {position}");

    let res = w
        .app
        .client
        .get(w.app.api("/audit/export?municipalityCode=0546&format=csv"))
        .bearer_auth(&w.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("audit-0546-start-now.csv"));
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("seq,occurredAt,actorType,actorId,actorRole,onBehalfOf,purpose,municipalityCode,action,resourceType,resourceId,familyId,outcome,emergencyAccess,requestId,ip,detail,rowMac\r\n"));
    let records: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(
        records.len() as i64 - 1,
        leiden + 1,
        "header + every event incl. both exports"
    );
    assert!(!csv.replace("\r\n", "").contains('\n'));
    assert!(
        records[1].contains(",false,"),
        "booleans as words: {}",
        records[1]
    );
    assert!(
        csv.contains(",\"'=HYPERLINK(\"\"x\"\")\","),
        "formula neutralised and quoted: {csv}"
    );

    let exports = w.app.audit_events("export").await;
    assert_eq!(exports.len(), 2);
    assert_eq!(exports[1].actor_id, Some(w.admin.id()));
    assert_eq!(exports[1].detail["format"], "csv");

    let r = get(&w.app, "/audit/export?format=xml", &w.auditor.token).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["invalidParams"][0]["name"], "format");
    for path in [
        "/audit/export?to=9999-12-31",
        "/audit/verify?from=1000-01-01",
        "/audit/events?to=9999-12-31",
    ] {
        let r = get(&w.app, path, &w.auditor.token).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.body["invalidParams"][0]["code"], "out_of_range", "{path}");
    }
    let r = get(&w.app, "/audit/export", &w.lead.token).await;
    assert_eq!(r.status, 403);
}
