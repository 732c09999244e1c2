//! The review list of emergency accesses ("break the glass"): every read a
//! JGT or GI worker made of a family outside its normal reach, with the
//! reason it gave, for the team lead (and the auditor) of the family's
//! municipality to check afterwards. Reading the list is itself audited.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::ApiQuery;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

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

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Int8)]
    seq: i64,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    actor_display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    actor_role: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    family_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    family_name: Option<String>,
    #[diesel(sql_type = Text)]
    resource_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    resource_id: Option<String>,
    #[diesel(sql_type = Text)]
    reason: String,
}

/// Emergency accesses to families of your municipality, newest first.
///
/// For team leads to review who broke the glass and why; auditors of the
/// municipality may read it too, without family names.
#[utoipa::path(get, path = "/audit/emergency-accesses", tag = "Audit", operation_id = "listEmergencyAccesses",
    params(EmergencyAccessQuery),
    responses((status = 200, description = "A page of emergency accesses, newest first", body = EmergencyAccessPage)))]
pub async fn list_emergency_accesses(
    state: State,
    principal: Principal,
    query: ApiQuery<EmergencyAccessQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let event = AuditEvent::by(&principal, "read", "audit_log", "emergency_accesses");
    enforce(
        &state,
        policy::review_emergency_access(&principal),
        "audit log",
        event.clone(),
    )
    .await?;
    // The policy admits only callers with a municipality; the list is theirs.
    let Some(municipality) = principal.municipality_code.clone() else {
        return Err(ApiError::forbidden(
            "You may not do this with this audit log.",
        ));
    };
    let page = PageRequest::<i64>::parse(q.limit, q.cursor.as_deref())?;
    let mut v = Invalid::new();
    let (from, to) = super::routes::period(&mut v, q.from, q.to);
    v.finish((Some(()),))?;
    let with_names = principal.role == Role::TeamLead;
    let mut conn = state.db().await?;
    let page_out = conn
        .transaction(async |conn| {
            // Walks the partial index on emergency rows (municipality, seq).
            let rows: Vec<Row> = diesel::sql_query(
                "SELECT e.seq, e.occurred_at, e.actor_id, u.display_name AS actor_display_name,
                        e.actor_role, e.family_id, f.name AS family_name, e.resource_type,
                        e.resource_id, COALESCE(e.detail->>'accessReason', '') AS reason
                 FROM audit_events e
                 LEFT JOIN users u ON u.id = e.actor_id
                 LEFT JOIN families f ON f.id = e.family_id
                 WHERE e.emergency_access AND e.outcome = 'success'
                   AND e.municipality_code = $1
                   AND ($2::timestamptz IS NULL OR e.occurred_at >= $2)
                   AND ($3::timestamptz IS NULL OR e.occurred_at < $3)
                   AND ($4::int8 IS NULL OR e.seq < $4)
                 ORDER BY e.seq DESC
                 LIMIT $5",
            )
            .bind::<Text, _>(&municipality)
            .bind::<Nullable<Timestamptz>, _>(from)
            .bind::<Nullable<Timestamptz>, _>(to)
            .bind::<Nullable<Int8>, _>(page.after)
            .bind::<Int8, _>(page.fetch())
            .load(conn)
            .await?;
            let (rows, next_cursor) = finish(rows, page.limit, |r| r.seq);
            let filters: Vec<&str> = [q.from.map(|_| "from"), q.to.map(|_| "to")]
                .into_iter()
                .flatten()
                .collect();
            event
                .municipality(municipality.clone())
                .detail(json!({"list": "emergency_accesses", "filters": filters, "resultCount": rows.len()}))
                .record(conn)
                .await?;
            let items = rows
                .into_iter()
                .map(|r| EmergencyAccess {
                    seq: r.seq,
                    occurred_at: r.occurred_at,
                    actor_id: r.actor_id,
                    actor_display_name: r.actor_display_name,
                    actor_role: r.actor_role,
                    family_id: r.family_id,
                    family_name: r.family_name.filter(|_| with_names),
                    resource_type: r.resource_type,
                    resource_id: r.resource_id,
                    reason: r.reason,
                })
                .collect();
            Ok::<_, ApiError>(EmergencyAccessPage { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page_out))
}
