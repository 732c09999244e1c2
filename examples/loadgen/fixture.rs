//! What a run needs before the clock starts: sessions, the plans to read
//! and change, fresh providers, the care forms, the directors to hand over
//! to and the GP system's token. Gathered through the API itself, so the
//! load generator needs no database access.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::RwLock;

use crate::{Args, Workload};

/// An access token, renewed by a background task before it expires.
pub struct Session {
    pub access: RwLock<String>,
}

/// A current plan seen on the family list.
pub struct PlanRef {
    pub id: String,
    director_id: Option<String>,
    /// Index into `Fixture::directors` of its current director (for
    /// handovers); `usize::MAX` when that is not one of them.
    pub director: AtomicUsize,
}

#[derive(Default)]
pub struct Fixture {
    /// Plans read by `plan-view` (the first `plan_pages` pages).
    pub read_plans: Vec<String>,
    /// Active plans changed by the write workloads (the pages after them,
    /// so the plans that are read keep their shape during a run).
    pub write_plans: Vec<PlanRef>,
    /// Providers created for this run: no involvement names them yet, so
    /// every (plan, provider, care form) the run creates is new.
    pub providers: Vec<String>,
    /// Care forms that are not safety care (those need a GI provider).
    pub care_forms: Vec<String>,
    /// Users eligible to direct the write plans (JGT and GI workers).
    pub directors: Vec<String>,
    /// Client-credentials token of the GP system, for referrals.
    pub client_token: String,
    /// Distinguishes this run's referrals and providers from other runs'.
    pub run_tag: String,
}

