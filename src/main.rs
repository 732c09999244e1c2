//! Command line of the Gezinsregie server: a thin layer over the library.

use std::io::BufRead;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use gezinsregie::config::Settings;
use gezinsregie::db::cluster::{ClusterOptions, LocalCluster};
use gezinsregie::demo::generate;
use gezinsregie::domain::Role;
use gezinsregie::startup::Application;
use gezinsregie::{db, demo, retention, telemetry};

#[derive(Parser)]
#[command(
    name = "gezinsregie",
    version,
    about = "1 gezin, 1 plan, 1 regisseur: the youth-care plan and director service"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Without DATABASE_URL a private local
    /// PostgreSQL is started in the data folder and filled with demo data.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a user; the password comes from GEZINSREGIE_PASSWORD or stdin.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        municipality: Option<String>,
        #[arg(long)]
        team: Option<uuid::Uuid>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Register a machine client (GP, youth doctor or GI system) that submits
    /// referrals; prints its client id, secret and callback secret once.
    CreateClient {
        #[arg(long)]
        name: String,
        /// iJw referrer type (COD327): 01, 02, 03, 04, 05, 06 or 08.
        #[arg(long)]
        referrer_type: String,
        /// AGB code the client refers as (types 02 to 05).
        #[arg(long)]
        agb_code: Option<String>,
        #[arg(long)]
        organisation: String,
        /// A municipality the client refers to (repeat for more).
        #[arg(long = "municipality", required = true)]
        municipalities: Vec<String>,
        /// A scope (repeat for more): referrals:write, referrals:read.
        #[arg(long = "scope", default_values_t = ["referrals:write".to_owned(), "referrals:read".to_owned()])]
        scopes: Vec<String>,
        /// HTTPS URL for signed status notifications.
        #[arg(long)]
        callback_url: Option<String>,
    },
    /// Load the synthetic demo data set (municipalities, teams, users, families).
    /// With --families N, also bulk-generate N more synthetic families with
    /// plans, directors, care, scaling history and signals (for load tests).
    Demo {
        /// How many families to generate on top of the demo data.
        #[arg(long)]
        families: Option<u64>,
        /// Seed of the generator: the same seed on the same database gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: i64,
        /// Also write this many synthetic audit events for Leiden (0546),
        /// spread over the past year and sealed (export benchmark).
        #[arg(long)]
        audit_events: Option<u64>,
    },
    /// The audit trail: export it, verify it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Retention of dossiers (Jeugdwet art. 7.3.8) and audit events.
    Retention {
        #[command(subcommand)]
        action: RetentionCommand,
    },
    /// Check the invariants of the stored data (one plan per family, one
    /// director per active plan, derived care state, audit chain, ...) in
    /// one snapshot; prints every check with its count and exits 1 when any
    /// violation is found. Changes nothing, not even pending migrations.
    CheckInvariants,
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Stream the events of a municipality and period to stdout (or a file);
    /// the chain head goes to stderr. The export is itself audited.
    Export {
        /// Municipality code; all municipalities without it.
        #[arg(long)]
        municipality: Option<String>,
        /// First day, YYYY-MM-DD (inclusive, UTC).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day, YYYY-MM-DD (inclusive, UTC).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// ndjson or csv.
        #[arg(long, default_value = "ndjson", value_parser = parse_format)]
        format: gezinsregie::audit::export::ExportFormat,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        /// Print the COPY statement of this export and stop (the benchmark
        /// runs it with psql as the baseline).
        #[arg(long)]
        print_statement: bool,
    },
    /// Check the trail for changed, removed and inserted events; exits 1
    /// when anything is found.
    Verify {
        /// First day, YYYY-MM-DD (inclusive, UTC).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day, YYYY-MM-DD (inclusive, UTC).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
    },
}

fn parse_format(text: &str) -> Result<gezinsregie::audit::export::ExportFormat, String> {
    use gezinsregie::audit::export::ExportFormat;
    match text {
        "ndjson" => Ok(ExportFormat::Ndjson),
        "csv" => Ok(ExportFormat::Csv),
        _ => Err("use ndjson or csv".into()),
    }
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Anonymise the families whose dossier is past its retention period
    /// ([retention] dossier_years after the last plan closed) and report the
    /// audit events past [retention] audit_years (they are kept).
    Run {
        /// Show what would be anonymised; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role; use one of {}", names.join(", "))
    })
}

