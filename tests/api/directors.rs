//! Directors: first assignment, handover, eligibility, history without
//! overlaps, caseload, and concurrent handovers.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::case_world::*;
use gezinsregie::domain::Role;

#[actix_web::test]
async fn the_first_assignment_activates_an_intake_plan() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, None).await;

    let r = handover(&w, p.id(), &w.lead.token, w.anna.id()).await;
    let view = get(&w.app, &format!("/plans/{}", p.id()), &w.lead.token).await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["userId"], w.anna.id().to_string());
    assert_eq!(r.body["endedAt"], serde_json::Value::Null);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(view.body["status"], "active");
    assert_eq!(view.body["director"]["userId"], w.anna.id().to_string());
    let events = w.app.audit_events("handover").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].family_id, Some(f));
    assert_eq!(events[0].detail["toUserId"], w.anna.id().to_string());
}

#[actix_web::test]
async fn a_handover_ends_one_assignment_where_the_next_begins() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;

    let by_director = handover(&w, p.id(), &w.anna.token, w.bram.id()).await;
    let former_tries = handover(&w, p.id(), &w.anna.token, w.anna.id()).await;
    let by_lead = handover(&w, p.id(), &w.lead.token, w.gi.id()).await;
    let history = get(
        &w.app,
        &format!("/plans/{}/director-history", p.id()),
        &w.lead.token,
    )
    .await;

    assert_eq!(
        by_director.status, 200,
        "the current director may hand over: {}",
        by_director.body
    );
    assert_eq!(former_tries.status, 403, "a former director may not");
    assert_eq!(
        by_lead.status, 200,
        "a GI worker serving the municipality is eligible: {}",
        by_lead.body
    );
    let h = history.body.as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h[0]["userId"], w.anna.id().to_string());
    assert_eq!(h[0]["endedAt"], h[1]["startedAt"], "no gap and no overlap");
    assert_eq!(h[1]["endedAt"], h[2]["startedAt"]);
    assert_eq!(h[2]["endedAt"], serde_json::Value::Null);
    assert_eq!(h[2]["assignedBy"], w.lead.id().to_string());
    assert_eq!(w.app.audit_events("handover").await.len(), 2);
}

#[actix_web::test]
async fn handing_over_to_the_current_director_changes_nothing() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;

    let r = handover(&w, p.id(), &w.lead.token, w.anna.id()).await;

    assert_eq!(r.status, 200);
    assert_eq!(r.etag(), "\"1\"", "no new version");
    assert!(w.app.audit_events("handover").await.is_empty());
}

#[actix_web::test]
async fn only_active_director_capable_users_of_the_municipality_are_eligible() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, None).await;
    let disabled = w
        .app
        .user_with(Role::JgtWorker, Some("0546"), Some(w.noord), &[])
        .await;
    let patch = call(
        &w.app,
        Method::PATCH,
        &format!("/users/{}", disabled.id),
        Some(&w.admin.token),
        Some(json!({"active": false})),
        &[],
    )
    .await;
    assert_eq!(patch.status, 200);

    for (who, id) in [
        ("team lead", w.lead.id()),
        ("auditor", w.auditor.id()),
        ("admin", w.admin.id()),
        ("worker of another municipality", w.katwijk_worker.id()),
        ("GI not serving Leiden", w.gi_elsewhere.id()),
        ("disabled worker", disabled.id),
        ("unknown user", Uuid::now_v7()),
    ] {
        let r = handover(&w, p.id(), &w.lead.token, id).await;
        assert_eq!(r.status, 422, "{who}: {}", r.body);
        assert_eq!(r.code(), "director_not_eligible", "{who}");
    }
    let view = get(&w.app, &format!("/plans/{}", p.id()), &w.lead.token).await;
    assert_eq!(view.body["status"], "intake", "nothing changed");
}

#[actix_web::test]
async fn a_closed_plan_gets_no_director_and_a_stale_etag_is_refused() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;

    let stale = call(
        &w.app,
        Method::PUT,
        &format!("/plans/{}/director", p.id()),
        Some(&w.lead.token),
        Some(json!({"userId": w.bram.id(), "reason": "x"})),
        &[("If-Match", "\"5\"")],
    )
    .await;
    let missing_reason = call(
        &w.app,
        Method::PUT,
        &format!("/plans/{}/director", p.id()),
        Some(&w.lead.token),
        Some(json!({"userId": w.bram.id(), "reason": " "})),
        &[],
    )
    .await;
    post(
        &w.app,
        &format!("/plans/{}/close", p.id()),
        &w.lead.token,
        json!({"reason": "klaar", "outcome": {"goalRealisation": "achieved", "dropout": false}}),
    )
    .await;
    let closed = handover(&w, p.id(), &w.lead.token, w.bram.id()).await;

    assert_eq!(stale.status, 412);
    assert_eq!(missing_reason.status, 400);
    assert_eq!(missing_reason.body["invalidParams"][0]["name"], "reason");
    assert_eq!(closed.status, 409);
    assert_eq!(closed.code(), "plan_closed");
}

