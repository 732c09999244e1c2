//! Request and response shapes of involvements, scaling and signals.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::catalogue::{CareForm, Catalogue};
use crate::domain::care::{Direction, EndReason, InvolvementStatus, Segment};
use crate::domain::signals::{SignalCode, SignalStatus};
use crate::domain::{
    text, DomainError, InvolvementId, MemberId, PlanId, ProviderId, ReferralId, ScalingId, UserId,
};
use crate::error::{checked, ApiResult, ErrorCode, Invalid};

crate::page_type!(CareFormPage, CareForm, "The region's care forms.");
crate::page_type!(InvolvementPage, Involvement, "A page of involvements.");

/// Most involvements one scaling step may end or start.
pub const MAX_STEP_ITEMS: usize = 20;

/// How a new involvement begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewInvolvementStatus {
    /// Care asked for, not started yet (the waiting time runs).
    Requested,
    /// Care already running.
    Active,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewInvolvement {
    pub provider_id: ProviderId,
    /// A code of `GET /v1/care-forms`.
    #[schema(example = "ambulant_intensief", min_length = 1, max_length = 64)]
    pub care_form_code: String,
    /// The family member the care is for; absent for the whole family.
    pub member_id: Option<MemberId>,
    pub status: NewInvolvementStatus,
    /// Day the care was requested (default: the start day, or today).
    pub requested_on: Option<NaiveDate>,
    /// First day of care, for `active` (default today); not allowed for `requested`.
    pub started_on: Option<NaiveDate>,
    #[schema(max_length = 2000)]
    #[validate(custom(function = "crate::http::validation::optional_text::<2000>"))]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartInvolvement {
    /// First day of care (default today).
    pub started_on: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndInvolvement {
    /// Last day of care (default today).
    pub ended_on: Option<NaiveDate>,
    pub end_reason: EndReason,
    #[schema(max_length = 2000)]
    #[validate(custom(function = "crate::http::validation::optional_text::<2000>"))]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepEnd {
    pub involvement_id: InvolvementId,
    pub end_reason: EndReason,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepStart {
    pub provider_id: ProviderId,
    #[schema(example = "pleegzorg", min_length = 1, max_length = 64)]
    pub care_form_code: String,
    pub member_id: Option<MemberId>,
}

/// One whole step up or down: some involvements end, others start, today,
/// atomically.
#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScalingStep {
    #[schema(
        example = "Ambulante hulp onvoldoende; pleegzorg gestart",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<2000>"))]
    pub reason: String,
    #[serde(default)]
    #[schema(max_items = 20)]
    #[validate(custom(
        function = "crate::http::validation::at_most::<MAX_STEP_ITEMS, StepEnd>",
        message = "At most 20 involvements per step."
    ))]
    pub end: Vec<StepEnd>,
    #[serde(default)]
    #[schema(max_items = 20)]
    #[validate(custom(
        function = "crate::http::validation::at_most::<MAX_STEP_ITEMS, StepStart>",
        message = "At most 20 involvements per step."
    ))]
    pub start: Vec<StepStart>,
}

/// An involvement: one provider delivering one care form within a plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Involvement {
    pub id: InvolvementId,
    pub plan_id: PlanId,
    pub provider_id: ProviderId,
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
    pub member_id: Option<MemberId>,
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
    /// The referral whose acceptance this requested care waits for; it
    /// cannot start before, and its provider does not see it. Null when
    /// nothing waits (providers never see care that waits).
    pub awaiting_referral_id: Option<ReferralId>,
}

/// A change of the plan's care level.
// Also its row in `scaling_events`: the view shows every column.
#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::scaling_events)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    pub id: ScalingId,
    pub occurred_at: DateTime<Utc>,
    pub from_level: i16,
    pub to_level: i16,
    pub direction: Direction,
    pub reason: String,
    pub decided_by: Option<UserId>,
    /// Involvements started or ended by the change.
    pub involvement_ids: Vec<InvolvementId>,
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
    pub acknowledged_by: Option<UserId>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Acknowledge {
    /// Why the situation is deliberate.
    #[schema(
        example = "Pleegzorg en GGZ bewust tegelijk: afgestemd in het gezinsplan",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(custom(function = "crate::http::validation::required_text::<2000>"))]
    pub note: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WorklistQuery {
    /// Only involvements in this state (default: requested and active).
    pub status: Option<InvolvementStatus>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A date of care: plausible (from 1900) and not in the future.
pub fn care_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, DomainError> {
    crate::domain::past_date(date, today, "A date of care")
}

/// A checked new involvement.
pub struct InvolvementSpec<'a> {
    pub form: &'a CareForm,
    pub reason: Option<String>,
    pub status: InvolvementStatus,
    pub requested_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
}

