//! Reads and locks shared by the plan and director handlers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{DirectorRef, Goal, Outcome, Plan};
use crate::care::model::{Involvement, Signal};
use crate::care::queries::{plan_involvements, plan_signal_views, Lens};
use crate::db::schema::{director_assignments, plans, user_served_municipalities, users};
use crate::db::sql::cached;
use crate::domain::{GoalRealisation, PlanStatus, Role};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plans)]
pub struct PlanRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub municipality_code: String,
    pub status: String,
    pub title: String,
    pub goals: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub goal_realisation: Option<String>,
    pub satisfaction_score: Option<i16>,
    pub dropout: Option<bool>,
    pub dropout_reason: Option<String>,
    pub level: i16,
    pub protection_measure: bool,
}

impl PlanRow {
    pub fn status(&self) -> ApiResult<PlanStatus> {
        PlanStatus::parse(&self.status)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown plan status")))
    }
}

/// A plan row, locked for the rest of the transaction when `lock` is set
/// (every change to a plan takes this lock first, so changes to one plan
/// are serialised while other plans proceed in parallel).
pub async fn plan_row(
    conn: &mut AsyncPgConnection,
    plan_id: Uuid,
    lock: bool,
) -> ApiResult<Option<PlanRow>> {
    let query = plans::table.find(plan_id).select(PlanRow::as_select());
    let row = if lock {
        query.for_update().first(conn).await.optional()?
    } else {
        query.first(conn).await.optional()?
    };
    Ok(row)
}

/// The current director assignment of a plan.
#[derive(Debug, Clone, Queryable)]
pub struct CurrentDirector {
    pub assignment_id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub since: DateTime<Utc>,
}

/// Takes a shared connection so it can be pipelined with other reads.
pub async fn current_director(
    mut conn: &AsyncPgConnection,
    plan_id: Uuid,
) -> ApiResult<Option<CurrentDirector>> {
    Ok(director_assignments::table
        .inner_join(users::table)
        .filter(director_assignments::plan_id.eq(plan_id))
        .filter(director_assignments::ended_at.is_null())
        .select((
            director_assignments::id,
            users::id,
            users::display_name,
            director_assignments::started_at,
        ))
        .first(&mut conn)
        .await
        .optional()?)
}

#[derive(QueryableByName)]
struct Instant {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    at: DateTime<Utc>,
}

/// Ends the plan's current director assignment, if any, and returns the
/// instant it ended: the clock's now, but always after the assignment's
/// start (a transaction that waited for the plan's lock may have begun
/// before the assignment it ends).
pub async fn end_current_assignment(
    conn: &mut AsyncPgConnection,
    plan_id: Uuid,
) -> ApiResult<Option<DateTime<Utc>>> {
    let ended: Vec<Instant> = cached(
        "UPDATE director_assignments
         SET ended_at = greatest(clock_timestamp(), started_at + interval '1 microsecond')
         WHERE plan_id = $1 AND ended_at IS NULL
         RETURNING ended_at AS at",
    )
    .bind::<diesel::sql_types::Uuid, _>(plan_id)
    .load(conn)
    .await?;
    Ok(ended.into_iter().next().map(|e| e.at))
}

/// The database clock now (not the transaction's start).
pub async fn clock_now(conn: &mut AsyncPgConnection) -> ApiResult<DateTime<Utc>> {
    let now: Instant = cached("SELECT clock_timestamp() AS at")
        .get_result(conn)
        .await?;
    Ok(now.at)
}

/// What a plan view reads besides the plan's row: its director, care and
/// signals (none through a provider's lens).
type PlanParts = (Option<CurrentDirector>, Vec<Involvement>, Vec<Signal>);

