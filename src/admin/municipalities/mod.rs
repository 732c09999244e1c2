//! Municipalities: the tenants, by CBS code. Admins register them; everyone
//! else sees the ones they work for.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;

pub use model::*;
