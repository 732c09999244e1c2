//! Administration: municipalities (tenants), JGT teams, user accounts, care
//! providers and machine clients.
//! Functional administrators manage these; they never see family data.

pub mod clients;
pub mod municipalities;
pub mod providers;
pub mod teams;
pub mod users;

use std::borrow::Cow;

use actix_web::web;
use validator::ValidationError;

use crate::domain::DomainError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    municipalities::routes::routes(cfg);
    teams::routes::routes(cfg);
    providers::routes::routes(cfg);
    users::routes::routes(cfg);
    clients::routes::routes(cfg);
}

/// A domain parse function as a `validator` rule of an admin DTO, so the
/// rule and the value the service takes from it never disagree (as the
/// shared rules of `http::validation` do for the common types).
pub(crate) fn rule<T>(parsed: Result<T, DomainError>) -> Result<(), ValidationError> {
    parsed
        .map(drop)
        .map_err(|e| ValidationError::new(e.code.as_str()).with_message(Cow::Owned(e.reason)))
}
