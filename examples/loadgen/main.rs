//! Load generator of the benchmark driver (`scripts/bench.sh`): logs in,
//! gathers what the workload needs through the API, then runs one named
//! workload with C concurrent workers for D seconds and prints one markdown
//! table row: requests, throughput, errors, latency percentiles and, with
//! `--server-pid`, the server's peak resident memory during the run.
//!
//! It runs on the same machine as the server and PostgreSQL, so it is kept
//! cheap: one runtime thread by default, a shared keep-alive connection
//! pool, latencies in a plain vector per worker, sorted once at the end.
//!
//! ```text
//! cargo run --release --example loadgen -- --base-url http://127.0.0.1:8080 \
//!     --workload plan-view --concurrency 8 --duration 30 --label 100k
//! ```
//!
//! `--once` sends a single request of the workload after the set-up, between
//! the shell commands `--before` and `--after`: the driver uses it to log
//! exactly the statements one request issues.

mod fixture;
mod workload;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};

use fixture::{Fixture, Session};
use workload::{Auth, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// `GET /v1/plans/{id}` over the plans of the first pages, round robin
    /// (the full plan view, audited).
    PlanView,
    /// `GET /v1/families?signal=many_providers&limit=50`, the first page.
    FamilySignal,
    /// `POST /v1/plans/{id}/involvements`: a requested involvement of a
    /// fresh provider, a new (plan, provider, care form) each time.
    CreateInvolvement,
    /// `PUT /v1/plans/{id}/director`: the plan moves to the next eligible
    /// director.
    DirectorHandover,
    /// `POST /v1/referrals` by the GP system: an unknown child, so a new
    /// family with an intake plan.
    ReferralIntake,
    /// All of the above in a fixed proportion (see `workload::MIX`).
    Mix,
}

impl Workload {
    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Parser, Debug)]
#[command(about = "Load generator for the Gezinsregie benchmark")]
pub struct Args {
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
    /// Creates the run's providers.
    #[arg(long, default_value = "admin")]
    admin_username: String,
    #[arg(long, default_value = "gezinsregie-demo", env = "LOADGEN_PASSWORD")]
    password: String,
    /// Pages of `GET /v1/families?limit=200` whose plans are read.
    #[arg(long, default_value_t = 10)]
    plan_pages: usize,
    /// Further pages whose active plans the write workloads change.
    #[arg(long, default_value_t = 50)]
    write_pages: usize,
    /// Providers created for the involvement workload.
    #[arg(long, default_value_t = 10)]
    providers: usize,
    /// Text for the first column (the data set, say `100k`).
    #[arg(long, default_value = "")]
    label: String,
    /// Print the table header first.
    #[arg(long)]
    header: bool,
    /// Runtime threads of the load generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The server's process id: its peak RSS is reset before the measured
    /// seconds and read after them (Linux `/proc`).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Send one request after the set-up instead of a timed run.
    #[arg(long)]
    once: bool,
    /// With `--once`: shell command run just before the request.
    #[arg(long)]
    before: Option<String>,
    /// With `--once`: shell command run just after the answer.
    #[arg(long)]
    after: Option<String>,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

struct Ctx {
    client: reqwest::Client,
    api: String,
    session: Arc<Session>,
    fixture: Fixture,
    workload: Workload,
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
        fixture::login(&client, &api, &args.username, &args.password).await?;
    let fixture = fixture::prepare(&args, &client, &api, &access).await?;
    let session = Arc::new(Session {
        access: tokio::sync::RwLock::new(access),
    });
    let refresher = tokio::spawn(fixture::keep_fresh(
        client.clone(),
        api.clone(),
        session.clone(),
        refresh,
        expires_in,
    ));
    let ctx = Arc::new(Ctx {
        client,
        api,
        session,
        fixture,
        workload: args.workload,
    });

    if args.once {
        return once(&args, &ctx).await;
    }
    // Until the server knows `signal=`, it ignores it and serves the plain
    // list: say so in the row rather than report the wrong query's numbers.
    let mut workload_name = args.workload.name();
    if args.workload == Workload::FamilySignal && !signal_filter_works(&ctx).await? {
        eprintln!("loadgen: the server ignores signal=; this run measures the unfiltered list");
        workload_name.push_str(" (filter ignored)");
    }

