//! The command line (`gezinsregie serve`, `migrate`, `create-user`, `demo`,
//! `audit`, ...): clap's definition of the commands and where each one
//! runs. `main.rs` only calls [`main`].

mod accounts;
mod audit;
mod data;
mod keys;
mod serve;

use anyhow::bail;
use clap::{Parser, Subcommand};

use crate::config::{Environment, Settings};
use crate::crypto::keys::PurposeKeys;
use crate::db::cluster::{ClusterOptions, LocalCluster};
use crate::domain::Role;
use crate::{db, telemetry};

#[derive(Parser)]
#[command(
    name = "gezinsregie",
    version,
    about = "1 gezin, 1 plan, 1 regisseur: the youth-care plan and director service"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API (the default). Without DATABASE_URL a private local
    /// PostgreSQL is started in the data folder and filled with demo data
    /// (local mode only: production requires DATABASE_URL and server.host).
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
    /// Refused in production mode.
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
    /// The purpose keys: their versions, fingerprints and rotations
    /// (README, "Rotating keys").
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
pub enum AuditCommand {
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
        format: crate::audit::export::ExportFormat,
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

fn parse_format(text: &str) -> Result<crate::audit::export::ExportFormat, String> {
    use crate::audit::export::ExportFormat;
    match text {
        "ndjson" => Ok(ExportFormat::Ndjson),
        "csv" => Ok(ExportFormat::Csv),
        _ => Err("use ndjson or csv".into()),
    }
}

#[derive(Subcommand)]
pub enum RetentionCommand {
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

/// The database to use: DATABASE_URL, or the local cluster (started here;
/// never in production).
async fn database(settings: &Settings) -> anyhow::Result<(String, Option<LocalCluster>)> {
    match &settings.database.url {
        Some(url) => Ok((url.clone(), None)),
        None if settings.environment == Environment::Production => bail!(NO_DATABASE_IN_PRODUCTION),
        None => {
            let cluster =
                LocalCluster::start(&settings.data_dir, &ClusterOptions::default()).await?;
            Ok((cluster.url("gezinsregie"), Some(cluster)))
        }
    }
}

/// Runs the command line.
pub fn main() -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(run(Cli::parse()))
}

const NO_DATABASE_IN_PRODUCTION: &str =
    "production mode needs DATABASE_URL (or GEZINSREGIE__DATABASE__URL): \
     the private local PostgreSQL and its demo data are for local use only; refusing to start";

/// What production mode refuses before anything is started or written: a
/// command without a configured database (the private cluster is filled
/// with demo accounts whose passwords are public), the `demo` command, and
/// serving on an address nobody chose.
fn refuse_in_production(settings: &Settings, command: Option<&Command>) -> anyhow::Result<()> {
    if settings.environment != Environment::Production {
        return Ok(());
    }
    match command {
        Some(Command::Demo { .. }) => bail!(
            "the demo command loads accounts with published passwords and a fixed client \
             secret; it is refused in production mode (GEZINSREGIE_ENV=production)"
        ),
        Some(Command::Openapi) => return Ok(()),
        _ => {}
    }
    if settings.database.url.is_none() {
        bail!(NO_DATABASE_IN_PRODUCTION);
    }
    if !matches!(command, None | Some(Command::Serve)) {
        return Ok(());
    }
    if !settings.server.host_configured {
        bail!(
            "production mode needs an explicit bind address: set GEZINSREGIE__SERVER__HOST \
             (or server.host in config/production.toml); refusing to listen on a default"
        );
    }
    if settings
        .metrics_token()
        .is_none_or(|t| t.chars().count() < crate::config::MIN_METRICS_TOKEN_CHARS)
    {
        bail!(
            "production mode needs GEZINSREGIE__SECRETS__METRICS_TOKEN (at least {} characters, \
             e.g. openssl rand -base64 32), the bearer token that /metrics requires",
            crate::config::MIN_METRICS_TOKEN_CHARS
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    refuse_in_production(&settings, cli.command.as_ref())?;
    let serving = matches!(cli.command, None | Some(Command::Serve));
    telemetry::init(&settings.log, !serving);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::serve(settings).await,
        Command::Openapi => {
            print!("{}", crate::openapi::document_json());
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

/// A one-off command on the database at `url`: migrated first, and its
/// keys checked against the ones the data was written with.
async fn run_command(command: Command, settings: &Settings, url: &str) -> anyhow::Result<()> {
    if let Command::CheckInvariants = command {
        return data::check_invariants(settings, url).await;
    }
    db::run_migrations(url).await?;
    let keys = PurposeKeys::derive(&settings.resolve_keys()?);
    let previous = PurposeKeys::derive_previous(&settings.previous_keys()?);
    crate::crypto::keys::check_and_install(&mut db::connect(url).await?, &keys, &previous).await?;
    crate::audit::chain::install(&keys)?;
    match command {
        Command::Migrate => {
            println!("database is migrated");
            Ok(())
        }
        Command::Demo {
            families,
            seed,
            audit_events,
        } => data::demo(settings, url, &keys, families, seed, audit_events).await,
        Command::CreateUser {
            username,
            role,
            municipality,
            team,
            display_name,
        } => {
            let user = accounts::NewAccount {
                username,
                role,
                municipality,
                team,
                display_name,
            };
            accounts::create_user(url, user).await
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
            let spec = crate::admin::model::NewClient {
                name,
                referrer_type,
                agb_code,
                organisation_name: organisation,
                municipality_codes: municipalities,
                scopes,
                callback_url,
            };
            accounts::create_client(url, &keys, spec).await
        }
        Command::Audit { command } => audit::run(command, url).await,
        Command::Keys { command } => keys::run(command, url, &keys).await,
        Command::Retention {
            action: RetentionCommand::Run { dry_run },
        } => data::retention(settings, url, dry_run).await,
        Command::Serve | Command::Openapi | Command::CheckInvariants => {
            bail!("not a one-off command")
        }
    }
}
