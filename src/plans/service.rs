//! What the plan endpoints do, each in one transaction: open, read, list,
//! change and close a family's plan. Also the locks every change to a plan
//! takes first ([`lock_open_plan`], [`lock_for_change`]), which the care and
//! director services use too.

use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::model::*;
use super::queries::{self, Closing, CurrentDirector, NewAssignment, NewPlanRow, PlanRow};
use super::view::{load_plan, plan_view};
use crate::audit::AuditEvent;
use crate::auth::policy::{self, Decision, Denial, FamilyFacts};
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::care::queries as care;
use crate::care::state::sync_signals;
use crate::care::view::Lens;
use crate::domain::{FamilyId, PlanId, PlanStatus, Role};
use crate::error::{involvements_still_running, ApiError, ApiResult, ErrorCode, Invalid};
use crate::families::access::{authorize, authorize_read};
use crate::families::queries::FactsOf;
use crate::http::access_reason::AccessReason;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;
use crate::tx::Tx;

/// Authorises an action on a plan by the rules of its family.
pub async fn authorize_plan(
    tx: &mut Tx<'_>,
    me: &Principal,
    plan_id: PlanId,
    rule: impl Fn(&Principal, &FamilyFacts) -> Decision,
    event: AuditEvent,
) -> ApiResult<FamilyFacts> {
    authorize(tx, me, FactsOf::Plan(plan_id), rule, event, "plan").await
}

/// Authorises reading a plan or a part of it (its director history,
/// scalings, signals) as a read of its family; returns the audit event to
/// record. A stated `reason` lets a JGT or GI worker break the glass (see
/// [`policy::read_family_or_break_glass`]); the event then says so.
pub async fn authorize_plan_read(
    tx: &mut Tx<'_>,
    me: &Principal,
    plan_id: PlanId,
    resource_type: &'static str,
    reason: &AccessReason,
) -> ApiResult<AuditEvent> {
    let event = AuditEvent::by(me, "read", resource_type, plan_id);
    // Roles without case access are refused (and audited, with the reason
    // given) inside, before anything is looked up.
    let grant = authorize_read(
        tx,
        me,
        FactsOf::Plan(plan_id),
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
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    expected: Option<i32>,
) -> ApiResult<PlanRow> {
    let row = queries::plan_row(conn, plan_id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("Plan"))?;
    if expected.is_some_and(|v| v != row.version) {
        return Err(ApiError::version_mismatch());
    }
    if row.status == PlanStatus::Closed {
        return Err(plan_closed());
    }
    Ok(row)
}

/// As [`lock_open_plan`], and checks under the lock what may have changed
/// since the request was authorised: the caller is still allowed with the
/// director as it is now. Returns the row and the current director.
pub async fn lock_for_change(
    conn: &mut AsyncPgConnection,
    me: &Principal,
    facts: &FamilyFacts,
    plan_id: PlanId,
    expected: Option<i32>,
) -> ApiResult<(PlanRow, Option<CurrentDirector>)> {
    let row = lock_open_plan(conn, plan_id, expected).await?;
    let current = queries::current_director(conn, plan_id).await?;
    let fresh = FamilyFacts {
        director_id: current.as_ref().map(|d| d.user_id),
        ..facts.clone()
    };
    policy::change_plan(me, &fresh).map_err(|_| {
        ApiError::conflict(
            ErrorCode::DirectorChanged,
            "The plan's director changed while this request was handled; reload and retry.",
        )
    })?;
    Ok((row, current))
}

/// Opens the family's plan: `intake` without a director, `active` with one.
#[tracing::instrument(skip_all, fields(family_id = %family_id, plan_id))]
pub async fn create_plan(
    app: &AppState,
    bearer: &Bearer,
    family_id: FamilyId,
    input: NewPlan,
) -> ApiResult<Plan> {
    let plan_id = PlanId::new();
    tracing::Span::current().record("plan_id", tracing::field::display(plan_id));
    // A race lost at the unique index of open plans is run again: the second
    // run finds the plan that won and names it (`openPlanId`).
    app.transaction_retrying(async |tx| {
        let (me, event) = tx.user_doing(bearer, "create", "plan", plan_id).await?;
        let of = FactsOf::Family(family_id);
        let facts = authorize(tx, &me, of, policy::open_plan, event.clone(), "family").await?;
        let event = event
            .family(family_id)
            .municipality(facts.municipality_code.clone());
        if let Some(director) = input.director_id {
            // Team leads assign anyone eligible; a worker may only take the plan on itself.
            let decision = match me.role == Role::TeamLead || director == me.user_id {
                true => Ok(()),
                false => Err(Denial::Forbidden),
            };
            tx.enforce(decision, "plan", event.clone()).await?;
        }
        Invalid::validated(&input).into_result()?;
        let title = crate::error::checked(crate::domain::text::required(&input.title, 200))?;
        let goals = goals(input.goals.as_deref().unwrap_or_default())?;
        let goals = serde_json::to_value(&goals).map_err(ApiError::internal)?;
        if let Some(open) = queries::open_plan_of(tx.conn, family_id).await? {
            return Err(plan_already_open(Some(open.id)));
        }
        let status = match input.director_id {
            Some(director) => {
                if !is_eligible_director(tx.conn, director, &facts.municipality_code).await? {
                    return Err(director_not_eligible());
                }
                PlanStatus::Active
            }
            None => PlanStatus::Intake,
        };
        let row = NewPlanRow {
            id: plan_id,
            family_id,
            municipality_code: &facts.municipality_code,
            status,
            title: &title,
            goals: &goals,
            created_by: me.user_id,
            activated_at: input.director_id.map(|_| chrono::Utc::now()),
        };
        queries::insert_plan(tx.conn, row).await?;
        if let Some(director) = input.director_id {
            let assignment = NewAssignment {
                plan_id,
                user_id: director,
                started_at: None,
                assigned_by: me.user_id,
                reason: "Assigned when the plan was opened",
            };
            queries::insert_assignment(tx.conn, assignment).await?;
        }
        let detail = json!({"status": status.as_str(), "directorId": input.director_id});
        event.detail(detail).record(tx.conn).await?;
        load_plan(tx.conn, plan_id, Lens::full(&app.catalogue)).await
    })
    .await
}

/// 409 for a family that already has an open plan, naming it.
pub fn plan_already_open(open: Option<PlanId>) -> ApiError {
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
#[tracing::instrument(skip_all, fields(family_id = %family_id))]
pub async fn get_current_plan(
    app: &AppState,
    bearer: &Bearer,
    reason: &AccessReason,
    family_id: FamilyId,
) -> ApiResult<Plan> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "read", "plan", "current").await?;
        let of = FactsOf::Family(family_id);
        let grant = authorize_read(tx, &me, of, reason, event, "family").await?;
        let row = queries::open_plan_of(tx.conn, family_id)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    actix_web::http::StatusCode::NOT_FOUND,
                    ErrorCode::NoOpenPlan,
                    "The family has no open plan.",
                )
            })?;
        grant
            .stamp(AuditEvent::by(&me, "read", "plan", row.id))
            .record(tx.conn)
            .await?;
        plan_view(tx.conn, row, Lens::full(&app.catalogue)).await
    })
    .await
}