pub async fn login(
    client: &reqwest::Client,
    api: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<(String, String, u64)> {
    let response = client
        .post(format!("{api}/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .context("logging in")?;
    token_pair(success_json(response, &format!("login as {username}")).await?)
}

/// The JSON body of a successful answer; otherwise an error naming `what`,
/// the status and the body.
async fn success_json(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    if !response.status().is_success() {
        bail!(
            "{what} answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(response.json().await?)
}

fn token_pair(body: Value) -> anyhow::Result<(String, String, u64)> {
    let text = |key: &str| {
        body[key]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {key} in the token response"))
    };
    Ok((
        text("accessToken")?,
        text("refreshToken")?,
        body["expiresIn"].as_u64().unwrap_or(900),
    ))
}

/// Refreshes the access token a minute before it runs out (access tokens
/// live 15 minutes; a long run outlasts them).
pub async fn keep_fresh(
    client: reqwest::Client,
    api: String,
    session: std::sync::Arc<Session>,
    mut refresh: String,
    mut expires_in: u64,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(expires_in.saturating_sub(60).max(5))).await;
        let response = client
            .post(format!("{api}/auth/refresh"))
            .json(&json!({"refreshToken": refresh}))
            .send()
            .await;
        let pair = match response {
            Ok(r) if r.status().is_success() => match r.json().await {
                Ok(body) => token_pair(body),
                Err(e) => Err(e.into()),
            },
            Ok(r) => Err(anyhow::anyhow!("refresh answered {}", r.status())),
            Err(e) => Err(e.into()),
        };
        match pair {
            Ok((access, next, expires)) => {
                *session.access.write().await = access;
                refresh = next;
                expires_in = expires;
            }
            Err(e) => {
                eprintln!("loadgen: refreshing the token failed: {e}");
                return;
            }
        }
    }
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let response = client.get(url).bearer_auth(token).send().await?;
    success_json(response, url).await
}

/// Gathers what the workload needs (reads need only plan ids).
pub async fn prepare(
    args: &Args,
    client: &reqwest::Client,
    api: &str,
    token: &str,
) -> anyhow::Result<Fixture> {
    let run_tag = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let mut fixture = Fixture {
        run_tag,
        ..Fixture::default()
    };
    let w = args.workload;
    let writes_care = matches!(w, Workload::CreateInvolvement | Workload::Mix);
    let hands_over = matches!(w, Workload::DirectorHandover | Workload::Mix);
    let reads_plans = matches!(w, Workload::PlanView | Workload::Mix);
    let writes_plans = writes_care || hands_over;
    let pages = if writes_plans {
        args.plan_pages + args.write_pages
    } else if reads_plans {
        args.plan_pages
    } else {
        0
    };

    let mut cursor: Option<String> = None;
    for page_no in 0..pages {
        let mut url = format!("{api}/families?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(client, &url, token).await?;
        for family in page["items"].as_array().into_iter().flatten() {
            let plan = &family["currentPlan"];
            let Some(id) = plan["planId"].as_str() else {
                continue;
            };
            if page_no < args.plan_pages {
                fixture.read_plans.push(id.to_owned());
            } else if plan["status"] == "active" {
                fixture.write_plans.push(PlanRef {
                    id: id.to_owned(),
                    director_id: plan["directorId"].as_str().map(str::to_owned),
                    director: AtomicUsize::new(usize::MAX),
                });
            }
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    if reads_plans && fixture.read_plans.is_empty() {
        bail!("no plans found to read: generate data first");
    }
    if writes_plans && fixture.write_plans.is_empty() {
        bail!("no active plans found to change: generate more families first");
    }

    if writes_care {
        let forms = get_json(client, &format!("{api}/care-forms"), token).await?;
        fixture.care_forms = forms["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["segment"] != "safety")
            .filter_map(|f| f["code"].as_str().map(str::to_owned))
            .collect();
        fixture.providers = create_providers(args, client, api, &fixture.run_tag).await?;
    }
    if hands_over {
        let first = &fixture.write_plans[0].id;
        let page = get_json(
            client,
            &format!("{api}/plans/{first}/eligible-directors?limit=200"),
            token,
        )
        .await?;
        fixture.directors = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u["userId"].as_str().map(str::to_owned))
            .collect();
        if fixture.directors.len() < 2 {
            bail!("fewer than two eligible directors to hand plans over between");
        }
        for plan in &fixture.write_plans {
            let current = plan.director_id.as_ref();
            if let Some(i) = fixture.directors.iter().position(|u| Some(u) == current) {
                plan.director.store(i, Ordering::Relaxed);
            }
        }
    }
    if matches!(w, Workload::ReferralIntake | Workload::Mix) {
        fixture.client_token = client_token(client, api).await?;
    }
    Ok(fixture)
}

/// Creates `args.providers` providers as the admin, with AGB codes drawn
/// from the run tag so two runs do not collide.
async fn create_providers(
    args: &Args,
    client: &reqwest::Client,
    api: &str,
    run_tag: &str,
) -> anyhow::Result<Vec<String>> {
    let (admin, _, _) = login(client, api, &args.admin_username, &args.password).await?;
    let seed = u64::from_str_radix(run_tag, 16).unwrap_or(0);
    let mut ids = Vec::new();
    let mut attempt = 0u64;
    while ids.len() < args.providers {
        attempt += 1;
        if attempt > args.providers as u64 * 10 {
            bail!("could not create {} providers", args.providers);
        }
        // 97xxxxxx: outside the demo (9999xxxx) and generated (99000xxx) ranges.
        let agb =
            97_000_000 + (seed.wrapping_mul(7919).wrapping_add(attempt * 104_729)) % 1_000_000;
        let response = client
            .post(format!("{api}/providers"))
            .bearer_auth(&admin)
            .json(
                &json!({"name": format!("Benchmark aanbieder {agb}"), "agbCode": agb.to_string()}),
            )
            .send()
            .await?;
        match response.status().as_u16() {
            201 => {
                let body: Value = response.json().await?;
                ids.push(
                    body["id"]
                        .as_str()
                        .context("no id in the provider")?
                        .to_owned(),
                );
            }
            409 => continue,
            status => bail!(
                "creating a provider answered {status}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    Ok(ids)
}

async fn client_token(client: &reqwest::Client, api: &str) -> anyhow::Result<String> {
    use gezinsregie::demo::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
    let response = client
        .post(format!("{api}/oauth/token"))
        .basic_auth(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    let body = success_json(response, "the client-credentials grant").await?;
    Ok(body["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned())
}
