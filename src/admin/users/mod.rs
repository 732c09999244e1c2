//! User accounts. Passwords are hashed with argon2id on the blocking pool and
//! never returned; disabling a user ends its sessions at their next request.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;

pub use model::*;
// The CLI, the demo data and the tests create accounts the way the API does.
pub use service::insert_user;
