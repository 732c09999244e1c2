//! Request and response shapes of involvements, scaling and signals.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::care::{Direction, EndReason, InvolvementStatus, Segment};
use crate::domain::signals::{SignalCode, SignalStatus};
use crate::domain::DomainError;

/// Most involvements one scaling step may end or start.
pub const MAX_STEP_ITEMS: usize = 20;

/// How a new involvement begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewInvolvementStatus {
    /// Care asked for, not started yet (the waiting time runs).
    Requested,
    /// Care already running.
    Active,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewInvolvement {
    pub provider_id: Uuid,
    /// A code of `GET /v1/care-forms`.
    #[schema(example = "ambulant_intensief", min_length = 1, max_length = 64)]
    pub care_form_code: String,
    /// The family member the care is for; absent for the whole family.
    pub member_id: Option<Uuid>,
    pub status: NewInvolvementStatus,
    /// Day the care was requested (default: the start day, or today).
    pub requested_on: Option<NaiveDate>,
    /// First day of care, for `active` (default today); not allowed for `requested`.
    pub started_on: Option<NaiveDate>,
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartInvolvement {
    /// First day of care (default today).
    pub started_on: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndInvolvement {
    /// Last day of care (default today).
    pub ended_on: Option<NaiveDate>,
    pub end_reason: EndReason,
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepEnd {
    pub involvement_id: Uuid,
    pub end_reason: EndReason,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepStart {
    pub provider_id: Uuid,
    #[schema(example = "pleegzorg", min_length = 1, max_length = 64)]
    pub care_form_code: String,
    pub member_id: Option<Uuid>,
}

/// One whole step up or down: some involvements end, others start, today,
/// atomically.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScalingStep {
    #[schema(
        example = "Ambulante hulp onvoldoende; pleegzorg gestart",
        min_length = 1,
        max_length = 2000
    )]
    pub reason: String,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub end: Vec<StepEnd>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub start: Vec<StepStart>,
}

/// An involvement: one provider delivering one care form within a plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Involvement {
    pub id: Uuid,
    pub plan_id: Uuid,
    pub provider_id: Uuid,
    pub provider_name: String,
    pub care_form_code: String,
    /// Name in the current catalogue (null when the form has left it).
    pub care_form_name: Option<String>,
    pub segment: Segment,
    /// 1 to 7; null for safety.
    pub level: Option<i16>,
    /// iJw product category (JZ020).
    pub product_category: String,
    /// The member the care is for; null for the whole family.
    pub member_id: Option<Uuid>,
    pub status: InvolvementStatus,
    pub requested_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub end_reason: Option<EndReason>,
    /// iJw JZ588 code of the end reason.
    pub end_reason_code: Option<String>,
    /// Days from request to start, once started.
    pub waiting_days: Option<i64>,
    /// Why the care was requested. Null in the view of another provider.
    pub reason: Option<String>,
    /// Note given when it ended. Null in the view of another provider.
    pub end_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A change of the plan's care level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub from_level: i16,
    pub to_level: i16,
    pub direction: Direction,
    pub reason: String,
    pub decided_by: Option<Uuid>,
    /// Involvements started or ended by the change.
    pub involvement_ids: Vec<Uuid>,
}

/// A signal on a plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Signal {
    pub code: SignalCode,
    pub status: SignalStatus,
    /// When the signal was raised or last re-opened.
    pub raised_at: DateTime<Utc>,
    /// What it is about: providers, segments, involvements, counts.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Acknowledge {
    /// Why the situation is deliberate.
    #[schema(
        example = "Pleegzorg en GGZ bewust tegelijk: afgestemd in het gezinsplan",
        min_length = 1,
        max_length = 2000
    )]
    pub note: String,
}

/// A date of care: plausible (from 1900) and not in the future.
pub fn care_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, DomainError> {
    crate::domain::past_date(date, today, "A date of care")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn care_dates_are_past_or_today_and_plausible() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert!(care_date(today, today).is_ok());
        assert_eq!(
            care_date(today.succ_opt().unwrap(), today).map_err(|e| e.code.as_str()),
            Err("in_future")
        );
        assert_eq!(
            care_date(NaiveDate::from_ymd_opt(416, 1, 1).unwrap(), today)
                .map_err(|e| e.code.as_str()),
            Err("out_of_range")
        );
    }
}
