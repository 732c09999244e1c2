//! Free-text fields: trimmed, non-empty, bounded, no control characters.

use super::DomainError;
use super::ErrorCode;

/// A required text of at most `max` characters.
pub fn required(input: &str, max: usize) -> Result<String, DomainError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(DomainError::new(ErrorCode::Required, "Must not be empty."));
    }
    bounded(trimmed, max)
}

/// A replacement in a partial update: absent (`None`) leaves the text as it
/// is, a present one must be a valid required text. Blank is refused rather
/// than read as "unchanged", since a client sending `""` means to change
/// the text and would otherwise be told 200 for a change never made.
pub fn replacement(input: Option<&str>, max: usize) -> Result<Option<String>, DomainError> {
    input.map(|t| required(t, max)).transpose()
}

/// An optional text: blank becomes `None`.
pub fn optional(input: Option<&str>, max: usize) -> Result<Option<String>, DomainError> {
    match input.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => bounded(t, max).map(Some),
    }
}

fn bounded(text: &str, max: usize) -> Result<String, DomainError> {
    if text.chars().count() > max {
        return Err(DomainError::new(
            ErrorCode::TooLong,
            format!("At most {max} characters."),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(DomainError::new(
            ErrorCode::InvalidCharacters,
            "Control characters are not allowed.",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(required("  Jansen ", 10).unwrap(), "Jansen");
        assert_eq!(required("   ", 10).unwrap_err().code.as_str(), "required");
        assert_eq!(
            required("abcdefghijk", 10).unwrap_err().code.as_str(),
            "too_long"
        );
        assert_eq!(
            required("a\u{0}b", 10).unwrap_err().code.as_str(),
            "invalid_characters"
        );
        assert_eq!(optional(Some("  "), 10).unwrap(), None);
        assert_eq!(replacement(None, 10).unwrap(), None);
        assert_eq!(replacement(Some(" x "), 10).unwrap().as_deref(), Some("x"));
        assert_eq!(
            replacement(Some("  "), 10).unwrap_err().code.as_str(),
            "required"
        );
    }
}
