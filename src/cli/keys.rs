//! `gezinsregie keys`: the versions of the purpose keys a database knows.
//!
//! A rotation starts when a server or command runs with a new secret and
//! the old one in `secrets.*_previous_keys`: the key check at start retires
//! the old version (with the date) and records the new one. `keys list`
//! shows where every purpose stands and which retired keys are still needed.

use clap::Subcommand;

use crate::audit::chain::{hex, EPOCH_OVERLAP};
use crate::crypto::keys::{self, PurposeKeys};
use crate::crypto::{BsnVault, SecretBox};
use crate::db;

/// Batches of re-encryption: each reads `batch` rows after the last one
/// seen (keyset order, so a run over a large table is linear) and rewrites
/// those under a retired key in one short transaction, only where the
/// value is still the one read (a concurrent edit wins and is current).
mod reencrypt {
    use diesel::prelude::*;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use uuid::Uuid;

    use crate::crypto::{BsnVault, SecretBox};
    use crate::db::schema::{clients, family_members, referral_people};

    pub async fn members(
        conn: &mut AsyncPgConnection,
        vault: &BsnVault,
        batch: i64,
    ) -> anyhow::Result<usize> {
        let (mut after, mut done) = (Uuid::nil(), 0);
        loop {
            let rows: Vec<(Uuid, Option<Vec<u8>>)> = family_members::table
                .filter(family_members::id.gt(after))
                .filter(family_members::bsn_ciphertext.is_not_null())
                .order(family_members::id)
                .select((family_members::id, family_members::bsn_ciphertext))
                .limit(batch)
                .load(conn)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(done);
            };
            after = last.0;
            let mut stale = Vec::new();
            for (id, old) in rows {
                let old = old.unwrap_or_default();
                if let Some(new) = vault.reencrypt(&old)? {
                    stale.push((id, old, new));
                }
            }
            done += stale.len();
            conn.transaction(async |conn| {
                for (id, old, new) in &stale {
                    diesel::update(
                        family_members::table
                            .filter(family_members::id.eq(id))
                            .filter(family_members::bsn_ciphertext.eq(old)),
                    )
                    .set(family_members::bsn_ciphertext.eq(new))
                    .execute(conn)
                    .await?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .await?;
        }
    }

    pub async fn referred(
        conn: &mut AsyncPgConnection,
        vault: &BsnVault,
        batch: i64,
    ) -> anyhow::Result<usize> {
        let (mut after, mut done) = ((Uuid::nil(), -1i16), 0);
        loop {
            let rows: Vec<(Uuid, i16, Option<Vec<u8>>)> = referral_people::table
                .filter(
                    referral_people::referral_id
                        .gt(after.0)
                        .or(referral_people::referral_id
                            .eq(after.0)
                            .and(referral_people::position.gt(after.1))),
                )
                .filter(referral_people::bsn_ciphertext.is_not_null())
                .order((referral_people::referral_id, referral_people::position))
                .select((
                    referral_people::referral_id,
                    referral_people::position,
                    referral_people::bsn_ciphertext,
                ))
                .limit(batch)
                .load(conn)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(done);
            };
            after = (last.0, last.1);
            let mut stale = Vec::new();
            for (id, position, old) in rows {
                let old = old.unwrap_or_default();
                if let Some(new) = vault.reencrypt(&old)? {
                    stale.push((id, position, old, new));
                }
            }
            done += stale.len();
            conn.transaction(async |conn| {
                for (id, position, old, new) in &stale {
                    diesel::update(
                        referral_people::table
                            .filter(referral_people::referral_id.eq(id))
                            .filter(referral_people::position.eq(position))
                            .filter(referral_people::bsn_ciphertext.eq(old)),
                    )
                    .set(referral_people::bsn_ciphertext.eq(new))
                    .execute(conn)
                    .await?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .await?;
        }
    }

    pub async fn clients(
        conn: &mut AsyncPgConnection,
        sealer: &SecretBox,
        batch: i64,
    ) -> anyhow::Result<usize> {
        let (mut after, mut done) = (Uuid::nil(), 0);
        loop {
            let rows: Vec<(Uuid, Vec<u8>)> = clients::table
                .filter(clients::id.gt(after))
                .order(clients::id)
                .select((clients::id, clients::callback_secret))
                .limit(batch)
                .load(conn)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(done);
            };
            after = last.0;
            let mut stale = Vec::new();
            for (id, old) in rows {
                if let Some(new) = sealer.reseal(&old)? {
                    stale.push((id, old, new));
                }
            }
            done += stale.len();
            conn.transaction(async |conn| {
                for (id, old, new) in &stale {
                    diesel::update(
                        clients::table
                            .filter(clients::id.eq(id))
                            .filter(clients::callback_secret.eq(old)),
                    )
                    .set(clients::callback_secret.eq(new))
                    .execute(conn)
                    .await?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .await?;
        }
    }
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List every key version with its fingerprint, when it was recorded
    /// and retired, and whether its previous key must stay configured.
    List,
    /// Re-encrypt the stored BSNs (family members, referred people) and the
    /// clients' callback secrets still under a retired encryption key, in
    /// short transactions of `batch` rows while the servers serve. Safe to
    /// stop and run again; when it reports none left, the previous
    /// bsn_encryption_key can be removed from the configuration.
    RotateBsn {
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
}

pub async fn run(command: KeysCommand, url: &str, keys: &PurposeKeys) -> anyhow::Result<()> {
    match command {
        KeysCommand::List => list(url).await,
        KeysCommand::RotateBsn { batch } => {
            let vault = BsnVault::new(&keys.bsn_encryption, &keys.bsn_hash)?;
            let sealer = SecretBox::new(&keys.callback_secrets);
            let mut conn = db::connect(url).await?;
            let batch = batch.max(1);
            let members = reencrypt::members(&mut conn, &vault, batch).await?;
            let people = reencrypt::referred(&mut conn, &vault, batch).await?;
            let clients = reencrypt::clients(&mut conn, &sealer, batch).await?;
            println!(
                "re-encrypted {members} family member BSNs, {people} referred BSNs and \
                 {clients} callback secrets; nothing is left under a retired encryption key"
            );
            Ok(())
        }
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
