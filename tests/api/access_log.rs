//! A family's access log (right of access, AVG art. 15): who touched the
//! family's data, named by organisation and role, never by person.

use reqwest::Method;
use serde_json::{json, Value};

use crate::audit_coverage::events_of;
use crate::care_world::*;
use crate::case_world::*;
use crate::referral_world::{client, key, refer, referral};

fn entries(reply: &Reply) -> Vec<Value> {
    reply.body["items"].as_array().expect("items").clone()
}

#[actix_web::test]
async fn the_access_log_names_organisations_and_roles_newest_first() {
    let cw = care_world().await;
    let w = &cw.w;
    let (f, p, _) = directed_plan(&cw, 1).await;
    // A provider in the plan reads it; a worker of another team breaks the glass.
    involve(&cw, p, cw.provider_a, "ambulant_licht", None, "active").await;
    assert_eq!(
        get(&w.app, &format!("/plans/{p}"), &cw.pu_a.token)
            .await
            .status,
        200
    );
    let emergency = call(
        &w.app,
        Method::GET,
        &format!("/families/{f}"),
        Some(&w.bram.token),
        None,
        &[("X-Access-Reason", "Spoed")],
    )
    .await;
    assert_eq!(emergency.status, 200);
    // A refused attempt from Katwijk is on the log too.
    assert_eq!(
        get(&w.app, &format!("/families/{f}"), &w.katwijk_lead.token)
            .await
            .status,
        404
    );

    let log = get(&w.app, &format!("/families/{f}/access-log"), &w.lead.token).await;
    assert_eq!(log.status, 200, "{}", log.body);
    let items = entries(&log);
    // Newest first: this very reading of the log heads it.
    assert_eq!(items[0]["action"], "read");
    assert_eq!(items[0]["resourceType"], "access_log");
    assert_eq!(items[0]["organisation"], "JGT Leiden Noord");
    assert_eq!(items[0]["role"], "team_lead");
    assert_eq!(items[1]["action"], "access_denied");
    assert_eq!(items[1]["outcome"], "denied");
    assert_eq!(items[1]["organisation"], "JGT Katwijk");
    assert_eq!(items[2]["organisation"], "JGT Leiden Zuid");
    assert_eq!(items[2]["role"], "jgt_worker");
    assert_eq!(items[2]["emergencyAccess"], true);
    assert_eq!(items[3]["organisation"], "Rijnland Jeugdhulp");
    assert_eq!(items[3]["role"], "provider_user");
    assert_eq!(items[3]["resourceType"], "plan");
    assert_eq!(items[3]["emergencyAccess"], false);
    // The family's registration is the oldest entry.
    let last = items.last().unwrap();
    assert_eq!(
        (last["action"].as_str(), last["resourceType"].as_str()),
        (Some("create"), Some("family"))
    );
    // Never a person: no ids or names of staff anywhere in the answer.
    let text = log.body.to_string();
    for actor in [&w.lead, &w.anna, &w.bram, &w.katwijk_lead] {
        assert!(!text.contains(&actor.id().to_string()), "no staff ids");
        assert!(!text.contains(&actor.user.username), "no usernames");
    }
    assert!(!text.contains("Test jgt_worker"), "no display names");
    for item in &items {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "action",
                "emergencyAccess",
                "occurredAt",
                "organisation",
                "outcome",
                "resourceType",
                "role"
            ],
            "exactly these fields"
        );
    }
    // Reading the log is audited, about the family.
    let e = &events_of(&w.app, &log).await[0];
    assert_eq!(
        (e.action.as_str(), e.resource_type.as_str()),
        ("read", "access_log")
    );
    assert_eq!(e.family_id, Some(f));
    assert_eq!(e.resource_id.as_deref(), Some(f.to_string().as_str()));
}

