//! Integration tests against the real server and a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod case_authz;
mod case_bad_input;
mod case_world;
mod directors;
mod families;
mod helpers;
mod invariants;
mod openapi;
mod plans;
mod two_processes;
