//! Care endpoints: the care-form catalogue, involvements (create, start,
//! end), whole scaling steps, the scaling history, signals and their
//! acknowledgement, and the provider's work list.
//!
//! Every write takes the plan's row lock first, then changes involvements,
//! then calls [`state::apply`] for level, scaling event and signals, then
//! writes its audit event: one transaction, all or nothing.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use super::catalogue::CareForm;
use super::model::*;
use super::queries::{
    involvement_row, involvement_view, plan_scalings, plan_signal_views, InvolvementRow, Lens,
    SignalRow,
};
use super::state::{self, Applied, Change};
use crate::audit::AuditEvent;
use crate::auth::policy::{self, FamilyFacts};
use crate::auth::{enforce, Principal};
use crate::db::schema::{family_members, involvements, plan_signals, plans, providers};
use crate::db::sql::cached;
use crate::domain::care::InvolvementStatus;
use crate::domain::signals::{SignalCode, SignalStatus};
use crate::domain::{text, Role};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::families::access_legacy::authorize_as;
use crate::families::queries::{family_facts, FactsOf};
use crate::http::access_reason::AccessReason;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::plans::routes::{
    authorize_plan, authorize_plan_read, lock_for_change, lock_open_plan, with_etag,
};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

crate::page_type!(CareFormPage, CareForm, "The region's care forms.");
crate::page_type!(InvolvementPage, Involvement, "A page of involvements.");

/// The care forms of the region's catalogue, lightest segment first.
#[utoipa::path(get, path = "/care-forms", tag = "Care", operation_id = "listCareForms",
    responses((status = 200, description = "All care forms (one page)", body = CareFormPage)))]
pub async fn list_care_forms(state: State, _principal: Principal) -> ApiResult<HttpResponse> {
    let items: Vec<CareForm> = state.catalogue.all().into_iter().cloned().collect();
    Ok(HttpResponse::Ok().json(CareFormPage {
        items,
        next_cursor: None,
    }))
}

/// A care form of the catalogue, or a validation error on `field`.
fn care_form<'a>(
    state: &'a AppState,
    code: &str,
    field: &str,
    v: &mut Invalid,
) -> Option<&'a CareForm> {
    let form = state.catalogue.get(code);
    if form.is_none() {
        v.push(
            field,
            ErrorCode::UnknownCareForm,
            "Not a care form of the catalogue (GET /v1/care-forms).",
        );
    }
    form
}

fn date_field(
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

/// Checks under the plan's lock that the provider takes care and the member
/// belongs to the plan's family.
pub(crate) async fn check_references(
    conn: &mut AsyncPgConnection,
    family_id: Uuid,
    provider_id: Uuid,
    member_id: Option<Uuid>,
) -> ApiResult<()> {
    let provider: Option<bool> = providers::table
        .find(provider_id)
        .select(providers::active)
        .first(conn)
        .await
        .optional()?;
    match provider {
        None => {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownProvider,
                "The provider does not exist.",
            ))
        }
        Some(false) => {
            return Err(ApiError::unprocessable(
                ErrorCode::ProviderInactive,
                "The provider takes no new involvements.",
            ))
        }
        Some(true) => {}
    }
    if let Some(member_id) = member_id {
        let found: i64 = family_members::table
            .filter(family_members::id.eq(member_id))
            .filter(family_members::family_id.eq(family_id))
            .filter(family_members::ended_on.is_null())
            .count()
            .get_result(conn)
            .await?;
        if found == 0 {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownMember,
                "The member is not a current member of the plan's family.",
            ));
        }
    }
    Ok(())
}

pub(crate) struct NewRow<'a> {
    pub(crate) id: Uuid,
    pub(crate) plan_id: Uuid,
    pub(crate) family_id: Uuid,
    pub(crate) provider_id: Uuid,
    pub(crate) form: &'a CareForm,
    pub(crate) member_id: Option<Uuid>,
    pub(crate) status: InvolvementStatus,
    pub(crate) requested_on: NaiveDate,
    pub(crate) started_on: Option<NaiveDate>,
    pub(crate) reason: Option<&'a str>,
    pub(crate) created_by: Option<Uuid>,
}

