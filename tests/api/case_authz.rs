//! Authorisation of every family, plan and director endpoint, for every
//! role, in the own and another municipality: the expected status each time.
//!
//! Allowed calls are sent with input that fails validation or eligibility
//! where a success would change the state the next call depends on, so the
//! table shows "allowed" as that 400/409/422 and refusals as 403/404.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::case_world::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Admin,
    Auditor,
    Lead,
    Anna,
    Bram,
    Gi,
    GiElsewhere,
    KatwijkLead,
    KatwijkWorker,
}

const EVERYONE: [Who; 9] = [
    Who::Admin,
    Who::Auditor,
    Who::Lead,
    Who::Anna,
    Who::Bram,
    Who::Gi,
    Who::GiElsewhere,
    Who::KatwijkLead,
    Who::KatwijkWorker,
];

fn token(w: &CaseWorld, who: Who) -> &str {
    match who {
        Who::Admin => &w.admin.token,
        Who::Auditor => &w.auditor.token,
        Who::Lead => &w.lead.token,
        Who::Anna => &w.anna.token,
        Who::Bram => &w.bram.token,
        Who::Gi => &w.gi.token,
        Who::GiElsewhere => &w.gi_elsewhere.token,
        Who::KatwijkLead => &w.katwijk_lead.token,
        Who::KatwijkWorker => &w.katwijk_worker.token,
    }
}

/// Reading the family (team Noord, plan directed by Anna): Anna and the
/// lead may; Leiden colleagues and the GI serving Leiden are refused (403);
/// anyone outside Leiden gets 404; admins and auditors 403.
fn family_reader(who: Who, allowed: u16) -> u16 {
    match who {
        Who::Lead | Who::Anna => allowed,
        Who::Admin | Who::Auditor | Who::Bram | Who::Gi => 403,
        Who::GiElsewhere | Who::KatwijkLead | Who::KatwijkWorker => 404,
    }
}

/// Changing the plan: the lead and the director (Anna).
fn plan_changer(who: Who, allowed: u16) -> u16 {
    family_reader(who, allowed)
}

