//! Issue 15 item 8: an account that sees personal data and whose
//! credentials an admin set stays inert until a team lead of its
//! municipality approves it; the requests are listed for that
//! municipality's team leads and auditors, and audited.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::case_world::*;
use crate::helpers::TestApp;

const NEW_PASSWORD: &str = "Kwartel-Fietspomp-Dijk-7";

async fn login(app: &TestApp, username: &str, password: &str) -> Reply {
    let body = json!({"username": username, "password": password});
    call(app, Method::POST, "/auth/login", None, Some(body), &[]).await
}

/// The ids of the approval requests `token` sees.
async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let r = get(app, "/account-approvals?status=pending", token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// The pending request of `user`, as a team lead of Leiden sees it.
async fn pending_of(w: &CaseWorld, user: Uuid) -> Value {
    listed(&w.app, &w.lead.token)
        .await
        .into_iter()
        .find(|a| a["userId"] == user.to_string())
        .expect("a pending request for the account")
}

/// Issue 15 item 8: an admin creates a team lead and cannot use it; only a
/// team lead of the same municipality can make it work.
#[actix_web::test]
async fn a_team_lead_an_admin_created_cannot_log_in_until_a_team_lead_of_its_municipality_approves()
{
    let w = case_world().await;
    let created = post(
        &w.app,
        "/users",
        &w.admin.token,
        json!({
            "username": "nieuwe.lead", "displayName": "Nieuwe Lead", "role": "team_lead",
            "municipalityCode": "0546", "password": NEW_PASSWORD,
        }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["approved"], false);

    let refused = login(&w.app, "nieuwe.lead", NEW_PASSWORD).await;
    let wrong = login(&w.app, "nieuwe.lead", "niet-het-wachtwoord-1").await;
    let request = pending_of(&w, created.id()).await;
    let path = format!(
        "/account-approvals/{}/approve",
        request["id"].as_str().unwrap()
    );
    let seen_by_auditor = listed(&w.app, &w.auditor.token).await;
    let seen_elsewhere = listed(&w.app, &w.katwijk_lead.token).await;
    let admin_list = get(&w.app, "/account-approvals", &w.admin.token).await;
    let worker_list = get(&w.app, "/account-approvals", &w.anna.token).await;
    let by_admin = post(&w.app, &path, &w.admin.token, Value::Null).await;
    let by_auditor = post(&w.app, &path, &w.auditor.token, Value::Null).await;
    let by_other_municipality = post(&w.app, &path, &w.katwijk_lead.token, Value::Null).await;
    let still_refused = login(&w.app, "nieuwe.lead", NEW_PASSWORD).await;
    let approved = post(&w.app, &path, &w.lead.token, Value::Null).await;
    let again = post(&w.app, &path, &w.lead.token, Value::Null).await;
    let works = login(&w.app, "nieuwe.lead", NEW_PASSWORD).await;

    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.code(), "account_pending_approval");
    assert_eq!(wrong.status, 401, "a wrong password learns nothing more");
    assert_eq!(request["reason"], "created");
    assert_eq!(request["requestedBy"], w.admin.id().to_string());
    assert!(seen_by_auditor.iter().any(|a| a["id"] == request["id"]));
    assert!(seen_elsewhere.is_empty(), "{seen_elsewhere:?}");
    assert_eq!(admin_list.status, 403);
    assert_eq!(worker_list.status, 403);
    assert_eq!(by_admin.status, 403, "an admin cannot approve");
    assert_eq!(by_auditor.status, 403);
    assert_eq!(by_other_municipality.status, 404);
    assert_eq!(still_refused.status, 403);
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["decidedBy"], w.lead.id().to_string());
    assert_eq!(again.status, 409);
    assert_eq!(again.code(), "approval_not_pending");
    assert_eq!(works.status, 200, "{}", works.body);
    let token = works.body["accessToken"].as_str().unwrap();
    assert_eq!(get(&w.app, "/families", token).await.status, 200);

    let create = w.app.audit_events("create").await;
    let event = create
        .iter()
        .find(|e| e.resource_type == "user" && e.resource_id == Some(created.id().to_string()))
        .unwrap();
    assert_eq!(event.detail["approvalId"], request["id"]);
    let approvals = w.app.audit_events("approve").await;
    assert!(approvals
        .iter()
        .any(|e| e.resource_type == "account_approval"
            && e.actor_id == Some(w.lead.id())
            && e.outcome == "success"
            && e.municipality_code.as_deref() == Some("0546")));
    let refusals = w.app.audit_events("access_denied").await;
    assert!(refusals
        .iter()
        .any(|e| e.actor_id == Some(w.admin.id()) && e.resource_type == "account_approval"));
    let pending_logins = w.app.audit_events("login_failed").await;
    assert!(pending_logins
        .iter()
        .any(|e| e.detail["reason"] == "pending_approval"));
}

/// Issue 15 item 8: a password an admin resets makes the account inert
/// again, ends its sessions, and needs a new approval.
#[actix_web::test]
async fn a_password_an_admin_resets_ends_the_sessions_and_waits_for_approval() {
    let w = case_world().await;
    let anna = &w.anna;

    let reset = call(
        &w.app,
        Method::PATCH,
        &format!("/users/{}", anna.id()),
        Some(&w.admin.token),
        Some(json!({"password": NEW_PASSWORD})),
        &[],
    )
    .await;
    let old_session = get(&w.app, "/families", &anna.token).await;
    let refused = login(&w.app, &anna.user.username, NEW_PASSWORD).await;
    let request = pending_of(&w, anna.id()).await;
    let path = format!(
        "/account-approvals/{}/approve",
        request["id"].as_str().unwrap()
    );
    let approved = post(&w.app, &path, &w.lead.token, Value::Null).await;
    let works = login(&w.app, &anna.user.username, NEW_PASSWORD).await;

    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(reset.body["approved"], false);
    assert_eq!(old_session.status, 401, "the reset ended the sessions");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.code(), "account_pending_approval");
    assert_eq!(request["reason"], "password_reset");
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(works.status, 200, "{}", works.body);
    let updates = w.app.audit_events("update").await;
    assert!(updates
        .iter()
        .any(|e| e.resource_id == Some(anna.id().to_string())
            && e.detail["changed"] == json!(["password"])
            && e.detail["approvalId"] == request["id"]));
}

/// Issue 15 item 8: accounts without personal data (admins) and changes
/// that set no credential (a display name) need no approval.
#[actix_web::test]
async fn admin_accounts_and_changes_without_a_password_need_no_approval() {
    let w = case_world().await;
    let admin = post(
        &w.app,
        "/users",
        &w.admin.token,
        json!({
            "username": "tweede.admin", "displayName": "Tweede", "role": "admin",
            "password": NEW_PASSWORD,
        }),
    )
    .await;
    let renamed = call(
        &w.app,
        Method::PATCH,
        &format!("/users/{}", w.bram.id()),
        Some(&w.admin.token),
        Some(json!({"displayName": "Bram B."})),
        &[],
    )
    .await;

    assert_eq!(admin.status, 201, "{}", admin.body);
    assert_eq!(admin.body["approved"], true);
    assert_eq!(
        login(&w.app, "tweede.admin", NEW_PASSWORD).await.status,
        200
    );
    assert_eq!(renamed.body["approved"], true);
    assert_eq!(get(&w.app, "/families", &w.bram.token).await.status, 200);
    assert!(listed(&w.app, &w.lead.token).await.is_empty());
}
