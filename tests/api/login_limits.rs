//! Issue 15 items 4 and 5: the lockout holds under concurrency (no more
//! password checks per account or client than the threshold, however many
//! requests arrive at once), and a login flood neither starves other
//! requests nor queues without bound.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::case_world::*;
use crate::helpers::{spawn_app_with, TestApp};
use crate::referral_world::client;
use gezinsregie::config::Settings;

/// Reasons of a `login_failed` event whose password (or secret) was hashed.
const CHECKED: &[&str] = &[
    "wrong_password",
    "unknown_user",
    "disabled",
    "wrong_secret",
    "unknown_client",
];

/// Password (or secret) checks the server ran: every failed check and every
/// success leaves exactly one audit event.
async fn checks(app: &TestApp, resource_type: &str) -> usize {
    let failed = app
        .audit_events("login_failed")
        .await
        .into_iter()
        .filter(|e| e.resource_type == resource_type)
        .filter(|e| CHECKED.contains(&e.detail["reason"].as_str().unwrap_or_default()))
        .count();
    let succeeded = app
        .audit_events("login")
        .await
        .into_iter()
        .filter(|e| e.resource_type == resource_type)
        .count();
    failed + succeeded
}

/// Generous per-address limits, so only the lockout is under test here.
fn without_address_limit(s: &mut Settings) {
    s.auth.login_per_address_burst = 100_000;
    s.auth.login_per_address_per_minute = 100_000;
    s.auth.login_queue_length = 1_000;
    s.auth.login_queue_wait_ms = 60_000;
}

async fn login(app: &TestApp, username: &str, password: &str) -> Reply {
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

async fn token(app: &TestApp, id: Uuid, secret: &str) -> Reply {
    let res = app
        .client
        .post(app.api("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers,
    }
}

/// Issue 15 item 4: 16 simultaneous logins at one account, 15 wrong and 1
/// right, check at most the threshold of passwords (today all 16 were
/// checked and the right one got in); the right one either was among
/// those checks or is refused as locked.
#[actix_web::test]
async fn sixteen_simultaneous_logins_check_at_most_the_threshold() {
    let w = case_world_on(spawn_app_with(without_address_limit).await).await;
    let user = &w.auditor.user;
    let threshold = w.app.auth.lockout_threshold as usize;
    let before = checks(&w.app, "session").await;

    let attempts = (0..16).map(|i| {
        let password = if i == 7 {
            user.password.clone()
        } else {
            format!("wrong-password-{i}")
        };
        let app = &w.app;
        async move { (i, login(app, &user.username, &password).await) }
    });
    let replies = join_all(attempts).await;

    let checked = checks(&w.app, "session").await - before;
    assert!(
        checked <= threshold,
        "{checked} password checks for a threshold of {threshold}"
    );
    for (i, r) in &replies {
        assert!(
            matches!(r.status.as_u16(), 200 | 401 | 429),
            "{i}: {}",
            r.status
        );
        if r.status == 429 {
            assert_eq!(r.code(), "account_locked");
            assert!(r.headers.contains_key("retry-after"));
        }
    }
    let right = &replies[7].1;
    assert!(right.status == 200 || right.code() == "account_locked");
}

/// Issue 15 item 4: a burst of 60 wrong logins at one account (today 20 got
/// checked) and at an unknown name checks at most the threshold each, and
/// afterwards the right password is locked out like any other.
#[actix_web::test]
async fn a_burst_of_sixty_logins_checks_at_most_the_threshold() {
    let w = case_world_on(spawn_app_with(without_address_limit).await).await;
    let user = &w.auditor.user;
    let threshold = w.app.auth.lockout_threshold as usize;
    let before = checks(&w.app, "session").await;

    let known = (0..60).map(|i| {
        let app = &w.app;
        let password = format!("wrong-password-{i}");
        async move { login(app, &user.username, &password).await }
    });
    let unknown = (0..60).map(|i| {
        let app = &w.app;
        let password = format!("wrong-password-{i}");
        async move { login(app, "nobody.at.all", &password).await }
    });
    let (known, unknown) = futures::join!(join_all(known), join_all(unknown));
    let right = login(&w.app, &user.username, &user.password).await;

    let checked = checks(&w.app, "session").await - before;
    assert!(
        checked <= 2 * threshold,
        "{checked} checks over two names, threshold {threshold}"
    );
    for replies in [&known, &unknown] {
        let refused = replies.iter().filter(|r| r.status == 429).count();
        let wrong = replies.iter().filter(|r| r.status == 401).count();
        assert_eq!(refused + wrong, 60);
        assert!(wrong <= threshold, "{wrong} answered after a check");
    }
    assert_eq!(right.status, 429, "{}", right.body);
    assert_eq!(right.code(), "account_locked");
}

/// Issue 15 item 4: the client-credentials grant is limited per client id
/// the same way: 30 simultaneous requests with a wrong secret and one with
/// the right one check at most the threshold of secrets.
#[actix_web::test]
async fn simultaneous_token_requests_check_at_most_the_threshold_per_client() {
    let w = case_world_on(spawn_app_with(without_address_limit).await).await;
    let c = client(&w, json!({})).await;
    let threshold = w.app.auth.lockout_threshold as usize;
    let before = checks(&w.app, "client").await;

    let attempts = (0..31).map(|i| {
        let secret = if i == 11 {
            c.secret.clone()
        } else {
            format!("wrong-secret-{i}")
        };
        let app = &w.app;
        async move { token(app, c.id, &secret).await }
    });
    let replies = join_all(attempts).await;
    let checked_first = checks(&w.app, "client").await - before;
    let burst = (0..60).map(|i| {
        let app = &w.app;
        async move { token(app, c.id, &format!("wrong-secret-again-{i}")).await }
    });
    let _ = join_all(burst).await;
    let right = token(&w.app, c.id, &c.secret).await;

    let checked = checks(&w.app, "client").await - before;
    assert!(
        checked_first <= threshold,
        "{checked_first} secret checks of 31 requests, threshold {threshold}"
    );
    assert!(
        checked <= 2 * threshold,
        "{checked} secret checks in two bursts, threshold {threshold}"
    );
    for r in &replies {
        assert!(matches!(r.status.as_u16(), 200 | 401 | 429), "{}", r.status);
    }
    assert_eq!(right.status, 429, "{}", right.body);
    assert_eq!(right.code(), "client_locked");
}

/// Reads `path` as `token` in a loop on a thread of its own (so the flood's
/// client tasks do not delay it) until `until`; the latency of each read.
fn read_in_a_loop(
    url: String,
    token: String,
    until: Instant,
) -> std::thread::JoinHandle<Vec<(u16, Duration)>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = reqwest::Client::new();
            let mut reads = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                let res = client.get(&url).bearer_auth(&token).send().await.unwrap();
                let status = res.status().as_u16();
                res.bytes().await.unwrap();
                reads.push((status, started.elapsed()));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            reads
        })
    })
}

