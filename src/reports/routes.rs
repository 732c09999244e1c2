//! `GET /v1/reports/summary`: the aggregate figures of one municipality.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpResponse};

use super::model::{SummaryParams, SummaryReport};
use super::service;
use crate::auth::principal::Bearer;
use crate::error::ApiResult;
use crate::http::extract::ApiQuery;
use crate::state::App;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // A resource, not `cfg.route`, so other methods get 405, not 404.
    cfg.service(web::resource("/reports/summary").route(web::get().to(summary_report)));
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
pub async fn summary_report(
    app: App,
    bearer: Bearer,
    query: ApiQuery<SummaryParams>,
) -> ApiResult<HttpResponse> {
    let report = service::summary_report(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(report))
}
