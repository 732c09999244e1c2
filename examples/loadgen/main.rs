//! Load generator for the care benchmark (`scripts/bench-care.sh`): logs in,
//! collects plan ids from the family list, then runs one named workload with
//! C concurrent workers for D seconds and prints one markdown table row
//! (requests, throughput, errors, latency percentiles).
//!
//! It runs on the same machine as the server and PostgreSQL, so it is kept
//! cheap: one runtime thread by default, a shared keep-alive connection
//! pool, latencies in a plain vector per worker, sorted once at the end.
//!
//! ```text
//! cargo run --release --example loadgen -- --base-url http://127.0.0.1:8080 \
//!     --workload plan-view --concurrency 8 --duration 30 --label 100k
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use serde_json::Value;
use tokio::sync::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// `GET /v1/families?signal=many_providers&limit=50`, the first page.
    FamilySignal,
    /// `GET /v1/plans/{id}` over the collected plan ids, round robin.
    PlanView,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::FamilySignal => "family-signal",
            Workload::PlanView => "plan-view",
        }
    }
}

#[derive(Parser, Debug)]
#[command(about = "Load generator for the Gezinsregie care benchmark")]
struct Args {
    /// Server address, without /v1.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    #[arg(long, value_enum)]
    workload: Workload,
    /// Concurrent workers, each with one request in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Unmeasured seconds first (warms caches and connections).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    #[arg(long, default_value = "teamlead.leiden")]
    username: String,
    #[arg(long, default_value = "gezinsregie-demo", env = "LOADGEN_PASSWORD")]
    password: String,
    /// Pages of `GET /v1/families?limit=200` to collect plan ids from.
    #[arg(long, default_value_t = 10)]
    plan_pages: usize,
    /// Text for the first column (the data set, say `100k`).
    #[arg(long, default_value = "")]
    label: String,
    /// Print the table header first.
    #[arg(long)]
    header: bool,
    /// Runtime threads of the load generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The access token, renewed by a background task before it expires.
struct Session {
    access: RwLock<String>,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1) * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let api = format!("{}/v1", args.base_url.trim_end_matches('/'));
    let (access, refresh, expires_in) =
        login(&client, &api, &args.username, &args.password).await?;
    let session = Arc::new(Session {
        access: RwLock::new(access),
    });
    let refresher = tokio::spawn(keep_fresh(
        client.clone(),
        api.clone(),
        session.clone(),
        refresh,
        expires_in,
    ));

    let plan_ids = match args.workload {
        Workload::PlanView => {
            let ids = collect_plan_ids(&client, &api, &session, args.plan_pages).await?;
            if ids.is_empty() {
                bail!("no plans found to read: generate data first");
            }
            ids
        }
        Workload::FamilySignal => Vec::new(),
    };
    let plan_ids = Arc::new(plan_ids);
    // Until the server knows `signal=`, it ignores it and serves the plain
    // list: say so in the row rather than report the wrong query's numbers.
    let mut workload_name = args.workload.name().to_owned();
    if args.workload == Workload::FamilySignal
        && !signal_filter_works(&client, &api, &session).await?
    {
        eprintln!("loadgen: the server ignores signal=; this run measures the unfiltered list");
        workload_name.push_str(" (filter ignored)");
    }

    if args.warmup > 0 {
        drive(&args, &client, &api, &session, &plan_ids, args.warmup).await;
    }
    let started = Instant::now();
    let results = drive(&args, &client, &api, &session, &plan_ids, args.duration).await;
    let elapsed = started.elapsed().as_secs_f64();
    refresher.abort();