#[actix_web::test]
async fn every_family_plan_and_director_endpoint_answers_each_role_as_designed() {
    let w = case_world().await;
    let f = family(&w, None, Some(&bsn(1))).await;
    let p = plan(&w, f, Some(w.anna.id())).await.id();
    let fam = get(&w.app, &format!("/families/{f}"), &w.lead.token).await;
    let member = fam.body["members"][0]["id"].as_str().unwrap().to_owned();
    let anna = w.anna.id();
    let auditor = w.auditor.id();

    let new_family = family_body("0546", w.noord, None);
    type Expect = fn(Who) -> u16;
    let cases: Vec<(Method, String, Option<Value>, Vec<(&str, String)>, Expect)> = vec![
        (
            Method::POST,
            "/families".into(),
            Some(new_family),
            vec![],
            |who| match who {
                Who::Lead | Who::Anna => 201,
                _ => 403,
            },
        ),
        (
            Method::GET,
            "/families".into(),
            None,
            vec![],
            |who| match who {
                Who::Admin | Who::Auditor => 403,
                _ => 200,
            },
        ),
        (Method::GET, format!("/families/{f}"), None, vec![], |who| {
            family_reader(who, 200)
        }),
        (
            Method::PATCH,
            format!("/families/{f}"),
            Some(json!({"name": "Familie Jansen"})),
            vec![],
            |who| family_reader(who, 200),
        ),
        (
            Method::POST,
            format!("/families/{f}/members"),
            Some(
                json!({"role": "other", "givenName": "Oma", "familyName": "Jansen", "birthDate": "1950-01-01"}),
            ),
            vec![],
            |who| family_reader(who, 201),
        ),
        (
            Method::PATCH,
            format!("/families/{f}/members/{member}"),
            Some(json!({"givenName": "Marieke"})),
            vec![],
            |who| family_reader(who, 200),
        ),
        // The family has an open plan: an allowed caller meets 409.
        (
            Method::POST,
            format!("/families/{f}/plans"),
            Some(json!({"title": "x"})),
            vec![],
            |who| match who {
                Who::Lead | Who::Anna => 409,
                other => family_reader(other, 409),
            },
        ),
        (
            Method::GET,
            format!("/families/{f}/plan"),
            None,
            vec![],
            |who| family_reader(who, 200),
        ),
        (
            Method::GET,
            format!("/families/{f}/plans"),
            None,
            vec![],
            |who| family_reader(who, 200),
        ),
        (Method::GET, format!("/plans/{p}"), None, vec![], |who| {
            family_reader(who, 200)
        }),
        // A stale ETag: allowed callers meet 412, nothing changes.
        (
            Method::PATCH,
            format!("/plans/{p}"),
            Some(json!({"title": "x"})),
            vec![("If-Match", "\"99\"".into())],
            |who| plan_changer(who, 412),
        ),
        // An empty reason: allowed callers meet 400.
        (
            Method::POST,
            format!("/plans/{p}/close"),
            Some(
                json!({"reason": "", "outcome": {"goalRealisation": "achieved", "dropout": false}}),
            ),
            vec![],
            |who| plan_changer(who, 400),
        ),
        // An ineligible target: allowed callers meet 422.
        (
            Method::PUT,
            format!("/plans/{p}/director"),
            Some(json!({"userId": auditor, "reason": "x"})),
            vec![],
            |who| plan_changer(who, 422),
        ),
        (
            Method::GET,
            format!("/plans/{p}/director-history"),
            None,
            vec![],
            |who| family_reader(who, 200),
        ),
        (
            Method::GET,
            format!("/plans/{p}/eligible-directors"),
            None,
            vec![],
            |who| family_reader(who, 200),
        ),
        (
            Method::GET,
            format!("/users/{anna}/caseload"),
            None,
            vec![],
            |who| match who {
                Who::Lead | Who::Anna => 200,
                Who::Admin | Who::Auditor | Who::Bram => 403,
                Who::Gi | Who::GiElsewhere | Who::KatwijkLead | Who::KatwijkWorker => 404,
            },
        ),
    ];

    let mut failures = Vec::new();
    for (method, path, body, headers, expect) in &cases {
        let header_refs: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let anonymous = call(
            &w.app,
            method.clone(),
            path,
            None,
            body.clone(),
            &header_refs,
        )
        .await;
        if anonymous.status != 401 {
            failures.push(format!("{method} {path} anonymous: {}", anonymous.status));
        }
        for who in EVERYONE {
            let r = call(
                &w.app,
                method.clone(),
                path,
                Some(token(&w, who)),
                body.clone(),
                &header_refs,
            )
            .await;
            let want = expect(who);
            if r.status.as_u16() != want {
                failures.push(format!(
                    "{method} {path} as {who:?}: got {} want {want} {}",
                    r.status, r.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let denied = w.app.audit_events("access_denied").await;
    assert!(
        denied
            .iter()
            .any(|e| e.actor_id == Some(w.bram.id()) && e.family_id == Some(f)),
        "refusals are audited"
    );
    assert!(
        denied
            .iter()
            .any(|e| e.actor_id == Some(w.katwijk_lead.id())
                && e.municipality_code.as_deref() == Some("0546")),
        "a probe from another municipality is audited for the family's municipality"
    );
    let _ = Uuid::nil();
}

#[actix_web::test]
async fn a_gi_worker_directing_a_plan_reads_and_changes_it() {
    let w = case_world().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.gi.id())).await;

    let read = get(&w.app, &format!("/families/{f}"), &w.gi.token).await;
    let change = call(
        &w.app,
        Method::PATCH,
        &format!("/plans/{}", p.id()),
        Some(&w.gi.token),
        Some(json!({"title": "GI plan"})),
        &[("If-Match", "\"1\"")],
    )
    .await;
    let listed = get(&w.app, "/families", &w.gi.token).await;

    assert_eq!(read.status, 200);
    assert_eq!(change.status, 200);
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "a GI worker lists the families it directs"
    );
}
