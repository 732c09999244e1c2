//! Login, lockout, refresh rotation and reuse detection, logout, `/me`, and
//! every kind of bad token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::case_world::*;
use crate::helpers::{purpose_keys, spawn_app, TestApp};
use gezinsregie::domain::Role;

async fn login_raw(app: &TestApp, username: &str, password: &str) -> Reply {
    call(
        app,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"username": username, "password": password})),
        &[],
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> Reply {
    call(
        app,
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refreshToken": token})),
        &[],
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> Reply {
    get(app, "/me", token).await
}

#[actix_web::test]
async fn a_user_logs_in_and_the_token_works() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let team = app.team("0546", "JGT Noord").await;
    let user = app.user(Role::JgtWorker, Some("0546"), Some(team)).await;

    let r = login_raw(&app, &user.username.to_uppercase(), &user.password).await;
    let token = r.body["accessToken"].as_str().unwrap();
    let who = me(&app, token).await;

    assert_eq!(r.status, 200);
    assert_eq!(r.body["tokenType"], "Bearer");
    assert_eq!(r.body["expiresIn"], 900);
    assert!(r.body["refreshToken"].as_str().unwrap().len() >= 40);
    assert_eq!(who.status, 200);
    assert_eq!(who.body["id"], user.id.to_string());
    assert_eq!(who.body["username"], user.username.as_str());
    assert_eq!(who.body["role"], "jgt_worker");
    assert_eq!(who.body["municipalityCode"], "0546");
    assert_eq!(who.body["teamId"], team.to_string());
    assert!(who.body["displayName"].is_string());
    let logins = app.audit_events("login").await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].actor_id, Some(user.id));
    assert_eq!(logins[0].actor_type, "user");
}

fn without_request_specifics(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("requestId");
    body
}

#[actix_web::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let user = app.user(Role::Auditor, Some("0546"), None).await;

    let wrong = login_raw(&app, &user.username, "not-the-password").await;
    let unknown = login_raw(&app, "nobody.here", "not-the-password").await;
    // A name no account can have (PostgreSQL cannot even store a NUL).
    let malformed = login_raw(&app, "nobody\u{0}here", "not-the-password").await;

    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(
        without_request_specifics(wrong.body),
        without_request_specifics(unknown.body.clone())
    );
    assert_eq!(
        without_request_specifics(unknown.body),
        without_request_specifics(malformed.body)
    );
    let failed = app.audit_events("login_failed").await;
    assert_eq!(failed.len(), 3);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM login_failures").await,
        2,
        "the malformed name is not a lockout key"
    );
    assert!(failed.iter().all(|e| e.outcome == "denied"));
    assert!(
        failed
            .iter()
            .all(|e| !e.detail.to_string().contains("not-the-password")),
        "no password in the audit trail"
    );
}

#[actix_web::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let user = app.user(Role::Auditor, Some("0546"), None).await;

    for _ in 0..5 {
        assert_eq!(
            login_raw(&app, &user.username, "wrong-password!")
                .await
                .status,
            401
        );
    }
    let locked = login_raw(&app, &user.username, &user.password).await;
    let unknown_locked = {
        for _ in 0..5 {
            login_raw(&app, "ghost.user", "wrong-password!").await;
        }
        login_raw(&app, "ghost.user", "wrong-password!").await
    };

    assert_eq!(locked.status, 429);
    assert_eq!(locked.code(), "account_locked");
    let retry: u64 = locked
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 800 && retry <= 900, "about 15 minutes: {retry}");
    assert_eq!(
        unknown_locked.status, 429,
        "unknown names lock the same way, so lockout reveals nothing"
    );
}

#[actix_web::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_session() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let user = app.user(Role::Auditor, Some("0546"), None).await;
    let first = app.login_pair(&user).await;
    let first_refresh = first["refreshToken"].as_str().unwrap();

    let second = refresh(&app, first_refresh).await;
    let second_access = second.body["accessToken"].as_str().unwrap().to_owned();
    let second_refresh = second.body["refreshToken"].as_str().unwrap().to_owned();
    let works = me(&app, &second_access).await;
    let reuse = refresh(&app, first_refresh).await;
    let after_reuse_access = me(&app, &second_access).await;
    let after_reuse_refresh = refresh(&app, &second_refresh).await;

    assert_eq!(second.status, 200);
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(works.status, 200);
    assert_eq!(reuse.status, 401);
    assert_eq!(reuse.code(), "refresh_token_reused");
    assert_eq!(
        after_reuse_access.status, 401,
        "the session's access token dies with it"
    );
    assert_eq!(
        after_reuse_refresh.status, 401,
        "and so does the newest refresh token"
    );
    let refreshes = app.audit_events("token_refresh").await;
    assert!(refreshes
        .iter()
        .any(|e| e.outcome == "denied" && e.detail["reason"] == "refresh_token_reuse"));
    assert!(refreshes.iter().any(|e| e.outcome == "success"));
}

