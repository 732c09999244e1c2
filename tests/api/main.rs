//! Integration tests against the real server and a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Table-driven cases are tuples on purpose: one row per case reads best.
#![allow(clippy::type_complexity)]

mod access_log;
mod account_approvals;
mod admin;
mod audit;
mod audit_coverage;
mod audit_failures;
mod auth;
mod care;
mod care_authz;
mod care_bad_input;
mod care_world;
mod case_authz;
mod case_bad_input;
mod case_world;
mod cluster;
mod connections;
mod directors;
mod emergency;
mod export_limits;
mod families;
mod faults;
mod generator;
mod helpers;
mod invariant_checks;
mod invariants;
mod key_rotation;
mod keys;
mod login_limits;
mod methods;
mod notifications;
mod openapi;
mod operations;
mod plans;
mod production;
mod referral_attacks;
mod referral_world;
mod referrals;
mod reports;
mod response_headers;
mod retention;
mod slow_clients;
mod structure;
mod two_processes;