#[actix_web::test]
async fn machine_clients_appear_as_their_organisation_and_gi_workers_as_the_gi() {
    let w = case_world().await;
    let gp = client(&w, json!({})).await;
    let r = refer(&w.app, &gp.token, &key(), referral(Some(&bsn(7)), "HIS-7")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let full = get(&w.app, &format!("/referrals/{}", r.id()), &w.lead.token).await;
    let f = full.body["familyId"].as_str().unwrap().to_owned();
    let p = full.body["planId"].as_str().unwrap().to_owned();
    let to_gi = handover(&w, p.parse().unwrap(), &w.lead.token, w.gi.id()).await;
    assert_eq!(to_gi.status, 200, "{}", to_gi.body);
    assert_eq!(
        get(&w.app, &format!("/families/{f}"), &w.gi.token)
            .await
            .status,
        200
    );

    // The GI worker directs the plan now, so it may read the log itself.
    let log = get(&w.app, &format!("/families/{f}/access-log"), &w.gi.token).await;
    assert_eq!(log.status, 200, "{}", log.body);
    let items = entries(&log);
    let organisations: Vec<&str> = items
        .iter()
        .map(|i| i["organisation"].as_str().unwrap())
        .collect();
    assert_eq!(organisations[0], "Gecertificeerde instelling");
    assert_eq!(items[1]["role"], "gi_worker");
    let by_client: Vec<&Value> = items.iter().filter(|i| i["role"] == "client").collect();
    assert!(!by_client.is_empty(), "{}", log.body);
    assert!(by_client
        .iter()
        .all(|i| i["organisation"] == "Huisartsenpraktijk De Vliet"));
}

#[actix_web::test]
async fn only_the_lead_the_auditor_and_the_director_read_the_access_log() {
    let w = case_world().await;
    let f = family(&w, None, Some(&bsn(3))).await;
    plan(&w, f, Some(w.anna.id())).await;
    let path = format!("/families/{f}/access-log");
    for (actor, status) in [
        (&w.lead, 200),
        (&w.auditor, 200),
        (&w.anna, 200),
        (&w.bram, 403),
        (&w.gi, 403),
        (&w.admin, 403),
        (&w.katwijk_lead, 404),
        (&w.katwijk_worker, 404),
        (&w.gi_elsewhere, 404),
    ] {
        let r = get(&w.app, &path, &actor.token).await;
        assert_eq!(r.status, status, "{}: {}", actor.user.username, r.body);
    }
    // The glass does not open the log.
    let r = call(
        &w.app,
        Method::GET,
        &path,
        Some(&w.bram.token),
        None,
        &[("X-Access-Reason", "Spoed")],
    )
    .await;
    assert_eq!(r.status, 403);
    // An unknown family is 404 for everyone; bad queries are 400.
    let unknown = get(
        &w.app,
        &format!("/families/{}/access-log", uuid::Uuid::now_v7()),
        &w.lead.token,
    )
    .await;
    assert_eq!(unknown.status, 404);
    for query in ["limit=0", "cursor=%25", "from=2026-01-01"] {
        let r = get(&w.app, &format!("{path}?{query}"), &w.lead.token).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
    }
}

#[actix_web::test]
async fn the_access_log_pages_by_cursor() {
    let w = case_world().await;
    let f = family(&w, None, Some(&bsn(4))).await;
    for _ in 0..3 {
        assert_eq!(
            get(&w.app, &format!("/families/{f}"), &w.anna.token)
                .await
                .status,
            200
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/families/{f}/access-log?limit=2&cursor={c}"),
            None => format!("/families/{f}/access-log?limit=2"),
        };
        let r = get(&w.app, &path, &w.lead.token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let items = entries(&r);
        assert!(items.len() <= 2);
        seen.extend(items);
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // create + 3 reads + the first reading of the log (later readings come
    // after the first page was cut, so they are not on later pages).
    assert_eq!(seen.len(), 5, "{seen:#?}");
    assert_eq!(seen.last().unwrap()["action"], "create");
}
