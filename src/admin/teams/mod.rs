//! JGT teams of a municipality: admins register them; every family belongs
//! to one.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;

pub use model::*;
