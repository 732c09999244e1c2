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
            .all(|(s, b)| *s == 201 && b["status"] == "matched"),
        "{replies:?}"
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
