//! Emergency access ("break the glass"): a JGT or GI worker opens a family
//! of its municipality outside its normal reach by stating a reason in
//! `X-Access-Reason`; the read is audited as emergency access and listed
//! for the team lead to review.

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::audit_coverage::events_of;
use crate::case_world::*;

const REASON: &str = "Crisismelding politie, regisseur niet bereikbaar";

async fn get_with_reason(w: &CaseWorld, path: &str, token: &str, reason: &str) -> Reply {
    call(
        &w.app,
        Method::GET,
        path,
        Some(token),
        None,
        &[("X-Access-Reason", reason)],
    )
    .await
}

/// A Leiden family of team Noord with an open plan directed by Anna.
async fn noord_family(w: &CaseWorld, seed: u64) -> (Uuid, Uuid) {
    let f = family(w, None, Some(&bsn(seed))).await;
    let p = plan(w, f, Some(w.anna.id())).await.id();
    (f, p)
}

#[actix_web::test]
async fn a_worker_of_another_team_breaks_the_glass_on_every_read_of_the_family() {
    let w = case_world().await;
    let (f, p) = noord_family(&w, 1).await;
    let reads = [
        (format!("/families/{f}"), "family"),
        (format!("/families/{f}/plan"), "plan"),
        (format!("/families/{f}/plans"), "plan"),
        (format!("/plans/{p}"), "plan"),
        (format!("/plans/{p}/director-history"), "director_history"),
        (format!("/plans/{p}/scalings"), "scaling_history"),
        (format!("/plans/{p}/signals"), "signals"),
    ];
    for (path, resource_type) in &reads {
        // Without a reason Bram (team Zuid) stays outside.
        let refused = get(&w.app, path, &w.bram.token).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);

        let r = get_with_reason(&w, path, &w.bram.token, &format!("  {REASON} ")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let events = events_of(&w.app, &r).await;
        assert_eq!(events.len(), 1, "{path}: {events:#?}");
        let e = &events[0];
        assert_eq!(
            (
                e.action.as_str(),
                e.resource_type.as_str(),
                e.outcome.as_str()
            ),
            ("read", *resource_type, "success"),
            "{path}"
        );
        assert!(e.emergency_access, "{path}: marked as emergency access");
        assert_eq!(
            e.detail["accessReason"], REASON,
            "{path}: trimmed reason kept"
        );
        assert_eq!(e.family_id, Some(f), "{path}");
        assert_eq!(e.actor_id, Some(w.bram.id()), "{path}");
        assert_eq!(e.municipality_code.as_deref(), Some("0546"), "{path}");
    }
    // The plan history keeps its own detail next to the reason.
    let history = get_with_reason(&w, &format!("/families/{f}/plans"), &w.bram.token, REASON).await;
    let e = &events_of(&w.app, &history).await[0];
    assert_eq!(e.detail["planIds"], json!([p]));
    assert_eq!(e.detail["accessReason"], REASON);
}

#[actix_web::test]
async fn the_glass_opens_reads_only_and_only_within_the_municipality() {
    let w = case_world().await;
    let (f, p) = noord_family(&w, 2).await;
    let family_path = format!("/families/{f}");

    // A GI worker serving Leiden (home Katwijk) may break the glass there.
    let gi = get_with_reason(&w, &family_path, &w.gi.token, REASON).await;
    assert_eq!(gi.status, 200, "{}", gi.body);
    assert!(events_of(&w.app, &gi).await[0].emergency_access);

    // Other municipalities stay hidden, reason or not; and it is audited.
    for actor in [&w.katwijk_worker, &w.katwijk_lead, &w.gi_elsewhere] {
        let r = get_with_reason(&w, &family_path, &actor.token, REASON).await;
        assert_eq!(r.status, 404, "{}", r.body);
        let events = events_of(&w.app, &r).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "access_denied");
        assert!(!events[0].emergency_access);
        assert_eq!(
            events[0].detail["accessReason"], REASON,
            "the attempt keeps its reason"
        );
    }
    // Roles without case content, and the team lead's oversight roles, get nothing.
    for actor in [&w.auditor, &w.admin] {
        let r = get_with_reason(&w, &family_path, &actor.token, REASON).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    // Writes follow the normal rules whatever the header says.
    let patch = call(
        &w.app,
        Method::PATCH,
        &family_path,
        Some(&w.bram.token),
        Some(json!({"name": "Familie X"})),
        &[("X-Access-Reason", REASON)],
    )
    .await;
    assert_eq!(patch.status, 403, "{}", patch.body);
    let close = call(
        &w.app,
        Method::POST,
        &format!("/plans/{p}/close"),
        Some(&w.bram.token),
        Some(json!({"reason": "r", "outcome": {"goalRealisation": "achieved", "dropout": false}})),
        &[("X-Access-Reason", REASON)],
    )
    .await;
    assert_eq!(close.status, 403, "{}", close.body);
    // Nor does the glass extend to the family search.
    let search = get_with_reason(&w, "/families?name=Jansen", &w.bram.token, REASON).await;
    assert_eq!(search.status, 200);
    assert_eq!(search.body["items"], json!([]));
}

#[actix_web::test]
async fn a_reason_from_someone_with_normal_access_is_not_an_emergency() {
    let w = case_world().await;
    let (f, _) = noord_family(&w, 3).await;
    for actor in [&w.lead, &w.anna] {
        let r = get_with_reason(&w, &format!("/families/{f}"), &actor.token, REASON).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let events = events_of(&w.app, &r).await;
        assert_eq!(events.len(), 1);
        assert!(!events[0].emergency_access);
        assert!(events[0].detail.get("accessReason").is_none());
    }
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM audit_events WHERE emergency_access")
            .await,
        0
    );
}

