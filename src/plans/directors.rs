//! Directors (regie): handover, history, eligible successors, caseload.
//!
//! A handover locks the plan row, ends the current assignment and starts the
//! next at the same instant, in one transaction. Concurrent handovers of one
//! plan queue on that lock and apply one after the other; the partial unique
//! index and the exclusion constraint on assignment periods guarantee "one
//! current director, no overlapping periods" even for a writer that forgot
//! the lock.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::model::*;
use super::queries::*;
use super::routes::{authorize_plan, authorize_plan_read, lock_for_change};
use crate::audit::AuditEvent;
use crate::auth::policy::{self, UserFacts};
use crate::auth::{enforce, Principal};
use crate::db::schema::{director_assignments, plans, user_served_municipalities, users};
use crate::domain::{text, PlanStatus, Role};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::access_reason::AccessReason;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::http::{etag, if_match};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

/// Hand the plan over to another director (or assign the first one).
#[utoipa::path(put, path = "/plans/{id}/director", tag = "Directors", operation_id = "assignDirector",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the plan as last read (optional)"),
    ),
    request_body = DirectorChange,
    responses(
        (status = 200, description = "The new (current) assignment", body = DirectorAssignment, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "The plan is closed, or a concurrent change won", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale ETag (`version_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The user cannot direct this plan (`director_not_eligible`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn assign_director(
    state: State,
    principal: Principal,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: ApiJson<DirectorChange>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let event = AuditEvent::by(&principal, "handover", "plan", plan_id);
    let facts = authorize_plan(
        &state,
        &principal,
        plan_id,
        policy::change_plan,
        event.clone(),
    )
    .await?;
    let expected = if_match(&req)?;
    let target = body.0.user_id;
    let mut v = Invalid::new();
    let reason = v.check("reason", text::required(&body.0.reason, 2000));
    let (reason,) = v.finish((reason,))?;
    let mut conn = state.db().await?;
    let (assignment, version) = conn
        .transaction(async |conn| {
            let (row, current) =
                lock_for_change(conn, &principal, &facts, plan_id, expected).await?;
            if !is_eligible_director(conn, target, &row.municipality_code).await? {
                return Err(director_not_eligible());
            }
            if current.as_ref().is_some_and(|c| c.user_id == target) {
                // Already the director: nothing changes (PUT is idempotent).
                return Ok((current_assignment(conn, plan_id).await?, row.version));
            }
            let first_assignment = current.is_none();
            let started = match end_current_assignment(conn, plan_id).await? {
                Some(ended) => ended,
                None => clock_now(conn).await?,
            };
            diesel::insert_into(director_assignments::table)
                .values((
                    director_assignments::id.eq(Uuid::now_v7()),
                    director_assignments::plan_id.eq(plan_id),
                    director_assignments::user_id.eq(target),
                    director_assignments::started_at.eq(started),
                    director_assignments::assigned_by.eq(principal.user_id),
                    director_assignments::reason.eq(&reason),
                ))
                .execute(conn)
                .await?;
            let version = row.version + 1;
            diesel::update(plans::table.find(plan_id))
                .set((
                    plans::status.eq(PlanStatus::Active.as_str()),
                    plans::activated_at.eq(row.activated_at.unwrap_or(started)),
                    plans::version.eq(version),
                    plans::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            // The first director ends an intake_without_director signal.
            let signals = crate::care::state::sync_signals(
                conn,
                &state.signals.thresholds,
                plan_id,
                chrono::Utc::now(),
            )
            .await?;
            event
                .family(facts.family_id)
                .municipality(row.municipality_code.clone())
                .detail(json!({
                    "fromUserId": current.as_ref().map(|c| c.user_id),
                    "toUserId": target,
                    "firstAssignment": first_assignment,
                    "signals": signals,
                }))
                .record(conn)
                .await?;
            Ok((current_assignment(conn, plan_id).await?, version))
        })
        .await?;
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header(("ETag", etag(version)))
        .json(assignment))
}

type AssignmentRow = (
    Uuid,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Uuid>,
    String,
);

fn to_assignment(r: AssignmentRow) -> DirectorAssignment {
    DirectorAssignment {
        user_id: r.0,
        display_name: r.1,
        started_at: r.2,
        ended_at: r.3,
        assigned_by: r.4,
        reason: r.5,
    }
}

async fn current_assignment(
    conn: &mut diesel_async::AsyncPgConnection,
    plan_id: Uuid,
) -> ApiResult<DirectorAssignment> {
    let row: AssignmentRow = director_assignments::table
        .inner_join(users::table)
        .filter(director_assignments::plan_id.eq(plan_id))
        .filter(director_assignments::ended_at.is_null())
        .select((
            users::id,
            users::display_name,
            director_assignments::started_at,
            director_assignments::ended_at,
            director_assignments::assigned_by,
            director_assignments::reason,
        ))
        .first(conn)
        .await?;
    Ok(to_assignment(row))
}

/// Every director the plan has had, oldest first.
#[utoipa::path(get, path = "/plans/{id}/director-history", tag = "Directors", operation_id = "getDirectorHistory",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "Assignments, oldest first", body = Vec<DirectorAssignment>)))]
pub async fn director_history(
    state: State,
    principal: Principal,
    reason: AccessReason,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let event =
        authorize_plan_read(&state, &principal, plan_id, "director_history", &reason).await?;
    let mut conn = state.db().await?;
    let history = conn
        .transaction(async |conn| {
            let rows: Vec<AssignmentRow> = director_assignments::table
                .inner_join(users::table)
                .filter(director_assignments::plan_id.eq(plan_id))
                .order(director_assignments::started_at)
                .select((
                    users::id,
                    users::display_name,
                    director_assignments::started_at,
                    director_assignments::ended_at,
                    director_assignments::assigned_by,
                    director_assignments::reason,
                ))
                .load(conn)
                .await?;
            event.record(conn).await?;
            Ok::<_, ApiError>(rows.into_iter().map(to_assignment).collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(history))
}

#[derive(QueryableByName)]
struct EligibleRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    display_name: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    team_id: Option<Uuid>,
    #[diesel(sql_type = Int8)]
    caseload: i64,
}

/// Users who may take the plan over, with their current caseload.
#[utoipa::path(get, path = "/plans/{id}/eligible-directors", tag = "Directors", operation_id = "listEligibleDirectors",
    params(("id" = Uuid, Path, description = "Plan id"), PageParams),
    responses((status = 200, description = "A page of eligible users", body = EligibleDirectorPage)))]
pub async fn eligible_directors(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let page = PageRequest::<Uuid>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let event = AuditEvent::by(&principal, "read", "eligible_directors", plan_id);
    let facts = authorize_plan(&state, &principal, plan_id, policy::read_family, event).await?;
    let mut conn = state.db().await?;
    let rows: Vec<EligibleRow> = diesel::sql_query(
        "SELECT u.id, u.display_name, u.role, u.team_id,
                (SELECT count(*) FROM director_assignments d
                  WHERE d.user_id = u.id AND d.ended_at IS NULL) AS caseload
         FROM users u
         WHERE u.active
           AND u.role IN ('jgt_worker', 'gi_worker')
           AND (u.municipality_code = $1
                OR (u.role = 'gi_worker' AND EXISTS (
                      SELECT 1 FROM user_served_municipalities s
                      WHERE s.user_id = u.id AND s.municipality_code = $1)))
           AND NOT EXISTS (SELECT 1 FROM director_assignments d
                           WHERE d.plan_id = $2 AND d.ended_at IS NULL AND d.user_id = u.id)
           AND ($3::uuid IS NULL OR u.id > $3)
         ORDER BY u.id
         LIMIT $4",
    )
    .bind::<Text, _>(&facts.municipality_code)
    .bind::<SqlUuid, _>(plan_id)
    .bind::<Nullable<SqlUuid>, _>(page.after)
    .bind::<Int8, _>(page.fetch())
    .load(&mut conn)
    .await?;
    let (rows, next_cursor) = finish(rows, page.limit, |r| r.id);
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(EligibleDirector {
                user_id: r.id,
                display_name: r.display_name,
                role: Role::parse(&r.role)
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role")))?,
                team_id: r.team_id,
                caseload: r.caseload,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(EligibleDirectorPage { items, next_cursor }))
}

#[derive(QueryableByName)]
struct CaseloadRow {
    #[diesel(sql_type = SqlUuid)]
    plan_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    family_id: Uuid,
    #[diesel(sql_type = Text)]
    family_name: String,
    #[diesel(sql_type = Text)]
    municipality_code: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Timestamptz)]
    since: DateTime<Utc>,
}

/// The open plans a user directs.
#[utoipa::path(get, path = "/users/{id}/caseload", tag = "Directors", operation_id = "getCaseload",
    params(("id" = Uuid, Path, description = "User id"), PageParams),
    responses((status = 200, description = "A page of open plans directed by the user", body = CaseloadPage)))]
pub async fn caseload(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let user_id = id.into_inner();
    let page = PageRequest::<Uuid>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let event = AuditEvent::by(&principal, "read", "caseload", user_id);
    enforce(&state, policy::case_role(&principal), "user", event.clone()).await?;
    let mut conn = state.db().await?;
    let target: Option<Option<String>> = users::table
        .find(user_id)
        .select(users::municipality_code)
        .first(&mut conn)
        .await
        .optional()?;
    let Some(municipality_code) = target else {
        return Err(ApiError::not_found("User"));
    };
    let served: Vec<String> = user_served_municipalities::table
        .filter(user_served_municipalities::user_id.eq(user_id))
        .select(user_served_municipalities::municipality_code)
        .load(&mut conn)
        .await?;
    drop(conn);
    let facts = UserFacts {
        user_id: user_id.into(),
        municipality_code,
        served_municipalities: served,
    };
    enforce(
        &state,
        policy::read_caseload(&principal, &facts),
        "user",
        event.clone(),
    )
    .await?;
    // A team lead sees the part of the caseload in its own municipality.
    let only_municipality = if principal.user_id.uuid() == user_id {
        None
    } else {
        principal.municipality_code.clone()
    };
    let mut conn = state.db().await?;
    let items = conn
        .transaction(async |conn| {
            let rows: Vec<CaseloadRow> = diesel::sql_query(
                "SELECT p.id AS plan_id, p.family_id, f.name AS family_name, p.municipality_code,
                        p.status, p.title, d.started_at AS since
                 FROM director_assignments d
                 JOIN plans p ON p.id = d.plan_id
                 JOIN families f ON f.id = p.family_id
                 WHERE d.user_id = $1 AND d.ended_at IS NULL
                   AND ($2::text IS NULL OR p.municipality_code = $2)
                   AND ($3::uuid IS NULL OR p.id > $3)
                 ORDER BY p.id
                 LIMIT $4",
            )
            .bind::<SqlUuid, _>(user_id)
            .bind::<Nullable<Text>, _>(&only_municipality)
            .bind::<Nullable<SqlUuid>, _>(page.after)
            .bind::<Int8, _>(page.fetch())
            .load(conn)
            .await?;
            let (rows, next_cursor) = finish(rows, page.limit, |r| r.plan_id);
            let family_ids: Vec<Uuid> = rows.iter().map(|r| r.family_id).collect();
            event
                .detail(json!({"familyIds": family_ids}))
                .record(conn)
                .await?;
            let items = rows
                .into_iter()
                .map(|r| {
                    Ok(CaseloadItem {
                        plan_id: r.plan_id,
                        family_id: r.family_id,
                        family_name: r.family_name,
                        municipality_code: r.municipality_code,
                        status: PlanStatus::parse(&r.status).ok_or_else(|| {
                            ApiError::internal(anyhow::anyhow!("unknown plan status"))
                        })?,
                        title: r.title,
                        since: r.since,
                    })
                })
                .collect::<ApiResult<Vec<_>>>()?;
            Ok::<_, ApiError>(CaseloadPage { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(items))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/plans/{id}/director").route(web::put().to(assign_director)))
        .service(
            web::resource("/plans/{id}/director-history").route(web::get().to(director_history)),
        )
        .service(
            web::resource("/plans/{id}/eligible-directors")
                .route(web::get().to(eligible_directors)),
        )
        .service(web::resource("/users/{id}/caseload").route(web::get().to(caseload)));
}
