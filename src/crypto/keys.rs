//! Purpose keys, derived with HKDF (RFC 5869, HMAC-SHA256) from the three
//! configured secrets, so that no key is ever used for two things: the key
//! that signs tokens is not the key that encrypts BSNs, and neither is an
//! input of the other.
//!
//! | purpose | from (configured secret) | HKDF `info` |
//! |---|---|---|
//! | token signing (HS256) | `jwt_key` | `gezinsregie/v2/token-signing` |
//! | BSN encryption (AES-256-GCM) | `bsn_encryption_key` | `gezinsregie/v2/bsn-encryption` |
//! | client callback secrets (AES-256-GCM) | `bsn_encryption_key` | `gezinsregie/v2/callback-secrets` |
//! | BSN matching hash (HMAC-SHA256) | `bsn_hash_key` | `gezinsregie/v2/bsn-hash` |
//! | audit event MACs and chain (HMAC-SHA256) | `bsn_hash_key` | `gezinsregie/v2/audit-mac` |
//!
//! The secrets are grouped by what rotating them means: a new `jwt_key`
//! only logs everyone out; the encryption key can be rotated by
//! re-encrypting what it sealed; the hash key can never change without
//! re-hashing every BSN, and neither can the audit key without breaking the
//! chain's verification, so those two share the one input that stays put.
//! The salt is fixed and public (HKDF's salt need not be secret). Every
//! derived key lives in a buffer that is zeroed when dropped; the
//! configured secrets ([`Keys`]) are zeroed too.
//!
//! The database remembers a fingerprint of every purpose key
//! ([`check_against`]), so a server started with other keys than the data
//! was written with refuses to start instead of answering 500s or, worse,
//! writing data nobody can read later.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::{Keys, PreviousKeys};
use crate::db::schema::{family_members, key_fingerprints};

/// HKDF's salt: fixed and public, naming the derivation scheme.
const SALT: &[u8] = b"gezinsregie key derivation v2";

/// A derived key; zeroed when dropped.
pub type PurposeKey = Zeroizing<[u8; 32]>;

/// The key of every purpose.
pub struct PurposeKeys {
    pub token_signing: PurposeKey,
    pub bsn_encryption: PurposeKey,
    pub callback_secrets: PurposeKey,
    pub bsn_hash: PurposeKey,
    pub audit_mac: PurposeKey,
}

impl std::fmt::Debug for PurposeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PurposeKeys { .. }")
    }
}

fn derive(secret: &[u8; 32], info: &str) -> PurposeKey {
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32: never fails.
    let _ = Hkdf::<Sha256>::new(Some(SALT), secret).expand(info.as_bytes(), key.as_mut());
    key
}

impl PurposeKeys {
    pub fn derive(secrets: &Keys) -> Self {
        Self {
            token_signing: derive(&secrets.jwt, "gezinsregie/v2/token-signing"),
            bsn_encryption: derive(&secrets.bsn_encryption, "gezinsregie/v2/bsn-encryption"),
            callback_secrets: derive(&secrets.bsn_encryption, "gezinsregie/v2/callback-secrets"),
            bsn_hash: derive(&secrets.bsn_hash, "gezinsregie/v2/bsn-hash"),
            audit_mac: derive(&secrets.bsn_hash, "gezinsregie/v2/audit-mac"),
        }
    }

