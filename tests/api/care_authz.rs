//! Authorisation of every care and provider endpoint, for every role
//! (provider users of the involved provider, of another provider and of
//! another municipality included): the expected status each time.
//!
//! As in `case_authz`, allowed calls carry input that fails validation (or
//! a state conflict) so that no call changes what the next depends on: an
//! allowed call shows as 400/409, a refusal as 403/404.

use reqwest::Method;
use serde_json::{json, Value};

use crate::care_world::*;
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
    /// Provider A in Leiden: its provider has care in the plan.
    PuA,
    /// Provider B in Leiden: no care in the plan.
    PuB,
    /// Provider A's user in Katwijk.
    PuAKatwijk,
}

const EVERYONE: [Who; 12] = [
    Who::Admin,
    Who::Auditor,
    Who::Lead,
    Who::Anna,
    Who::Bram,
    Who::Gi,
    Who::GiElsewhere,
    Who::KatwijkLead,
    Who::KatwijkWorker,
    Who::PuA,
    Who::PuB,
    Who::PuAKatwijk,
];

fn token(c: &CareWorld, who: Who) -> &str {
    let w = &c.w;
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
        Who::PuA => &c.pu_a.token,
        Who::PuB => &c.pu_b.token,
        Who::PuAKatwijk => &c.pu_a_katwijk.token,
    }
}

/// Changing the plan's care (Anna directs, team Noord): the lead and Anna;
/// Leiden colleagues and the GI serving Leiden 403; outside Leiden 404;
/// roles without case access 403.
fn plan_changer(who: Who, allowed: u16) -> u16 {
    match who {
        Who::Lead | Who::Anna => allowed,
        Who::GiElsewhere | Who::KatwijkLead | Who::KatwijkWorker => 404,
        _ => 403,
    }
}

/// Starting or ending provider A's involvement: as a plan change, and
/// provider A's Leiden user too; other providers' users 404.
fn involvement_changer(who: Who, allowed: u16) -> u16 {
    match who {
        Who::PuA => allowed,
        Who::PuB | Who::PuAKatwijk => 404,
        other => plan_changer(other, allowed),
    }
}

fn admin_only(who: Who, allowed: u16) -> u16 {
    if who == Who::Admin {
        allowed
    } else {
        403
    }
}

fn anyone(_: Who, allowed: u16) -> u16 {
    allowed
}

fn plan_reader(who: Who, allowed: u16) -> u16 {
    match who {
        Who::PuA => allowed,
        Who::PuB | Who::PuAKatwijk => 404,
        other => plan_changer(other, allowed),
    }
}

fn providers_only(who: Who, allowed: u16) -> u16 {
    match who {
        Who::PuA | Who::PuB | Who::PuAKatwijk => allowed,
        _ => 403,
    }
}

