//! Burgerservicenummer: 9 digits passing the 11-proof (elfproef).

use super::DomainError;
use super::ErrorCode;

/// A BSN that passed the 11-proof. Its Debug form is redacted so it cannot
/// leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Bsn(String);

impl Bsn {
    /// Parses a BSN: exactly 9 ASCII digits, not all zero, and
    /// 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 divisible by 11.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let digits: Vec<u32> = input.chars().filter_map(|c| c.to_digit(10)).collect();
        if input.len() != 9 || digits.len() != 9 {
            return Err(DomainError::new(
                ErrorCode::InvalidBsn,
                "A BSN has exactly 9 digits.",
            ));
        }
        if digits.iter().all(|d| *d == 0) {
            return Err(DomainError::new(
                ErrorCode::InvalidBsn,
                "000000000 is not a BSN.",
            ));
        }
        let sum: i64 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let weight = if i == 8 { -1 } else { 9 - i as i64 };
                weight * i64::from(*d)
            })
            .sum();
        if sum % 11 != 0 {
            return Err(DomainError::new(
                ErrorCode::InvalidBsn,
                "This number fails the BSN 11-proof.",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Bsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bsn(*********)")
    }
}

/// Makes a valid BSN from an 8-digit seed (for demo and test data): the
/// ninth digit is chosen so the 11-proof holds; seeds for which no digit
/// works (check value 10) are skipped to the next seed.
pub fn synthetic(mut seed: u64) -> Bsn {
    loop {
        let base = format!("{:08}", seed % 100_000_000);
        let partial: i64 = base
            .chars()
            .enumerate()
            .map(|(i, c)| (9 - i as i64) * i64::from(c.to_digit(10).unwrap_or(0)))
            .sum();
        let check = partial % 11;
        if check < 10 && base != "00000000" {
            return Bsn(format!("{base}{check}"));
        }
        seed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_that_pass_the_eleven_proof() {
        // 111222333: 9+8+7+12+10+8+9+6-3 = 66 = 6 * 11
        assert!(Bsn::parse("111222333").is_ok());
        assert!(Bsn::parse("123456782").is_ok());
    }

    #[test]
    fn refuses_numbers_that_fail_the_eleven_proof() {
        assert_eq!(
            Bsn::parse("123456789").unwrap_err().code.as_str(),
            "invalid_bsn"
        );
        assert_eq!(
            Bsn::parse("111222334").unwrap_err().code.as_str(),
            "invalid_bsn"
        );
    }

    #[test]
    fn refuses_wrong_lengths_non_digits_and_zero() {
        for input in [
            "",
            "12345678",
            "1234567820",
            "12345678a",
            " 23456782",
            "000000000",
            "１２３４５６７８２",
        ] {
            assert!(Bsn::parse(input).is_err(), "{input:?} should be refused");
        }
    }

    #[test]
    fn debug_output_never_shows_the_number() {
        let bsn = Bsn::parse("111222333").unwrap();
        assert!(!format!("{bsn:?}").contains("111"));
    }

    #[test]
    fn synthetic_numbers_always_pass() {
        for seed in 0..2000u64 {
            let bsn = synthetic(10_000_000 + seed * 7919);
            assert!(Bsn::parse(bsn.as_str()).is_ok(), "{}", bsn.as_str());
        }
    }
}