/// The database to use: DATABASE_URL, or the local cluster (started here).
async fn database(settings: &Settings) -> anyhow::Result<(String, Option<LocalCluster>)> {
    match &settings.database.url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            let cluster =
                LocalCluster::start(&settings.data_dir, &ClusterOptions::default()).await?;
            Ok((cluster.url("gezinsregie"), Some(cluster)))
        }
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    let serving = matches!(cli.command, None | Some(Command::Serve));
    telemetry::init(&settings.log, !serving);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Openapi => {
            print!("{}", gezinsregie::openapi::document_json());
            Ok(())
        }
        other => {
            let (url, cluster) = database(&settings).await?;
            let result = run_command(other, &settings, &url).await;
            if let Some(cluster) = cluster.filter(|c| !c.adopted) {
                cluster.stop().await?;
            }
            result
        }
    }
}

async fn run_command(command: Command, settings: &Settings, url: &str) -> anyhow::Result<()> {
    if let Command::CheckInvariants = command {
        return check_invariants(settings, url).await;
    }
    db::run_migrations(url).await?;
    let keys = settings.resolve_keys()?;
    gezinsregie::audit::chain::install(&keys)?;
    match command {
        Command::Migrate => {
            println!("database is migrated");
            Ok(())
        }
        Command::Demo {
            families,
            seed,
            audit_events,
        } => {
            let mut conn = db::connect(url).await?;
            if demo::load_if_absent(&mut conn, &keys).await? {
                demo::print_logins();
            } else {
                println!("demo data is already loaded");
            }
            if let Some(families) = families {
                println!("generating {families} synthetic families (seed {seed})");
                let options = generate::Options {
                    thresholds: settings.signals.thresholds.clone(),
                    catalogue_file: settings.care.catalogue_file.clone(),
                    ..generate::Options::new(families, seed)
                };
                let summary = generate::run(&mut conn, &options, |b| {
                    let rate = b.done as f64 / b.elapsed_seconds.max(0.001);
                    println!(
                        "  {:>9} / {} families  {:>7.1} s  ({:.0} families/s)",
                        b.done, b.total, b.elapsed_seconds, rate
                    );
                })
                .await?;
                println!("{summary}");
            }
            if let Some(count) = audit_events {
                println!("writing {count} synthetic audit events for 0546");
                let started = std::time::Instant::now();
                gezinsregie::audit::synthetic::generate(&mut conn, "0546", count, |what, n| {
                    println!(
                        "  {n:>9} {what}  {:>7.1} s",
                        started.elapsed().as_secs_f64()
                    );
                })
                .await?;
            }
            Ok(())
        }
        Command::CreateUser {
            username,
            role,
            municipality,
            team,
            display_name,
        } => {
            let password = match std::env::var("GEZINSREGIE_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    eprintln!("password (from stdin):");
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let mut conn = db::connect(url).await?;
            let id = demo::create_user_cli(
                &mut conn,
                &username,
                role,
                municipality,
                team,
                display_name,
                password,
            )
            .await?;
            println!("created user {username} ({}) with id {id}", role.as_str());
            Ok(())
        }
        Command::CreateClient {
            name,
            referrer_type,
            agb_code,
            organisation,
            municipalities,
            scopes,
            callback_url,
        } => {
            let mut conn = db::connect(url).await?;
            let spec = gezinsregie::admin::clients::NewClient {
                name: name.clone(),
                referrer_type,
                agb_code,
                organisation_name: organisation,
                municipality_codes: municipalities,
                scopes,
                callback_url,
            };
            let (id, secret, callback_secret) =
                demo::create_client_cli(&mut conn, &keys, spec).await?;
            println!("created client {name}; store these now, they are not shown again:");
            println!("  client_id        {id}");
            println!("  client_secret    {secret}");
            println!("  callback_secret  {callback_secret}");
            Ok(())
        }
        Command::Audit { command } => audit_command(command, url).await,
        Command::Retention {
            action: RetentionCommand::Run { dry_run },
        } => {
            let mut conn = db::connect(url).await?;
            let options = retention::Options::new(&settings.retention, dry_run);
            let summary = retention::run(&mut conn, &options, chrono::Utc::now()).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Serve | Command::Openapi | Command::CheckInvariants => {
            bail!("not a one-off command")
        }
    }
}

/// Prints every invariant check with its count; fails when any found one.
async fn check_invariants(settings: &Settings, url: &str) -> anyhow::Result<()> {
    let mut conn = db::connect(url).await?;
    let report = db::invariants::check(&mut conn, &settings.signals.thresholds)
        .await
        .context("running the invariant checks")?;
    println!("{report}");
    if !report.is_clean() {
        bail!(
            "the data breaks {} invariant check(s)",
            report.failed().count()
        );
    }
    Ok(())
}

async fn audit_command(command: AuditCommand, url: &str) -> anyhow::Result<()> {
    use gezinsregie::audit::{chain, export};
    match command {
        AuditCommand::Export {
            municipality,
            from,
            to,
            format,
            output,
            print_statement,
        } => {
            let municipality = municipality
                .map(|m| gezinsregie::domain::MunicipalityCode::parse(&m))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--municipality: {}", e.reason))?;
            let (from, to) = gezinsregie::audit::routes::day_bounds(from, to);
            let spec = export::ExportSpec {
                municipality,
                from,
                to,
                format,
            };
            if print_statement {
                println!("{}", spec.copy_statement());
                return Ok(());
            }
            let (head, bytes) = match output {
                Some(path) => {
                    let mut file = tokio::fs::File::create(&path)
                        .await
                        .with_context(|| format!("creating {}", path.display()))?;
                    export::export_to(url, &spec, &mut file).await?
                }
                None => export::export_to(url, &spec, &mut tokio::io::stdout()).await?,
            };
            match head {
                Some(head) => {
                    eprintln!("exported {bytes} bytes; chain head {}", head.header_value())
                }
                None => eprintln!("exported {bytes} bytes; the chain is empty"),
            }
            Ok(())
        }
        AuditCommand::Verify { from, to } => {
            let (from, to) = gezinsregie::audit::routes::day_bounds(from, to);
            let mut conn = db::connect(url).await?;
            let report = chain::verify(&mut conn, from, to).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.valid {
                bail!(
                    "the audit trail fails verification: {} problem(s)",
                    report.problem_count
                );
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    if cfg!(feature = "bench-unaudited-reads") {
        // A binary that skips audit writes must never serve real people.
        if std::env::var("GEZINSREGIE_BENCH_UNAUDITED").as_deref() != Ok("yes") {
            bail!("this is a benchmark build that does not audit plan reads; set GEZINSREGIE_BENCH_UNAUDITED=yes to run it");
        }
        tracing::warn!("BENCHMARK BUILD: plan reads are not audited");
    }
    let keys = settings.resolve_keys()?;
    let (url, cluster) = database(&settings).await?;
    let result = serve_on(&settings, &keys, &url, cluster.is_some()).await;
    if let Some(cluster) = cluster {
        tracing::info!("stopping the local PostgreSQL");
        if let Err(e) = cluster.stop().await {
            tracing::warn!(error = %e, "stopping the local PostgreSQL failed");
        }
    }
    result
}

async fn serve_on(
    settings: &Settings,
    keys: &gezinsregie::config::Keys,
    url: &str,
    local: bool,
) -> anyhow::Result<()> {
    let applied = db::run_migrations(url).await?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied migrations");
    }
    if local {
        let mut conn = db::connect(url).await?;
        if demo::database_is_empty(&mut conn).await? {
            demo::load_if_absent(&mut conn, keys).await?;
            demo::print_logins();
        }
    }
    let pool = db::build_pool(
        url,
        settings.database.pool_size,
        std::time::Duration::from_secs(settings.database.acquire_timeout_seconds),
    )?;
    // The server's own exports connect where the pool does.
    let mut settings = settings.clone();
    settings.database.url = Some(url.to_owned());
    let settings = &settings;
    let app = Application::build(settings, keys, pool).context("starting the HTTP server")?;
    let host = &settings.server.host;
    tracing::info!(
        port = app.port(),
        "serving on http://{host}:{}/v1 (docs at /docs/)",
        app.port()
    );
    if settings.log.format != "json" {
        // For people at a terminal; log collectors get the JSON line above.
        println!(
            "Gezinsregie is serving on http://{host}:{}/v1 (API docs: http://{host}:{}/docs/)",
            app.port(),
            app.port()
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}