/// All plans of a family, oldest first (closed ones are the history).
#[tracing::instrument(skip_all, fields(family_id = %family_id))]
pub async fn list_family_plans(
    app: &AppState,
    bearer: &Bearer,
    reason: &AccessReason,
    family_id: FamilyId,
    query: PageParams,
) -> ApiResult<PlanPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let page = PageRequest::<PlanId>::parse(query.limit, query.cursor.as_deref())?;
        let event = AuditEvent::by(&me, "read", "plan", "history");
        let of = FactsOf::Family(family_id);
        let grant = authorize_read(tx, &me, of, reason, event.clone(), "family").await?;
        let rows = queries::family_plans(tx.conn, family_id, page.after, page.fetch()).await?;
        let (rows, next_cursor) = finish(rows, page.limit, |r| r.id);
        let ids: Vec<PlanId> = rows.iter().map(|r| r.id).collect();
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(plan_view(tx.conn, row, Lens::full(&app.catalogue)).await?);
        }
        grant
            .stamp(event.detail(json!({"planIds": ids})))
            .record(tx.conn)
            .await?;
        Ok(PlanPage { items, next_cursor })
    })
    .await
}

/// Reads a plan. A provider user gets the limited view of a plan its
/// provider has requested or active care in: no signals, no other
/// provider's notes.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn get_plan(
    app: &AppState,
    bearer: &Bearer,
    reason: &AccessReason,
    plan_id: PlanId,
) -> ApiResult<Plan> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        if me.role == Role::ProviderUser {
            // Providers never break the glass: their view is their care only.
            return get_plan_as_provider(tx, &me, plan_id).await;
        }
        let event = authorize_plan_read(tx, &me, plan_id, "plan", reason).await?;
        // The read and its audit event go out together (pipelined): one
        // round trip, still one transaction.
        let shared: &AsyncPgConnection = tx.conn;
        let (plan, ()) = futures_util::try_join!(
            load_plan(shared, plan_id, Lens::full(&app.catalogue)),
            async { Ok(event.record(shared).await?) },
        )?;
        Ok(plan)
    })
    .await
}

