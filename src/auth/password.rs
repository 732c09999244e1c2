//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes).
//! Hashing is CPU-heavy, so callers run it on the blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::DomainError;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the password policy: 12 to 128 characters.
pub fn check_policy(password: &str) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < 12 {
        return Err(DomainError::new(
            "password_too_short",
            "Use at least 12 characters.",
        ));
    }
    if n > 128 {
        return Err(DomainError::new("too_long", "At most 128 characters."));
    }
    Ok(())
}

pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Verifies against a stored PHC string; `None` (unknown user) is checked
/// against a dummy hash so both cases take the same time.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let stored = stored.unwrap_or_else(|| dummy_hash());
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
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
    fn policy_needs_twelve_characters() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("twelve chars").is_ok());
    }
}