pub(crate) async fn insert_involvement(
    conn: &mut AsyncPgConnection,
    row: NewRow<'_>,
) -> ApiResult<Uuid> {
    let id = row.id;
    diesel::insert_into(involvements::table)
        .values((
            involvements::id.eq(id),
            involvements::plan_id.eq(row.plan_id),
            involvements::family_id.eq(row.family_id),
            involvements::provider_id.eq(row.provider_id),
            involvements::care_form_code.eq(&row.form.code),
            involvements::segment.eq(row.form.segment.as_str()),
            involvements::level.eq(row.form.level),
            involvements::product_category.eq(&row.form.product_category),
            involvements::member_id.eq(row.member_id),
            involvements::status.eq(row.status.as_str()),
            involvements::requested_on.eq(row.requested_on),
            involvements::started_on.eq(row.started_on),
            involvements::reason.eq(row.reason),
            involvements::created_by.eq(row.created_by),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Bumps the plan's version (its ETag: the plan view changed) and returns it.
/// (Raw SQL: diesel never keeps an `UPDATE` prepared; see [`cached`].)
async fn bump_version(conn: &mut AsyncPgConnection, plan_id: Uuid) -> ApiResult<i32> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Int4)]
        version: i32,
    }
    let row: Version = cached(
        "UPDATE plans SET version = version + 1, updated_at = CURRENT_TIMESTAMP
         WHERE id = $1 RETURNING version",
    )
    .bind::<diesel::sql_types::Uuid, _>(plan_id)
    .get_result(conn)
    .await?;
    Ok(row.version)
}

/// After a change to a plan's involvements made outside the care
/// endpoints (a referral requesting care, a decline withdrawing it): bumps
/// the plan's version and brings level, scaling history and signals in
/// line, under the plan's lock the caller holds.
pub(crate) async fn care_changed(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    plan_id: Uuid,
    decided_by: Option<Uuid>,
    reason: &str,
    involvement_ids: Vec<Uuid>,
) -> ApiResult<Applied> {
    bump_version(conn, plan_id).await?;
    state::apply(
        conn,
        &state.signals.thresholds,
        Change {
            plan_id,
            decided_by,
            reason,
            involvement_ids,
        },
    )
    .await
}

fn applied_detail(applied: &Applied) -> serde_json::Value {
    json!({
        "scaling": applied.scaling.as_ref().map(|s| json!({
            "id": s.id, "fromLevel": s.from_level, "toLevel": s.to_level,
            "direction": s.direction.as_str(),
        })),
        "signals": applied.signals,
    })
}

