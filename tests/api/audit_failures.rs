//! Failed and unauthenticated attempts leave an audit trace (issue 15 item
//! 10): a write that fails is recorded as `write_failed` after its
//! rollback, with nothing of the failed change left behind; requests
//! without a valid token are counted and audited in aggregate.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::audit_coverage::{events_of, Event};
use crate::case_world::*;
use crate::helpers::{eventually, spawn_app_with, TestApp};

/// The one event a failed request left, checked to be its failure record.
async fn one_failure(w: &CaseWorld, r: &Reply, code: &str, attempted: &str) -> Event {
    let events = events_of(&w.app, r).await;
    assert_eq!(events.len(), 1, "{events:?} {} {}", r.status, r.body);
    let e = events.into_iter().next().unwrap();
    assert_eq!(e.action, "write_failed");
    assert_eq!(e.outcome, "error");
    assert_eq!(e.detail["code"], code, "{:?}", e.detail);
    assert_eq!(e.detail["status"], r.status.as_u16());
    assert_eq!(e.detail["attempted"], attempted);
    e
}

async fn verify_chain(w: &CaseWorld) {
    let r = get(&w.app, "/audit/verify", &w.admin.token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["valid"], true, "{}", r.body);
}

/// Issue 15 item 10: a write refused as bad input (422 `unknown_team`, 400
/// `validation_failed`) leaves one `write_failed` event naming its actor,
/// resource and code, and no family; a write no service named is recorded
/// under its endpoint; a failed read records nothing.
#[actix_web::test]
async fn a_write_refused_as_bad_input_leaves_one_failure_event_and_no_change() {
    let w = case_world().await;

    let body = family_body("0546", w.katwijk_team, None);
    let r = post(&w.app, "/families", &w.lead.token, body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let e = one_failure(&w, &r, "unknown_team", "create").await;
    assert_eq!(e.actor_id, Some(w.lead.id()));
    assert_eq!(e.resource_type, "family");
    assert_eq!(e.detail["route"], "/v1/families");

    let mut body = family_body("0546", w.noord, None);
    body["members"][1]["bsn"] = json!("123456780");
    let r = post(&w.app, "/families", &w.lead.token, body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    one_failure(&w, &r, "validation_failed", "create").await;
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 0);

    let f = family(&w, None, None).await;
    let p = plan(&w, f, None).await.id();
    let path = format!("/plans/{p}/signals/no_such_signal/acknowledge");
    let r = post(&w.app, &path, &w.lead.token, json!({"note": "Bewust"})).await;
    assert_eq!(r.status.as_u16() / 100, 4, "{}", r.body);
    let e = one_failure(&w, &r, r.code(), "write").await;
    assert_eq!(e.resource_type, "endpoint");
    assert_eq!(
        e.resource_id.as_deref(),
        Some(format!("/v1{path}").as_str())
    );

    let r = get(&w.app, "/families?bsn=12", &w.lead.token).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        events_of(&w.app, &r).await.is_empty(),
        "reads are not writes"
    );
    verify_chain(&w).await;
}

/// Issue 15 item 10: a write whose body does not parse fails before any
/// transaction; it is recorded too, under its endpoint, for its caller
/// (and a login with a bad body, which has no caller, is not).
#[actix_web::test]
async fn a_write_whose_body_does_not_parse_is_recorded_under_its_endpoint() {
    let w = case_world().await;
    let mut body = family_body("0546", w.noord, None);
    body["colour"] = json!("blauw");

    let r = post(&w.app, "/families", &w.lead.token, body).await;

    assert_eq!(r.status, 400, "{}", r.body);
    let e = one_failure(&w, &r, "validation_failed", "write").await;
    assert_eq!(e.actor_id, Some(w.lead.id()));
    assert_eq!(
        (e.resource_type.as_str(), e.resource_id.as_deref()),
        ("endpoint", Some("/v1/families"))
    );
    let r = call(
        &w.app,
        Method::POST,
        "/auth/login",
        None,
        Some(json!([])),
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(events_of(&w.app, &r).await.is_empty());
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 0);
}

/// Issue 15 item 10: a write that loses to the state it meets (409
/// `plan_already_open`, after the retries a lost race gets) leaves exactly
/// one `write_failed` event, about the family, and no second plan.
#[actix_web::test]
async fn a_conflicting_write_leaves_one_failure_event() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    plan(&w, f, None).await;

    let body = json!({"title": "Tweede plan", "goals": [{"description": "Rust"}]});
    let r = post(&w.app, &format!("/families/{f}/plans"), &w.lead.token, body).await;

    assert_eq!(r.status, 409, "{}", r.body);
    let e = one_failure(&w, &r, "plan_already_open", "create").await;
    assert_eq!(e.resource_type, "plan");
    assert_eq!(e.family_id, Some(f));
    assert_eq!(e.municipality_code.as_deref(), Some("0546"));
    assert_eq!(w.app.count("SELECT count(*) AS n FROM plans").await, 1);
    verify_chain(&w).await;
}

