//! Families: registration, the one-active-family-per-child rule, BSN
//! handling, search, members, and their audit events.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::case_world::*;

#[actix_web::test]
async fn a_team_lead_registers_a_family_and_reads_it_back_with_its_bsn() {
    let w = case_world().await;
    let child = bsn(1);
    let id = family(&w, None, Some(&child)).await;

    let r = get(&w.app, &format!("/families/{id}"), &w.lead.token).await;

    assert_eq!(r.status, 200);
    assert_eq!(r.body["municipalityCode"], "0546");
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let kid = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "child")
        .unwrap();
    assert_eq!(kid["bsn"], child.as_str());
    assert_eq!(r.body["currentPlan"], serde_json::Value::Null);
    let created = w.app.audit_events("create").await;
    assert!(created.iter().any(|e| e.resource_type == "family"
        && e.family_id == Some(id)
        && e.actor_id == Some(w.lead.id())));
    let reads = w.app.audit_events("read").await;
    assert!(reads
        .iter()
        .any(|e| e.resource_type == "family" && e.family_id == Some(id) && e.outcome == "success"));
}

#[actix_web::test]
async fn bsns_are_stored_encrypted_never_in_clear() {
    let w = case_world().await;
    let child = bsn(2);
    family(&w, None, Some(&child)).await;

    let stored = w
        .app
        .raw_bytes(
            "SELECT bsn_ciphertext AS bytes FROM family_members WHERE bsn_ciphertext IS NOT NULL",
        )
        .await;

    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].windows(9).any(|win| win == child.as_bytes()),
        "BSN must not be stored in clear"
    );
}

#[actix_web::test]
async fn a_child_already_in_an_active_family_cannot_join_a_second_one() {
    let w = case_world().await;
    let child = bsn(3);
    family(&w, None, Some(&child)).await;

    let r = post(
        &w.app,
        "/families",
        &w.lead.token,
        family_body("0546", w.zuid, Some(&child)),
    )
    .await;

    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.code(), "bsn_in_other_family");
    assert_eq!(r.body["field"], "members[1].bsn");
    assert_eq!(
        w.app.count("SELECT count(*) AS n FROM families").await,
        1,
        "nothing half-written"
    );
}

#[actix_web::test]
async fn ending_the_membership_frees_the_child_for_another_family() {
    let w = case_world().await;
    let child = bsn(4);
    let first = family(&w, None, Some(&child)).await;
    let fam = get(&w.app, &format!("/families/{first}"), &w.lead.token).await;
    let member = fam.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "child")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = chrono::Utc::now().date_naive().to_string();

    let ended = call(
        &w.app,
        Method::PATCH,
        &format!("/families/{first}/members/{member}"),
        Some(&w.lead.token),
        Some(json!({"endedOn": today})),
        &[],
    )
    .await;
    let second = post(
        &w.app,
        "/families",
        &w.lead.token,
        family_body("0546", w.zuid, Some(&child)),
    )
    .await;

    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(ended.body["endedOn"], today.as_str());
    assert_eq!(second.status, 201, "{}", second.body);
    assert!(w
        .app
        .audit_events("update")
        .await
        .iter()
        .any(|e| e.resource_type == "member"));
}

#[actix_web::test]
async fn concurrent_registrations_of_one_child_yield_exactly_one_family() {
    let w = case_world().await;
    let child = bsn(5);
    let requests = (0..20).map(|_| {
        post(
            &w.app,
            "/families",
            &w.lead.token,
            family_body("0546", w.noord, Some(&child)),
        )
    });

    let replies = join_all(requests).await;

    let created = replies.iter().filter(|r| r.status == 201).count();
    let conflicts = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "bsn_in_other_family")
        .count();
    assert_eq!(
        (created, conflicts),
        (1, 19),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 1);
}

#[actix_web::test]
async fn an_invalid_bsn_is_refused_naming_the_field() {
    let w = case_world().await;

    let r = post(
        &w.app,
        "/families",
        &w.lead.token,
        family_body("0546", w.noord, Some("123456789")),
    )
    .await;

    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "validation_failed");
    let params = r.body["invalidParams"].as_array().unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "members[1].bsn" && p["code"] == "invalid_bsn"),
        "{}",
        r.body
    );
}

#[actix_web::test]
async fn a_family_needs_a_child_and_plausible_dates() {
    let w = case_world().await;
    let mut body = family_body("0546", w.noord, None);
    body["members"][1]["role"] = json!("other");
    body["members"][0]["birthDate"] = json!("2999-01-01");

    let r = post(&w.app, "/families", &w.lead.token, body).await;

    assert_eq!(r.status, 400);
    let names: Vec<&str> = r.body["invalidParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"members"), "{names:?}");
    assert!(names.contains(&"members[0].birthDate"), "{names:?}");
}

#[actix_web::test]
async fn a_team_of_another_municipality_is_refused() {
    let w = case_world().await;

    let r = post(
        &w.app,
        "/families",
        &w.lead.token,
        family_body("0546", w.katwijk_team, None),
    )
    .await;

    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.code(), "unknown_team");
}

