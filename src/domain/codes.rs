//! Fixed-format identifiers of the Dutch care system.

use super::DomainError;
use super::ErrorCode;

fn digits(input: &str, n: usize) -> bool {
    input.len() == n && input.bytes().all(|b| b.is_ascii_digit())
}

/// CBS municipality code: 4 digits, e.g. `0546` (Leiden).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MunicipalityCode(String);

impl MunicipalityCode {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        if digits(input, 4) {
            Ok(Self(input.to_owned()))
        } else {
            Err(DomainError::new(
                ErrorCode::InvalidMunicipalityCode,
                "A municipality code is 4 digits, e.g. 0546.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// AGB code of a care provider or referrer: 8 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgbCode(String);

impl AgbCode {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        if digits(input, 8) {
            Ok(Self(input.to_owned()))
        } else {
            Err(DomainError::new(
                ErrorCode::InvalidAgbCode,
                "An AGB code is 8 digits.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn municipality_codes_are_four_digits() {
        assert!(MunicipalityCode::parse("0546").is_ok());
        for bad in ["546", "05460", "05a6", "", "٠٥٤٦"] {
            assert!(MunicipalityCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn agb_codes_are_eight_digits() {
        assert!(AgbCode::parse("01234567").is_ok());
        assert!(AgbCode::parse("1234567").is_err());
        assert!(AgbCode::parse("123456789").is_err());
    }
}
