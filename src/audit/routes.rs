//! The audit trail over HTTP: list, export and verify (auditors of their own
//! municipality, admins of all), the review list of emergency accesses, and
//! a family's access log.

use actix_web::{web, HttpResponse};

use super::chain::Verification;
use super::model::{
    AccessLogPage, AccessLogQuery, AuditEventPage, AuditEventQuery, EmergencyAccessPage,
    EmergencyAccessQuery, ExportQuery, VerifyQuery,
};
use super::service;
use crate::auth::principal::Bearer;
use crate::domain::FamilyId;
use crate::error::ApiResult;
use crate::http::extract::ApiQuery;
use crate::state::App;

/// Audit events, newest first, filtered.
#[utoipa::path(get, path = "/audit/events", tag = "Audit", operation_id = "listAuditEvents",
    params(AuditEventQuery),
    responses(
        (status = 200, description = "A page of audit events", body = AuditEventPage),
        (status = 404, description = "Another municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    app: App,
    bearer: Bearer,
    query: ApiQuery<AuditEventQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_events(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Export the audit trail of a municipality and period, streamed.
///
/// NDJSON (one event per line, the fields of `AuditEventView`) or CSV after
/// RFC 4180 (a header row, CRLF line ends; text a caller could choose that
/// starts with `=`, `+`, `-` or `@` gets a leading apostrophe so spreadsheets
/// do not run it). The `Audit-Chain-Head` header names the chain's newest
/// entry at the time of the export: keep it, and a later
/// `GET /audit/verify` shows nothing before it was changed.
#[utoipa::path(get, path = "/audit/export", tag = "Audit", operation_id = "exportAuditEvents",
    params(ExportQuery),
    responses(
        (status = 200, description = "The events, oldest first",
            headers(("Audit-Chain-Head" = String, description = "`position=<n>; seq=<n>; link=<hex>` of the newest chain entry (absent while the chain is empty)")),
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 404, description = "Another municipality", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "This user already runs `exports.per_user` exports; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn export_events(
    app: App,
    bearer: Bearer,
    query: ApiQuery<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let export = service::export(&app, &bearer, query.0).await?;
    let mut response = HttpResponse::Ok();
    response.content_type(export.content_type);
    response.insert_header((
        "Content-Disposition",
        format!("attachment; filename=\"{}\"", export.file_name),
    ));
    if let Some(head) = export.head {
        response.insert_header(("Audit-Chain-Head", head.header_value()));
    }
    Ok(response.streaming(export.body))
}

/// Check the trail for changed, removed and inserted events.
///
/// Seals what is waiting, then recomputes the MAC of every event and the
/// link of every chain entry in the period (the whole trail without one),
/// naming each event or entry that fails.
#[utoipa::path(get, path = "/audit/verify", tag = "Audit", operation_id = "verifyAuditTrail",
    params(VerifyQuery),
    responses(
        (status = 200, description = "The outcome; `valid` is false when anything was found", body = Verification),
    ))]
pub async fn verify(
    app: App,
    bearer: Bearer,
    query: ApiQuery<VerifyQuery>,
) -> ApiResult<HttpResponse> {
    let report = service::verify(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Emergency accesses to families of your municipality, newest first.
///
/// For team leads to review who broke the glass and why; auditors of the
/// municipality may read it too, without family names.
#[utoipa::path(get, path = "/audit/emergency-accesses", tag = "Audit", operation_id = "listEmergencyAccesses",
    params(EmergencyAccessQuery),
    responses((status = 200, description = "A page of emergency accesses, newest first", body = EmergencyAccessPage)))]
pub async fn list_emergency_accesses(
    app: App,
    bearer: Bearer,
    query: ApiQuery<EmergencyAccessQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::emergency_accesses(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Who accessed this family's data, newest first (the family's right of access).
///
/// For the team lead and the auditor of the family's municipality and the
/// family's current director. Entries name organisations and roles, not
/// people. Reading the log is itself logged.
#[utoipa::path(get, path = "/families/{id}/access-log", tag = "Families", operation_id = "getFamilyAccessLog",
    params(("id" = Uuid, Path, description = "Family id"), AccessLogQuery),
    responses((status = 200, description = "A page of accesses, newest first", body = AccessLogPage)))]
pub async fn get_access_log(
    app: App,
    bearer: Bearer,
    id: web::Path<FamilyId>,
    query: ApiQuery<AccessLogQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::access_log(&app, &bearer, id.into_inner(), query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Resources, not `cfg.route`: that puts the method guard on the path,
    // so another method found no resource and got 404 instead of 405.
    cfg.service(web::resource("/audit/events").route(web::get().to(list_events)))
        .service(web::resource("/audit/export").route(web::get().to(export_events)))
        .service(web::resource("/audit/verify").route(web::get().to(verify)))
        .service(
            web::resource("/audit/emergency-accesses")
                .route(web::get().to(list_emergency_accesses)),
        )
        .service(web::resource("/families/{id}/access-log").route(web::get().to(get_access_log)));
}
