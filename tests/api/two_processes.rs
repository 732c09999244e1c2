//! The invariants hold when requests are spread over two server processes
//! sharing one database (as behind a load balancer).

use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::case_world::*;
use crate::directors::assert_invariants_hold;
use gezinsregie::domain::Role;

async fn send(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let res = client
        .request(method, format!("{base}/v1{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn fifty_plan_openings_over_two_processes_yield_one_plan() {
    let w = case_world().await;
    let other = w.app.spawn_server_process().await;
    let f = family(&w, None, None).await;
    let bases = [w.app.address.clone(), other.address.clone()];
    let path = format!("/families/{f}/plans");

    let replies = join_all((0..50).map(|i| {
        send(
            &w.app.client,
            &bases[i % 2],
            reqwest::Method::POST,
            &path,
            &w.lead.token,
            json!({"title": format!("Plan {i}")}),
        )
    }))
    .await;

    let created = replies.iter().filter(|(s, _)| *s == 201).count();
    let conflicts = replies
        .iter()
        .filter(|(s, b)| *s == 409 && b["code"] == "plan_already_open")
        .count();
    assert_eq!(
        (created, conflicts),
        (1, 49),
        "{:?}",
        replies.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) AS n FROM plans WHERE family_id = '{f}'"
            ))
            .await,
        1
    );
}

#[actix_web::test]
async fn fifty_handovers_over_two_processes_leave_one_director_without_overlaps() {
    let w = case_world().await;
    let other = w.app.spawn_server_process().await;
    let f = family(&w, None, None).await;
    let p = plan(&w, f, Some(w.anna.id())).await.id();
    let mut candidates: Vec<Uuid> = vec![w.bram.id(), w.gi.id()];
    for _ in 0..6 {
        candidates.push(
            w.app
                .user_with(Role::JgtWorker, Some("0546"), Some(w.zuid), &[])
                .await
                .id,
        );
    }
    let bases = [w.app.address.clone(), other.address.clone()];
    let path = format!("/plans/{p}/director");

    let replies = join_all((0..50).map(|i| {
        send(
            &w.app.client,
            &bases[i % 2],
            reqwest::Method::PUT,
            &path,
            &w.lead.token,
            json!({"userId": candidates[i % candidates.len()], "reason": format!("handover {i}")}),
        )
    }))
    .await;

    assert!(
        replies.iter().all(|(s, _)| *s == 200 || *s == 409),
        "{:?}",
        replies.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_invariants_hold(&w.app, p).await;
}

#[actix_web::test]
async fn twenty_referrals_for_one_child_over_two_processes_land_in_one_plan() {
    use crate::referral_world::{client, key, referral};
    let w = case_world().await;
    let other = w.app.spawn_server_process().await;
    let c = client(&w, json!({})).await;
    let child = bsn(77);
    let bases = [w.app.address.clone(), other.address.clone()];
    let replies = join_all((0..20).map(|i| {
        let base = bases[i % 2].clone();
        let token = c.token.clone();
        let client = w.app.client.clone();
        let body = referral(Some(&child), &format!("HIS-{i}"));
        async move {
            let res = client
                .post(format!("{base}/v1/referrals"))
                .bearer_auth(token)
                .header("Idempotency-Key", key())
                .json(&body)
                .send()
                .await
                .expect("sent");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    }))
    .await;
    assert!(
        replies
            .iter()
            .all(|(s, b)| *s == 201 && b["status"] == "received"),
        "{replies:?}"
    );
    // The client sees `received`; all twenty matched the one family.
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM referrals WHERE status = 'matched'")
            .await,
        20
    );
    assert_eq!(w.app.count("SELECT count(*) AS n FROM families").await, 1);
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM plans WHERE status <> 'closed'")
            .await,
        1
    );
    assert_eq!(
        w.app
            .count("SELECT count(DISTINCT plan_id) AS n FROM referrals WHERE plan_id IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM referrals r JOIN plans p ON p.id = r.plan_id")
            .await,
        20
    );
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM family_members WHERE role = 'child'")
            .await,
        1
    );
}

