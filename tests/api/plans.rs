//! Plans: one open plan per family, optimistic concurrency, closing with an
//! outcome, history, and their audit events.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::case_world::*;

#[actix_web::test]
async fn a_plan_without_director_starts_in_intake_and_with_one_active() {
    let w = case_world().await;
    let f1 = family(&w, None, Some(&bsn(1))).await;
    let f2 = family(&w, None, Some(&bsn(2))).await;

    let intake = plan(&w, f1, None).await;
    let active = plan(&w, f2, Some(w.anna.id())).await;

    assert_eq!(intake.body["status"], "intake");
    assert_eq!(intake.body["director"], serde_json::Value::Null);
    assert_eq!(intake.etag(), "\"1\"");
    assert_eq!(active.body["status"], "active");
    assert_eq!(active.body["director"]["userId"], w.anna.id().to_string());
    assert!(active.body["activatedAt"].is_string());
    for field in [
        "id",
        "familyId",
        "title",
        "goals",
        "level",
        "protectionMeasure",
        "involvements",
        "signals",
        "version",
        "createdAt",
        "closedAt",
        "outcome",
    ] {
        assert!(active.body.get(field).is_some(), "plan view lacks {field}");
    }
    let created = w.app.audit_events("create").await;
    assert!(created
        .iter()
        .any(|e| e.resource_type == "plan" && e.family_id == Some(f2)));
}

#[actix_web::test]
async fn a_second_open_plan_is_refused_naming_the_open_one() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let first = plan(&w, f, None).await;

    let second = post(
        &w.app,
        &format!("/families/{f}/plans"),
        &w.lead.token,
        json!({"title": "Nog een plan"}),
    )
    .await;

    assert_eq!(second.status, 409);
    assert_eq!(second.code(), "plan_already_open");
    assert_eq!(second.body["openPlanId"], first.id().to_string());
}

#[actix_web::test]
async fn fifty_concurrent_plan_openings_yield_one_plan_and_clean_conflicts() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let path = format!("/families/{f}/plans");
    let requests = (0..50).map(|i| {
        post(
            &w.app,
            &path,
            &w.lead.token,
            json!({"title": format!("Plan {i}")}),
        )
    });

    let replies = join_all(requests).await;

    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 201).collect();
    let losers: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "plan_already_open")
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.code().to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(losers.len(), 49);
    let winner = winners[0].id().to_string();
    assert!(
        losers
            .iter()
            .all(|r| r.body["openPlanId"] == winner.as_str()),
        "every 409 names the open plan"
    );
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) AS n FROM plans WHERE family_id = '{f}'"
            ))
            .await,
        1
    );
    assert_eq!(
        w.app
            .audit_events("create")
            .await
            .iter()
            .filter(|e| e.resource_type == "plan")
            .count(),
        1
    );
}

#[actix_web::test]
async fn patching_a_plan_needs_the_current_etag() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;
    let path = format!("/plans/{}", p.id());
    let body = json!({"title": "Bijgesteld plan", "goals": [{"description": "Weer naar school"}, {"description": "Rust thuis"}]});

    let without = call(
        &w.app,
        Method::PATCH,
        &path,
        Some(&w.anna.token),
        Some(body.clone()),
        &[],
    )
    .await;
    let stale = call(
        &w.app,
        Method::PATCH,
        &path,
        Some(&w.anna.token),
        Some(body.clone()),
        &[("If-Match", "\"7\"")],
    )
    .await;
    let fresh = call(
        &w.app,
        Method::PATCH,
        &path,
        Some(&w.anna.token),
        Some(body.clone()),
        &[("If-Match", &p.etag())],
    )
    .await;
    let replay = call(
        &w.app,
        Method::PATCH,
        &path,
        Some(&w.anna.token),
        Some(body),
        &[("If-Match", &p.etag())],
    )
    .await;

    assert_eq!(without.status, 428);
    assert_eq!(without.code(), "if_match_required");
    assert_eq!(stale.status, 412);
    assert_eq!(stale.code(), "version_mismatch");
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["title"], "Bijgesteld plan");
    assert_eq!(fresh.body["goals"].as_array().unwrap().len(), 2);
    assert_eq!(fresh.etag(), "\"2\"");
    assert_eq!(replay.status, 412, "the old ETag is spent");
    let updates = w.app.audit_events("update").await;
    assert_eq!(
        updates.iter().filter(|e| e.resource_type == "plan").count(),
        1
    );
}

#[actix_web::test]
async fn only_the_director_or_the_team_lead_changes_a_plan() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;
    let path = format!("/plans/{}", p.id());
    let other_worker = w
        .app
        .user_with(
            gezinsregie::domain::Role::JgtWorker,
            Some("0546"),
            Some(w.noord),
            &[],
        )
        .await;
    let other_token = w.app.session(&other_worker).await;

    let colleague = call(
        &w.app,
        Method::PATCH,
        &path,
        Some(&other_token),
        Some(json!({"title": "x"})),
        &[("If-Match", "\"1\"")],
    )
    .await;
    let lead = call(
        &w.app,
        Method::PATCH,
        &path,
        Some(&w.lead.token),
        Some(json!({"title": "y"})),
        &[("If-Match", "\"1\"")],
    )
    .await;
    let colleague_reads = get(&w.app, &path, &other_token).await;

    assert_eq!(colleague.status, 403, "same team, not the director");
    assert_eq!(lead.status, 200);
    assert_eq!(colleague_reads.status, 200, "same team may read");
}