/// The parts go out together, pipelined on the one connection: one round
/// trip instead of three (they still run one after the other in
/// PostgreSQL, in the request's transaction).
async fn plan_parts(
    conn: &AsyncPgConnection,
    plan_id: Uuid,
    lens: Lens<'_>,
) -> ApiResult<PlanParts> {
    futures_util::try_join!(
        current_director(conn, plan_id),
        plan_involvements(conn, plan_id, lens),
        async {
            match lens.provider {
                None => plan_signal_views(conn, plan_id).await,
                Some(_) => Ok(Vec::new()),
            }
        },
    )
}

/// The plan view for a row (read, usually locked, before), through `lens`:
/// a provider sees no signals and no other provider's notes.
pub async fn plan_view(conn: &AsyncPgConnection, row: PlanRow, lens: Lens<'_>) -> ApiResult<Plan> {
    let parts = plan_parts(conn, row.id, lens).await?;
    assemble(row, parts)
}

fn assemble(row: PlanRow, (director, involvements, signals): PlanParts) -> ApiResult<Plan> {
    let status = row.status()?;
    let director = director.map(|d| DirectorRef {
        user_id: d.user_id,
        display_name: d.display_name,
        since: d.since,
    });
    let goals: Vec<Goal> = serde_json::from_value(row.goals.clone())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored goals: {e}")))?;
    let outcome = match (&row.goal_realisation, row.dropout) {
        (Some(g), Some(dropout)) => Some(Outcome {
            goal_realisation: GoalRealisation::parse(g)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown goal realisation")))?,
            satisfaction_score: row.satisfaction_score,
            dropout,
            dropout_reason: row.dropout_reason.clone(),
        }),
        _ => None,
    };
    Ok(Plan {
        id: row.id,
        family_id: row.family_id,
        status,
        title: row.title,
        goals,
        director,
        level: i32::from(row.level),
        protection_measure: row.protection_measure,
        involvements,
        signals,
        version: row.version,
        created_at: row.created_at,
        activated_at: row.activated_at,
        closed_at: row.closed_at,
        close_reason: row.close_reason,
        outcome,
    })
}

/// The plan view of a plan, `not_found` when there is none. Takes a shared
/// connection, so a caller can pipeline its audit event with it.
pub async fn load_plan(conn: &AsyncPgConnection, plan_id: Uuid, lens: Lens<'_>) -> ApiResult<Plan> {
    // The row and the parts together: nothing in the parts depends on it.
    let mut shared = conn;
    let row = plans::table.find(plan_id).select(PlanRow::as_select());
    let (row, parts) = futures_util::try_join!(
        async { Ok::<_, ApiError>(row.first(&mut shared).await.optional()?) },
        plan_parts(conn, plan_id, lens),
    )?;
    assemble(row.ok_or_else(|| ApiError::not_found("Plan"))?, parts)
}

/// Whether `user_id` may direct plans of `municipality`: an active,
/// director-capable user of that municipality, or a GI worker serving it.
pub async fn is_eligible_director(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    municipality: &str,
) -> ApiResult<bool> {
    let user: Option<(String, bool, Option<String>)> = users::table
        .find(user_id)
        .select((users::role, users::active, users::municipality_code))
        .first(conn)
        .await
        .optional()?;
    let Some((role, active, home)) = user else {
        return Ok(false);
    };
    let Some(role) = Role::parse(&role) else {
        return Ok(false);
    };
    if !active || !role.is_director_capable() {
        return Ok(false);
    }
    if home.as_deref() == Some(municipality) {
        return Ok(true);
    }
    if role != Role::GiWorker {
        return Ok(false);
    }
    let serves: i64 = user_served_municipalities::table
        .filter(user_served_municipalities::user_id.eq(user_id))
        .filter(user_served_municipalities::municipality_code.eq(municipality))
        .count()
        .get_result(conn)
        .await?;
    Ok(serves > 0)
}

pub fn director_not_eligible() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::DirectorNotEligible,
        "This user cannot direct the plan: it must be an active JGT or GI worker of the plan's municipality (or a GI serving it).",
    )
}