#[actix_web::test]
async fn every_care_endpoint_for_every_role() {
    let c = care_world().await;
    let (_, plan_id, child) = directed_plan(&c, 21).await;
    // Provider A's care is active, so its start is a conflict when allowed.
    let inv = involve(
        &c,
        plan_id,
        c.provider_a,
        "ambulant_licht",
        Some(child),
        "active",
    )
    .await;
    let provider = c.provider_a;
    let long_ago = json!({"endReason": "completed", "endedOn": "2000-01-01"});
    let cases: Vec<(
        &str,
        Method,
        String,
        Option<Value>,
        fn(Who, u16) -> u16,
        u16,
    )> = vec![
        (
            "create provider",
            Method::POST,
            "/providers".into(),
            Some(json!({"name": "X", "agbCode": "1234567"})),
            admin_only,
            400,
        ),
        (
            "list providers",
            Method::GET,
            "/providers".into(),
            None,
            anyone,
            200,
        ),
        (
            "get provider",
            Method::GET,
            format!("/providers/{provider}"),
            None,
            anyone,
            200,
        ),
        (
            "update provider",
            Method::PATCH,
            format!("/providers/{provider}"),
            Some(json!({"agbCode": "1"})),
            admin_only,
            400,
        ),
        (
            "care forms",
            Method::GET,
            "/care-forms".into(),
            None,
            anyone,
            200,
        ),
        (
            "create involvement",
            Method::POST,
            format!("/plans/{plan_id}/involvements"),
            Some(involvement_body(provider, "no_such_form", None, "active")),
            plan_changer,
            400,
        ),
        (
            "start involvement",
            Method::POST,
            format!("/involvements/{inv}/start"),
            Some(json!({})),
            involvement_changer,
            409,
        ),
        (
            "end involvement",
            Method::POST,
            format!("/involvements/{inv}/end"),
            Some(long_ago),
            involvement_changer,
            400,
        ),
        (
            "scale",
            Method::POST,
            format!("/plans/{plan_id}/scalings"),
            Some(json!({"reason": "r"})),
            plan_changer,
            400,
        ),
        (
            "scaling history",
            Method::GET,
            format!("/plans/{plan_id}/scalings"),
            None,
            plan_changer,
            200,
        ),
        (
            "signals",
            Method::GET,
            format!("/plans/{plan_id}/signals"),
            None,
            plan_changer,
            200,
        ),
        (
            "acknowledge",
            Method::POST,
            format!("/plans/{plan_id}/signals/many_providers/acknowledge"),
            Some(json!({"note": ""})),
            plan_changer,
            400,
        ),
        (
            "read plan",
            Method::GET,
            format!("/plans/{plan_id}"),
            None,
            plan_reader,
            200,
        ),
        (
            "work list",
            Method::GET,
            "/involvements".into(),
            None,
            providers_only,
            200,
        ),
    ];
    let mut failures = Vec::new();
    for (name, method, path, body, rule, allowed) in &cases {
        for who in EVERYONE {
            let r = call(
                &c.w.app,
                method.clone(),
                path,
                Some(token(&c, who)),
                body.clone(),
                &[],
            )
            .await;
            let expected = rule(who, *allowed);
            if r.status.as_u16() != expected {
                failures.push(format!(
                    "{name} as {who:?}: {} (expected {expected}) {}",
                    r.status, r.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Provider users' refusals are audited like everyone's.
    let denied: Vec<_> =
        c.w.app
            .audit_events("access_denied")
            .await
            .into_iter()
            .filter(|e| e.actor_id == Some(c.pu_b.id()))
            .collect();
    assert!(denied.len() >= 3, "{}", denied.len());
}

#[actix_web::test]
async fn a_provider_sees_a_limited_view_and_changes_only_its_own_care() {
    let c = care_world().await;
    let app = &c.w.app;
    let (family_id, plan_id, child) = directed_plan(&c, 22).await;
    let mut body = involvement_body(c.provider_a, "ambulant_licht", Some(child), "requested");
    body["reason"] = json!("Opvoedondersteuning");
    let own = post(
        app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.anna.token,
        body,
    )
    .await
    .id();
    let mut body = involvement_body(c.provider_b, "jeugd_ggz_basis", Some(child), "active");
    body["reason"] = json!("Angstklachten bij het kind");
    let other = post(
        app,
        &format!("/plans/{plan_id}/involvements"),
        &c.w.anna.token,
        body,
    )
    .await
    .id();
    involve(&c, plan_id, c.provider_c, "pleegzorg", None, "active").await;
    involve(
        &c,
        plan_id,
        c.provider_d,
        "dagbehandeling",
        Some(child),
        "active",
    )
    .await;
    let view = get(app, &format!("/plans/{plan_id}"), &c.pu_a.token).await;
    assert_eq!(view.status, 200, "{}", view.body);
    let items = view.body["involvements"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let find = |id: uuid::Uuid| items.iter().find(|i| i["id"] == json!(id)).unwrap().clone();
    // Own notes visible; another provider's name visible, its notes not.
    assert_eq!(find(own)["reason"], "Opvoedondersteuning");
    assert_eq!(find(other)["providerName"], "Duin en Bollen GGZ");
    assert_eq!(find(other)["reason"], Value::Null);
    assert_eq!(view.body["signals"], json!([]));
    assert!(!view.body.to_string().contains("bsn"));
    // The JGT sees both notes and the signals.
    let full = plan_view(&c, plan_id).await;
    assert!(full.to_string().contains("Angstklachten"));
    assert!(!full["signals"].as_array().unwrap().is_empty());
    // The family record stays closed to providers.
    assert_eq!(
        get(app, &format!("/families/{family_id}"), &c.pu_a.token)
            .await
            .status,
        403
    );
    // Own care: start and end; the level moves and the history says who.
    let r = start(&c, &c.pu_a.token, own).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = end(&c, &c.pu_a.token, own, "stopped_by_agreement").await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].clone()),
        (200, json!("ended"))
    );
    // Another provider's care: hidden.
    assert_eq!(end(&c, &c.pu_a.token, other, "completed").await.status, 404);
    // Care ended: the plan is no longer the provider's to read.
    assert_eq!(
        get(app, &format!("/plans/{plan_id}"), &c.pu_a.token)
            .await
            .status,
        404
    );
    // The work list holds only provider A's running care.
    let list = get(app, "/involvements?status=ended", &c.pu_a.token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["id"], json!(own));
    let list = get(app, "/involvements", &c.pu_b.token).await;
    let ids: Vec<Value> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(other)]);
    // Audit: the provider's writes name it and the family.
    let ends: Vec<_> = app
        .audit_events("end")
        .await
        .into_iter()
        .filter(|e| e.actor_id == Some(c.pu_a.id()))
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].family_id, Some(family_id));
}
