//! Issue 15 item 10: the client address of audit events comes from
//! `X-Forwarded-For` only when the TCP peer is a configured trusted proxy.

use diesel::sql_types::{Nullable, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use gezinsregie::domain::Role;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

#[derive(QueryableByName)]
struct Ip {
    #[diesel(sql_type = Nullable<Text>)]
    ip: Option<String>,
}

/// Logs a fresh user in with a forged `X-Forwarded-For` and returns the
/// `ip` of the `login` event.
async fn login_ip(app: &TestApp, forwarded_for: &str) -> Option<String> {
    app.municipality("0363", "Amsterdam").await;
    let user = app.user(Role::TeamLead, Some("0363"), None).await;
    let res = app
        .client
        .post(app.api("/auth/login"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&serde_json::json!({"username": user.username, "password": user.password}))
        .send()
        .await
        .expect("login request");
    assert_eq!(res.status(), 200);
    let rows: Vec<Ip> =
        diesel::sql_query("SELECT ip FROM audit_events WHERE action = 'login' AND actor_id = $1")
            .bind::<diesel::sql_types::Uuid, _>(user.id)
            .load(&mut app.conn().await)
            .await
            .expect("audit query");
    assert_eq!(rows.len(), 1);
    rows.into_iter().next().and_then(|r| r.ip)
}

/// Issue 15 item 10: a spoofed `X-Forwarded-For` from a peer that is no
/// trusted proxy (the default: none is) is ignored: the event records the
/// TCP peer.
#[actix_web::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app().await;
    let ip = login_ip(&app, "198.51.100.7").await;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

/// Issue 15 item 10: behind a configured trusted proxy (here 127.0.0.1,
/// the test client) the right-most forwarded address is the client's, and
/// entries the client prepended are not. Fails on 97473d3, which always
/// recorded the TCP peer and had no `server.trusted_proxies`.
#[actix_web::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_recorded() {
    let app = spawn_app_with(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let ip = login_ip(&app, "10.9.9.9, 198.51.100.7").await;
    assert_eq!(ip.as_deref(), Some("198.51.100.7"));
}
