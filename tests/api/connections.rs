//! One connection per request: every documented operation, called as the
//! product's users call it, checks out exactly one pooled connection per
//! request (see `src/tx.rs`), counted by the server itself in
//! `gezinsregie_db_checkouts_per_request` on `/metrics`.
//!
//! The exceptions, and why:
//! - `POST /auth/login` and `POST /oauth/token`: two. They must not hold a
//!   connection while argon2 hashes (tens of milliseconds of CPU on the
//!   blocking pool): one short transaction reads the account and the lock
//!   state, the connection goes back, the hash is checked, and a second
//!   short transaction records the outcome.
//! - `GET /audit/export`: one pooled connection for the authorisation and
//!   the audit event; the export itself streams with `COPY` on a
//!   connection of its own, outside the pool, so a slow reader holds no
//!   pooled connection.
//! - `GET /health/live`: none; liveness does not depend on the database.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::care_world::*;
use crate::case_world::*;
use crate::referral_world::{client, key, refer, referral};

/// Checkouts per request of the operations that are not one.
const EXCEPTIONS: &[(&str, &str, f64)] = &[
    ("POST", "/v1/auth/login", 2.0),
    ("POST", "/v1/oauth/token", 2.0),
    ("GET", "/health/live", 0.0),
];

/// (count, sum, requests with at most one checkout) per (method, route).
type Observed = BTreeMap<(String, String), (f64, f64, f64)>;

fn observed(metrics: &str) -> Observed {
    let mut out = Observed::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("gezinsregie_db_checkouts_per_request") else {
            continue;
        };
        let Some((kind, rest)) = rest.split_once('{') else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        let (Some(method), Some(endpoint)) = (label("method"), label("endpoint")) else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap_or(f64::NAN);
        let entry = out.entry((method, endpoint)).or_default();
        match kind {
            "_count" => entry.0 = value,
            "_sum" => entry.1 = value,
            "_bucket" if label("le").as_deref() == Some("1") => entry.2 = value,
            _ => {}
        }
    }
    out
}

async fn send(
    w: &CaseWorld,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    call(&w.app, method, path, Some(token), body, &[]).await
}

