//! Helpers for referral tests: machine clients registered through the
//! admin API, their tokens, referral bodies and submissions.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::case_world::*;
use crate::helpers::TestApp;

/// A registered machine client with its secrets.
pub struct Client {
    pub id: Uuid,
    pub secret: String,
    pub callback_secret: String,
    pub token: String,
}

/// Registers a client as the admin, with `overrides` merged into a GP
/// client of Leiden (type 02, AGB 01000001), and gets its token.
pub async fn client(w: &CaseWorld, overrides: Value) -> Client {
    let mut body = json!({
        "name": format!("HIS {}", Uuid::new_v4().simple()),
        "referrerType": "02",
        "agbCode": "01000001",
        "organisationName": "Huisartsenpraktijk De Vliet",
        "municipalityCodes": ["0546"],
        "scopes": ["referrals:write", "referrals:read"],
    });
    if let (Some(base), Some(extra)) = (body.as_object_mut(), overrides.as_object()) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(k);
            } else {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    let r = post(&w.app, "/clients", &w.admin.token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.id();
    let secret = r.body["clientSecret"].as_str().unwrap().to_owned();
    let callback_secret = r.body["callbackSecret"].as_str().unwrap().to_owned();
    let token = client_token(&w.app, id, &secret).await;
    Client {
        id,
        secret,
        callback_secret,
        token,
    }
}

/// A token by HTTP Basic.
pub async fn client_token(app: &TestApp, id: Uuid, secret: &str) -> String {
    let res = app
        .client
        .post(app.api("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A referral of a child of Leiden by the GP with AGB 01000001.
pub fn referral(child_bsn: Option<&str>, external: &str) -> Value {
    let mut child = json!({"givenName": "Noor", "familyName": "Visser", "birthDate": "2016-06-01"});
    if let Some(b) = child_bsn {
        child["bsn"] = json!(b);
    }
    json!({
        "externalReference": external,
        "referrerType": "02",
        "referrerAgbCode": "01000001",
        "municipalityCode": "0546",
        "child": child,
        "parents": [{"givenName": "Eva", "familyName": "Visser", "birthDate": "1986-02-11"}],
        "reason": "Angstklachten, school verzuim",
        "urgency": "regular",
    })
}

/// Submits a referral with an Idempotency-Key.
pub async fn refer(app: &TestApp, token: &str, key: &str, body: Value) -> Reply {
    call(
        app,
        Method::POST,
        "/referrals",
        Some(token),
        Some(body),
        &[("Idempotency-Key", key)],
    )
    .await
}

/// A fresh idempotency key.
pub fn key() -> String {
    Uuid::new_v4().to_string()
}