#[actix_web::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let user = app.user(Role::Auditor, Some("0546"), None).await;
    let pair = app.login_pair(&user).await;
    let access = pair["accessToken"].as_str().unwrap();

    let out = call(&app, Method::POST, "/auth/logout", Some(access), None, &[]).await;
    let after = me(&app, access).await;
    let refreshed = refresh(&app, pair["refreshToken"].as_str().unwrap()).await;

    assert_eq!(out.status, 204);
    assert_eq!(after.status, 401);
    assert_eq!(refreshed.status, 401);
    assert_eq!(app.audit_events("logout").await.len(), 1);
}

fn sign(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[actix_web::test]
async fn tampered_expired_unsigned_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let user = app.user(Role::Auditor, Some("0546"), None).await;
    let good = app.login(&user).await;
    let claims: Value = {
        let payload = good.split('.').nth(1).unwrap();
        serde_json::from_slice(&B64URL.decode(payload).unwrap()).unwrap()
    };
    let now = chrono::Utc::now().timestamp();

    let tampered = {
        let mut c = claims.clone();
        c["role"] = json!("admin");
        let parts: Vec<&str> = good.split('.').collect();
        format!("{}.{}.{}", parts[0], B64URL.encode(c.to_string()), parts[2])
    };
    let expired = {
        let mut c = claims.clone();
        c["iat"] = json!(now - 3600);
        c["exp"] = json!(now - 1800);
        sign(&c, purpose_keys().token_signing.as_ref())
    };
    let alg_none = format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64URL.encode(claims.to_string())
    );
    let wrong_key = sign(&claims, &[1u8; 32]);
    let resigned_right = sign(&claims, purpose_keys().token_signing.as_ref());

    for (what, token) in [
        ("tampered", tampered),
        ("expired", expired),
        ("alg none", alg_none),
        ("wrong key", wrong_key),
        ("garbage", "abc".into()),
    ] {
        let r = me(&app, &token).await;
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(
            r.headers.get("content-type").unwrap(),
            "application/problem+json",
            "{what}"
        );
    }
    let no_header = call(&app, Method::GET, "/me", None, None, &[]).await;
    let basic = call(
        &app,
        Method::GET,
        "/me",
        None,
        None,
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    )
    .await;
    assert_eq!(no_header.status, 401);
    assert_eq!(basic.status, 401);
    assert_eq!(
        me(&app, &resigned_right).await.status,
        200,
        "the same claims with the right key are fine"
    );
}

#[actix_web::test]
async fn a_disabled_user_loses_its_sessions_and_cannot_log_in() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let admin = app.user(Role::Admin, None, None).await;
    let admin_token = app.login(&admin).await;
    let user = app.user(Role::Auditor, Some("0546"), None).await;
    let token = app.login(&user).await;

    let disable = call(
        &app,
        Method::PATCH,
        &format!("/users/{}", user.id),
        Some(&admin_token),
        Some(json!({"active": false})),
        &[],
    )
    .await;
    let old_token = me(&app, &token).await;
    let login = login_raw(&app, &user.username, &user.password).await;

    assert_eq!(disable.status, 200);
    assert_eq!(disable.body["active"], false);
    assert_eq!(old_token.status, 401);
    assert_eq!(login.status, 401);
    assert!(app
        .audit_events("update")
        .await
        .iter()
        .any(|e| e.resource_type == "user" && e.resource_id == Some(user.id.to_string())));
}

#[actix_web::test]
async fn a_token_from_one_server_process_works_at_the_other() {
    let app = spawn_app().await;
    app.municipality("0546", "Leiden").await;
    let user = app.user(Role::Auditor, Some("0546"), None).await;
    let token = app.login(&user).await;
    let other = app.spawn_server_process().await;

    let r = app
        .client
        .get(format!("{}/v1/me", other.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    assert_eq!(r.status(), 200);
}