/// Administration, as the admin: municipalities, teams, users, providers
/// and clients (registered by `client`), read and changed.
async fn administer(c: &CareWorld, client_id: uuid::Uuid) {
    let w = &c.w;
    let t = &w.admin.token;
    let created = post(
        &w.app,
        "/municipalities",
        t,
        json!({"code": "0599", "name": "Teststad"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    for path in [
        "/municipalities",
        "/teams",
        "/users",
        "/providers",
        "/clients",
    ] {
        assert_eq!(get(&w.app, path, t).await.status, 200, "{path}");
    }
    let team = post(
        &w.app,
        "/teams",
        t,
        json!({"municipalityCode": "0599", "name": "JGT Test"}),
    )
    .await;
    assert_eq!(team.status, 201, "{}", team.body);
    let user = post(
        &w.app,
        "/users",
        t,
        json!({
            "username": "nieuw.jgt", "displayName": "Nieuw", "role": "jgt_worker",
            "municipalityCode": "0599", "teamId": team.id(), "password": "een-lang-wachtwoord-2026",
        }),
    )
    .await;
    assert_eq!(user.status, 201, "{}", user.body);
    let user_path = format!("/users/{}", user.id());
    assert_eq!(get(&w.app, &user_path, t).await.status, 200);
    let patched = send(
        w,
        Method::PATCH,
        &user_path,
        t,
        Some(json!({"displayName": "Nieuwe"})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let provider_path = format!("/providers/{}", c.provider_d);
    assert_eq!(get(&w.app, &provider_path, t).await.status, 200);
    let renamed = send(
        w,
        Method::PATCH,
        &provider_path,
        t,
        Some(json!({"name": "Duinhuis"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let client_path = format!("/clients/{client_id}");
    assert_eq!(get(&w.app, &client_path, t).await.status, 200);
    let renamed = send(
        w,
        Method::PATCH,
        &client_path,
        t,
        Some(json!({"scopes": ["referrals:write", "referrals:read"]})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let notifications = format!("/clients/{client_id}/notifications");
    assert_eq!(get(&w.app, &notifications, t).await.status, 200);
    // An account the admin set up, approved by a team lead of Leiden.
    let pending = post(
        &w.app,
        "/users",
        t,
        json!({
            "username": "goed.te.keuren", "displayName": "Nieuw", "role": "jgt_worker",
            "municipalityCode": "0546", "teamId": w.noord, "password": "een-lang-wachtwoord-2026",
        }),
    )
    .await;
    assert_eq!(pending.status, 201, "{}", pending.body);
    let list = get(&w.app, "/account-approvals?status=pending", &w.lead.token).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let id = list.body["items"][0]["id"].as_str().unwrap().to_owned();
    let approve = format!("/account-approvals/{id}/approve");
    let approved = send(w, Method::POST, &approve, &w.lead.token, None).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
}

/// A family's whole life as the team lead and its director: registered,
/// searched, changed, a member added and changed, a plan opened, changed,
/// handed over, care requested, started, ended, a scaling step, signals,
/// the histories, and the plan closed.
async fn case_work(c: &CareWorld) {
    let w = &c.w;
    let (lead, anna) = (&w.lead.token, &w.anna.token);
    let family_id = family(w, None, Some(&bsn(701))).await;
    let f = format!("/families/{family_id}");
    assert_eq!(
        get(&w.app, "/families?signal=many_providers", lead)
            .await
            .status,
        200
    );
    assert_eq!(get(&w.app, &f, lead).await.status, 200);
    let renamed = send(
        w,
        Method::PATCH,
        &f,
        lead,
        Some(json!({"name": "Familie Jansen-Bos"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let member = post(
        &w.app,
        &format!("{f}/members"),
        lead,
        json!({
        "role": "caregiver", "givenName": "Oma", "familyName": "Bos", "birthDate": "1950-01-01"}),
    )
    .await;
    assert_eq!(member.status, 201, "{}", member.body);
    let m = format!("{f}/members/{}", member.id());
    let changed = send(
        w,
        Method::PATCH,
        &m,
        lead,
        Some(json!({"givenName": "Opa"})),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let plan_id = plan(w, family_id, Some(w.anna.id())).await.id();
    let p = format!("/plans/{plan_id}");
    for path in [
        format!("{f}/plan"),
        format!("{f}/plans"),
        p.clone(),
        format!("{f}/access-log"),
    ] {
        assert_eq!(get(&w.app, &path, lead).await.status, 200, "{path}");
    }
    let etag = get(&w.app, &p, lead).await.etag();
    let retitled = call(
        &w.app,
        Method::PATCH,
        &p,
        Some(lead),
        Some(json!({"title": "Gezinsplan Bos"})),
        &[("If-Match", &etag)],
    )
    .await;
    assert_eq!(retitled.status, 200, "{}", retitled.body);
    assert_eq!(handover(w, plan_id, lead, w.bram.id()).await.status, 200);
    assert_eq!(handover(w, plan_id, lead, w.anna.id()).await.status, 200);
    for path in [
        "director-history",
        "eligible-directors",
        "scalings",
        "signals",
    ] {
        assert_eq!(
            get(&w.app, &format!("{p}/{path}"), anna).await.status,
            200,
            "{path}"
        );
    }
    let caseload = format!("/users/{}/caseload", w.anna.id());
    assert_eq!(get(&w.app, &caseload, lead).await.status, 200);
    assert_eq!(get(&w.app, "/care-forms", anna).await.status, 200);
    care(c, &p).await;
    let closed = post(
        &w.app,
        &format!("{p}/close"),
        anna,
        json!({
        "reason": "Doelen bereikt", "outcome": {"goalRealisation": "achieved", "dropout": false}}),
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
}

/// Care in a plan: requested and started by the provider, a step up, a
/// signal acknowledged, and everything ended again.
async fn care(c: &CareWorld, p: &str) {
    let w = &c.w;
    let anna = &w.anna.token;
    let body = involvement_body(c.provider_a, "ambulant_licht", None, "requested");
    let requested = post(&w.app, &format!("{p}/involvements"), anna, body).await;
    assert_eq!(requested.status, 201, "{}", requested.body);
    let inv = requested.id();
    assert_eq!(
        get(&w.app, "/involvements", &c.pu_a.token).await.status,
        200
    );
    assert_eq!(start(c, &c.pu_a.token, inv).await.status, 200);
    let step = post(
        &w.app,
        &format!("{p}/scalings"),
        anna,
        json!({
        "reason": "Meer hulp nodig",
        "start": [{"providerId": c.provider_b, "careFormCode": "ambulant_intensief"},
                  {"providerId": c.provider_c, "careFormCode": "pleegzorg"}]}),
    )
    .await;
    assert_eq!(step.status, 200, "{}", step.body);
    let ack = post(
        &w.app,
        &format!("{p}/signals/many_providers/acknowledge"),
        anna,
        json!({"note": "Bewust"}),
    )
    .await;
    assert_eq!(ack.status, 200, "{}", ack.body);
    let running: Vec<uuid::Uuid> = step.body["involvements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["status"] != "ended")
        .filter_map(|i| i["id"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    for id in running {
        assert_eq!(end(c, anna, id, "completed").await.status, 200);
    }
}

/// Referrals from a GP system: submitted, listed, read, one accepted and
/// one declined.
async fn referrals(c: &CareWorld, gp_token: &str) {
    let w = &c.w;
    let first = refer(&w.app, gp_token, &key(), referral(None, "HIS-1")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = refer(&w.app, gp_token, &key(), referral(Some(&bsn(702)), "HIS-2")).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(get(&w.app, "/referrals", &w.lead.token).await.status, 200);
    assert_eq!(
        get(&w.app, &format!("/referrals/{}", first.id()), gp_token)
            .await
            .status,
        200
    );
    let accepted = post(
        &w.app,
        &format!("/referrals/{}/accept", first.id()),
        &w.lead.token,
        json!({}),
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let declined = post(
        &w.app,
        &format!("/referrals/{}/decline", second.id()),
        &w.lead.token,
        json!({"reasonCode": "6"}),
    )
    .await;
    assert_eq!(declined.status, 200, "{}", declined.body);
}

/// The auditor's and the team lead's accountability reads, and the
/// session endpoints.
async fn accountability_and_sessions(c: &CareWorld) {
    let w = &c.w;
    let auditor = &w.auditor.token;
    for path in [
        "/audit/events",
        "/audit/export?from=2020-01-01&to=2099-12-31",
        "/audit/verify",
        "/reports/summary?municipalityCode=0546&from=2026-01-01&to=2026-12-01",
    ] {
        let r = w
            .app
            .client
            .get(w.app.api(path))
            .bearer_auth(auditor)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap();
    }
    assert_eq!(
        get(&w.app, "/audit/emergency-accesses", &w.lead.token)
            .await
            .status,
        200
    );
    assert_eq!(get(&w.app, "/me", &w.bram.token).await.status, 200);
    let pair = w.app.login_pair(&w.bram.user).await;
    let refreshed = post(
        &w.app,
        "/auth/refresh",
        "",
        json!({"refreshToken": pair["refreshToken"]}),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let token = refreshed.body["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        post(&w.app, "/auth/logout", &token, json!({})).await.status,
        204
    );
    for path in ["/health/live", "/health/ready"] {
        let r = w
            .app
            .client
            .get(format!("{}{path}", w.app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

#[actix_web::test]
async fn every_endpoint_checks_out_one_connection_per_request() {
    let c = care_world().await;
    let gp = client(&c.w, json!({})).await;
    administer(&c, gp.id).await;
    case_work(&c).await;
    referrals(&c, &gp.token).await;
    accountability_and_sessions(&c).await;

    let metrics =
        c.w.app
            .client
            .get(format!("{}/metrics", c.w.app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    let seen = observed(&metrics);
    let doc: Value = serde_json::from_str(&gezinsregie::openapi::document_json()).unwrap();
    let mut expected: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.to_uppercase(), format!("/v1{path}")))
        })
        .collect();
    expected.push(("GET".into(), "/health/live".into()));
    expected.push(("GET".into(), "/health/ready".into()));

    let mut failures = Vec::new();
    for (method, route) in &expected {
        let Some(&(count, sum, at_most_one)) = seen.get(&(method.clone(), route.clone())) else {
            failures.push(format!("{method} {route}: never called"));
            continue;
        };
        let per_request = EXCEPTIONS
            .iter()
            .find(|(m, r, _)| m == method && r == route)
            .map_or(1.0, |(_, _, n)| *n);
        if count < 1.0 || sum != per_request * count {
            failures.push(format!(
                "{method} {route}: {sum} checkouts for {count} requests, expected {per_request} each"
            ));
        }
        if per_request <= 1.0 && at_most_one != count {
            failures.push(format!("{method} {route}: a request took more than one"));
        }
    }
    assert!(expected.len() > 55, "{} operations", expected.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_metric_is_read_per_route() {
    let text = "# HELP x\n\
        gezinsregie_db_checkouts_per_request_bucket{endpoint=\"/v1/plans/{id}\",method=\"GET\",le=\"0\"} 0\n\
        gezinsregie_db_checkouts_per_request_bucket{endpoint=\"/v1/plans/{id}\",method=\"GET\",le=\"1\"} 2\n\
        gezinsregie_db_checkouts_per_request_sum{endpoint=\"/v1/plans/{id}\",method=\"GET\"} 3\n\
        gezinsregie_db_checkouts_per_request_count{endpoint=\"/v1/plans/{id}\",method=\"GET\"} 3\n";
    let seen = observed(text);
    assert_eq!(
        seen.get(&("GET".to_owned(), "/v1/plans/{id}".to_owned())),
        Some(&(3.0, 3.0, 2.0))
    );
}
