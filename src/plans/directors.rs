//! What the director endpoints do (regie): handover, history, eligible
//! successors, caseload.
//!
//! A handover locks the plan row, ends the current assignment and starts the
//! next at the same instant, in one transaction. Concurrent handovers of one
//! plan queue on that lock and apply one after the other; the partial unique
//! index and the exclusion constraint on assignment periods guarantee "one
//! current director, no overlapping periods" even for a writer that forgot
//! the lock.

use serde_json::json;

use super::model::*;
use super::queries::{self, AssignmentRow, NewAssignment};
use super::service::{
    authorize_plan, authorize_plan_read, director_not_eligible, is_eligible_director,
    lock_for_change,
};
use crate::audit::AuditEvent;
use crate::auth::policy::{self, UserFacts};
use crate::auth::principal::Bearer;
use crate::domain::{FamilyId, PlanId, UserId};
use crate::error::{checked, ApiError, ApiResult, Invalid};
use crate::http::access_reason::AccessReason;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

impl From<AssignmentRow> for DirectorAssignment {
    fn from(r: AssignmentRow) -> Self {
        Self {
            user_id: r.user_id,
            display_name: r.display_name,
            started_at: r.started_at,
            ended_at: r.ended_at,
            assigned_by: r.assigned_by,
            reason: r.reason,
        }
    }
}

/// Hands the plan over to another director (or assigns the first one);
/// returns the new assignment and the plan's new version.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn assign_director(
    app: &AppState,
    bearer: &Bearer,
    plan_id: PlanId,
    expected: Option<i32>,
    change: DirectorChange,
) -> ApiResult<(DirectorAssignment, i32)> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "handover", "plan", plan_id).await?;
        let facts = authorize_plan(tx, &me, plan_id, policy::change_plan, event.clone()).await?;
        Invalid::validated(&change).into_result()?;
        let reason = checked(crate::domain::text::required(&change.reason, 2000))?;
        let target = change.user_id;
        let (row, current) = lock_for_change(tx.conn, &me, &facts, plan_id, expected).await?;
        if !is_eligible_director(tx.conn, target, &row.municipality_code).await? {
            return Err(director_not_eligible());
        }
        if current.as_ref().is_some_and(|c| c.user_id == target) {
            // Already the director: nothing changes (PUT is idempotent).
            return Ok((current_assignment(tx.conn, plan_id).await?, row.version));
        }
        let started = match queries::end_current_assignment(tx.conn, plan_id).await? {
            Some(ended) => ended,
            None => queries::clock_now(tx.conn).await?,
        };
        let assignment = NewAssignment {
            plan_id,
            user_id: target,
            started_at: Some(started),
            assigned_by: me.user_id,
            reason: &reason,
        };
        queries::insert_assignment(tx.conn, assignment).await?;
        let version = row.version + 1;
        let activated_at = row.activated_at.unwrap_or(started);
        queries::activate(tx.conn, plan_id, activated_at, version).await?;
        // The first director ends an intake_without_director signal.
        let thresholds = &app.signals.thresholds;
        let signals =
            crate::care::state::sync_signals(tx.conn, thresholds, plan_id, chrono::Utc::now())
                .await?;
        event
            .family(facts.family_id)
            .municipality(row.municipality_code.clone())
            .detail(json!({
                "fromUserId": current.as_ref().map(|c| c.user_id),
                "toUserId": target,
                "firstAssignment": current.is_none(),
                "signals": signals,
            }))
            .record(tx.conn)
            .await?;
        Ok((current_assignment(tx.conn, plan_id).await?, version))
    })
    .await
}

async fn current_assignment(
    conn: &mut diesel_async::AsyncPgConnection,
    plan_id: PlanId,
) -> ApiResult<DirectorAssignment> {
    let current = queries::assignments(conn, plan_id, true).await?.pop();
    current
        .map(DirectorAssignment::from)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a handover left no director")))
}

/// Every director the plan has had, oldest first.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn director_history(
    app: &AppState,
    bearer: &Bearer,
    reason: &AccessReason,
    plan_id: PlanId,
) -> ApiResult<Vec<DirectorAssignment>> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = authorize_plan_read(tx, &me, plan_id, "director_history", reason).await?;
        let rows = queries::assignments(tx.conn, plan_id, false).await?;
        event.record(tx.conn).await?;
        Ok(rows.into_iter().map(DirectorAssignment::from).collect())
    })
    .await
}

/// Users who may take the plan over, with their current caseload.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn eligible_directors(
    app: &AppState,
    bearer: &Bearer,
    plan_id: PlanId,
    query: PageParams,
) -> ApiResult<EligibleDirectorPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let page = PageRequest::<UserId>::parse(query.limit, query.cursor.as_deref())?;
        let event = AuditEvent::by(&me, "read", "eligible_directors", plan_id);
        let facts = authorize_plan(tx, &me, plan_id, policy::read_family, event).await?;
        let municipality = &facts.municipality_code;
        let rows =
            queries::eligible_directors(tx.conn, municipality, plan_id, page.after, page.fetch())
                .await?;
        let (rows, next_cursor) = finish(rows, page.limit, |r| r.id);
        let items = rows
            .into_iter()
            .map(|r| EligibleDirector {
                user_id: r.id,
                display_name: r.display_name,
                role: r.role,
                team_id: r.team_id,
                caseload: r.caseload,
            })
            .collect();
        Ok(EligibleDirectorPage { items, next_cursor })
    })
    .await
}

/// The open plans a user directs: one's own, or, for a team lead, the part
/// in its municipality of anyone working there.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn caseload(
    app: &AppState,
    bearer: &Bearer,
    user_id: UserId,
    query: PageParams,
) -> ApiResult<CaseloadPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let page = PageRequest::<PlanId>::parse(query.limit, query.cursor.as_deref())?;
        let event = AuditEvent::by(&me, "read", "caseload", user_id);
        tx.enforce(policy::case_role(&me), "user", event.clone())
            .await?;
        let Some(municipality_code) = queries::user_municipality(tx.conn, user_id).await? else {
            return Err(ApiError::not_found("User"));
        };
        let facts = UserFacts {
            user_id,
            municipality_code,
            served_municipalities: crate::auth::queries::served_municipalities(tx.conn, user_id)
                .await?,
        };
        tx.enforce(policy::read_caseload(&me, &facts), "user", event.clone())
            .await?;
        // A team lead sees the part of the caseload in its own municipality.
        let only = (me.user_id != user_id)
            .then(|| me.municipality_code.clone())
            .flatten();
        let rows =
            queries::caseload(tx.conn, user_id, only.as_deref(), page.after, page.fetch()).await?;
        let (rows, next_cursor) = finish(rows, page.limit, |r| r.plan_id);
        let family_ids: Vec<FamilyId> = rows.iter().map(|r| r.family_id).collect();
        event
            .detail(json!({"familyIds": family_ids}))
            .record(tx.conn)
            .await?;
        let items = rows
            .into_iter()
            .map(|r| CaseloadItem {
                plan_id: r.plan_id,
                family_id: r.family_id,
                family_name: r.family_name,
                municipality_code: r.municipality_code,
                status: r.status,
                title: r.title,
                since: r.since,
            })
            .collect();
        Ok(CaseloadPage { items, next_cursor })
    })
    .await
}
