//! Referrals (verwijzingen) from GPs, youth doctors, GIs and the JGT,
//! pulled into the family's one plan: submission with idempotency keys,
//! matching by BSN (or review by name and birth date), the intake queue,
//! accept and decline. Status changes notify the referring client through
//! the outbox in `crate::notifications`.

pub mod decisions;
pub mod idempotency;
pub mod matching;
pub mod model;
pub mod queries;
pub mod routes;
pub mod service;
pub mod view;