#[actix_web::test]
async fn search_finds_families_by_bsn_and_name_within_reach_only() {
    let w = case_world().await;
    let child = bsn(6);
    let noord_family = family(&w, Some(w.noord), Some(&child)).await;
    let zuid_family = family(&w, Some(w.zuid), Some(&bsn(7))).await;

    let by_bsn = get(&w.app, &format!("/families?bsn={child}"), &w.lead.token).await;
    let by_name = get(&w.app, "/families?name=jans", &w.lead.token).await;
    let anna_sees = get(&w.app, "/families", &w.anna.token).await;
    let katwijk_sees = get(&w.app, "/families", &w.katwijk_lead.token).await;

    let ids = |r: &Reply| {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&by_bsn), vec![noord_family.to_string()]);
    assert_eq!(ids(&by_name).len(), 2);
    assert_eq!(
        ids(&anna_sees),
        vec![noord_family.to_string()],
        "a JGT worker sees its own team"
    );
    assert!(
        ids(&katwijk_sees).is_empty(),
        "another municipality sees nothing"
    );
    assert!(!ids(&anna_sees).contains(&zuid_family.to_string()));
    let searches = w.app.audit_events("search").await;
    let bsn_search = searches
        .iter()
        .find(|e| e.detail["filters"] == json!(["bsn"]))
        .expect("search audited");
    assert!(
        !bsn_search.detail.to_string().contains(&child),
        "the BSN itself is never in the audit detail"
    );
}

#[actix_web::test]
async fn search_rejects_an_invalid_bsn_and_limit() {
    let w = case_world().await;

    let bad_bsn = get(&w.app, "/families?bsn=123", &w.lead.token).await;
    let bad_limit = get(&w.app, "/families?limit=500", &w.lead.token).await;
    let bad_team = get(&w.app, "/families?teamId=nope", &w.lead.token).await;

    assert_eq!(bad_bsn.status, 400);
    assert_eq!(bad_bsn.body["invalidParams"][0]["name"], "bsn");
    assert_eq!(bad_limit.status, 400);
    assert_eq!(bad_limit.body["invalidParams"][0]["name"], "limit");
    assert_eq!(bad_team.status, 400);
    assert_eq!(bad_team.body["invalidParams"][0]["name"], "teamId");
}

#[actix_web::test]
async fn the_family_list_pages_with_a_cursor() {
    let w = case_world().await;
    for i in 0..5 {
        family(&w, None, Some(&bsn(100 + i))).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/families?limit=2&cursor={c}"),
            None => "/families?limit=2".to_owned(),
        };
        let r = get(&w.app, &path, &w.lead.token).await;
        assert_eq!(r.status, 200);
        seen.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_owned()),
        );
        cursor = r.body["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen.len(), 5);
    assert_eq!(unique.len(), 5);
}

#[actix_web::test]
async fn members_can_be_added_and_changed_but_not_end_before_they_start() {
    let w = case_world().await;
    let id = family(&w, None, None).await;

    let added = post(&w.app, &format!("/families/{id}/members"), &w.anna.token,
        json!({"role": "child", "givenName": "Tim", "familyName": "Jansen", "birthDate": "2016-01-01", "bsn": bsn(8)})).await;
    let member = added.id();
    let too_early = call(
        &w.app,
        Method::PATCH,
        &format!("/families/{id}/members/{member}"),
        Some(&w.anna.token),
        Some(json!({"endedOn": "2000-01-01"})),
        &[],
    )
    .await;
    let renamed = call(
        &w.app,
        Method::PATCH,
        &format!("/families/{id}/members/{member}"),
        Some(&w.anna.token),
        Some(json!({"givenName": "Timo"})),
        &[],
    )
    .await;

    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(too_early.status, 400);
    assert_eq!(too_early.body["invalidParams"][0]["name"], "endedOn");
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["givenName"], "Timo");
    assert!(w
        .app
        .audit_events("create")
        .await
        .iter()
        .any(|e| e.resource_type == "member" && e.family_id == Some(id)));
}

#[actix_web::test]
async fn only_a_team_lead_moves_a_family_to_another_team() {
    let w = case_world().await;
    let id = family(&w, None, None).await;

    let by_worker = call(
        &w.app,
        Method::PATCH,
        &format!("/families/{id}"),
        Some(&w.anna.token),
        Some(json!({"teamId": w.zuid})),
        &[],
    )
    .await;
    let by_lead = call(
        &w.app,
        Method::PATCH,
        &format!("/families/{id}"),
        Some(&w.lead.token),
        Some(json!({"teamId": w.zuid, "name": "Fam. Jansen"})),
        &[],
    )
    .await;

    assert_eq!(by_worker.status, 403);
    assert_eq!(by_lead.status, 200, "{}", by_lead.body);
    assert_eq!(by_lead.body["teamId"], w.zuid.to_string());
    assert_eq!(by_lead.body["name"], "Fam. Jansen");
    let updates = w.app.audit_events("update").await;
    assert!(updates.iter().any(|e| e.resource_type == "family"
        && e.family_id == Some(id)
        && e.detail["changed"] == json!(["name", "teamId"])));
    let denied = w.app.audit_events("access_denied").await;
    assert!(denied.iter().any(|e| e.family_id == Some(id)
        && e.actor_id == Some(w.anna.id())
        && e.outcome == "denied"));
}
