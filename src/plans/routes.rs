//! Plan endpoints: open, read, history, change (If-Match), close.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::model::*;
use super::queries::*;
use crate::audit::AuditEvent;
use crate::auth::policy::{self, Decision, FamilyFacts};
use crate::auth::{enforce, Principal};
use crate::care::queries::{providers_in_plan, Lens};
use crate::care::state::sync_signals;
use crate::db::schema::{director_assignments, involvements, plans};
use crate::domain::{text, PlanStatus, Role};
use crate::error::ErrorCode;
use crate::error::{involvements_still_running, ApiError, ApiResult, Invalid};
use crate::families::access_legacy::{authorize_as, authorize_read};
use crate::families::queries::FactsOf;
use crate::http::access_reason::AccessReason;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::http::{etag, if_match, require_if_match};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

/// A plan response with its ETag.
pub fn with_etag(status: StatusCode, plan: &Plan) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", etag(plan.version)))
        .json(plan)
}

/// Authorises an action on a plan by the rules of its family.
pub async fn authorize_plan(
    state: &AppState,
    principal: &Principal,
    plan_id: Uuid,
    rule: impl Fn(&Principal, &FamilyFacts) -> Decision,
    event: AuditEvent,
) -> ApiResult<FamilyFacts> {
    authorize_as(
        state,
        principal,
        FactsOf::Plan(plan_id.into()),
        rule,
        event,
        "plan",
    )
    .await
}

/// Authorises reading a plan or a part of it (its director history,
/// scalings, signals) as a read of its family; returns the audit event to
/// record in the transaction of the read.
///
/// A stated `reason` lets a JGT or GI worker break the glass (see
/// [`policy::read_family_or_break_glass`]); the event then says so.
pub async fn authorize_plan_read(
    state: &AppState,
    principal: &Principal,
    plan_id: Uuid,
    resource_type: &'static str,
    reason: &AccessReason,
) -> ApiResult<AuditEvent> {
    let event = AuditEvent::by(principal, "read", resource_type, plan_id);
    // Roles without case access are refused (and audited, with the reason
    // given) inside, before anything is looked up.
    let grant = authorize_read(
        state,
        principal,
        FactsOf::Plan(plan_id.into()),
        reason,
        event.clone(),
        "plan",
    )
    .await?;
    Ok(grant.stamp(event))
}

fn plan_closed() -> ApiError {
    ApiError::conflict(
        ErrorCode::PlanClosed,
        "The plan is closed; open a new plan for the family instead.",
    )
}

/// Takes the plan's lock for a change and checks, under it, that the plan
/// still exists, is open and matches `expected` (If-Match).
pub async fn lock_open_plan(
    conn: &mut diesel_async::AsyncPgConnection,
    plan_id: Uuid,
    expected: Option<i32>,
) -> ApiResult<PlanRow> {
    let row = plan_row(conn, plan_id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("Plan"))?;
    if expected.is_some_and(|v| v != row.version) {
        return Err(ApiError::version_mismatch());
    }
    if row.status()? == PlanStatus::Closed {
        return Err(plan_closed());
    }
    Ok(row)
}

/// As [`lock_open_plan`], and checks under the lock what may have changed
/// since the request was authorised: the caller is still allowed with the
/// director as it is now. Returns the row and the current director.
pub async fn lock_for_change(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    facts: &FamilyFacts,
    plan_id: Uuid,
    expected: Option<i32>,
) -> ApiResult<(PlanRow, Option<CurrentDirector>)> {
    let row = lock_open_plan(conn, plan_id, expected).await?;
    let current = current_director(conn, plan_id).await?;
    let fresh = FamilyFacts {
        director_id: current.as_ref().map(|d| d.user_id.into()),
        ..facts.clone()
    };
    policy::change_plan(principal, &fresh).map_err(|_| {
        ApiError::conflict(
            ErrorCode::DirectorChanged,
            "The plan's director changed while this request was handled; reload and retry.",
        )
    })?;
    Ok((row, current))
}