    let mut latencies: Vec<u64> = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for r in results {
        latencies.extend(r.latencies_us);
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    let ms = |q: f64| percentile(&latencies, q) as f64 / 1000.0;
    if args.header {
        println!("| data set | workload | plans read | concurrency | seconds | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    }
    println!(
        "| {} | {} | {} | {} | {} | {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        args.label,
        workload_name,
        if plan_ids.is_empty() {
            "-".to_owned()
        } else {
            plan_ids.len().to_string()
        },
        args.concurrency,
        args.duration,
        requests,
        requests as f64 / elapsed.max(0.001),
        errors,
        ms(0.50),
        ms(0.95),
        ms(0.99),
        ms(1.0),
    );
    if let Some(e) = first_error {
        eprintln!("loadgen: {errors} of {requests} requests failed; first: {e}");
    }
    Ok(())
}

/// Nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs the workload for `seconds` with the configured concurrency.
async fn drive(
    args: &Args,
    client: &reqwest::Client,
    api: &str,
    session: &Arc<Session>,
    plan_ids: &Arc<Vec<String>>,
    seconds: u64,
) -> Vec<WorkerResult> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let client = client.clone();
        let session = session.clone();
        let plan_ids = plan_ids.clone();
        let next = next.clone();
        let workload = args.workload;
        let api = api.to_owned();
        workers.push(tokio::spawn(async move {
            let mut result = WorkerResult::default();
            while Instant::now() < deadline {
                let url = match workload {
                    Workload::FamilySignal => {
                        format!("{api}/families?signal=many_providers&limit=50")
                    }
                    Workload::PlanView => {
                        let i = next.fetch_add(1, Ordering::Relaxed) % plan_ids.len();
                        format!("{api}/plans/{}", plan_ids[i])
                    }
                };
                let token = session.access.read().await.clone();
                let sent = Instant::now();
                let response = client.get(&url).bearer_auth(token).send().await;
                let outcome = match response {
                    Ok(r) if r.status().is_success() => r.bytes().await.map(|_| None),
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        Ok(Some(format!("{status} {url}: {body}")))
                    }
                    Err(e) => Err(e),
                };
                let took = sent.elapsed().as_micros() as u64;
                match outcome {
                    Ok(None) => result.latencies_us.push(took),
                    Ok(Some(problem)) => {
                        result.errors += 1;
                        result.first_error.get_or_insert(problem);
                    }
                    Err(e) => {
                        result.errors += 1;
                        result.first_error.get_or_insert(format!("{url}: {e}"));
                    }
                }
            }
            result
        }));
    }
    let mut results = Vec::new();
    for w in workers {
        if let Ok(r) = w.await {
            results.push(r);
        }
    }
    results
}

async fn login(
    client: &reqwest::Client,
    api: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<(String, String, u64)> {
    let response = client
        .post(format!("{api}/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .context("logging in")?;
    if !response.status().is_success() {
        bail!(
            "login as {username} failed: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    token_pair(response.json().await?)
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
async fn keep_fresh(
    client: reqwest::Client,
    api: String,
    session: Arc<Session>,
    mut refresh: String,
    mut expires_in: u64,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(expires_in.saturating_sub(60).max(5))).await;
        let response = client
            .post(format!("{api}/auth/refresh"))
            .json(&serde_json::json!({"refreshToken": refresh}))
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

/// Plan ids of the current plans on the first `pages` pages of the family list.
async fn collect_plan_ids(
    client: &reqwest::Client,
    api: &str,
    session: &Session,
    pages: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..pages {
        let mut url = format!("{api}/families?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let token = session.access.read().await.clone();
        let response = client.get(&url).bearer_auth(token).send().await?;
        if !response.status().is_success() {
            bail!("{url} answered {}", response.status());
        }
        let page: Value = response.json().await?;
        for family in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = family["currentPlan"]["planId"].as_str() {
                ids.push(id.to_owned());
            }
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    Ok(ids)
}

/// Whether the first page of the signal workload holds only families whose
/// current plan carries `many_providers` (and holds some).
async fn signal_filter_works(
    client: &reqwest::Client,
    api: &str,
    session: &Session,
) -> anyhow::Result<bool> {
    let token = session.access.read().await.clone();
    let url = format!("{api}/families?signal=many_providers&limit=50");
    let response = client.get(&url).bearer_auth(token).send().await?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    let page: Value = response.json().await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    Ok(!items.is_empty()
        && items.iter().all(|family| {
            family["currentPlan"]["signals"]
                .to_string()
                .contains("many_providers")
        }))
}
