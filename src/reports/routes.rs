//! `GET /v1/reports/summary`: the aggregate figures of one municipality.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::{queries, summarise, Period, SummaryReport};
use crate::audit::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::db::schema::municipalities;
use crate::domain::MunicipalityCode;
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::ApiQuery;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // A resource, not `cfg.route`, so other methods get 405, not 404.
    cfg.service(web::resource("/reports/summary").route(web::get().to(summary_report)));
}

/// Which municipality and period. All three are required; they are
/// optional here only so that every missing one is named at once.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// CBS code of the municipality; auditors and team leads may only ask
    /// for their own (another is answered 404).
    #[param(required = true, pattern = "^[0-9]{4}$", example = "0546")]
    pub municipality_code: Option<String>,
    /// First day of the period, inclusive (`YYYY-MM-DD`, UTC day).
    #[param(required = true, value_type = String, format = Date, example = "2026-01-01")]
    pub from: Option<String>,
    /// Last day of the period, inclusive (`YYYY-MM-DD`, UTC day); not in
    /// the future, and before `from` plus 5 years.
    #[param(required = true, value_type = String, format = Date, example = "2026-03-31")]
    pub to: Option<String>,
}

/// Aggregate figures of a municipality over a period.
///
/// No personal data and no ids: counts of 1 to 4 are withheld
/// (`{"value": null, "suppressed": true}`; 0 is shown), and so are medians
/// and means over 1 to 4 cases; when a goal-realisation count is withheld,
/// the number of closed plans is too. The period runs from `from` 00:00 UTC
/// to the end of `to` (both days inclusive); "at the end of the period" is
/// its last instant. Definitions: `families` = families with a plan open at
/// some moment of the period; `openPlans` = plans open at the end;
/// `plansInIntake` = open plans without a director at the end;
/// `medianDaysToDirector` = over plans whose first director assignment
/// started in the period, median calendar days from opening to it;
/// `averageProvidersPerActivePlan` = over plans active (open, with a
/// director) at the end, mean number of distinct providers with care
/// running at the end (started by the last day, not ended on or before
/// it); `plansBySignal` = open plans carrying each signal today
/// (acknowledged or not; today's state whatever the period);
/// `scalings` = level changes in the period by direction;
/// `waitingBySegment` = involvements started in the period per segment and
/// the median of `startedOn - requestedOn` in days; `outcomes` = plans
/// closed in the period: per goal realisation, dropouts, satisfaction
/// responses and their mean. Auditors and team leads see their own
/// municipality, admins any. Every call is audited.
#[utoipa::path(get, path = "/reports/summary", tag = "Reports", operation_id = "getSummaryReport",
    params(SummaryParams),
    responses(
        (status = 200, description = "The report", body = SummaryReport),
        (status = 404, description = "No such municipality, or not yours", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn summary_report(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    query: ApiQuery<SummaryParams>,
) -> ApiResult<HttpResponse> {
    let event = AuditEvent::by(&principal, "read", "report", "summary");
    // Roles without reports are refused before their input is looked at.
    enforce(&state, policy::reports(&principal), "report", event.clone()).await?;
    let params = query.0;
    let mut v = Invalid::new();
    let code = match params.municipality_code.as_deref() {
        None | Some("") => {
            v.push(
                "municipalityCode",
                ErrorCode::Required,
                "`municipalityCode` is required.",
            );
            None
        }
        Some(code) => v.check("municipalityCode", MunicipalityCode::parse(code)),
    };
    let today = Utc::now().date_naive();
    let period = Period::parse(params.from.as_deref(), params.to.as_deref(), today, &mut v);
    let (code, period) = v.finish((code, period))?;
    let event = event.municipality(code.as_str()).detail(json!({
        "report": "summary",
        "from": period.from,
        "to": period.to,
    }));
    enforce(
        &state,
        policy::read_report(&principal, code.as_str()),
        "municipality",
        event.clone(),
    )
    .await?;
    let mut conn = state.db().await?;
    // Repeatable read: every figure describes the same snapshot.
    let report = conn
        .build_transaction()
        .repeatable_read()
        .run(async |conn| {
            let known: i64 = municipalities::table
                .filter(municipalities::code.eq(code.as_str()))
                .count()
                .get_result(conn)
                .await?;
            if known == 0 {
                return Err(ApiError::not_found("Municipality"));
            }
            let figures = queries::figures(conn, code.as_str(), period).await?;
            event.record(conn).await?;
            Ok::<_, ApiError>(summarise(code.as_str(), period, &figures))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(report))
}
