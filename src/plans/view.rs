//! The plan view of DESIGN section 7: a plan with its director, its care
//! (through a lens) and its signals, read in one pipelined round trip.

use diesel_async::AsyncPgConnection;

use super::model::{DirectorRef, Goal, Outcome, Plan};
use super::queries::{self, CurrentDirector, PlanRow};
use crate::care::model::{Involvement, Signal};
use crate::care::queries as care;
use crate::care::view::Lens;
use crate::domain::PlanId;
use crate::error::{ApiError, ApiResult};

/// What a plan view reads besides the plan's row: its director, care and
/// signals (none through a provider's lens).
type PlanParts = (Option<CurrentDirector>, Vec<Involvement>, Vec<Signal>);

/// The parts go out together, pipelined on the one connection: one round
/// trip instead of three (they still run one after the other in
/// PostgreSQL, in the request's transaction).
async fn plan_parts(
    conn: &AsyncPgConnection,
    plan_id: PlanId,
    lens: Lens<'_>,
) -> ApiResult<PlanParts> {
    let (director, care, signals) = futures_util::try_join!(
        queries::current_director(conn, plan_id),
        care::plan_involvements(conn, plan_id),
        async {
            match lens.provider {
                None => care::signal_rows(conn, plan_id).await,
                Some(_) => Ok(Vec::new()),
            }
        },
    )?;
    let signals = signals.into_iter().map(Signal::from).collect();
    Ok((director, lens.involvements(care), signals))
}

/// The plan view for a row (read, usually locked, before), through `lens`:
/// a provider sees no signals and no other provider's notes.
pub async fn plan_view(conn: &AsyncPgConnection, row: PlanRow, lens: Lens<'_>) -> ApiResult<Plan> {
    let parts = plan_parts(conn, row.id, lens).await?;
    assemble(row, parts)
}

/// The plan view of a plan, `not_found` when there is none. Takes a shared
/// connection, so a caller can pipeline its audit event with it.
pub async fn load_plan(
    conn: &AsyncPgConnection,
    plan_id: PlanId,
    lens: Lens<'_>,
) -> ApiResult<Plan> {
    // The row and the parts together: nothing in the parts depends on it.
    let (row, parts) = futures_util::try_join!(
        async { Ok::<_, ApiError>(queries::shared_plan_row(conn, plan_id).await?) },
        plan_parts(conn, plan_id, lens),
    )?;
    assemble(row.ok_or_else(|| ApiError::not_found("Plan"))?, parts)
}

fn assemble(row: PlanRow, (director, involvements, signals): PlanParts) -> ApiResult<Plan> {
    let director = director.map(|d| DirectorRef {
        user_id: d.user_id,
        display_name: d.display_name,
        since: d.since,
    });
    let goals: Vec<Goal> = serde_json::from_value(row.goals)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored goals: {e}")))?;
    let outcome = match (row.goal_realisation, row.dropout) {
        (Some(goal_realisation), Some(dropout)) => Some(Outcome {
            goal_realisation,
            satisfaction_score: row.satisfaction_score,
            dropout,
            dropout_reason: row.dropout_reason,
        }),
        _ => None,
    };
    Ok(Plan {
        id: row.id,
        family_id: row.family_id,
        status: row.status,
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