/// Issue 15 item 10: a write stopped by a database constraint (the unique
/// index of a BSN once per family) is rolled back whole and recorded once,
/// with the code the constraint maps to.
#[actix_web::test]
async fn a_write_stopped_by_a_database_constraint_is_rolled_back_and_recorded() {
    let w = case_world().await;
    let f = family(&w, None, Some(&bsn(41))).await;
    let parent = bsn(42);
    let body = json!({"role": "parent", "givenName": "Karin", "familyName": "Jansen",
                      "birthDate": "1985-01-20", "bsn": parent});
    let path = format!("/families/{f}/members");
    let first = post(&w.app, &path, &w.lead.token, body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let members = "SELECT count(*) AS n FROM family_members";
    let before = w.app.count(members).await;

    let r = post(&w.app, &path, &w.lead.token, body).await;

    assert_eq!(r.status, 409, "{}", r.body);
    let e = one_failure(&w, &r, "member_already_in_family", "create").await;
    assert_eq!(e.resource_type, "member");
    assert_eq!(e.family_id, Some(f));
    assert_eq!(w.app.count(members).await, before, "no member half-written");
    let detail = e.detail.to_string();
    assert!(!detail.contains(&parent), "no BSN in the trail: {detail}");
    verify_chain(&w).await;
}

/// The aggregated events of unauthenticated attempts so far.
async fn unauthenticated(app: &TestApp) -> Vec<Event> {
    app.audit_events("unauthenticated_access").await
}

fn total(events: &[Event]) -> u64 {
    events
        .iter()
        .map(|e| e.detail["count"].as_u64().unwrap_or(0))
        .sum()
}

/// Issue 15 item 10: 50 requests for a family without a token, three with
/// forged or malformed ones and one with the token of a logged-out session
/// become one event per client address and endpoint per interval (two at
/// most: the requests may straddle a flush), whose counts add up to the
/// attempts, with the reasons apart and no token anywhere.
#[actix_web::test]
async fn a_flood_of_unauthenticated_reads_is_audited_in_aggregate() {
    let app = spawn_app_with(|s| s.audit_attempts.flush_seconds = 1).await;
    let w = case_world_on(app).await;
    let family = format!("/families/{}", Uuid::new_v4());
    // The lead's claims under a signature of zeros.
    let (signed, _) = w.lead.token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", "A".repeat(43));
    let tokens = [forged.as_str(), "not-a-token", "eyJhbGciOiJub25lIn0.e30."];

    for _ in 0..50 {
        let r = call(&w.app, Method::GET, &family, None, None, &[]).await;
        assert_eq!(r.status, 401);
    }
    for token in tokens {
        assert_eq!(get(&w.app, &family, token).await.status, 401);
    }
    let out = call(
        &w.app,
        Method::POST,
        "/auth/logout",
        Some(&w.anna.token),
        None,
        &[],
    )
    .await;
    assert!(out.status.is_success(), "{}", out.body);
    assert_eq!(get(&w.app, &family, &w.anna.token).await.status, 401);

    eventually(
        "the attempts audited",
        Duration::from_secs(10),
        async || total(&unauthenticated(&w.app).await) >= 54,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = unauthenticated(&w.app).await;
    assert_eq!(total(&events), 54, "{events:?}");
    assert!(events.len() <= 2, "one per key and interval: {events:?}");
    let reason = |name: &str| -> u64 {
        events
            .iter()
            .map(|e| e.detail[name].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(
        (
            reason("noToken"),
            reason("invalidToken"),
            reason("sessionEnded")
        ),
        (50, 3, 1)
    );
    for e in &events {
        assert_eq!(e.resource_id.as_deref(), Some("GET /v1/families/{id}"));
        assert_eq!(
            (e.actor_type.as_str(), e.outcome.as_str()),
            ("anonymous", "denied")
        );
        let text = e.detail.to_string();
        assert!(!text.contains(&forged[10..40]) && !text.contains("not-a-token"));
    }
    let ips = "SELECT count(*) AS n FROM audit_events
               WHERE action = 'unauthenticated_access' AND ip = '127.0.0.1'";
    assert_eq!(w.app.count(ips).await, events.len() as i64);
    verify_chain(&w).await;
}

/// Issue 15 item 10: beyond `audit_attempts.max_keys` distinct endpoints
/// in an interval, attempts are counted into one overflow event, so a
/// flood over many endpoints adds at most `max_keys + 1` events per
/// interval.
#[actix_web::test]
async fn attempts_beyond_the_key_cap_are_counted_into_one_overflow_event() {
    let app = spawn_app_with(|s| {
        s.audit_attempts.flush_seconds = 1;
        s.audit_attempts.max_keys = 2;
    })
    .await;
    let id = Uuid::new_v4();
    // Six keys in a row: whichever flush cuts them, one interval holds at
    // least three of them, so at least one overflow event is certain.
    let paths = [
        format!("/families/{id}"),
        format!("/plans/{id}"),
        "/families".to_owned(),
        "/audit/events".to_owned(),
        format!("/families/{id}/plans"),
        "/reports/summary".to_owned(),
    ];
    for path in &paths {
        for _ in 0..3 {
            let r = call(&app, Method::GET, path, None, None, &[]).await;
            assert_eq!(r.status, 401, "{path}");
        }
    }

    eventually(
        "the attempts audited",
        Duration::from_secs(10),
        async || total(&unauthenticated(&app).await) >= 18,
    )
    .await;
    let events = unauthenticated(&app).await;
    assert_eq!(total(&events), 18, "{events:?}");
    let overflow: Vec<&Event> = events
        .iter()
        .filter(|e| e.detail["overflow"] == Value::Bool(true))
        .collect();
    assert!(!overflow.is_empty(), "{events:?}");
    assert!(overflow.iter().all(|e| e.resource_id.is_none()));
    assert!(
        events.len() <= 6,
        "at most max_keys + 1 per interval: {events:?}"
    );
}