    /// Every purpose with its key.
    fn all(&self) -> [(&'static str, &PurposeKey); 5] {
        [
            ("token_signing", &self.token_signing),
            ("bsn_encryption", &self.bsn_encryption),
            ("callback_secrets", &self.callback_secrets),
            ("bsn_hash", &self.bsn_hash),
            ("audit_mac", &self.audit_mac),
        ]
    }
}

/// Why a configured secret is too weak to protect children's data, if it
/// is: a key typed by a person or copied from an example (all zeroes, one
/// byte repeated, a short pattern repeated, a counting sequence, printable
/// text, few distinct bytes) has far less than the 256 bits it pretends to.
/// 32 random bytes have about 30 distinct values and are all printable
/// ASCII with probability below 1e-13, so none of these refuses a real key.
pub fn weakness(key: &[u8; 32]) -> Option<&'static str> {
    if key.iter().all(|b| *b == 0) {
        return Some("all zero bytes");
    }
    if let Some(period) = (1..=8).find(|p| key.iter().enumerate().all(|(i, b)| *b == key[i % p])) {
        return Some(if period == 1 {
            "one byte repeated"
        } else {
            "a short pattern repeated"
        });
    }
    let step = key[1].wrapping_sub(key[0]);
    if key.windows(2).all(|w| w[1].wrapping_sub(w[0]) == step) {
        return Some("a counting sequence");
    }
    if key.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Some("printable text (a password, not random bytes)");
    }
    let mut seen = [false; 256];
    for b in key {
        seen[usize::from(*b)] = true;
    }
    if seen.iter().filter(|s| **s).count() < 16 {
        return Some("too few distinct bytes (low entropy)");
    }
    None
}

/// Refuses weak secrets and one secret given for two purposes (which would
/// make, say, the token key a way to the BSN hash key); production calls
/// this before it touches the database.
pub fn refuse_weak(named: &[(&str, &[u8; 32])]) -> anyhow::Result<()> {
    for (name, key) in named {
        if let Some(why) = weakness(key) {
            anyhow::bail!(
                "secret {name} is weak ({why}); refusing to start in production. \
                 Generate one with `openssl rand -base64 32`"
            );
        }
    }
    for (i, (a, ka)) in named.iter().enumerate() {
        for (b, kb) in &named[i + 1..] {
            if ka == kb {
                anyhow::bail!(
                    "secrets {a} and {b} have the same value; every purpose needs its own \
                     random key; refusing to start in production"
                );
            }
        }
    }
    Ok(())
}

/// A fingerprint of a key: an HMAC of a fixed text under it. It tells two
/// keys apart and reveals nothing of either.
fn fingerprint(key: &PurposeKey) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(b"gezinsregie key fingerprint");
    mac.finalize().into_bytes().to_vec()
}

/// A key's id for a token header (`kid`): the start of its fingerprint,
/// stable across processes and revealing nothing of the key.
pub fn key_id(key: &PurposeKey) -> String {
    fingerprint(key)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl PurposeKeys {
    /// The purpose keys of the previous secrets of a rotation, each under
    /// the purpose it serves.
    pub fn derive_previous(previous: &PreviousKeys) -> Vec<(&'static str, PurposeKey)> {
        let mut keys = Vec::new();
        for secret in &previous.jwt {
            keys.push((
                "token_signing",
                derive(secret, "gezinsregie/v2/token-signing"),
            ));
        }
        for secret in &previous.bsn_encryption {
            keys.push((
                "bsn_encryption",
                derive(secret, "gezinsregie/v2/bsn-encryption"),
            ));
            keys.push((
                "callback_secrets",
                derive(secret, "gezinsregie/v2/callback-secrets"),
            ));
        }
        for secret in &previous.bsn_hash {
            keys.push(("bsn_hash", derive(secret, "gezinsregie/v2/bsn-hash")));
            keys.push(("audit_mac", derive(secret, "gezinsregie/v2/audit-mac")));
        }
        keys
    }
}

/// A retired version of a purpose key that is still configured.
pub struct RetiredKey {
    pub purpose: &'static str,
    pub version: i32,
    pub key: PurposeKey,
    pub retired_at: DateTime<Utc>,
}

/// The versions of the keys a server runs with: the current version of
/// every purpose and the retired versions it still holds the key of.
#[derive(Default)]
pub struct KeyStatus {
    pub current: Vec<(&'static str, i32)>,
    pub retired: Vec<RetiredKey>,
}

impl KeyStatus {
    /// The current version of `purpose` (1 before any rotation).
    pub fn version(&self, purpose: &str) -> i32 {
        self.current
            .iter()
            .find(|(p, _)| *p == purpose)
            .map_or(1, |(_, v)| *v)
    }

    pub fn retired<'a>(&'a self, purpose: &'a str) -> impl Iterator<Item = &'a RetiredKey> + 'a {
        self.retired.iter().filter(move |r| r.purpose == purpose)
    }
}

static STATUS: OnceLock<KeyStatus> = OnceLock::new();

/// The key versions this process checked at start (none checked: every
/// purpose at version 1 without retired keys, as in a fresh database).
pub fn status() -> &'static KeyStatus {
    STATUS.get_or_init(KeyStatus::default)
}

