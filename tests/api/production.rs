//! Issue 15 item 1: production mode never serves demo data. The real
//! binary with `GEZINSREGIE_ENV=production` refuses to start without a
//! configured database (it used to start a private cluster, load the demo
//! accounts with their published passwords and listen on 0.0.0.0), refuses
//! the `demo` command, and refuses to serve on an address nobody chose.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::helpers::{fresh_database, secrets_env, spawn_app, wait_until};

/// Longer than a refusal takes, shorter than starting a private cluster,
/// loading the demo and serving (the old behaviour, which never exits).
const EXITS_WITHIN: Duration = Duration::from_secs(30);

const METRICS_TOKEN: &str = "a-metrics-token-of-more-than-32-characters";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("gezinsregie-prod-{}", Uuid::new_v4().simple()))
}

/// The binary in production mode with the test secrets, on `port`, its data
/// folder `data_dir`, and nothing else from the environment that names a
/// database or an address.
fn production(args: &[&str], port: u16, data_dir: &PathBuf) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("GEZINSREGIE__DATABASE__URL")
        .env_remove("GEZINSREGIE__SERVER__HOST")
        .env_remove("GEZINSREGIE_CONFIG_DIR")
        .env("GEZINSREGIE_ENV", "production")
        .env("GEZINSREGIE__SERVER__PORT", port.to_string())
        .env("GEZINSREGIE__SERVER__WORKERS", "1")
        .env("GEZINSREGIE__DATA_DIR", data_dir)
        .env("GEZINSREGIE__SECRETS__METRICS_TOKEN", METRICS_TOKEN)
        .envs(secrets_env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` to its end; `None` when it was still running after
/// [`EXITS_WITHIN`] (it was killed then).
async fn run_to_exit(mut command: tokio::process::Command) -> Option<Output> {
    let child = command.spawn().expect("starting the binary");
    tokio::time::timeout(EXITS_WITHIN, child.wait_with_output())
        .await
        .ok()
        .map(|out| out.expect("the binary's output"))
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn refused_with(out: Option<Output>, words: &str) {
    let out = out.expect("the binary kept running instead of refusing to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it exited successfully: {stderr}");
    assert!(
        stderr.contains(words),
        "the message does not name {words}: {stderr}"
    );
}

/// Issue 15 item 1 (a): no `DATABASE_URL` in production: a non-zero exit
/// naming the setting, no data folder (no cluster, no secrets file), no port.
#[actix_web::test]
async fn production_without_a_database_url_refuses_to_start_and_creates_nothing() {
    let (port, data_dir) = (free_port(), scratch_dir());
    let mut command = production(&["serve"], port, &data_dir);
    command.env("GEZINSREGIE__SERVER__HOST", "127.0.0.1");

    let out = run_to_exit(command).await;
    let was_listening = listening(port);
    let created = data_dir.exists();
    let _ = std::fs::remove_dir_all(&data_dir);

    refused_with(out, "DATABASE_URL");
    assert!(!created, "a data folder (private cluster) was created");
    assert!(!was_listening, "something listens on the port");
}

/// Issue 15 item 1 (a), every command: `migrate` without a database in
/// production does not start a private cluster either.
#[actix_web::test]
async fn production_commands_without_a_database_url_start_no_private_cluster() {
    let (port, data_dir) = (free_port(), scratch_dir());

    let out = run_to_exit(production(&["migrate"], port, &data_dir)).await;
    let created = data_dir.exists();
    let _ = std::fs::remove_dir_all(&data_dir);

    refused_with(out, "DATABASE_URL");
    assert!(!created, "a data folder (private cluster) was created");
}

/// Issue 15 item 1 (b): `gezinsregie demo` in production is refused and
/// writes no demo account into the production database.
#[actix_web::test]
async fn the_demo_command_is_refused_in_production() {
    let app = spawn_app().await;
    let (port, data_dir) = (free_port(), scratch_dir());
    let mut command = production(&["demo"], port, &data_dir);
    command.env("DATABASE_URL", &app.db_url);

    let out = run_to_exit(command).await;
    let _ = std::fs::remove_dir_all(&data_dir);

    refused_with(out, "refused in production");
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM clients").await, 0);
}

/// Issue 15 item 1 (c): serving in production on the embedded default
/// address is refused (the shipped config/production.toml names none); the
/// same process with `GEZINSREGIE__SERVER__HOST` serves, without demo data.
#[actix_web::test]
async fn production_serves_only_on_an_explicitly_configured_address() {
    let db_url = fresh_database().await;
    let (port, data_dir) = (free_port(), scratch_dir());
    let mut command = production(&["serve"], port, &data_dir);
    command.env("DATABASE_URL", &db_url);

    let out = run_to_exit(command).await;
    let was_listening = listening(port);
    refused_with(out, "GEZINSREGIE__SERVER__HOST");
    assert!(!was_listening, "something listens on the port");

    let mut command = production(&["serve"], port, &data_dir);
    command
        .env("DATABASE_URL", &db_url)
        .env("GEZINSREGIE__SERVER__HOST", "127.0.0.1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _server = command.spawn().expect("starting the binary");
    let client = reqwest::Client::new();
    let ready = wait_until(EXITS_WITHIN, async || {
        client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let open_metrics = client.get(&metrics).send().await.map(|r| r.status());
    let token_metrics = client
        .get(&metrics)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .map(|r| r.status());
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(ready, "the configured production server did not serve");
    assert_eq!(open_metrics.expect("metrics"), 401);
    assert_eq!(token_metrics.expect("metrics"), 200);
    let mut conn = AsyncPgConnection::establish(&db_url)
        .await
        .expect("connect");
    let users: i64 = diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM users)",
    ))
    .get_result(&mut conn)
    .await
    .expect("count users");
    assert_eq!(users, 0, "production loaded demo accounts");
}

/// Issue 15 item 10: production refuses to serve without a metrics token
/// (or with a short one), so `/metrics` is never open to anyone.
#[actix_web::test]
async fn production_refuses_to_serve_without_a_metrics_token() {
    let db_url = fresh_database().await;
    let (port, data_dir) = (free_port(), scratch_dir());
    let mut without = production(&["serve"], port, &data_dir);
    without
        .env("DATABASE_URL", &db_url)
        .env("GEZINSREGIE__SERVER__HOST", "127.0.0.1")
        .env_remove("GEZINSREGIE__SECRETS__METRICS_TOKEN");
    let mut short = production(&["serve"], port, &data_dir);
    short
        .env("DATABASE_URL", &db_url)
        .env("GEZINSREGIE__SERVER__HOST", "127.0.0.1")
        .env("GEZINSREGIE__SECRETS__METRICS_TOKEN", "short");

    let without = run_to_exit(without).await;
    let short = run_to_exit(short).await;
    let was_listening = listening(port);
    let _ = std::fs::remove_dir_all(&data_dir);

    refused_with(without, "METRICS_TOKEN");
    refused_with(short, "METRICS_TOKEN");
    assert!(!was_listening, "something listens on the port");
}
