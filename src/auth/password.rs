//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes).
//! Hashing is CPU-heavy: the server runs it on the blocking pool
//! ([`hash_off_worker`], [`verify_off_worker`]).
//!
//! Every hash runs in one of a few work-memory slots, allocated once and
//! reused, rather than in 19 MiB allocated per call:
//! - a freed 19 MiB block stays behind in the allocator's arena of the
//!   thread that used it, so the server's resident memory grew by about
//!   19 MiB for every blocking thread that ever checked a password (to
//!   200 MiB after a few benchmark runs, most of it idle);
//! - a burst of logins would need 19 MiB each, at once, from any number of
//!   blocking threads. With the slots, at most [`slot_count`] hashes run at
//!   a time (no more than the cores can compute anyway) and the rest wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::domain::DomainError;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// [`hash`] on the blocking pool, so the hash never stalls an HTTP worker.
pub async fn hash_off_worker(secret: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash(&secret))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing task: {e}")))?
        .map_err(ApiError::internal)
}

/// Whether `secret` matches `stored` (a PHC string; `None`, an unknown
/// account, is checked against a dummy so both take the same time), by
/// [`verify`] on the blocking pool.
pub async fn verify_off_worker(
    secret: String,
    stored: Option<String>,
    what: &'static str,
) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || verify(&secret, stored.as_deref()))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{what}: {e}")))
}

fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// Concurrent hashes: the cores (at least 2, at most 8).
fn slot_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

/// Runs `f` with `blocks` blocks of work memory from a free slot, waiting
/// for one when all are busy.
fn with_work_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    static SLOTS: OnceLock<Vec<Mutex<Vec<Block>>>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let slots = SLOTS.get_or_init(|| (0..slot_count()).map(|_| Mutex::new(Vec::new())).collect());
    let free = slots.iter().find_map(|slot| match slot.try_lock() {
        Ok(guard) => Some(guard),
        // The memory is overwritten before use: a panic elsewhere leaves
        // nothing to distrust.
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    });
    let mut memory: MutexGuard<'_, Vec<Block>> = free.unwrap_or_else(|| {
        let slot = &slots[NEXT.fetch_add(1, Ordering::Relaxed) % slots.len()];
        slot.lock().unwrap_or_else(PoisonError::into_inner)
    });
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    f(&mut memory[..blocks])
}

/// The argon2 output of `password` under `params`, `len` bytes long.
fn compute(
    password: &[u8],
    salt: &[u8],
    algorithm: Algorithm,
    version: Version,
    params: Params,
    len: usize,
) -> Option<Output> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; len];
    with_work_memory(blocks, |memory| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, memory)
    })
    .ok()?;
    Output::new(&out).ok()
}

/// Checks the password policy: 12 to 128 characters.
pub fn check_policy(password: &str) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < 12 {
        return Err(DomainError::new(
            ErrorCode::PasswordTooShort,
            "Use at least 12 characters.",
        ));
    }
    if n > 128 {
        return Err(DomainError::new(
            ErrorCode::TooLong,
            "At most 128 characters.",
        ));
    }
    Ok(())
}

pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut raw = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut raw)
        .map_err(|e| anyhow::anyhow!("decoding a fresh salt: {e}"))?;
    let params = params();
    let output = compute(
        password.as_bytes(),
        salt_bytes,
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        Params::DEFAULT_OUTPUT_LEN,
    )
    .ok_or_else(|| anyhow::anyhow!("hashing a password failed"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|e| anyhow::anyhow!("encoding argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Verifies against a stored PHC string (with the parameters it names);
/// `None` (unknown user) is checked against a dummy hash so both cases take
/// the same time.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let stored = stored.unwrap_or_else(|| dummy_hash());
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut raw = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut raw) else {
        return false;
    };
    // `Output`'s equality is constant-time.
    compute(
        password.as_bytes(),
        salt_bytes,
        algorithm,
        version,
        params,
        expected.len(),
    )
    .is_some_and(|computed| computed == expected)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("not a password anyone has").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("wrong horse battery", Some(&h)));
        assert!(!verify("anything", None));
    }

    #[test]
    fn hashes_of_the_argon2_crate_verify_and_ours_verify_there() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Its own parameters (not ours), so the stored ones are the ones used.
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify("correct horse battery", Some(&theirs)));
        assert!(!verify("correct horse batterx", Some(&theirs)));

        let ours = hash("correct horse battery").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err());
    }

    #[test]
    fn malformed_stored_hashes_do_not_verify() {
        for stored in [
            "",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
            "plain",
        ] {
            assert!(!verify("anything at all", Some(stored)), "{stored}");
        }
    }

    #[test]
    fn concurrent_hashes_share_the_slots() {
        let h = hash("correct horse battery").unwrap();
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let h = h.clone();
                std::thread::spawn(move || {
                    let password = if i % 2 == 0 {
                        "correct horse battery"
                    } else {
                        "wrong horse battery"
                    };
                    verify(password, Some(&h)) == (i % 2 == 0)
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
    }

    #[test]
    fn policy_needs_twelve_characters() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("twelve chars").is_ok());
    }
}