/// Advisory lock of the check ("gzkeys"): two servers starting with a
/// rotated key record one rotation, not two.
const KEYS_LOCK: i64 = 0x677a_6b65_7973;

/// Checks `keys` against the fingerprints the database keeps, recording
/// them when it keeps none yet. Fails, naming the purposes, when a key
/// differs; and when a database that already holds encrypted BSNs has no
/// fingerprints (written before keys were derived this way), since its
/// BSNs would not decrypt.
pub async fn check_against(conn: &mut AsyncPgConnection, keys: &PurposeKeys) -> anyhow::Result<()> {
    check_and_rotate(conn, keys, &[]).await.map(|_| ())
}

/// [`check_against`], and then the versions become this process's
/// [`status`] (the token issuer and the audit sealer read them).
pub async fn check_and_install(
    conn: &mut AsyncPgConnection,
    keys: &PurposeKeys,
    previous: &[(&'static str, PurposeKey)],
) -> anyhow::Result<()> {
    let status = check_and_rotate(conn, keys, previous).await?;
    if STATUS.set(status).is_err() {
        anyhow::bail!("the key versions were already installed in this process");
    }
    Ok(())
}

/// A stored fingerprint: purpose, version, fingerprint, retired.
type Stored = (String, i32, Vec<u8>, Option<DateTime<Utc>>);

/// Checks the keys and records a configured rotation: when the stored
/// current key of a purpose is one of its `previous` keys, that version is
/// retired now and the configured key becomes the next version.
pub async fn check_and_rotate(
    conn: &mut AsyncPgConnection,
    keys: &PurposeKeys,
    previous: &[(&'static str, PurposeKey)],
) -> anyhow::Result<KeyStatus> {
    conn.transaction(async |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(KEYS_LOCK)
            .execute(conn)
            .await?;
        let stored: Vec<Stored> = key_fingerprints::table
            .select((
                key_fingerprints::purpose,
                key_fingerprints::version,
                key_fingerprints::fingerprint,
                key_fingerprints::retired_at,
            ))
            .load(conn)
            .await?;
        if stored.is_empty() {
            refuse_old_derivation(conn).await?;
        }
        let mut status = KeyStatus::default();
        let mut refused = Refused::default();
        let now = Utc::now();
        for (purpose, key) in keys.all() {
            let rows: Vec<&Stored> = stored.iter().filter(|r| r.0 == purpose).collect();
            let version = check_purpose(conn, purpose, key, &rows, previous, now, &mut refused).await?;
            status.current.push((purpose, version));
            for (_, old) in previous.iter().filter(|(p, _)| *p == purpose) {
                let print = fingerprint(old);
                // Retired before, or just now by this check.
                let retired = rows.iter().find(|r| r.2 == print).map(|r| (r.1, r.3.unwrap_or(now)));
                match retired {
                    Some((version, retired_at)) if version != status.version(purpose) => {
                        status.retired.push(RetiredKey {
                            purpose,
                            version,
                            key: old.clone(),
                            retired_at,
                        })
                    }
                    _ => tracing::warn!(purpose, "a configured previous key is not a retired key of this database; it is not used"),
                }
            }
        }
        refused.into_result()?;
        Ok(status)
    })
    .await
}

/// What the check refused, per reason.
#[derive(Default)]
struct Refused {
    differ: Vec<&'static str>,
    retired: Vec<&'static str>,
}

impl Refused {
    fn into_result(self) -> anyhow::Result<()> {
        if !self.retired.is_empty() {
            anyhow::bail!(
                "the configured secrets were retired by a key rotation on this database \
                 (keys: {}); a server with the old keys cannot start again; refusing to start",
                self.retired.join(", ")
            );
        }
        if !self.differ.is_empty() {
            anyhow::bail!(
                "the configured secrets are not the ones this database was written with \
                 (keys that differ: {}); refusing to start. To rotate a key, configure \
                 the old value in secrets.*_previous_keys (README, \"Rotating keys\")",
                self.differ.join(", ")
            );
        }
        Ok(())
    }
}

/// The version `key` has for `purpose`: recorded as version 1 on a new
/// database, as the next version when it rotates out a configured previous
/// key; refused (0) otherwise.
async fn check_purpose(
    conn: &mut AsyncPgConnection,
    purpose: &'static str,
    key: &PurposeKey,
    rows: &[&Stored],
    previous: &[(&'static str, PurposeKey)],
    now: DateTime<Utc>,
    refused: &mut Refused,
) -> anyhow::Result<i32> {
    let print = fingerprint(key);
    let current = rows.iter().find(|r| r.3.is_none());
    if let Some(known) = rows.iter().find(|r| r.2 == print) {
        if known.3.is_some() {
            refused.retired.push(purpose);
        }
        return Ok(known.1);
    }
    let next = rows.iter().map(|r| r.1).max().unwrap_or(0) + 1;
    if let Some(current) = current {
        let rotating = previous
            .iter()
            .any(|(p, old)| *p == purpose && fingerprint(old) == current.2);
        if !rotating {
            refused.differ.push(purpose);
            return Ok(0);
        }
        if let Some(held) = held_under(conn, purpose).await? {
            anyhow::bail!(
                "rotating the key of {purpose} would leave {held} unreadable or unfindable: \
                 this version re-encrypts nothing; refusing to start"
            );
        }
        diesel::update(
            key_fingerprints::table
                .filter(key_fingerprints::purpose.eq(purpose))
                .filter(key_fingerprints::version.eq(current.1)),
        )
        .set(key_fingerprints::retired_at.eq(now))
        .execute(conn)
        .await?;
        tracing::warn!(purpose, from = current.1, to = next, "key rotated");
    }
    diesel::insert_into(key_fingerprints::table)
        .values((
            key_fingerprints::purpose.eq(purpose),
            key_fingerprints::version.eq(next),
            key_fingerprints::fingerprint.eq(&print),
        ))
        .execute(conn)
        .await?;
    Ok(next)
}

/// What data `purpose`'s key protects that a rotation would have to
/// re-encrypt or re-hash (none for the token and audit keys).
async fn held_under(
    conn: &mut AsyncPgConnection,
    purpose: &str,
) -> anyhow::Result<Option<&'static str>> {
    use crate::db::schema::referral_people;
    // The encryption keys rotate by re-encryption (`keys rotate-bsn`): the
    // retired key decrypts until then. The hash key would need re-hashing
    // with lookups under both hashes meanwhile, which this version lacks.
    let held = match purpose {
        "bsn_hash" => {
            let members = diesel::select(diesel::dsl::exists(
                family_members::table.filter(family_members::bsn_hash.is_not_null()),
            ));
            let referred = diesel::select(diesel::dsl::exists(
                referral_people::table.filter(referral_people::bsn_hash.is_not_null()),
            ));
            members.get_result::<bool>(conn).await? || referred.get_result::<bool>(conn).await?
        }
        _ => false,
    };
    Ok(held.then_some("the stored BSN hashes"))
}

/// A database holding BSNs but no fingerprints was written before keys
/// were derived this way: its BSNs would not decrypt.
async fn refuse_old_derivation(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let has_bsns: bool = diesel::select(diesel::dsl::exists(
        family_members::table.filter(family_members::bsn_ciphertext.is_not_null()),
    ))
    .get_result(conn)
    .await?;
    if has_bsns {
        anyhow::bail!(
            "this database holds BSNs encrypted with keys of an earlier derivation \
             (before HKDF purpose keys); they cannot be read with these keys. \
             A local demo database can be recreated: stop the server and remove the data folder."
        );
    }
    Ok(())
}

/// One row of `gezinsregie keys list`.
#[derive(Debug, Queryable)]
pub struct Listed {
    pub purpose: String,
    pub version: i32,
    pub fingerprint: Vec<u8>,
    pub recorded_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Every key version the database knows, oldest first per purpose.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Listed>> {
    key_fingerprints::table
        .order((key_fingerprints::purpose, key_fingerprints::version))
        .select((
            key_fingerprints::purpose,
            key_fingerprints::version,
            key_fingerprints::fingerprint,
            key_fingerprints::recorded_at,
            key_fingerprints::retired_at,
        ))
        .load(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(seed: u8) -> Keys {
        Keys {
            jwt: [seed; 32],
            bsn_encryption: [seed.wrapping_add(1); 32],
            bsn_hash: [seed.wrapping_add(2); 32],
        }
    }

    #[test]
    fn every_purpose_gets_its_own_key_and_none_is_a_configured_secret() {
        let input = secrets(7);
        let keys = PurposeKeys::derive(&input);
        let all = keys.all();
        for (i, (a, ka)) in all.iter().enumerate() {
            for (b, kb) in &all[i + 1..] {
                assert_ne!(ka.as_ref(), kb.as_ref(), "{a} and {b}");
            }
            for secret in [&input.jwt, &input.bsn_encryption, &input.bsn_hash] {
                assert_ne!(ka.as_ref(), secret, "{a} is a configured secret");
            }
        }
    }

    #[test]
    fn the_same_secrets_give_the_same_keys_and_other_secrets_other_keys() {
        let a = PurposeKeys::derive(&secrets(7));
        let b = PurposeKeys::derive(&secrets(7));
        let c = PurposeKeys::derive(&secrets(9));
        assert_eq!(a.token_signing.as_ref(), b.token_signing.as_ref());
        assert_eq!(a.audit_mac.as_ref(), b.audit_mac.as_ref());
        assert_ne!(a.token_signing.as_ref(), c.token_signing.as_ref());
        assert_ne!(fingerprint(&a.bsn_hash), fingerprint(&c.bsn_hash));
    }

    #[test]
    fn the_derivation_is_hkdf_sha256_as_rfc_5869_defines_it() {
        // RFC 5869 appendix A.1, test case 1.
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let mut okm = [0u8; 42];
        let expanded = Hkdf::<Sha256>::new(Some(&salt), &ikm).expand(&info, &mut okm);
        assert!(expanded.is_ok());
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn weak_secrets_are_named_and_random_ones_pass() {
        let mut pattern = [0u8; 32];
        for (i, b) in pattern.iter_mut().enumerate() {
            *b = [0xde, 0xad, 0xbe, 0xef][i % 4];
        }
        let mut counting = [0u8; 32];
        for (i, b) in counting.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut text = [0u8; 32];
        text.copy_from_slice(b"correct horse battery staple!!!!");
        let mut few = [0u8; 32];
        for (i, b) in few.iter_mut().enumerate() {
            *b = [1, 200, 3, 9, 77, 5, 130, 250, 19][(i * 7 + i / 3) % 9];
        }
        for (key, why) in [
            ([0u8; 32], "zero"),
            ([0x41; 32], "repeated"),
            (pattern, "pattern"),
            (counting, "counting"),
            (text, "printable"),
            (few, "distinct"),
        ] {
            let found = weakness(&key).unwrap_or_else(|| panic!("{why} passed"));
            assert!(found.contains(why), "{why}: {found}");
        }
        for _ in 0..1000 {
            let key: [u8; 32] = rand::random();
            assert_eq!(weakness(&key), None, "{key:?}");
        }
    }

    #[test]
    fn one_secret_for_two_purposes_is_refused() {
        let a: [u8; 32] = rand::random();
        let b: [u8; 32] = rand::random();
        assert!(refuse_weak(&[("jwt_key", &a), ("bsn_hash_key", &b)]).is_ok());
        let refused = refuse_weak(&[
            ("jwt_key", &a),
            ("bsn_encryption_key", &b),
            ("bsn_hash_key", &a),
        ])
        .unwrap_err()
        .to_string();
        assert!(refused.contains("jwt_key and bsn_hash_key"), "{refused}");
        let weak = refuse_weak(&[("jwt_key", &[0; 32])])
            .unwrap_err()
            .to_string();
        assert!(weak.contains("jwt_key is weak"), "{weak}");
    }
}
