//! Aggregate reports for municipalities (DESIGN "Audit and reports"): the
//! figures auditors, policy staff and team leads use to steer youth care,
//! with small counts suppressed so that no family can be recognised in them.
//! `model.rs` holds the definitions and the pure rules (the period, the
//! suppression); `queries.rs` computes the raw figures in a handful of
//! set-based SQL aggregates; `service.rs` runs a report in one snapshot;
//! `routes.rs` is the endpoint.
//!
//! # The period
//!
//! `from` and `to` are calendar days, both inclusive, at most 5 years
//! apart, and not in the future. Days are UTC days, like every other date
//! this API derives from a timestamp: the period runs from `from` 00:00 UTC
//! up to (not including) the day after `to`, 00:00 UTC. "The end of the
//! period" is the last instant of that range.
//!
//! # The figures
//!
//! - `families`: families of the municipality that had a plan open at some
//!   moment of the period (opened before its end, not closed before its
//!   start).
//! - `openPlans`: plans open at the end of the period (intake or active).
//! - `plansInIntake`: of those, plans without a director at the end of the
//!   period (reconstructed from the director assignments, so a past period
//!   gives the figure it had then).
//! - `medianDaysToDirector`: over plans whose *first* director assignment
//!   started in the period, the median number of calendar days from the
//!   plan's opening to that assignment (0 when a plan was opened with a
//!   director).
//! - `averageProvidersPerActivePlan`: over plans active (open, with a
//!   director) at the end of the period, the mean number of distinct
//!   providers with care running at that end (started on or before the
//!   period's last day, and not ended on or before it: `endedOn` is the
//!   last day of care); a plan without care counts as 0.
//! - `plansBySignal`: open plans carrying each signal now, acknowledged or
//!   not. Signals are kept only for their current state, so this figure is
//!   always today's, whatever the period. The first three codes are the
//!   stacked-care signals; the others are listed because they are the same
//!   kind of warning.
//! - `scalings`: scaling events (level changes) that happened in the
//!   period, by direction.
//! - `waitingBySegment`: involvements that started in the period, per
//!   segment of care: how many, and the median of `startedOn - requestedOn`
//!   in days.
//! - `outcomes`: plans closed in the period: how many, how many per goal
//!   realisation, how many ended by dropout, how many gave a satisfaction
//!   score and the mean of those scores.
//!
//! # Suppression (small-cell disclosure)
//!
//! A count of 1 to 4 is suppressed: `{"value": null, "suppressed": true}`.
//! A count of 0 is shown: it describes nobody, and hiding it would hide
//! exactly the good news (no dropouts) a municipality needs to see. A
//! median or mean is suppressed when it is computed over 1 to 4 cases; over
//! no cases it has no value and is not suppressed (`value: null,
//! suppressed: false`). The goal-realisation counts add up to the number of
//! closed plans, so when one of them is suppressed the total is suppressed
//! as well; otherwise the hidden cell would follow by subtraction.

pub mod model;
pub mod queries;
pub mod routes;
pub mod service;

pub use model::*;
