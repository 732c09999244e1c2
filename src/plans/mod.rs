//! Plans (gezinsplannen) and their directors (procesregisseurs). A family has
//! at most one open plan (partial unique index); a plan has at most one
//! current director, with non-overlapping assignment periods (partial unique
//! index plus exclusion constraint), and is `active` exactly when it has one
//! (deferred constraint trigger).

pub mod directors;
pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
pub mod view;
