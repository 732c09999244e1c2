//! The audit trail over HTTP: list, export and verify (auditors of their own
//! municipality, admins of all). Every use is itself an audit event, written
//! before the answer leaves.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use super::chain::{self, StoredEvent, Verification};
use super::export::{self, ExportFormat, ExportSpec};
use super::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::db::schema::audit_events;
use crate::domain::MunicipalityCode;
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::ApiQuery;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

crate::page_type!(
    AuditEventPage,
    StoredEvent,
    "A page of audit events, newest first."
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditEventQuery {
    /// Municipality; auditors may give only their own (the default for them),
    /// admins see all municipalities without it.
    #[param(pattern = "^[0-9]{4}$")]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Municipality; auditors may give only their own (the default for them),
    /// admins export all municipalities without it.
    #[param(pattern = "^[0-9]{4}$")]
    pub municipality_code: Option<String>,
    /// First day (inclusive, UTC).
    pub from: Option<NaiveDate>,
    /// Last day (inclusive, UTC).
    pub to: Option<NaiveDate>,
    /// `ndjson` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
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

/// Whole days as instants: `[from 00:00, to + 1 day 00:00)` in UTC, the
/// period every audit endpoint and the command line take.
pub fn day_bounds(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
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
pub fn period(
    v: &mut Invalid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
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

/// The municipality whose trail the caller may read (`None`: all, admins
/// only). Refusals are audited like every other.
async fn scope(
    state: &AppState,
    principal: &Principal,
    requested: Option<&MunicipalityCode>,
    event: AuditEvent,
) -> ApiResult<Option<String>> {
    match policy::read_audit(principal, requested.map(MunicipalityCode::as_str)) {
        Ok(scope) => Ok(scope),
        Err(denial) => {
            enforce(state, Err(denial), "audit log", event).await?;
            Err(denial.into_error("audit log"))
        }
    }
}

/// Audit events, newest first, filtered.
#[utoipa::path(get, path = "/audit/events", tag = "Audit", operation_id = "listAuditEvents",
    params(AuditEventQuery),
    responses(
        (status = 200, description = "A page of audit events", body = AuditEventPage),
        (status = 404, description = "Another municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    query: ApiQuery<AuditEventQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let page = PageRequest::<i64>::parse(q.limit, q.cursor.as_deref())?;
    let mut v = Invalid::new();
    let code = v.check_opt(
        "municipalityCode",
        q.municipality_code.as_deref(),
        MunicipalityCode::parse,
    );
    let (from, to) = period(&mut v, q.from, q.to);
    if let Some(action) = &q.action {
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
    let (code,) = v.finish((code,))?;
    let event = AuditEvent::by(&principal, "search", "audit_log", "events");
    let municipality = scope(&state, &principal, code.as_ref(), event.clone()).await?;

    let mut conn = state.db().await?;
    let mut query = audit_events::table
        .select(StoredEvent::as_select())
        .order(audit_events::seq.desc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(before) = page.after {
        query = query.filter(audit_events::seq.lt(before));
    }
    if let Some(m) = &municipality {
        query = query.filter(audit_events::municipality_code.eq(m.clone()));
    }
    if let Some(from) = from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = to {
        query = query.filter(audit_events::occurred_at.lt(to));
    }
    if let Some(family) = q.family_id {
        query = query.filter(audit_events::family_id.eq(family));
    }
    if let Some(actor) = q.actor_id {
        query = query.filter(audit_events::actor_id.eq(actor));
    }
    if let Some(action) = &q.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    let rows = query.load(&mut conn).await?;
    let (rows, next_cursor) = finish(rows, page.limit, |e| e.seq);
    let filters: Vec<&str> = [
        q.municipality_code.as_ref().map(|_| "municipalityCode"),
        q.from.map(|_| "from"),
        q.to.map(|_| "to"),
        q.family_id.map(|_| "familyId"),
        q.actor_id.map(|_| "actorId"),
        q.action.as_ref().map(|_| "action"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut event = event.detail(json!({
        "filters": filters,
        "familyId": q.family_id,
        "actorId": q.actor_id,
        "resultCount": rows.len(),
    }));
    if let Some(m) = &municipality {
        event = event.municipality(m.clone());
    }
    event.record(&conn).await?;
    Ok(HttpResponse::Ok().json(AuditEventPage {
        items: rows,
        next_cursor,
    }))
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
    ))]
pub async fn export_events(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    query: ApiQuery<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let mut v = Invalid::new();
    let code = v.check_opt(
        "municipalityCode",
        q.municipality_code.as_deref(),
        MunicipalityCode::parse,
    );
    let (from, to) = period(&mut v, q.from, q.to);
    let (code,) = v.finish((code,))?;
    let format = q.format.unwrap_or(ExportFormat::Ndjson);
    let event = AuditEvent::by(&principal, "export", "audit_log", "export");
    let municipality = scope(&state, &principal, code.as_ref(), event.clone()).await?;
    let spec = ExportSpec {
        municipality: municipality
            .as_deref()
            .and_then(|m| MunicipalityCode::parse(m).ok()),
        from,
        to,
        format,
    };
    let url = state
        .database_url
        .clone()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no database URL for exports")))?;

    // Seal what is committed, so the head covers every exported event; then
    // record the export itself before a byte of it leaves.
    let mut conn = state.db().await?;
    chain::seal_all(&mut conn).await?;
    let mut event = event.detail(json!({
        "format": format.extension(),
        "from": q.from,
        "to": q.to,
    }));
    if let Some(m) = &municipality {
        event = event.municipality(m.clone());
    }
    event.record(&conn).await?;
    drop(conn);

    let (head, body) = export::open(&url, &spec)
        .await
        .map_err(ApiError::internal)?;
    let mut response = HttpResponse::Ok();
    response.content_type(format.content_type());
    response.insert_header((
        "Content-Disposition",
        format!(
            "attachment; filename=\"audit-{}-{}-{}.{}\"",
            municipality.as_deref().unwrap_or("all"),
            q.from
                .map(|d| d.to_string())
                .unwrap_or_else(|| "start".into()),
            q.to.map(|d| d.to_string()).unwrap_or_else(|| "now".into()),
            format.extension()
        ),
    ));
    if let Some(head) = head {
        response.insert_header(("Audit-Chain-Head", head.header_value()));
    }
    Ok(response.streaming(body))
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
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    query: ApiQuery<VerifyQuery>,
) -> ApiResult<HttpResponse> {
    let mut v = Invalid::new();
    let (from, to) = period(&mut v, query.0.from, query.0.to);
    v.finish((Some(()),))?;
    let event = AuditEvent::by(&principal, "verify", "audit_log", "verify");
    // Verification reveals sequence numbers only, no content: any auditor
    // may check the one chain all municipalities share.
    scope(&state, &principal, None, event.clone()).await?;
    let mut conn = state.db().await?;
    let report = chain::verify(&mut conn, from, to).await?;
    event
        .detail(json!({
            "from": query.0.from,
            "to": query.0.to,
            "valid": report.valid,
            "problemCount": report.problem_count,
            "head": report.head,
        }))
        .record(&conn)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Resources, not `cfg.route`: that puts the method guard on the path,
    // so another method found no resource and got 404 instead of 405.
    cfg.service(web::resource("/audit/events").route(web::get().to(list_events)))
        .service(web::resource("/audit/export").route(web::get().to(export_events)))
        .service(web::resource("/audit/verify").route(web::get().to(verify)))
        .service(
            web::resource("/audit/emergency-accesses")
                .route(web::get().to(super::emergency::list_emergency_accesses)),
        );
}