#[actix_web::test]
async fn a_blank_or_overlong_reason_is_refused_naming_the_header() {
    let w = case_world().await;
    let (f, _) = noord_family(&w, 4).await;
    let long = "x".repeat(501);
    for reason in ["   ", long.as_str()] {
        let r = get_with_reason(&w, &format!("/families/{f}"), &w.bram.token, reason).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.code(), "validation_failed");
        assert_eq!(r.body["invalidParams"][0]["name"], "X-Access-Reason");
    }
    let max = "x".repeat(500);
    let r = get_with_reason(&w, &format!("/families/{f}"), &w.bram.token, &max).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[actix_web::test]
async fn team_leads_review_the_emergency_accesses_of_their_municipality() {
    let w = case_world().await;
    let (f, p) = noord_family(&w, 5).await;
    let first = get_with_reason(&w, &format!("/families/{f}"), &w.bram.token, "Eerste reden").await;
    assert_eq!(first.status, 200);
    let second = get_with_reason(&w, &format!("/plans/{p}"), &w.gi.token, "Tweede reden").await;
    assert_eq!(second.status, 200);
    // Normal reads are not listed.
    assert_eq!(
        get(&w.app, &format!("/families/{f}"), &w.anna.token)
            .await
            .status,
        200
    );

    let list = get(&w.app, "/audit/emergency-accesses", &w.lead.token).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", list.body);
    // Newest first: the GI worker's plan read, then Bram's family read.
    assert_eq!(items[0]["actorId"], json!(w.gi.id()));
    assert_eq!(items[0]["actorRole"], "gi_worker");
    assert_eq!(items[0]["resourceType"], "plan");
    assert_eq!(items[0]["resourceId"], json!(p.to_string()));
    assert_eq!(items[0]["reason"], "Tweede reden");
    assert_eq!(items[1]["actorId"], json!(w.bram.id()));
    assert_eq!(items[1]["actorDisplayName"], "Test jgt_worker");
    assert_eq!(items[1]["familyId"], json!(f));
    assert_eq!(items[1]["familyName"], "Familie Jansen");
    assert_eq!(items[1]["reason"], "Eerste reden");
    assert!(items[0]["seq"].as_i64().unwrap() > items[1]["seq"].as_i64().unwrap());
    assert!(items[0]["occurredAt"].is_string());
    assert_eq!(list.body["nextCursor"], json!(null));

    // Pages of one, by the opaque cursor.
    let page1 = get(&w.app, "/audit/emergency-accesses?limit=1", &w.lead.token).await;
    assert_eq!(page1.body["items"][0]["reason"], "Tweede reden");
    let cursor = page1.body["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let page2 = get(
        &w.app,
        &format!("/audit/emergency-accesses?limit=1&cursor={cursor}"),
        &w.lead.token,
    )
    .await;
    assert_eq!(page2.body["items"][0]["reason"], "Eerste reden");
    assert_eq!(page2.body["nextCursor"], json!(null));

    // The period filter: nothing before the accesses happened.
    let none = get(
        &w.app,
        "/audit/emergency-accesses?to=2019-12-31",
        &w.lead.token,
    )
    .await;
    assert_eq!(none.status, 200, "{}", none.body);
    assert_eq!(none.body["items"], json!([]));
    let since = get(
        &w.app,
        "/audit/emergency-accesses?from=2020-01-01",
        &w.lead.token,
    )
    .await;
    assert_eq!(since.body["items"].as_array().unwrap().len(), 2);

    // The auditor sees the list without family names.
    let audit = get(&w.app, "/audit/emergency-accesses", &w.auditor.token).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 2);
    assert!(audit.body["items"][1].get("familyName").is_none());
    assert_eq!(audit.body["items"][1]["familyId"], json!(f));

    // Katwijk's team lead sees only Katwijk's, though the GI worker lives there.
    let katwijk = get(&w.app, "/audit/emergency-accesses", &w.katwijk_lead.token).await;
    assert_eq!(katwijk.status, 200);
    assert_eq!(katwijk.body["items"], json!([]));

    // Everyone else is refused, and the refusal audited.
    for actor in [&w.anna, &w.gi, &w.admin] {
        let r = get(&w.app, "/audit/emergency-accesses", &actor.token).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(events_of(&w.app, &r).await[0].action, "access_denied");
    }
    // Reading the list is audited.
    let e = &events_of(&w.app, &list).await[0];
    assert_eq!(
        (e.action.as_str(), e.resource_type.as_str()),
        ("read", "audit_log")
    );
    assert_eq!(e.municipality_code.as_deref(), Some("0546"));
    assert_eq!(e.detail["resultCount"], 2);
}

#[actix_web::test]
async fn the_review_list_refuses_bad_queries() {
    let w = case_world().await;
    for query in [
        "from=yesterday",
        "limit=0",
        "limit=201",
        "cursor=%25%25",
        "familyId=x",
        "from=2026-02-01&to=2026-01-01",
    ] {
        let r = get(
            &w.app,
            &format!("/audit/emergency-accesses?{query}"),
            &w.lead.token,
        )
        .await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.code(), "validation_failed", "{query}");
    }
}
