//! Shape rules of request bodies and queries, by `validator`: DTOs derive
//! `Validate` with the rules below (the domain's own parse functions, so a
//! rule and the type it guards never disagree), and [`invalid_params`]
//! turns `validator`'s report into the `invalidParams` of one 400 answer,
//! with the API's camelCase field paths (`members[0].birthDate`) and its
//! stable codes.
//!
//! A service validates after it has authorised the caller, so a refused
//! caller learns nothing from a validation answer; what needs the database
//! (does the team exist, is the plan open) is decided in the service.

use std::borrow::Cow;

use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::domain::{text, AgbCode, Bsn, DomainError, MunicipalityCode};
use crate::error::{ErrorCode, InvalidParam};

/// A domain refusal as `validator` reports it: its code and reason.
fn refused(e: DomainError) -> ValidationError {
    ValidationError::new(e.code.as_str()).with_message(Cow::Owned(e.reason))
}

/// A domain parse function as a `validator` rule, so the rule and the value
/// the service takes from it never disagree.
pub fn rule<T>(parsed: Result<T, DomainError>) -> Result<(), ValidationError> {
    parsed.map(drop).map_err(refused)
}

/// A required text: trimmed, not blank, at most `MAX` characters, no
/// control characters.
pub fn required_text<const MAX: usize>(value: &str) -> Result<(), ValidationError> {
    text::required(value, MAX).map(drop).map_err(refused)
}

/// An optional text: blank counts as absent; otherwise as [`required_text`].
pub fn optional_text<const MAX: usize>(value: &str) -> Result<(), ValidationError> {
    text::optional(Some(value), MAX).map(drop).map_err(refused)
}

/// A BSN that passes the 11-proof.
pub fn bsn(value: &str) -> Result<(), ValidationError> {
    Bsn::parse(value).map(drop).map_err(refused)
}

/// An AGB code: 8 digits.
pub fn agb_code(value: &str) -> Result<(), ValidationError> {
    AgbCode::parse(value).map(drop).map_err(refused)
}

/// A CBS municipality code: 4 digits.
pub fn municipality_code(value: &str) -> Result<(), ValidationError> {
    MunicipalityCode::parse(value).map(drop).map_err(refused)
}

/// A birth date: not in the future, not before 1900.
pub fn birth_date(value: &chrono::NaiveDate) -> Result<(), ValidationError> {
    let today = chrono::Utc::now().date_naive();
    crate::domain::past_date(*value, today, "A birth date")
        .map(drop)
        .map_err(refused)
}

/// A whole number from `MIN` to `MAX`.
pub fn in_range<const MIN: i64, const MAX: i64, T: Into<i64>>(
    value: T,
) -> Result<(), ValidationError> {
    if (MIN..=MAX).contains(&value.into()) {
        Ok(())
    } else {
        Err(ValidationError::new(ErrorCode::OutOfRange.as_str())
            .with_message(Cow::Owned(format!("A number from {MIN} to {MAX}."))))
    }
}

/// At most `MAX` items.
pub fn at_most<const MAX: usize, T>(items: &[T]) -> Result<(), ValidationError> {
    if items.len() <= MAX {
        Ok(())
    } else {
        Err(ValidationError::new(ErrorCode::TooMany.as_str())
            .with_message(Cow::Owned(format!("At most {MAX}."))))
    }
}

/// Every offending field of `errors`, named as the API names it, in the
/// order the DTO declares them (`validator` keeps a map; the order of the
/// fields is the order a client reads them in).
pub fn invalid_params(errors: &ValidationErrors) -> Vec<InvalidParam> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<InvalidParam>) {
    for (field, kind) in errors.errors() {
        let name = join(prefix, &camel_case(field));
        match kind {
            ValidationErrorsKind::Field(list) => {
                out.extend(list.iter().map(|e| param(&name, e)));
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &name, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{name}[{index}]"), out);
                }
            }
        }
    }
}

fn param(name: &str, error: &ValidationError) -> InvalidParam {
    let code = ErrorCode::parse(&error.code).unwrap_or(ErrorCode::InvalidValue);
    let reason = error
        .message
        .as_deref()
        .unwrap_or("This value is not allowed here.");
    InvalidParam::new(name, code, reason)
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// `birth_date` -> `birthDate`, as serde renames the fields.
fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use validator::Validate;

    use super::*;

    // Rules name their function by its whole path: the derive binds each
    // field by its own name, which would shadow a function called `bsn`.
    #[derive(Deserialize, Serialize, Validate)]
    struct Member {
        #[validate(custom(function = "crate::http::validation::required_text::<5>"))]
        given_name: String,
        #[validate(custom(function = "crate::http::validation::bsn"))]
        bsn: Option<String>,
    }

    #[derive(Deserialize, Validate)]
    struct Family {
        #[validate(custom(function = "crate::http::validation::municipality_code"))]
        municipality_code: String,
        #[validate(
            custom(function = "crate::http::validation::at_most::<2, Member>"),
            nested
        )]
        members: Vec<Member>,
    }

    fn member(given_name: &str, bsn: Option<&str>) -> Member {
        Member {
            given_name: given_name.into(),
            bsn: bsn.map(str::to_owned),
        }
    }

    fn found(family: &Family) -> Vec<(String, &'static str)> {
        match family.validate() {
            Ok(()) => Vec::new(),
            Err(errors) => invalid_params(&errors)
                .into_iter()
                .map(|p| (p.name, p.code.as_str()))
                .collect(),
        }
    }

    #[test]
    fn every_offending_field_is_named_as_the_api_names_it() {
        let family = Family {
            municipality_code: "546".into(),
            members: vec![
                member("Sanne", Some("111222333")),
                member("   ", Some("123456789")),
            ],
        };
        assert_eq!(
            found(&family),
            [
                ("members[1].bsn".to_owned(), "invalid_bsn"),
                ("members[1].givenName".to_owned(), "required"),
                ("municipalityCode".to_owned(), "invalid_municipality_code"),
            ]
        );
    }

    #[test]
    fn a_list_too_long_is_named_once_without_its_items() {
        let family = Family {
            municipality_code: "0546".into(),
            members: vec![
                member("Alexander", None),
                member("Sanne", None),
                member("Bo", None),
            ],
        };
        assert_eq!(found(&family), [("members".to_owned(), "too_many")]);
    }

    #[test]
    fn a_valid_body_passes() {
        let family = Family {
            municipality_code: "0546".into(),
            members: vec![member(" Sanne ", None)],
        };
        assert!(family.validate().is_ok());
    }
}