/// Open the family's plan: `intake` without a director, `active` with one.
#[utoipa::path(post, path = "/families/{id}/plans", tag = "Plans", operation_id = "createPlan",
    params(("id" = Uuid, Path, description = "Family id")),
    request_body = NewPlan,
    responses(
        (status = 201, description = "Opened", body = Plan, headers(("ETag" = String, description = "Plan version"))),
        (status = 409, description = "The family already has an open plan (`plan_already_open`, with `openPlanId`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The director is not eligible (`director_not_eligible`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_plan(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<NewPlan>,
) -> ApiResult<HttpResponse> {
    let family_id = id.into_inner();
    let plan_id = Uuid::now_v7();
    let event = AuditEvent::by(&principal, "create", "plan", plan_id);
    let facts = authorize_as(
        &state,
        &principal,
        FactsOf::Family(family_id.into()),
        policy::open_plan,
        event.clone(),
        "family",
    )
    .await?;
    let event = event
        .family(family_id)
        .municipality(facts.municipality_code.clone());
    let body = body.0;
    if let Some(director) = body.director_id {
        // Team leads assign anyone eligible; a worker may only take the plan on itself.
        let decision = if principal.role == Role::TeamLead || director == principal.user_id.uuid() {
            Ok(())
        } else {
            Err(policy::Denial::Forbidden)
        };
        enforce(&state, decision, "plan", event.clone()).await?;
    }
    let mut v = Invalid::new();
    let title = v.check("title", text::required(&body.title, 200));
    let goals = parse_goals(body.goals.as_deref().unwrap_or_default(), "goals", &mut v);
    let (title, goals) = v.finish((title, goals))?;
    let goals_json = serde_json::to_value(&goals).map_err(ApiError::internal)?;
    let mut conn = state.db().await?;
    let result = conn
        .transaction(async |conn| {
            let open: Option<Uuid> = plans::table
                .filter(plans::family_id.eq(family_id))
                .filter(plans::status.ne("closed"))
                .select(plans::id)
                .first(conn)
                .await
                .optional()?;
            if let Some(open) = open {
                return Err(plan_already_open(Some(open)));
            }
            if let Some(director) = body.director_id {
                if !is_eligible_director(conn, director, &facts.municipality_code).await? {
                    return Err(director_not_eligible());
                }
            }
            let status = if body.director_id.is_some() {
                PlanStatus::Active
            } else {
                PlanStatus::Intake
            };
            diesel::insert_into(plans::table)
                .values((
                    plans::id.eq(plan_id),
                    plans::family_id.eq(family_id),
                    plans::municipality_code.eq(&facts.municipality_code),
                    plans::status.eq(status.as_str()),
                    plans::title.eq(&title),
                    plans::goals.eq(&goals_json),
                    plans::created_by.eq(principal.user_id),
                    plans::activated_at.eq(body.director_id.map(|_| chrono::Utc::now())),
                ))
                .execute(conn)
                .await?;
            if let Some(director) = body.director_id {
                diesel::insert_into(director_assignments::table)
                    .values((
                        director_assignments::id.eq(Uuid::now_v7()),
                        director_assignments::plan_id.eq(plan_id),
                        director_assignments::user_id.eq(director),
                        director_assignments::started_at.eq(diesel::dsl::now),
                        director_assignments::assigned_by.eq(principal.user_id),
                        director_assignments::reason.eq("Assigned when the plan was opened"),
                    ))
                    .execute(conn)
                    .await?;
            }
            event
                .clone()
                .detail(json!({"status": status.as_str(), "directorId": body.director_id}))
                .record(conn)
                .await?;
            load_plan(conn, plan_id, Lens::full(&state.catalogue)).await
        })
        .await;
    match result {
        Ok(plan) => Ok(HttpResponse::Created()
            .insert_header(("ETag", etag(plan.version)))
            .insert_header(("Location", format!("/v1/plans/{plan_id}")))
            .json(plan)),
        Err(e) if e.code == ErrorCode::PlanAlreadyOpen && !e.extra.contains_key("openPlanId") => {
            // Lost the race at the unique index: name the plan that won.
            let open: Option<Uuid> = plans::table
                .filter(plans::family_id.eq(family_id))
                .filter(plans::status.ne("closed"))
                .select(plans::id)
                .first(&mut conn)
                .await
                .optional()?;
            Err(plan_already_open(open))
        }
        Err(e) => Err(e),
    }
}

fn plan_already_open(open: Option<Uuid>) -> ApiError {
    let e = ApiError::conflict(
        ErrorCode::PlanAlreadyOpen,
        "This family already has an open plan; close it before opening another.",
    );
    match open {
        Some(id) => e.with_extra("openPlanId", id.to_string()),
        None => e,
    }
}

/// The family's current open plan.
#[utoipa::path(get, path = "/families/{id}/plan", tag = "Plans", operation_id = "getCurrentPlan",
    params(("id" = Uuid, Path, description = "Family id"), AccessReason),
    responses((status = 200, description = "The open plan", body = Plan, headers(("ETag" = String, description = "Plan version")))))]
pub async fn get_current_plan(
    state: State,
    principal: Principal,
    reason: AccessReason,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let family_id = id.into_inner();
    let event = AuditEvent::by(&principal, "read", "plan", "current");
    let grant = authorize_read(
        &state,
        &principal,
        FactsOf::Family(family_id.into()),
        &reason,
        event,
        "family",
    )
    .await?;
    let mut conn = state.db().await?;
    let plan = conn
        .transaction(async |conn| {
            let row: Option<PlanRow> = plans::table
                .filter(plans::family_id.eq(family_id))
                .filter(plans::status.ne("closed"))
                .select(PlanRow::as_select())
                .first(conn)
                .await
                .optional()?;
            let row = row.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::NoOpenPlan,
                    "The family has no open plan.",
                )
            })?;
            grant
                .stamp(AuditEvent::by(&principal, "read", "plan", row.id))
                .record(conn)
                .await?;
            plan_view(conn, row, Lens::full(&state.catalogue)).await
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &plan))
}