/// A care form of the catalogue, or a validation error on `field`.
pub fn care_form<'a>(
    catalogue: &'a Catalogue,
    code: &str,
    field: &str,
    v: &mut Invalid,
) -> Option<&'a CareForm> {
    let form = catalogue.get(code);
    if form.is_none() {
        v.push(
            field,
            ErrorCode::UnknownCareForm,
            "Not a care form of the catalogue (GET /v1/care-forms).",
        );
    }
    form
}

/// A date of care given in `field`, or `today` when none was.
pub fn date_field(
    v: &mut Invalid,
    field: &str,
    date: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<NaiveDate> {
    match date {
        None => Some(today),
        Some(d) => v.check(field, care_date(d, today)),
    }
}

impl NewInvolvement {
    /// The involvement, or 400 naming every offending field: the care form
    /// must be in the region's catalogue, requested care has not started,
    /// and care does not start before it was requested.
    pub fn parse<'a>(
        &self,
        catalogue: &'a Catalogue,
        today: NaiveDate,
    ) -> ApiResult<InvolvementSpec<'a>> {
        let mut v = Invalid::validated(self);
        let form = care_form(catalogue, &self.care_form_code, "careFormCode", &mut v);
        let (status, requested_on, started_on) = match self.status {
            NewInvolvementStatus::Requested => {
                if self.started_on.is_some() {
                    v.push("startedOn", ErrorCode::NotAllowed, "A requested involvement has not started; use POST /v1/involvements/{id}/start.");
                }
                let requested = date_field(&mut v, "requestedOn", self.requested_on, today);
                (InvolvementStatus::Requested, requested, Some(None))
            }
            NewInvolvementStatus::Active => {
                let started = date_field(&mut v, "startedOn", self.started_on, today);
                let requested = match self.requested_on {
                    None => started,
                    Some(r) => date_field(&mut v, "requestedOn", Some(r), today)
                        .zip(started)
                        .and_then(|(r, s)| {
                            if s < r {
                                v.push(
                                    "startedOn",
                                    ErrorCode::BeforeRequested,
                                    "Care cannot start before it was requested.",
                                );
                                None
                            } else {
                                Some(r)
                            }
                        }),
                };
                (InvolvementStatus::Active, requested, started.map(Some))
            }
        };
        let (form, requested_on, started_on) = v.finish((form, requested_on, started_on))?;
        Ok(InvolvementSpec {
            form,
            reason: checked(text::optional(self.reason.as_deref(), 2000))?,
            status,
            requested_on,
            started_on,
        })
    }
}

impl ScalingStep {
    /// The step's reason and the care forms it starts, or 400 naming every
    /// offending field.
    pub fn parse<'a>(&self, catalogue: &'a Catalogue) -> ApiResult<(String, Vec<&'a CareForm>)> {
        let mut v = Invalid::validated(self);
        if self.end.is_empty() && self.start.is_empty() {
            v.push(
                "start",
                ErrorCode::EmptyStep,
                "A step ends or starts at least one involvement.",
            );
        }
        for (i, e) in self.end.iter().enumerate() {
            if self.end[..i]
                .iter()
                .any(|x| x.involvement_id == e.involvement_id)
            {
                v.push(
                    format!("end[{i}].involvementId"),
                    ErrorCode::Duplicate,
                    "Named twice in this step.",
                );
            }
        }
        let forms: Vec<Option<&CareForm>> = self
            .start
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let field = format!("start[{i}].careFormCode");
                care_form(catalogue, &s.care_form_code, &field, &mut v)
            })
            .collect();
        v.into_result()?;
        Ok((
            checked(text::required(&self.reason, 2000))?,
            forms.into_iter().flatten().collect(),
        ))
    }
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
