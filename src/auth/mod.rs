//! Authentication and authorisation: password hashing, tokens, the
//! [`principal::Bearer`] extractor every protected handler takes (the
//! request's transaction turns it into a [`Principal`]), and the policies
//! that decide what a principal may do (all in [`policy`], nowhere else).

pub mod client;
pub mod model;
pub mod password;
pub mod password_policy;
pub mod policy;
pub mod principal;
pub mod queries;
pub mod routes;
pub mod service;
pub mod tokens;

pub use principal::Principal;