#[actix_web::test]
async fn closing_a_plan_records_the_outcome_ends_the_director_and_allows_a_new_plan() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await;
    let plan_id = p.id();

    let closed = post(
        &w.app,
        &format!("/plans/{plan_id}/close"),
        &w.anna.token,
        json!({
            "reason": "Doelen bereikt",
            "outcome": {"goalRealisation": "achieved", "satisfactionScore": 8, "dropout": false}
        }),
    )
    .await;
    let again = post(
        &w.app,
        &format!("/plans/{plan_id}/close"),
        &w.lead.token,
        json!({
            "reason": "Nogmaals", "outcome": {"goalRealisation": "achieved", "dropout": false}
        }),
    )
    .await;
    let patch_closed = call(
        &w.app,
        Method::PATCH,
        &format!("/plans/{plan_id}"),
        Some(&w.lead.token),
        Some(json!({"title": "x"})),
        &[("If-Match", &closed.etag())],
    )
    .await;
    let current = get(&w.app, &format!("/families/{f}/plan"), &w.lead.token).await;
    let history = get(
        &w.app,
        &format!("/plans/{plan_id}/director-history"),
        &w.lead.token,
    )
    .await;
    let next = plan(&w, f, None).await;
    let all = get(&w.app, &format!("/families/{f}/plans"), &w.lead.token).await;

    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.body["outcome"]["goalRealisation"], "achieved");
    assert_eq!(closed.body["outcome"]["satisfactionScore"], 8);
    assert_eq!(closed.body["director"], serde_json::Value::Null);
    assert_eq!(again.status, 409);
    assert_eq!(again.code(), "plan_closed");
    assert_eq!(patch_closed.status, 409);
    assert_eq!(current.status, 404);
    assert_eq!(current.code(), "no_open_plan");
    assert_eq!(
        history.body[0]["endedAt"], closed.body["closedAt"],
        "the assignment ended with the plan"
    );
    assert_eq!(next.body["status"], "intake");
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    assert!(w
        .app
        .audit_events("close")
        .await
        .iter()
        .any(|e| e.resource_type == "plan" && e.family_id == Some(f)));
}

#[actix_web::test]
async fn a_close_with_a_stale_etag_or_bad_outcome_is_refused() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, None).await;
    let path = format!("/plans/{}/close", p.id());

    let stale = call(
        &w.app,
        Method::POST,
        &path,
        Some(&w.lead.token),
        Some(json!({"reason": "x", "outcome": {"goalRealisation": "achieved", "dropout": false}})),
        &[("If-Match", "\"9\"")],
    )
    .await;
    let bad_score = post(&w.app, &path, &w.lead.token, json!({"reason": "x", "outcome": {"goalRealisation": "achieved", "dropout": false, "satisfactionScore": 11}})).await;
    let bad_enum = post(
        &w.app,
        &path,
        &w.lead.token,
        json!({"reason": "x", "outcome": {"goalRealisation": "mostly", "dropout": false}}),
    )
    .await;
    let missing = post(&w.app, &path, &w.lead.token, json!({"reason": "x"})).await;

    assert_eq!(stale.status, 412);
    assert_eq!(bad_score.status, 400);
    assert_eq!(
        bad_score.body["invalidParams"][0]["name"],
        "outcome.satisfactionScore"
    );
    assert_eq!(bad_enum.status, 400);
    assert_eq!(
        bad_enum.body["invalidParams"][0]["name"],
        "outcome.goalRealisation"
    );
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["invalidParams"][0]["name"], "outcome");
    let still = get(&w.app, &format!("/plans/{}", p.id()), &w.lead.token).await;
    assert_eq!(still.body["status"], "intake", "nothing changed");
}

#[actix_web::test]
async fn reading_a_plan_is_audited_and_carries_its_etag() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, None).await;

    let r = get(&w.app, &format!("/plans/{}", p.id()), &w.lead.token).await;
    let current = get(&w.app, &format!("/families/{f}/plan"), &w.lead.token).await;

    assert_eq!(r.status, 200);
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(current.id(), p.id());
    let reads: Vec<_> = w
        .app
        .audit_events("read")
        .await
        .into_iter()
        .filter(|e| e.resource_type == "plan")
        .collect();
    assert!(
        reads
            .iter()
            .filter(|e| e.resource_id.as_deref() == Some(&p.id().to_string()))
            .count()
            >= 2,
        "{reads:?}"
    );
    let request_id = r.headers.get("x-request-id").unwrap().to_str().unwrap();
    assert!(
        reads
            .iter()
            .any(|e| e.request_id.as_deref() == Some(request_id)),
        "the audit event carries the request id"
    );
}

#[actix_web::test]
async fn a_plan_of_another_municipality_is_not_found() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, None).await;

    let r = get(&w.app, &format!("/plans/{}", p.id()), &w.katwijk_lead.token).await;
    let unknown = get(&w.app, &format!("/plans/{}", Uuid::now_v7()), &w.lead.token).await;

    assert_eq!(r.status, 404);
    assert_eq!(unknown.status, 404);
    assert_eq!(
        r.body["detail"], unknown.body["detail"],
        "another municipality's plan looks like no plan"
    );
}
