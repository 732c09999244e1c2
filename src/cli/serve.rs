//! `gezinsregie serve`: migrate, check the keys, load the demo into a
//! private local cluster that is still empty (never in production), and
//! serve until stopped.

use anyhow::{bail, Context};

use crate::config::{Environment, Keys, Settings};
use crate::crypto::keys::{self, PurposeKeys};
use crate::startup::Application;
use crate::{db, demo};

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    if cfg!(feature = "bench-unaudited-reads") {
        // A binary that skips audit writes must never serve real people.
        if std::env::var("GEZINSREGIE_BENCH_UNAUDITED").as_deref() != Ok("yes") {
            bail!("this is a benchmark build that does not audit plan reads; set GEZINSREGIE_BENCH_UNAUDITED=yes to run it");
        }
        tracing::warn!("BENCHMARK BUILD: plan reads are not audited");
    }
    let keys = settings.resolve_keys()?;
    // Checked here too, before the database: a weak previous key refuses.
    settings.previous_keys()?;
    let (url, cluster) = super::database(&settings).await?;
    let result = serve_on(&settings, &keys, &url, cluster.is_some()).await;
    if let Some(cluster) = cluster {
        tracing::info!("stopping the local PostgreSQL");
        if let Err(e) = cluster.stop().await {
            tracing::warn!(error = %e, "stopping the local PostgreSQL failed");
        }
    }
    result
}

async fn serve_on(settings: &Settings, keys: &Keys, url: &str, local: bool) -> anyhow::Result<()> {
    let applied = db::run_migrations(url).await?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied migrations");
    }
    let purpose_keys = PurposeKeys::derive(keys);
    let mut conn = db::connect(url).await?;
    let previous = PurposeKeys::derive_previous(&settings.previous_keys()?);
    keys::check_and_install(&mut conn, &purpose_keys, &previous).await?;
    // Only ever the private cluster of a local run (production has none:
    // cli::refuse_in_production), and checked again here because the demo
    // accounts' passwords are in the README.
    let demo_allowed = local && settings.environment != Environment::Production;
    if demo_allowed && demo::database_is_empty(&mut conn).await? {
        crate::audit::chain::install(&purpose_keys)?;
        demo::load_if_absent(&mut conn, &purpose_keys).await?;
        demo::print_logins();
    }
    drop(conn);
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
