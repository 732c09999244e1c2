//! Families (gezinnen) and their members. A child, by BSN, belongs to at most
//! one active family (enforced by a partial unique index on the BSN's keyed
//! hash); BSNs are stored encrypted and shown only to case roles.

pub mod access;
pub mod model;
pub mod queries;
pub mod routes;
pub mod search;
pub mod service;