#[actix_web::test]
async fn eligible_directors_lists_workers_and_serving_gi_but_not_the_current_director() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;

    let r = get(
        &w.app,
        &format!("/plans/{}/eligible-directors", p.id()),
        &w.lead.token,
    )
    .await;

    assert_eq!(r.status, 200);
    let ids: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&w.bram.id().to_string()));
    assert!(ids.contains(&w.gi.id().to_string()));
    assert!(
        !ids.contains(&w.anna.id().to_string()),
        "the current director is not a successor"
    );
    assert!(!ids.contains(&w.katwijk_worker.id().to_string()));
    assert!(!ids.contains(&w.gi_elsewhere.id().to_string()));
    assert!(!ids.contains(&w.lead.id().to_string()));
}

#[actix_web::test]
async fn a_caseload_is_visible_to_its_owner_and_the_team_lead_only() {
    let w = case_world().await;
    let f1 = family(&w, None, Some(&bsn(1))).await;
    let f2 = family(&w, None, Some(&bsn(2))).await;
    plan(&w, f1, Some(w.anna.id())).await;
    plan(&w, f2, Some(w.anna.id())).await;
    let path = format!("/users/{}/caseload", w.anna.id());

    let own = get(&w.app, &path, &w.anna.token).await;
    let lead = get(&w.app, &path, &w.lead.token).await;
    let colleague = get(&w.app, &path, &w.bram.token).await;
    let other_municipality = get(&w.app, &path, &w.katwijk_lead.token).await;
    let admin = get(&w.app, &path, &w.admin.token).await;

    assert_eq!(own.status, 200);
    assert_eq!(own.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(lead.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(colleague.status, 403);
    assert_eq!(other_municipality.status, 404);
    assert_eq!(admin.status, 403);
}

#[actix_web::test]
async fn fifty_concurrent_handovers_leave_one_director_and_no_overlaps() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;
    let candidates = handover_candidates(&w).await;
    let requests =
        (0..50).map(|i| handover(&w, p.id(), &w.lead.token, candidates[i % candidates.len()]));

    let replies = join_all(requests).await;

    for r in &replies {
        assert!(
            r.status == 200 || r.status == 409,
            "{} {}",
            r.status,
            r.body
        );
    }
    assert_invariants_hold(&w.app, p.id()).await;
}

/// Exactly one current director, and no two assignments of the plan overlap.
pub async fn assert_invariants_hold(app: &crate::helpers::TestApp, plan_id: Uuid) {
    let current = app.count(&format!("SELECT count(*) AS n FROM director_assignments WHERE plan_id = '{plan_id}' AND ended_at IS NULL")).await;
    let overlaps = app
        .count(&format!(
            "SELECT count(*) AS n FROM director_assignments a JOIN director_assignments b
               ON a.plan_id = b.plan_id AND a.id < b.id
             WHERE a.plan_id = '{plan_id}'
               AND tstzrange(a.started_at, a.ended_at, '[)') && tstzrange(b.started_at, b.ended_at, '[)')"
        ))
        .await;
    let active = app
        .count(&format!(
            "SELECT count(*) AS n FROM plans WHERE id = '{plan_id}' AND status = 'active'"
        ))
        .await;
    assert_eq!(current, 1, "exactly one current director");
    assert_eq!(overlaps, 0, "no overlapping periods");
    assert_eq!(active, 1);
}

/// Ten users a Leiden plan may be handed over to: Bram, the GI worker and
/// eight new JGT workers of team Zuid.
pub async fn handover_candidates(w: &crate::case_world::CaseWorld) -> Vec<Uuid> {
    let mut candidates = vec![w.bram.id(), w.gi.id()];
    for _ in 0..8 {
        candidates.push(
            w.app
                .user_with(Role::JgtWorker, Some("0546"), Some(w.zuid), &[])
                .await
                .id,
        );
    }
    candidates
}