/// All plans of a family, oldest first (closed ones are the history).
#[utoipa::path(get, path = "/families/{id}/plans", tag = "Plans", operation_id = "listFamilyPlans",
    params(("id" = Uuid, Path, description = "Family id"), PageParams, AccessReason),
    responses((status = 200, description = "A page of the family's plans", body = PlanPage)))]
pub async fn list_family_plans(
    state: State,
    principal: Principal,
    reason: AccessReason,
    id: web::Path<Uuid>,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let family_id = id.into_inner();
    let page = PageRequest::<Uuid>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let event = AuditEvent::by(&principal, "read", "plan", "history");
    let grant = authorize_read(
        &state,
        &principal,
        FactsOf::Family(family_id.into()),
        &reason,
        event.clone(),
        "family",
    )
    .await?;
    let mut conn = state.db().await?;
    let page_out = conn
        .transaction(async |conn| {
            let mut q = plans::table
                .filter(plans::family_id.eq(family_id))
                .select(PlanRow::as_select())
                .order(plans::id)
                .limit(page.fetch())
                .into_boxed();
            if let Some(after) = page.after {
                q = q.filter(plans::id.gt(after));
            }
            let rows = q.load(conn).await?;
            let (rows, next_cursor) = finish(rows, page.limit, |r| r.id);
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            let mut items = Vec::new();
            for row in rows {
                items.push(plan_view(conn, row, Lens::full(&state.catalogue)).await?);
            }
            grant
                .stamp(event.detail(json!({"planIds": ids})))
                .record(conn)
                .await?;
            Ok::<_, ApiError>(PlanPage { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page_out))
}

/// Read a plan. A provider user gets the limited view of a plan its provider
/// has requested or active care in: no signals, no other provider's notes.
#[utoipa::path(get, path = "/plans/{id}", tag = "Plans", operation_id = "getPlan",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "The plan", body = Plan, headers(("ETag" = String, description = "Plan version")))))]
pub async fn get_plan(
    state: State,
    principal: Principal,
    reason: AccessReason,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    if principal.role == Role::ProviderUser {
        // Providers never break the glass: their view is their care only.
        let event = AuditEvent::by(&principal, "read", "plan", plan_id);
        return get_plan_as_provider(&state, &principal, plan_id, event).await;
    }
    let event = authorize_plan_read(&state, &principal, plan_id, "plan", &reason).await?;
    let mut conn = state.db().await?;
    let plan = conn
        .transaction(async |conn| {
            // The read and its audit event go out together (pipelined):
            // one round trip, still one transaction.
            let shared: &diesel_async::AsyncPgConnection = conn;
            let (plan, ()) = futures_util::try_join!(
                load_plan(shared, plan_id, Lens::full(&state.catalogue)),
                async { Ok(event.record(shared).await?) },
            )?;
            Ok::<_, ApiError>(plan)
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &plan))
}

/// A provider's limited view of a plan it has care in: no signals, no other
/// provider's notes (the family record and BSNs are not reachable at all).
async fn get_plan_as_provider(
    state: &AppState,
    principal: &Principal,
    plan_id: Uuid,
    event: AuditEvent,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db().await?;
    let row = plan_row(&mut conn, plan_id, false).await?;
    let (decision, event) = match &row {
        Some(r) => {
            let providers = providers_in_plan(&mut conn, plan_id).await?;
            (
                policy::provider_read_plan(
                    principal,
                    &r.municipality_code,
                    &providers.iter().map(|&p| p.into()).collect::<Vec<_>>(),
                ),
                event
                    .family(r.family_id)
                    .municipality(r.municipality_code.clone()),
            )
        }
        None => (Err(policy::Denial::Hidden), event),
    };
    drop(conn);
    enforce(state, decision, "plan", event.clone()).await?;
    let (Some(row), Some(provider)) = (row, principal.provider_id) else {
        return Err(ApiError::not_found("Plan"));
    };
    let mut conn = state.db().await?;
    let plan = conn
        .transaction(async |conn| {
            event.record(conn).await?;
            plan_view(conn, row, Lens::provider(&state.catalogue, provider.uuid())).await
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &plan))
}

/// Change a plan's title or goals. Requires `If-Match` with the current ETag.
#[utoipa::path(patch, path = "/plans/{id}", tag = "Plans", operation_id = "updatePlan",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("If-Match" = String, Header, description = "ETag of the plan as last read"),
    ),
    request_body = PlanUpdate,
    responses(
        (status = 200, description = "The changed plan", body = Plan, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "The plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale ETag (`version_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_plan(
    state: State,
    principal: Principal,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: ApiJson<PlanUpdate>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let event = AuditEvent::by(&principal, "update", "plan", plan_id);
    let facts = authorize_plan(
        &state,
        &principal,
        plan_id,
        policy::change_plan,
        event.clone(),
    )
    .await?;
    let expected = require_if_match(&req)?;
    let update = body.0;
    let mut v = Invalid::new();
    let title = v.check("title", text::replacement(update.title.as_deref(), 200));
    let goals = match &update.goals {
        Some(g) => parse_goals(g, "goals", &mut v).map(Some),
        None => Some(None),
    };
    let (title, goals) = v.finish((title, goals))?;
    let goals_json = goals
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(ApiError::internal)?;
    let mut conn = state.db().await?;
    let plan = conn
        .transaction(async |conn| {
            lock_for_change(conn, &principal, &facts, plan_id, Some(expected)).await?;
            diesel::update(plans::table.find(plan_id))
                .set((
                    title.as_ref().map(|t| plans::title.eq(t)),
                    goals_json.as_ref().map(|g| plans::goals.eq(g)),
                    plans::version.eq(plans::version + 1),
                    plans::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            let changed: Vec<&str> = [
                title.as_ref().map(|_| "title"),
                goals.as_ref().map(|_| "goals"),
            ]
            .into_iter()
            .flatten()
            .collect();
            event
                .family(facts.family_id)
                .municipality(facts.municipality_code.clone())
                .detail(json!({"changed": changed}))
                .record(conn)
                .await?;
            load_plan(conn, plan_id, Lens::full(&state.catalogue)).await
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &plan))
}

/// Close a plan with its outcome; the director assignment ends with it.
#[utoipa::path(post, path = "/plans/{id}/close", tag = "Plans", operation_id = "closePlan",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the plan as last read (optional)"),
    ),
    request_body = ClosePlan,
    responses(
        (status = 200, description = "The closed plan", body = Plan, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "Already closed (`plan_closed`), or involvements still requested or active (`involvements_active`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale ETag (`version_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn close_plan(
    state: State,
    principal: Principal,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: ApiJson<ClosePlan>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let event = AuditEvent::by(&principal, "close", "plan", plan_id);
    let facts = authorize_plan(
        &state,
        &principal,
        plan_id,
        policy::change_plan,
        event.clone(),
    )
    .await?;
    let expected = if_match(&req)?;
    let spec = body.0.parse()?;
    let mut conn = state.db().await?;
    let plan = conn
        .transaction(async |conn| {
            lock_for_change(conn, &principal, &facts, plan_id, expected).await?;
            let running: i64 = involvements::table
                .filter(involvements::plan_id.eq(plan_id))
                .filter(involvements::status.ne("ended"))
                .count()
                .get_result(conn)
                .await?;
            if running > 0 {
                return Err(involvements_still_running().with_extra("runningInvolvements", running));
            }
            // The plan closes at the instant its director assignment ends.
            let closed_at = match end_current_assignment(conn, plan_id).await? {
                Some(ended) => ended,
                None => clock_now(conn).await?,
            };
            diesel::update(plans::table.find(plan_id))
                .set((
                    plans::status.eq(PlanStatus::Closed.as_str()),
                    plans::closed_at.eq(closed_at),
                    plans::close_reason.eq(&spec.reason),
                    plans::goal_realisation.eq(spec.goal_realisation.as_str()),
                    plans::satisfaction_score.eq(spec.satisfaction_score),
                    plans::dropout.eq(spec.dropout),
                    plans::dropout_reason.eq(&spec.dropout_reason),
                    plans::version.eq(plans::version + 1),
                    plans::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            // A closed plan carries no signals.
            let signals =
                sync_signals(conn, &state.signals.thresholds, plan_id, chrono::Utc::now()).await?;
            event
                .family(facts.family_id)
                .municipality(facts.municipality_code.clone())
                .detail(json!({"goalRealisation": spec.goal_realisation.as_str(), "dropout": spec.dropout, "signals": signals}))
                .record(conn)
                .await?;
            load_plan(conn, plan_id, Lens::full(&state.catalogue)).await
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &plan))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/families/{id}/plans")
            .route(web::post().to(create_plan))
            .route(web::get().to(list_family_plans)),
    )
    .service(web::resource("/families/{id}/plan").route(web::get().to(get_current_plan)))
    .service(
        web::resource("/plans/{id}")
            .route(web::get().to(get_plan))
            .route(web::patch().to(update_plan)),
    )
    .service(web::resource("/plans/{id}/close").route(web::post().to(close_plan)));
}
