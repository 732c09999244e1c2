//! Free-text fields: trimmed, non-empty, bounded, no control characters.
//! Person names besides: no bidirectional overrides, not only invisible
//! characters; and the folding by which two spellings of a name compare.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

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

/// Bidirectional embedding, override and isolate controls, and the
/// direction marks: in a name they reorder how the name (and what follows
/// it on a screen or in an export) is displayed, so one name can pose as
/// another (issue 15 item 10).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that show nothing: whitespace, zero-width and other format
/// characters (Unicode category Cf), fillers and blanks that render empty.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// A person's name (given, family, a family's or a referrer's name): a
/// [`required`] text without bidirectional controls that has at least one
/// visible character.
pub fn person_name(input: &str, max: usize) -> Result<String, DomainError> {
    let text = required(input, max)?;
    if text.chars().any(is_bidi_control) {
        return Err(DomainError::new(
            ErrorCode::InvalidCharacters,
            "Bidirectional control characters are not allowed in a name.",
        ));
    }
    if text.chars().all(is_invisible) {
        return Err(DomainError::new(
            ErrorCode::InvalidCharacters,
            "A name needs at least one visible character.",
        ));
    }
    Ok(text)
}

/// A name folded for comparison: diacritics dropped (NFD without its
/// combining marks), lower case, apostrophes removed, hyphens and runs of
/// whitespace as one space; so "Noor  de Vries-Ozturk" and
/// "noor de vries ÖZTÜRK" compare equal, "Noor" and "Nora" do not.
pub fn fold_name(name: &str) -> String {
    let bare: String = name
        .nfd()
        .filter(|c| !is_combining_mark(*c) && !is_invisible_format(*c))
        .filter(|c| !matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`'))
        .map(|c| if c == '-' || c == '\u{2010}' { ' ' } else { c })
        .collect();
    bare.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An invisible character that is not whitespace (whitespace separates
/// words when folding; the rest is dropped).
fn is_invisible_format(c: char) -> bool {
    is_invisible(c) && !c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_bidi_controls_and_invisible_only_text() {
        assert_eq!(person_name(" Noor ", 10).unwrap(), "Noor");
        assert_eq!(person_name("Zoë", 10).unwrap(), "Zoë");
        for bad in [
            "Noor\u{202E}rooV",
            "\u{2066}Noor\u{2069}",
            "No\u{200F}or",
            "\u{200B}",
            "\u{200B}\u{FEFF}\u{2060}",
            "\u{3164}",
            "\u{00A0}\u{200D}",
        ] {
            assert_eq!(
                person_name(bad, 10).unwrap_err().code.as_str(),
                "invalid_characters",
                "{bad:?}"
            );
        }
        assert_eq!(
            person_name("   ", 10).unwrap_err().code.as_str(),
            "required"
        );
    }

    #[test]
    fn folded_names_ignore_case_diacritics_and_spacing_only() {
        assert_eq!(fold_name("Noor  de Vries-Öztürk"), "noor de vries ozturk");
        assert_eq!(fold_name("noor de vries OZTURK"), "noor de vries ozturk");
        assert_eq!(fold_name("Zoë"), fold_name("zoe"));
        assert_eq!(fold_name("'t Hart"), fold_name("t Hart"));
        assert_eq!(fold_name("Jan\u{200B}sen"), fold_name("Jansen"));
        assert_ne!(fold_name("Noor"), fold_name("Nora"));
        assert_ne!(fold_name("Jansen"), fold_name("Janssen"));
    }

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