/// The two servers, and who calls them.
struct Both<'a> {
    client: &'a reqwest::Client,
    bases: &'a [String; 2],
    token: &'a str,
}

impl<'a> Both<'a> {
    /// `count` copies of a request, alternating between the servers, the
    /// body of copy `i` from `body(i)`: futures to race.
    fn copies(
        &self,
        method: reqwest::Method,
        path: String,
        headers: &[(&'static str, String)],
        count: usize,
        body: impl Fn(usize) -> Value,
    ) -> Vec<futures::future::BoxFuture<'a, (u16, Value)>> {
        (0..count)
            .map(|i| {
                let mut req = self
                    .client
                    .request(method.clone(), format!("{}/v1{path}", self.bases[i % 2]))
                    .bearer_auth(self.token)
                    .json(&body(i));
                for (name, value) in headers {
                    req = req.header(*name, value);
                }
                Box::pin(async move {
                    let res = req.send().await.expect("sent");
                    let status = res.status().as_u16();
                    (status, res.json().await.unwrap_or(Value::Null))
                }) as futures::future::BoxFuture<'a, (u16, Value)>
            })
            .collect()
    }
}

/// (successes, the codes of the rest)
fn tally(replies: &[(u16, Value)]) -> (usize, Vec<String>) {
    let won = replies.iter().filter(|(s, _)| *s < 300).count();
    let lost = replies
        .iter()
        .filter(|(s, _)| *s >= 300)
        .map(|(s, b)| format!("{s} {}", b["code"].as_str().unwrap_or("?")))
        .collect();
    (won, lost)
}

#[actix_web::test]
async fn mixed_conflicting_load_over_two_processes_keeps_every_invariant() {
    use crate::care_world::*;
    use reqwest::Method;
    let c = care_world().await;
    let w = &c.w;
    let other = w.app.spawn_server_process().await;
    let bases = [w.app.address.clone(), other.address.clone()];
    let lead = w.lead.token.as_str();
    let candidates = crate::directors::handover_candidates(w).await;
    let close_body = |_| json!({"reason": "Afgerond", "outcome": {"goalRealisation": "achieved", "dropout": false}});
    // A family whose plan is closed: openings race.
    let (reopen, closed, _) = directed_plan(&c, 1).await;
    let r = post(
        &w.app,
        &format!("/plans/{closed}/close"),
        lead,
        close_body(0),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A plan without care: closings race.
    let (_, to_close, _) = directed_plan(&c, 2).await;
    // A plan where the same care is registered ten times at once, and one
    // where the same care is ended ten times at once.
    let (_, to_involve, child) = directed_plan(&c, 3).await;
    let (_, with_care, _) = directed_plan(&c, 4).await;
    let to_end = involve(
        &c,
        with_care,
        c.provider_b,
        "jeugd_ggz_basis",
        None,
        "active",
    )
    .await;
    // A plan handed over ten times with the same ETag.
    let (_, by_etag, _) = directed_plan(&c, 5).await;
    let etag = get(&w.app, &format!("/plans/{by_etag}"), lead).await.etag();
    // A plan handed over, its care ended and new care registered, all at once.
    let (_, churn_plan, _) = directed_plan(&c, 6).await;
    let churn_care = involve(
        &c,
        churn_plan,
        c.provider_a,
        "ambulant_licht",
        None,
        "active",
    )
    .await;
    // Families whose plans are closed while new plans are opened for them.
    let mut turnover = Vec::new();
    for seed in 7..12 {
        let (family, plan, _) = directed_plan(&c, seed).await;
        turnover.push((family, plan));
    }

    let both = Both {
        client: &w.app.client,
        bases: &bases,
        token: lead,
    };
    let mut races = Vec::new();
    races.extend(both.copies(
        Method::POST,
        format!("/families/{reopen}/plans"),
        &[],
        10,
        |i| json!({"title": format!("Plan {i}")}),
    ));
    races.extend(both.copies(
        Method::POST,
        format!("/plans/{to_close}/close"),
        &[],
        10,
        close_body,
    ));
    races.extend(both.copies(
        Method::POST,
        format!("/plans/{to_involve}/involvements"),
        &[],
        10,
        |_| involvement_body(c.provider_a, "ambulant_licht", Some(child), "active"),
    ));
    races.extend(both.copies(
        Method::POST,
        format!("/involvements/{to_end}/end"),
        &[],
        10,
        |_| json!({"endReason": "completed"}),
    ));
    races.extend(both.copies(
        Method::PUT,
        format!("/plans/{by_etag}/director"),
        &[("If-Match", etag.clone())],
        10,
        |i| json!({"userId": candidates[i], "reason": "Overdracht"}),
    ));
    races.extend(both.copies(
        Method::PUT,
        format!("/plans/{churn_plan}/director"),
        &[],
        6,
        |i| json!({"userId": candidates[i + 2], "reason": "Overdracht"}),
    ));
    races.extend(both.copies(
        Method::POST,
        format!("/involvements/{churn_care}/end"),
        &[],
        6,
        |_| json!({"endReason": "stopped_by_agreement"}),
    ));
    races.extend(both.copies(
        Method::POST,
        format!("/plans/{churn_plan}/involvements"),
        &[],
        6,
        |_| involvement_body(c.provider_c, "pleegzorg", None, "active"),
    ));
    for (family, plan) in &turnover {
        races.extend(both.copies(
            Method::POST,
            format!("/plans/{plan}/close"),
            &[],
            3,
            close_body,
        ));
        races.extend(both.copies(
            Method::POST,
            format!("/families/{family}/plans"),
            &[],
            3,
            |i| json!({"title": format!("Nieuw {i}"), "directorId": candidates[i]}),
        ));
    }
    let replies = join_all(races).await;

    let (promised, rest) = replies.split_at(50);
    let (churn, turnovers) = rest.split_at(18);
    let expectations = [
        ("openings", "409 plan_already_open"),
        ("closings", "409 plan_closed"),
        ("registrations", "409 involvement_exists"),
        ("endings", "409 involvement_ended"),
        ("handovers with one ETag", "412 version_mismatch"),
    ];
    for (race, (what, loser)) in promised.chunks(10).zip(expectations) {
        let (won, lost) = tally(race);
        assert_eq!(won, 1, "{what}: {race:?}");
        assert!(lost.iter().all(|l| l == loser), "{what}: {lost:?}");
    }
    // Where requests of different kinds meet, each loser is a clean 409.
    let clean_conflicts = [
        "409 plan_already_open",
        "409 plan_closed",
        "409 involvements_active",
        "409 involvement_exists",
        "409 involvement_ended",
        "409 director_conflict",
        "409 concurrent_update",
    ];
    let (_, lost) = tally(rest);
    assert!(
        lost.iter().all(|l| clean_conflicts.contains(&l.as_str())),
        "{rest:?}"
    );
    let (ended, _) = tally(&churn[6..12]);
    let (registered, _) = tally(&churn[12..18]);
    assert_eq!((ended, registered), (1, 1), "{churn:?}");
    for turnover in turnovers.chunks(6) {
        let (closed, _) = tally(&turnover[..3]);
        let (opened, _) = tally(&turnover[3..]);
        assert_eq!(closed, 1, "one close wins: {turnover:?}");
        assert!(opened <= 1, "at most one new plan: {turnover:?}");
    }
    eprintln!(
        "TURN {:?}",
        turnovers
            .chunks(6)
            .map(|t| (tally(&t[..3]).0, tally(&t[3..]).0))
            .collect::<Vec<_>>()
    );
    crate::invariant_checks::assert_invariants_clean(&w.app.db_url).await;
}