/// 150 tasks logging in with random usernames, each as fast as it is
/// answered, until `until`; every answer's status and the slowest answer.
async fn flood(app: &TestApp, until: Instant) -> (Vec<u16>, Duration) {
    let tasks = (0..150).map(|_| async move {
        let mut seen = Vec::new();
        let mut slowest = Duration::ZERO;
        while Instant::now() < until {
            let started = Instant::now();
            let name = format!("flood.{}", Uuid::new_v4().simple());
            let r = login(app, &name, "not-the-password-at-all").await;
            slowest = slowest.max(started.elapsed());
            seen.push(r.status.as_u16());
        }
        (seen, slowest)
    });
    let results = join_all(tasks).await;
    let slowest = results.iter().map(|r| r.1).max().unwrap_or_default();
    (results.into_iter().flat_map(|r| r.0).collect(), slowest)
}

/// The 99th percentile of `reads`.
fn p99(reads: &[(u16, Duration)]) -> Duration {
    let mut times: Vec<Duration> = reads.iter().map(|r| r.1).collect();
    times.sort();
    times[(times.len() * 99).div_ceil(100).saturating_sub(1)]
}

/// Floods logins for three seconds while the team lead reads a caseload;
/// asserts what the flood was answered, and returns its answers and the
/// reads' p99 with and without the flood.
async fn flood_while_reading(w: &CaseWorld) -> (Vec<u16>, Duration, Duration) {
    let url = w.app.api(&format!("/users/{}/caseload", w.anna.id()));
    let calm = read_in_a_loop(
        url.clone(),
        w.lead.token.clone(),
        Instant::now() + Duration::from_secs(1),
    );
    let calm = p99(&calm.join().unwrap());
    let until = Instant::now() + Duration::from_secs(3);
    let reader = read_in_a_loop(url, w.lead.token.clone(), until);
    let (answers, slowest) = flood(&w.app, until).await;
    let reads = reader.join().unwrap();

    assert!(reads.iter().all(|r| r.0 == 200), "every read answered");
    assert!(
        answers.iter().all(|s| matches!(s, 401 | 429 | 503)),
        "no 500: {:?}",
        answers
            .iter()
            .filter(|s| !matches!(s, 401 | 429 | 503))
            .collect::<Vec<_>>()
    );
    assert!(
        slowest < Duration::from_secs(5),
        "no login queued for long: {slowest:?}"
    );
    (answers, p99(&reads), calm)
}

/// Issue 15 item 5: a login flood from one address is answered 429 by the
/// per-address limit, at once, and a team lead's reads stay under 50 ms at
/// p99 meanwhile (today they went from 2 ms to 3.5 s).
#[actix_web::test]
async fn a_login_flood_from_one_address_gets_429_and_reads_stay_fast() {
    let w = case_world().await;

    let (answers, p99, calm) = flood_while_reading(&w).await;

    // The bar is 50 ms. On a machine that is itself loaded (the
    // suite runs tests in parallel on few cores) reads are slow without any
    // flood too; there the flood may not make them more than 3 times
    // slower than they were just before it.
    let bar = Duration::from_millis(50).max(calm * 3);
    assert!(
        p99 < bar,
        "reads' p99 {p99:?} under a login flood (calm: {calm:?})"
    );
    let limited = answers.iter().filter(|s| **s == 429).count();
    let burst = w.app.auth.login_per_address_burst as usize;
    assert!(limited > 0);
    assert!(
        answers.iter().filter(|s| **s == 401).count() <= burst + 10,
        "no more checks than the burst and the trickle after it"
    );
}

/// Issue 15 item 5: with the per-address limit out of the way (a flood
/// from many addresses), the bounded login queue answers the excess 503 at
/// once instead of queueing it (no answer waits long, none is a 500).
#[actix_web::test]
async fn a_login_flood_beyond_the_queue_gets_503_and_reads_stay_fast() {
    let app = spawn_app_with(|s| {
        without_address_limit(s);
        s.auth.login_concurrent_checks = 1;
        s.auth.login_queue_length = 4;
    })
    .await;
    let w = case_world_on(app).await;

    let (answers, _, _) = flood_while_reading(&w).await;

    let busy = answers.iter().filter(|s| **s == 503).count();
    assert!(
        busy > answers.len() / 2,
        "{busy} of {} answered 503",
        answers.len()
    );
    assert!(answers.contains(&401), "some were checked");
}
