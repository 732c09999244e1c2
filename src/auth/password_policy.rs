//! The password policy (issue 15 item 10), for every password a person
//! sets: through the API (an admin creating an account or resetting its
//! password) and on the command line (`gezinsregie create-user`).
//!
//! A password has at least 12 characters that are not whitespace (so a
//! run of spaces is no password), at most 128 (argon2 hashes whatever it is
//! given; the bound keeps a request from asking for much work), does not
//! contain the username, and is not a common password. The common ones
//! are the 19,640 of `config/common-passwords.txt` (Django's list, BSD
//! licence; see its header), compiled into the binary and looked up in a
//! hash set built on first use. A common password with digits or symbols
//! appended (`qwertyuiop12!`) counts as that common password: the list
//! holds few entries of 12 characters or more, and appending is what people
//! do to reach a length rule.
//!
//! A refusal is 422 `weak_password` with the rule in `invalidParams`
//! (`password_too_short`, `password_blank`, `password_contains_username`,
//! `password_too_common`, `too_long`): the request is well formed, the
//! password is not acceptable.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::domain::DomainError;
use crate::error::{ApiError, ErrorCode, InvalidParam};

/// Characters that are not whitespace a password needs at least.
pub const MIN_CHARACTERS: usize = 12;
/// Characters a password may have at most.
pub const MAX_CHARACTERS: usize = 128;

const COMMON: &str = include_str!("../../config/common-passwords.txt");

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("# "))
            .collect()
    })
}

/// Whether `password` (any case) is a common password, or one with digits
/// and symbols appended.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    common().contains(lower.as_str()) || (stem.chars().count() >= 4 && common().contains(stem))
}

/// Checks `password` of the account `username` against the policy.
pub fn check(password: &str, username: &str) -> Result<(), DomainError> {
    let visible = password.chars().filter(|c| !c.is_whitespace()).count();
    if visible == 0 {
        return Err(DomainError::new(
            ErrorCode::PasswordBlank,
            "A password cannot be only whitespace.",
        ));
    }
    if visible < MIN_CHARACTERS {
        return Err(DomainError::new(
            ErrorCode::PasswordTooShort,
            "Use at least 12 characters that are not spaces.",
        ));
    }
    if password.chars().count() > MAX_CHARACTERS {
        return Err(DomainError::new(
            ErrorCode::TooLong,
            "At most 128 characters.",
        ));
    }
    let name = username.trim().to_lowercase();
    if !name.is_empty() && password.to_lowercase().contains(&name) {
        return Err(DomainError::new(
            ErrorCode::PasswordContainsUsername,
            "The password cannot contain the username.",
        ));
    }
    if is_common(password) {
        return Err(DomainError::new(
            ErrorCode::PasswordTooCommon,
            "This password is on a list of common passwords; choose another.",
        ));
    }
    Ok(())
}

/// [`check`] as the API answers it: 422 `weak_password` naming the rule
/// under `invalidParams` for the field `field`.
pub fn enforce(field: &str, password: &str, username: &str) -> Result<(), ApiError> {
    check(password, username).map_err(|e| {
        let mut error = ApiError::unprocessable(
            ErrorCode::WeakPassword,
            "The password does not meet the password policy; see invalidParams.",
        );
        error.invalid_params = vec![InvalidParam::new(field, e.code, e.reason)];
        error
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(password: &str, username: &str) -> Option<ErrorCode> {
        check(password, username).err().map(|e| e.code)
    }

    /// Issue 15 item 10: each rule of the policy, and passwords that pass.
    #[test]
    fn the_policy_refuses_short_blank_username_and_common_passwords() {
        use ErrorCode::*;
        let cases = [
            ("kort", Some(PasswordTooShort)),
            ("elf tekens!", Some(PasswordTooShort)),
            ("a b c d e f g h i j k", Some(PasswordTooShort)),
            ("               ", Some(PasswordBlank)),
            ("\t\n            ", Some(PasswordBlank)),
            ("anna.devries-2026", Some(PasswordContainsUsername)),
            ("ANNA.DEVRIES", Some(PasswordContainsUsername)),
            ("qwerty123456", Some(PasswordTooCommon)),
            ("Password1234", Some(PasswordTooCommon)),
            ("Qwertyuiop12!", Some(PasswordTooCommon)),
            ("international", Some(PasswordTooCommon)),
            (&"x".repeat(129), Some(TooLong)),
            ("test-password-123", None),
            ("gezinsregie-demo", None),
            ("een-lang-wachtwoord", None),
            ("correct horse battery staple", None),
        ];
        for (password, expected) in cases {
            assert_eq!(code(password, "anna.devries"), expected, "{password:?}");
        }
    }

    #[test]
    fn the_shipped_list_is_loaded() {
        assert!(common().len() > 19_000);
        assert!(is_common("password"));
        assert!(!common().iter().any(|p| p.starts_with("# ")));
    }

    #[test]
    fn a_refusal_is_a_422_naming_the_field() {
        let e = enforce("password", "qwerty123456", "x.y").unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert_eq!(e.code, ErrorCode::WeakPassword);
        assert_eq!(e.invalid_params[0].name, "password");
    }
}