/// A provider's limited view of a plan it has care in (the family record
/// and BSNs are not reachable at all).
async fn get_plan_as_provider(tx: &mut Tx<'_>, me: &Principal, plan_id: PlanId) -> ApiResult<Plan> {
    let event = AuditEvent::by(me, "read", "plan", plan_id);
    let row = queries::plan_row(tx.conn, plan_id, false).await?;
    let (decision, event) = match &row {
        Some(r) => {
            let providers = care::providers_in_plan(tx.conn, plan_id).await?;
            let decision = policy::provider_read_plan(me, &r.municipality_code, &providers);
            let event = event
                .family(r.family_id)
                .municipality(r.municipality_code.clone());
            (decision, event)
        }
        None => (Err(Denial::Hidden), event),
    };
    tx.enforce(decision, "plan", event.clone()).await?;
    let (Some(row), Some(provider)) = (row, me.provider_id) else {
        return Err(ApiError::not_found("Plan"));
    };
    event.record(tx.conn).await?;
    plan_view(tx.conn, row, Lens::provider(&tx.app.catalogue, provider)).await
}

/// Changes a plan's title or goals, at the version the caller read.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn update_plan(
    app: &AppState,
    bearer: &Bearer,
    plan_id: PlanId,
    if_match: ApiResult<i32>,
    update: PlanUpdate,
) -> ApiResult<Plan> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "update", "plan", plan_id).await?;
        let facts = authorize_plan(tx, &me, plan_id, policy::change_plan, event.clone()).await?;
        let expected = if_match?;
        Invalid::validated(&update).into_result()?;
        let title = crate::error::checked(crate::domain::text::replacement(
            update.title.as_deref(),
            200,
        ))?;
        let goals = update.goals.as_deref().map(goals).transpose()?;
        let goals_json = goals
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(ApiError::internal)?;
        lock_for_change(tx.conn, &me, &facts, plan_id, Some(expected)).await?;
        queries::update_content(tx.conn, plan_id, title.as_deref(), goals_json.as_ref()).await?;
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
            .record(tx.conn)
            .await?;
        load_plan(tx.conn, plan_id, Lens::full(&app.catalogue)).await
    })
    .await
}

/// Closes a plan with its outcome; the director assignment ends with it.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn close_plan(
    app: &AppState,
    bearer: &Bearer,
    plan_id: PlanId,
    expected: Option<i32>,
    input: ClosePlan,
) -> ApiResult<Plan> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "close", "plan", plan_id).await?;
        let facts = authorize_plan(tx, &me, plan_id, policy::change_plan, event.clone()).await?;
        let spec = input.parse()?;
        lock_for_change(tx.conn, &me, &facts, plan_id, expected).await?;
        let running = care::running_involvements(tx.conn, plan_id).await?;
        if running > 0 {
            return Err(involvements_still_running().with_extra("runningInvolvements", running));
        }
        // The plan closes at the instant its director assignment ends.
        let closed_at = match queries::end_current_assignment(tx.conn, plan_id).await? {
            Some(ended) => ended,
            None => queries::clock_now(tx.conn).await?,
        };
        let closing = Closing {
            status: PlanStatus::Closed,
            closed_at,
            reason: &spec.reason,
            goal_realisation: spec.goal_realisation,
            satisfaction_score: spec.satisfaction_score,
            dropout: spec.dropout,
            dropout_reason: spec.dropout_reason.as_deref(),
        };
        queries::close_plan(tx.conn, plan_id, closing).await?;
        // A closed plan carries no signals.
        let thresholds = &app.signals.thresholds;
        let signals = sync_signals(tx.conn, thresholds, plan_id, chrono::Utc::now()).await?;
        let detail = json!({"goalRealisation": spec.goal_realisation.as_str(), "dropout": spec.dropout, "signals": signals});
        event
            .family(facts.family_id)
            .municipality(facts.municipality_code.clone())
            .detail(detail)
            .record(tx.conn)
            .await?;
        load_plan(tx.conn, plan_id, Lens::full(&app.catalogue)).await
    })
    .await
}

/// Whether `user` may direct plans of `municipality`: an active,
/// director-capable user of that municipality, or a GI worker serving it.
pub async fn is_eligible_director(
    conn: &mut AsyncPgConnection,
    user: crate::domain::UserId,
    municipality: &str,
) -> ApiResult<bool> {
    let Some(candidate) = queries::director_candidate(conn, user).await? else {
        return Ok(false);
    };
    if !candidate.active || !candidate.role.is_director_capable() {
        return Ok(false);
    }
    if candidate.municipality_code.as_deref() == Some(municipality) {
        return Ok(true);
    }
    Ok(candidate.role == Role::GiWorker && queries::serves(conn, user, municipality).await?)
}

pub fn director_not_eligible() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::DirectorNotEligible,
        "This user cannot direct the plan: it must be an active JGT or GI worker of the plan's municipality (or a GI serving it).",
    )
}
