//! Request and response shapes of the audit trail's own views (the event
//! list, the export, the verification, the review list of emergency
//! accesses and a family's access log), and the period every one of them
//! takes.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::chain::StoredEvent;
use super::export::ExportFormat;
use crate::error::{ErrorCode, Invalid};

crate::page_type!(
    AuditEventPage,
    StoredEvent,
    "A page of audit events, newest first."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditEventQuery {
    /// Municipality; auditors may give only their own (the default for them),
    /// admins see all municipalities without it.
    #[param(pattern = "^[0-9]{4}$")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: Option<String>,
    /// First day (inclusive, UTC).
    pub from: Option<NaiveDate>,
    /// Last day (inclusive, UTC).
    pub to: Option<NaiveDate>,
    pub family_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    /// e.g. `read`, `export`, `access_denied`.
    #[param(pattern = "^[a-z_]{1,40}$")]
    pub action: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl AuditEventQuery {
    /// The period as instants; 400 naming every offending field, in the
    /// order a client reads them: the municipality, the period, the action
    /// (so the action is checked here, after the period, rather than by a
    /// `validator` rule, whose report comes sorted by name).
    pub fn checked_period(&self) -> Result<Period, crate::error::ApiError> {
        let mut v = Invalid::validated(self);
        let period = period(&mut v, self.from, self.to);
        if let Some(action) = &self.action {
            let ok = (1..=40).contains(&action.len())
                && action.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if !ok {
                v.push(
                    "action",
                    ErrorCode::InvalidAction,
                    "An action is lower case letters and _.",
                );
            }
        }
        v.into_result()?;
        Ok(period)
    }

    /// The filters the caller used, by their query names (for the audit
    /// event of the search).
    pub fn filters(&self) -> Vec<&'static str> {
        [
            self.municipality_code.as_ref().map(|_| "municipalityCode"),
            self.from.map(|_| "from"),
            self.to.map(|_| "to"),
            self.family_id.map(|_| "familyId"),
            self.actor_id.map(|_| "actorId"),
            self.action.as_ref().map(|_| "action"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Municipality; auditors may give only their own (the default for them),
    /// admins export all municipalities without it.
    #[param(pattern = "^[0-9]{4}$")]
    #[validate(custom(function = "crate::http::validation::municipality_code"))]
    pub municipality_code: Option<String>,
    /// First day (inclusive, UTC).
    pub from: Option<NaiveDate>,
    /// Last day (inclusive, UTC).
    pub to: Option<NaiveDate>,
    /// `ndjson` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

impl ExportQuery {
    /// The period as instants; 400 naming every offending field.
    pub fn checked_period(&self) -> Result<Period, crate::error::ApiError> {
        let mut v = Invalid::validated(self);
        let period = period(&mut v, self.from, self.to);
        v.into_result()?;
        Ok(period)
    }

    /// The name the download is saved under.
    pub fn file_name(&self, municipality: Option<&str>) -> String {
        format!(
            "audit-{}-{}-{}.{}",
            municipality.unwrap_or("all"),
            self.from
                .map(|d| d.to_string())
                .unwrap_or_else(|| "start".into()),
            self.to
                .map(|d| d.to_string())
                .unwrap_or_else(|| "now".into()),
            self.format().extension()
        )
    }

    pub fn format(&self) -> ExportFormat {
        self.format.unwrap_or(ExportFormat::Ndjson)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// First day (inclusive, UTC); the whole trail without bounds.
    pub from: Option<NaiveDate>,
    /// Last day (inclusive, UTC).
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct EmergencyAccessQuery {
    /// First day (inclusive, UTC), as on the other audit endpoints.
    pub from: Option<NaiveDate>,
    /// Last day (inclusive, UTC).
    pub to: Option<NaiveDate>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// One read made by breaking the glass.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyAccess {
    /// Sequence number of the audit event.
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_display_name: Option<String>,
    /// Role of the actor at the time (`jgt_worker` or `gi_worker`).
    pub actor_role: Option<String>,
    pub family_id: Option<Uuid>,
    /// The family's name, for team leads; left out for auditors, who see no
    /// case content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// What was read: `family`, `plan`, `director_history`, `scaling_history`, `signals`.
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The reason given in `X-Access-Reason`.
    pub reason: String,
}

crate::page_type!(
    EmergencyAccessPage,
    EmergencyAccess,
    "A page of emergency accesses, newest first."
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// One access to the family's data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogEntry {
    pub occurred_at: DateTime<Utc>,
    /// Team or municipality for municipal staff, the provider for provider
    /// staff, the GI for GI workers, the referring organisation for systems.
    #[schema(example = "JGT Leiden Noord")]
    pub organisation: String,
    /// Role of the actor at the time, e.g. `jgt_worker`, `provider_user`, `client`.
    pub role: String,
    /// `read`, `search`, `create`, `update`, `close`, `access_denied`, ...
    pub action: String,
    /// `family`, `plan`, `member`, `involvement`, `referral`, ...
    pub resource_type: String,
    /// The access was made by breaking the glass.
    pub emergency_access: bool,
    /// `success`, `denied` or `error`.
    pub outcome: String,
}

crate::page_type!(
    AccessLogPage,
    AccessLogEntry,
    "A page of the family's access log, newest first."
);

/// A period as instants: from (inclusive) and to (exclusive), either open.
pub type Period = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Whole days as instants: `[from 00:00, to + 1 day 00:00)` in UTC, the
/// period every audit endpoint and the command line take.
pub fn day_bounds(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Period {
    let start = from.map(|d| d.and_time(NaiveTime::MIN).and_utc());
    let end = to
        .and_then(|d| d.succ_opt())
        .map(|d| d.and_time(NaiveTime::MIN).and_utc());
    (start, end)
}

/// Years a period may name: the trail holds nothing older, and beyond 9998
/// the day after `to` no longer prints as an RFC 3339 timestamp (the export
/// writes its bounds into the COPY statement).
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9998;

/// [`day_bounds`], recording a `to` before `from` and days out of range.
pub fn period(v: &mut Invalid, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Period {
    for (name, day) in [("from", from), ("to", to)] {
        if day.is_some_and(|d| !YEARS.contains(&d.year())) {
            v.push(
                name,
                ErrorCode::OutOfRange,
                "A day lies between 1900 and 9998.",
            );
        }
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            v.push("to", ErrorCode::BeforeFrom, "to must not be before from.");
        }
    }
    day_bounds(from, to)
}

/// The period of a query without other fields to check; 400 when it is
/// out of range or reversed.
pub fn checked_period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Period, crate::error::ApiError> {
    let mut v = Invalid::new();
    let period = period(&mut v, from, to);
    v.into_result()?;
    Ok(period)
}
