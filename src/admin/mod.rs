//! Administration: municipalities (tenants), JGT teams, user accounts, care
//! providers and machine clients.
//! Functional administrators manage these; they never see family data.

pub mod clients;
pub mod municipalities;
pub mod providers;
pub mod teams;
pub mod users;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    municipalities::routes(cfg);
    teams::routes::routes(cfg);
    providers::routes(cfg);
    users::routes(cfg);
    clients::routes(cfg);
}