    let counter = Arc::new(AtomicU64::new(0));
    if args.warmup > 0 {
        drive(&ctx, &counter, args.concurrency, args.warmup).await;
    }
    if let Some(pid) = args.server_pid {
        // "5" resets the peak (VmHWM) to the current RSS (proc(5)).
        if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
            eprintln!("loadgen: cannot reset the server's peak RSS: {e}");
        }
    }
    let started = Instant::now();
    let results = drive(&ctx, &counter, args.concurrency, args.duration).await;
    let elapsed = started.elapsed().as_secs_f64();
    let peak_rss = args.server_pid.and_then(peak_rss_mib);
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
        println!("| data set | workload | concurrency | seconds | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms | server peak RSS MiB |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    }
    println!(
        "| {} | {} | {} | {} | {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
        args.label,
        workload_name,
        args.concurrency,
        args.duration,
        requests,
        requests as f64 / elapsed.max(0.001),
        errors,
        ms(0.50),
        ms(0.95),
        ms(0.99),
        ms(1.0),
        peak_rss.map_or("-".to_owned(), |m| format!("{m:.1}")),
    );
    if let Some(e) = first_error {
        eprintln!(
            "loadgen: {errors} of {} requests failed; first: {e}",
            requests + errors
        );
    }
    Ok(())
}

/// One request between two shell commands (the driver's statement capture).
async fn once(args: &Args, ctx: &Ctx) -> anyhow::Result<()> {
    let shell = |cmd: &Option<String>| -> anyhow::Result<()> {
        if let Some(cmd) = cmd {
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .status()
                .context("running a --before/--after command")?;
            if !status.success() {
                bail!("`{cmd}` failed: {status}");
            }
        }
        Ok(())
    };
    let request = workload::request(ctx.workload, 0, &ctx.api, &ctx.fixture);
    let mut roles: serde_json::Map<String, serde_json::Value> = request
        .roles
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    // The plan's family, which the server looks up by itself.
    if let Some(plan) = roles.get("plan_id").and_then(|p| p.as_str()) {
        let token = ctx.session.access.read().await.clone();
        let url = format!("{}/plans/{plan}", ctx.api);
        let view: serde_json::Value = ctx
            .client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        roles.insert("family_id".into(), view["familyId"].clone());
    }
    shell(&args.before)?;
    let outcome = send(ctx, &request).await;
    shell(&args.after)?;
    match outcome {
        Ok(None) => {
            println!("{}", serde_json::Value::Object(roles));
            Ok(())
        }
        Ok(Some(problem)) => bail!("the request failed: {problem}"),
        Err(e) => bail!("the request failed: {e}"),
    }
}

/// Peak resident memory of a process in MiB (`VmHWM` of `/proc/PID/status`).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sends one request; `Ok(None)` on success, `Ok(Some(problem))` on an
/// error status.
async fn send(ctx: &Ctx, request: &Request) -> Result<Option<String>, reqwest::Error> {
    let token = match request.auth {
        Auth::User => ctx.session.access.read().await.clone(),
        Auth::Client => ctx.fixture.client_token.clone(),
    };
    let mut builder = ctx
        .client
        .request(request.method.clone(), &request.url)
        .bearer_auth(token);
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    if let Some(key) = &request.idempotency_key {
        builder = builder.header("Idempotency-Key", key);
    }
    let response = builder.send().await?;
    if response.status().is_success() {
        response.bytes().await?;
        workload::accepted(request, &ctx.fixture);
        return Ok(None);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Ok(Some(format!(
        "{status} {} {}: {body}",
        request.method, request.url
    )))
}

/// Runs the workload for `seconds` with `concurrency` workers; request
/// numbers continue from `counter`, so the measured phase never repeats
/// what the warm-up created.
async fn drive(
    ctx: &Arc<Ctx>,
    counter: &Arc<AtomicU64>,
    concurrency: usize,
    seconds: u64,
) -> Vec<WorkerResult> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let ctx = ctx.clone();
        let counter = counter.clone();
        workers.push(tokio::spawn(async move {
            let mut result = WorkerResult::default();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let request = workload::request(ctx.workload, n, &ctx.api, &ctx.fixture);
                let sent = Instant::now();
                let outcome = send(&ctx, &request).await;
                let took = sent.elapsed().as_micros() as u64;
                match outcome {
                    Ok(None) => result.latencies_us.push(took),
                    Ok(Some(problem)) => {
                        result.errors += 1;
                        result.first_error.get_or_insert(problem);
                    }
                    Err(e) => {
                        result.errors += 1;
                        result
                            .first_error
                            .get_or_insert(format!("{}: {e}", request.url));
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

/// Whether the first page of the signal workload holds only families whose
/// current plan carries `many_providers` (and holds some).
async fn signal_filter_works(ctx: &Ctx) -> anyhow::Result<bool> {
    let token = ctx.session.access.read().await.clone();
    let url = format!("{}/families?signal=many_providers&limit=50", ctx.api);
    let response = ctx.client.get(&url).bearer_auth(token).send().await?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    let page: serde_json::Value = response.json().await?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    Ok(!items.is_empty()
        && items.iter().all(|family| {
            family["currentPlan"]["signals"]
                .to_string()
                .contains("many_providers")
        }))
}
