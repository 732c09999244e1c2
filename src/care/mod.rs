//! Care around the plan: the care-form catalogue, involvements of providers,
//! the plan's care level and its scaling history, and signals of stacked
//! care. Every change here runs in one transaction that holds the plan's
//! row lock and ends by [`state::apply`]: level, scaling event, signals and
//! audit are written together or not at all.

pub mod catalogue;
pub mod model;
pub mod queries;
pub mod refresh;
pub mod routes;
pub mod scaling;
pub mod service;
pub mod state;
pub mod view;
