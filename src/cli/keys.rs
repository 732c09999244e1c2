//! `gezinsregie keys`: the versions of the purpose keys a database knows.
//!
//! A rotation starts when a server or command runs with a new secret and
//! the old one in `secrets.*_previous_keys`: the key check at start retires
//! the old version (with the date) and records the new one. `keys list`
//! shows where every purpose stands and which retired keys are still needed.

use clap::Subcommand;

use crate::audit::chain::{hex, EPOCH_OVERLAP};
use crate::crypto::keys;
use crate::db;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List every key version with its fingerprint, when it was recorded
    /// and retired, and whether its previous key must stay configured.
    List,
}

pub async fn run(command: KeysCommand, url: &str) -> anyhow::Result<()> {
    match command {
        KeysCommand::List => list(url).await,
    }
}

async fn list(url: &str) -> anyhow::Result<()> {
    let mut conn = db::connect(url).await?;
    let ttl = chrono::Duration::minutes(15);
    println!("purpose           version  fingerprint       recorded_at                 state");
    for key in keys::list(&mut conn).await? {
        let state = match key.retired_at {
            None => "current".to_owned(),
            Some(at) => format!(
                "retired {} ({})",
                at.to_rfc3339(),
                still_needed(&key.purpose, at, ttl)
            ),
        };
        println!(
            "{:<17} {:>7}  {}  {}  {state}",
            key.purpose,
            key.version,
            hex(&key.fingerprint[..8]),
            key.recorded_at.to_rfc3339(),
        );
    }
    Ok(())
}

/// Whether the retired key of `purpose` must stay among the previous keys.
fn still_needed(
    purpose: &str,
    retired_at: chrono::DateTime<chrono::Utc>,
    ttl: chrono::Duration,
) -> &'static str {
    let now = chrono::Utc::now();
    match purpose {
        "token_signing" if now < retired_at + ttl => "overlap running: keep it configured",
        "token_signing" => "overlap ended: remove it from jwt_previous_keys",
        "audit_mac" if now < retired_at + EPOCH_OVERLAP => {
            "epoch overlap running: keep it configured"
        }
        "audit_mac" => "keep it configured as long as its audit trail is kept (verification)",
        _ => "keep it configured",
    }
}