/// Register care for the plan: requested (waiting) or already active.
#[utoipa::path(post, path = "/plans/{id}/involvements", tag = "Care", operation_id = "createInvolvement",
    params(("id" = Uuid, Path, description = "Plan id")),
    request_body = NewInvolvement,
    responses(
        (status = 201, description = "Registered; an active one may have moved the level (see the scaling history)", body = Involvement),
        (status = 409, description = "The plan is closed (`plan_closed`), or this provider already delivers this form to this person (`involvement_exists`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or inactive provider, or a member not in the family", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_involvement(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<NewInvolvement>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let involvement_id = Uuid::now_v7();
    let event = AuditEvent::by(&principal, "create", "involvement", involvement_id);
    let facts = authorize_plan(
        &state,
        &principal,
        plan_id,
        policy::change_plan,
        event.clone(),
    )
    .await?;
    let body = body.0;
    let today = Utc::now().date_naive();
    let mut v = Invalid::new();
    let form = care_form(&state, &body.care_form_code, "careFormCode", &mut v);
    let reason = v.check("reason", text::optional(body.reason.as_deref(), 2000));
    let (status, requested_on, started_on) = match body.status {
        NewInvolvementStatus::Requested => {
            if body.started_on.is_some() {
                v.push("startedOn", ErrorCode::NotAllowed, "A requested involvement has not started; use POST /v1/involvements/{id}/start.");
            }
            let requested = date_field(&mut v, "requestedOn", body.requested_on, today);
            (InvolvementStatus::Requested, requested, Some(None))
        }
        NewInvolvementStatus::Active => {
            let started = date_field(&mut v, "startedOn", body.started_on, today);
            let requested = match (body.requested_on, started) {
                (None, s) => s,
                (Some(r), s) => date_field(&mut v, "requestedOn", Some(r), today)
                    .zip(s)
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
    let (form, reason, requested_on, started_on) =
        v.finish((form, reason, requested_on, started_on))?;
    let mut conn = state.db().await?;
    let (involvement, version) = conn
        .transaction(async |conn| {
            lock_for_change(conn, &principal, &facts, plan_id, None).await?;
            check_references(
                conn,
                facts.family_id.uuid(),
                body.provider_id,
                body.member_id,
            )
            .await?;
            let id = insert_involvement(
                conn,
                NewRow {
                    id: involvement_id,
                    plan_id,
                    family_id: facts.family_id.uuid(),
                    provider_id: body.provider_id,
                    form,
                    member_id: body.member_id,
                    status,
                    requested_on,
                    started_on,
                    reason: reason.as_deref(),
                    created_by: Some(principal.user_id.uuid()),
                },
            )
            .await?;
            let version = bump_version(conn, plan_id).await?;
            let applied = state::apply(
                conn,
                &state.signals.thresholds,
                Change {
                    plan_id,
                    decided_by: Some(principal.user_id.uuid()),
                    reason: reason.as_deref().unwrap_or("Care started"),
                    involvement_ids: vec![id],
                },
            )
            .await?;
            let mut detail = applied_detail(&applied);
            detail["planId"] = json!(plan_id);
            detail["providerId"] = json!(body.provider_id);
            detail["careFormCode"] = json!(form.code);
            detail["status"] = json!(status.as_str());
            event
                .family(facts.family_id)
                .municipality(facts.municipality_code.clone())
                .detail(detail)
                .record(conn)
                .await?;
            Ok::<_, ApiError>((
                involvement_view(conn, id, Lens::full(&state.catalogue)).await?,
                version,
            ))
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/involvements/{}", involvement.id)))
        .insert_header(("ETag", crate::http::etag(version)))
        .json(involvement))
}

/// Who may change an involvement, and the facts of its family.
struct InvolvementAccess {
    row: InvolvementRow,
    facts: FamilyFacts,
    as_provider: bool,
}

/// JGT roles change involvements as they change the plan (team lead or
/// director); a provider user only its own provider's; anything else 404.
async fn authorize_involvement(
    state: &AppState,
    principal: &Principal,
    involvement_id: Uuid,
    event: AuditEvent,
) -> ApiResult<InvolvementAccess> {
    let row = {
        let mut conn = state.db().await?;
        involvement_row(&mut conn, involvement_id, false).await?
    };
    if principal.role == Role::ProviderUser {
        let facts = match &row {
            Some(r) => {
                let mut conn = state.db().await?;
                family_facts(&mut conn, FactsOf::Family(r.family_id.into())).await?
            }
            None => None,
        };
        let (decision, event) = match (&row, &facts) {
            (Some(r), Some(f)) => (
                policy::provider_change_involvement(
                    principal,
                    &f.municipality_code,
                    r.provider_id.into(),
                ),
                event
                    .family(f.family_id)
                    .municipality(f.municipality_code.clone()),
            ),
            _ => (Err(policy::Denial::Hidden), event),
        };
        enforce(state, decision, "involvement", event).await?;
        let (Some(row), Some(facts)) = (row, facts) else {
            return Err(ApiError::not_found("Involvement"));
        };
        return Ok(InvolvementAccess {
            row,
            facts,
            as_provider: true,
        });
    }
    enforce(
        state,
        policy::case_role(principal),
        "involvement",
        event.clone(),
    )
    .await?;
    let Some(row) = row else {
        return Err(ApiError::not_found("Involvement"));
    };
    let facts = authorize_as(
        state,
        principal,
        FactsOf::Family(row.family_id.into()),
        policy::change_plan,
        event,
        "involvement",
    )
    .await?;
    Ok(InvolvementAccess {
        row,
        facts,
        as_provider: false,
    })
}

/// Locks the plan of an involvement for a change: it must still be open,
/// and a JGT caller must still be allowed with the director as it is now.
async fn lock_plan_of(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    access: &InvolvementAccess,
) -> ApiResult<()> {
    if access.as_provider {
        lock_open_plan(conn, access.row.plan_id, None).await?;
        Ok(())
    } else {
        lock_for_change(conn, principal, &access.facts, access.row.plan_id, None)
            .await
            .map(|_| ())
    }
}

fn involvement_lens<'a>(state: &'a AppState, principal: &Principal) -> Lens<'a> {
    match (principal.role, principal.provider_id) {
        (Role::ProviderUser, Some(p)) => Lens::provider(&state.catalogue, p.uuid()),
        _ => Lens::full(&state.catalogue),
    }
}

/// Start requested care.
#[utoipa::path(post, path = "/involvements/{id}/start", tag = "Care", operation_id = "startInvolvement",
    params(("id" = Uuid, Path, description = "Involvement id")),
    request_body = StartInvolvement,
    responses(
        (status = 200, description = "Started; the plan's level may have moved", body = Involvement),
        (status = 409, description = "Not requested any more (`involvement_not_requested`), or the plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_involvement(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<StartInvolvement>,
) -> ApiResult<HttpResponse> {
    let involvement_id = id.into_inner();
    let event = AuditEvent::by(&principal, "start", "involvement", involvement_id);
    let access = authorize_involvement(&state, &principal, involvement_id, event.clone()).await?;
    let today = Utc::now().date_naive();
    let mut v = Invalid::new();
    let started_on = date_field(&mut v, "startedOn", body.0.started_on, today);
    let (started_on,) = v.finish((started_on,))?;
    let mut conn = state.db().await?;
    let involvement = conn
        .transaction(async |conn| {
            lock_plan_of(conn, &principal, &access).await?;
            let row = involvement_row(conn, involvement_id, true)
                .await?
                .ok_or_else(|| ApiError::not_found("Involvement"))?;
            if row.status()? != InvolvementStatus::Requested {
                return Err(ApiError::conflict(
                    ErrorCode::InvolvementNotRequested,
                    "Only requested care can start; this involvement has started or ended.",
                ));
            }
            if started_on < row.requested_on {
                return Err(ApiError::invalid_field(
                    "startedOn",
                    ErrorCode::BeforeRequested,
                    "Care cannot start before it was requested.",
                ));
            }
            diesel::update(involvements::table.find(involvement_id))
                .set((
                    involvements::status.eq(InvolvementStatus::Active.as_str()),
                    involvements::started_on.eq(started_on),
                    involvements::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            bump_version(conn, row.plan_id).await?;
            let applied = state::apply(
                conn,
                &state.signals.thresholds,
                Change {
                    plan_id: row.plan_id,
                    decided_by: Some(principal.user_id.uuid()),
                    reason: row.reason.as_deref().unwrap_or("Care started"),
                    involvement_ids: vec![involvement_id],
                },
            )
            .await?;
            let mut detail = applied_detail(&applied);
            detail["planId"] = json!(row.plan_id);
            detail["startedOn"] = json!(started_on);
            event
                .family(access.facts.family_id)
                .municipality(access.facts.municipality_code.clone())
                .detail(detail)
                .record(conn)
                .await?;
            involvement_view(conn, involvement_id, involvement_lens(&state, &principal)).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(involvement))
}

/// End care (or withdraw a request), with the iJw end reason.
#[utoipa::path(post, path = "/involvements/{id}/end", tag = "Care", operation_id = "endInvolvement",
    params(("id" = Uuid, Path, description = "Involvement id")),
    request_body = EndInvolvement,
    responses(
        (status = 200, description = "Ended; the plan's level may have moved", body = Involvement),
        (status = 409, description = "Already ended (`involvement_ended`), or the plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn end_involvement(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<EndInvolvement>,
) -> ApiResult<HttpResponse> {
    let involvement_id = id.into_inner();
    let event = AuditEvent::by(&principal, "end", "involvement", involvement_id);
    let access = authorize_involvement(&state, &principal, involvement_id, event.clone()).await?;
    let body = body.0;
    let today = Utc::now().date_naive();
    let mut v = Invalid::new();
    let ended_on = date_field(&mut v, "endedOn", body.ended_on, today);
    let note = v.check("reason", text::optional(body.reason.as_deref(), 2000));
    let (ended_on, note) = v.finish((ended_on, note))?;
    let mut conn = state.db().await?;
    let involvement = conn
        .transaction(async |conn| {
            lock_plan_of(conn, &principal, &access).await?;
            let row = involvement_row(conn, involvement_id, true)
                .await?
                .ok_or_else(|| ApiError::not_found("Involvement"))?;
            end_locked(conn, &row, ended_on, body.end_reason, note.as_deref()).await?;
            bump_version(conn, row.plan_id).await?;
            let applied = state::apply(
                conn,
                &state.signals.thresholds,
                Change {
                    plan_id: row.plan_id,
                    decided_by: Some(principal.user_id.uuid()),
                    reason: note.as_deref().unwrap_or("Care ended"),
                    involvement_ids: vec![involvement_id],
                },
            )
            .await?;
            let mut detail = applied_detail(&applied);
            detail["planId"] = json!(row.plan_id);
            detail["endReason"] = json!(body.end_reason.as_str());
            event
                .family(access.facts.family_id)
                .municipality(access.facts.municipality_code.clone())
                .detail(detail)
                .record(conn)
                .await?;
            involvement_view(conn, involvement_id, involvement_lens(&state, &principal)).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(involvement))
}

/// Ends a locked involvement row (shared by the end endpoint and scaling steps).
pub(crate) async fn end_locked(
    conn: &mut AsyncPgConnection,
    row: &InvolvementRow,
    ended_on: NaiveDate,
    reason: crate::domain::care::EndReason,
    note: Option<&str>,
) -> ApiResult<()> {
    if row.status()? == InvolvementStatus::Ended {
        return Err(ApiError::conflict(
            ErrorCode::InvolvementEnded,
            "This involvement has already ended.",
        )
        .with_extra("involvementId", row.id.to_string()));
    }
    if ended_on < row.started_on.unwrap_or(row.requested_on) {
        return Err(ApiError::invalid_field(
            "endedOn",
            ErrorCode::BeforeStart,
            "Care cannot end before it started (or was requested).",
        ));
    }
    diesel::update(involvements::table.find(row.id))
        .set((
            involvements::status.eq(InvolvementStatus::Ended.as_str()),
            involvements::ended_on.eq(ended_on),
            involvements::end_reason.eq(reason.as_str()),
            involvements::end_note.eq(note),
            involvements::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// One whole scaling step: end some involvements and start others today,
/// atomically, with one scaling event when the level moves. If any part
/// fails (an involvement of another plan, an unknown provider), nothing
/// changes.
#[utoipa::path(post, path = "/plans/{id}/scalings", tag = "Care", operation_id = "scalePlan",
    params(("id" = Uuid, Path, description = "Plan id")),
    request_body = ScalingStep,
    responses(
        (status = 200, description = "The plan after the step (its level, involvements and signals)", body = crate::plans::model::Plan, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "The plan is closed, an involvement already ended, or a started one already runs", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "An involvement of another plan (`involvement_not_in_plan`), an unknown provider or member", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn scale_plan(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<ScalingStep>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let event = AuditEvent::by(&principal, "scale", "plan", plan_id);
    let facts = authorize_plan(
        &state,
        &principal,
        plan_id,
        policy::change_plan,
        event.clone(),
    )
    .await?;
    let step = body.0;
    let mut v = Invalid::new();
    let reason = v.check("reason", text::required(&step.reason, 2000));
    if step.end.is_empty() && step.start.is_empty() {
        v.push(
            "start",
            ErrorCode::EmptyStep,
            "A step ends or starts at least one involvement.",
        );
    }
    if step.end.len() > MAX_STEP_ITEMS {
        v.push(
            "end",
            ErrorCode::TooMany,
            "At most 20 involvements per step.",
        );
    }
    if step.start.len() > MAX_STEP_ITEMS {
        v.push(
            "start",
            ErrorCode::TooMany,
            "At most 20 involvements per step.",
        );
    }
    for (i, e) in step.end.iter().enumerate() {
        if step.end[..i]
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
    let forms: Vec<Option<&CareForm>> = step
        .start
        .iter()
        .enumerate()
        .map(|(i, s)| {
            care_form(
                &state,
                &s.care_form_code,
                &format!("start[{i}].careFormCode"),
                &mut v,
            )
        })
        .collect();
    let (reason,) = v.finish((reason,))?;
    let forms: Vec<&CareForm> = forms.into_iter().flatten().collect();
    let today = Utc::now().date_naive();
    let mut conn = state.db().await?;
    let plan = conn
        .transaction(async |conn| {
            lock_for_change(conn, &principal, &facts, plan_id, None).await?;
            let mut changed = Vec::new();
            for e in &step.end {
                let row = involvement_row(conn, e.involvement_id, true).await?;
                let row = row.filter(|r| r.plan_id == plan_id).ok_or_else(|| {
                    ApiError::unprocessable(
                        ErrorCode::InvolvementNotInPlan,
                        "An involvement to end does not belong to this plan.",
                    )
                    .with_extra("involvementId", e.involvement_id.to_string())
                })?;
                end_locked(conn, &row, today, e.end_reason, Some(&reason)).await?;
                changed.push(row.id);
            }
            for (s, form) in step.start.iter().zip(&forms) {
                check_references(conn, facts.family_id.uuid(), s.provider_id, s.member_id).await?;
                let id = insert_involvement(
                    conn,
                    NewRow {
                        id: Uuid::now_v7(),
                        plan_id,
                        family_id: facts.family_id.uuid(),
                        provider_id: s.provider_id,
                        form,
                        member_id: s.member_id,
                        status: InvolvementStatus::Active,
                        requested_on: today,
                        started_on: Some(today),
                        reason: Some(&reason),
                        created_by: Some(principal.user_id.uuid()),
                    },
                )
                .await?;
                changed.push(id);
            }
            bump_version(conn, plan_id).await?;
            let applied = state::apply(
                conn,
                &state.signals.thresholds,
                Change {
                    plan_id,
                    decided_by: Some(principal.user_id.uuid()),
                    reason: &reason,
                    involvement_ids: changed.clone(),
                },
            )
            .await?;
            let mut detail = applied_detail(&applied);
            detail["involvementIds"] = json!(changed);
            event
                .family(facts.family_id)
                .municipality(facts.municipality_code.clone())
                .detail(detail)
                .record(conn)
                .await?;
            crate::plans::queries::load_plan(conn, plan_id, Lens::full(&state.catalogue)).await
        })
        .await?;
    Ok(with_etag(StatusCode::OK, &plan))
}

/// The plan's scaling history, oldest first.
#[utoipa::path(get, path = "/plans/{id}/scalings", tag = "Care", operation_id = "listScalings",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "Every change of the plan's level, oldest first", body = Vec<Scaling>)))]
pub async fn list_scalings(
    state: State,
    principal: Principal,
    reason: AccessReason,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let event =
        authorize_plan_read(&state, &principal, plan_id, "scaling_history", &reason).await?;
    let mut conn = state.db().await?;
    let items = conn
        .transaction(async |conn| {
            event.record(conn).await?;
            plan_scalings(conn, plan_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(items))
}

/// The plan's signals, open and acknowledged.
#[utoipa::path(get, path = "/plans/{id}/signals", tag = "Care", operation_id = "listSignals",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "Signals that hold now", body = Vec<Signal>)))]
pub async fn list_signals(
    state: State,
    principal: Principal,
    reason: AccessReason,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let plan_id = id.into_inner();
    let event = authorize_plan_read(&state, &principal, plan_id, "signals", &reason).await?;
    let mut conn = state.db().await?;
    let items = conn
        .transaction(async |conn| {
            event.record(conn).await?;
            plan_signal_views(conn, plan_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(items))
}

/// Record that a signalled situation is deliberate. The signal stays
/// visible as acknowledged, and re-opens when its facts change.
#[utoipa::path(post, path = "/plans/{id}/signals/{code}/acknowledge", tag = "Care", operation_id = "acknowledgeSignal",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("code" = SignalCode, Path, description = "Signal code"),
    ),
    request_body = Acknowledge,
    responses(
        (status = 200, description = "The acknowledged signal", body = Signal),
        (status = 409, description = "The plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn acknowledge_signal(
    state: State,
    principal: Principal,
    path: web::Path<(Uuid, String)>,
    body: ApiJson<Acknowledge>,
) -> ApiResult<HttpResponse> {
    let (plan_id, code) = path.into_inner();
    let Some(code) = SignalCode::parse(&code) else {
        return Err(ApiError::invalid_field(
            "code",
            ErrorCode::UnknownSignal,
            "Not a signal code.",
        ));
    };
    let event = AuditEvent::by(
        &principal,
        "acknowledge",
        "signal",
        format!("{plan_id}/{code}"),
    );
    let facts = authorize_plan(
        &state,
        &principal,
        plan_id,
        policy::change_plan,
        event.clone(),
    )
    .await?;
    let mut v = Invalid::new();
    let note = v.check("note", text::required(&body.0.note, 2000));
    let (note,) = v.finish((note,))?;
    let mut conn = state.db().await?;
    let signal = conn
        .transaction(async |conn| {
            lock_for_change(conn, &principal, &facts, plan_id, None).await?;
            let row: Option<SignalRow> =
                diesel::update(plan_signals::table.find((plan_id, code.as_str())))
                    .set((
                        plan_signals::status.eq(SignalStatus::Acknowledged.as_str()),
                        plan_signals::acknowledged_at.eq(diesel::dsl::now),
                        plan_signals::acknowledged_by.eq(principal.user_id),
                        plan_signals::note.eq(&note),
                    ))
                    .returning(SignalRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
            let row = row.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::SignalNotFound,
                    "This signal does not hold for the plan now.",
                )
            })?;
            event
                .family(facts.family_id)
                .municipality(facts.municipality_code.clone())
                .detail(json!({"code": code.as_str(), "facts": row.facts}))
                .record(conn)
                .await?;
            row.into_view()
        })
        .await?;
    Ok(HttpResponse::Ok().json(signal))
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

/// The provider's work list: its own involvements in its municipality, with
/// their plan ids (read a plan with `GET /v1/plans/{id}`).
#[utoipa::path(get, path = "/involvements", tag = "Care", operation_id = "listOwnInvolvements",
    params(WorklistQuery),
    responses((status = 200, description = "A page of the provider's involvements", body = InvolvementPage)))]
pub async fn list_own_involvements(
    state: State,
    principal: Principal,
    query: ApiQuery<WorklistQuery>,
) -> ApiResult<HttpResponse> {
    let event = AuditEvent::by(&principal, "search", "involvement", "worklist");
    enforce(
        &state,
        policy::provider_worklist(&principal),
        "involvement",
        event.clone(),
    )
    .await?;
    let (Some(provider), Some(municipality)) =
        (principal.provider_id, principal.municipality_code.clone())
    else {
        return Err(ApiError::forbidden("Only provider users have a work list."));
    };
    let q = query.0;
    let page = PageRequest::<Uuid>::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.db().await?;
    let items = conn
        .transaction(async |conn| {
            let mut rows = involvements::table
                .inner_join(plans::table)
                .inner_join(providers::table)
                .filter(involvements::provider_id.eq(provider))
                .filter(plans::municipality_code.eq(&municipality))
                .order(involvements::id)
                .limit(page.fetch())
                .select((InvolvementRow::as_select(), providers::name))
                .into_boxed();
            rows = match q.status {
                Some(s) => rows.filter(involvements::status.eq(s.as_str())),
                None => rows.filter(involvements::status.ne(InvolvementStatus::Ended.as_str())),
            };
            if let Some(after) = page.after {
                rows = rows.filter(involvements::id.gt(after));
            }
            let rows: Vec<(InvolvementRow, String)> = rows.load(conn).await?;
            let (rows, next_cursor) = finish(rows, page.limit, |(r, _)| r.id);
            let lens = Lens::provider(&state.catalogue, provider.uuid());
            let ids: Vec<Uuid> = rows.iter().map(|(r, _)| r.id).collect();
            let items = rows
                .into_iter()
                .map(|(r, name)| r.into_view(name, lens))
                .collect::<ApiResult<Vec<_>>>()?;
            event
                .municipality(municipality.clone())
                .detail(json!({"involvementIds": ids}))
                .record(conn)
                .await?;
            Ok::<_, ApiError>(InvolvementPage { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(items))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/care-forms").route(web::get().to(list_care_forms)))
        .service(web::resource("/involvements").route(web::get().to(list_own_involvements)))
        .service(
            web::resource("/plans/{id}/involvements").route(web::post().to(create_involvement)),
        )
        .service(web::resource("/involvements/{id}/start").route(web::post().to(start_involvement)))
        .service(web::resource("/involvements/{id}/end").route(web::post().to(end_involvement)))
        .service(
            web::resource("/plans/{id}/scalings")
                .route(web::post().to(scale_plan))
                .route(web::get().to(list_scalings)),
        )
        .service(web::resource("/plans/{id}/signals").route(web::get().to(list_signals)))
        .service(
            web::resource("/plans/{id}/signals/{code}/acknowledge")
                .route(web::post().to(acknowledge_signal)),
        );
}
