//! `gezinsregie demo`, `retention run` and `check-invariants`.

use anyhow::{bail, Context};

use crate::config::Settings;
use crate::crypto::keys::PurposeKeys;
use crate::demo::{self, generate};
use crate::{db, retention};

/// Loads the demo data set if it is not there, then `families` generated
/// families and `audit_events` synthetic audit events, if asked.
pub async fn demo(
    settings: &Settings,
    url: &str,
    keys: &PurposeKeys,
    families: Option<u64>,
    seed: i64,
    audit_events: Option<u64>,
) -> anyhow::Result<()> {
    let mut conn = db::connect(url).await?;
    if demo::load_if_absent(&mut conn, keys).await? {
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
        crate::audit::synthetic::generate(&mut conn, "0546", count, |what, n| {
            println!(
                "  {n:>9} {what}  {:>7.1} s",
                started.elapsed().as_secs_f64()
            );
        })
        .await?;
    }
    Ok(())
}

/// Anonymises the dossiers past their retention period (or shows which).
pub async fn retention(settings: &Settings, url: &str, dry_run: bool) -> anyhow::Result<()> {
    let mut conn = db::connect(url).await?;
    let options = retention::Options::new(&settings.retention, dry_run);
    let summary = retention::run(&mut conn, &options, chrono::Utc::now()).await?;
    println!("{summary}");
    Ok(())
}

/// Prints every invariant check with its count; fails when any found one.
pub async fn check_invariants(settings: &Settings, url: &str) -> anyhow::Result<()> {
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
