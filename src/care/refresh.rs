//! The periodic refresh of time-based signals. Most signals change only when
//! a plan changes and are recomputed in that transaction; three can change
//! by the calendar alone: `long_wait` (a request grows old),
//! `intake_without_director` (an intake grows old) and `yo_yo` (old steps
//! leave the window). A task inside the server looks, every
//! `signals.refresh_interval_seconds`, for exactly the plans where one of
//! those is due (indexed queries, not a sweep of all plans), and recomputes
//! each under its row lock as any change would.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use diesel::sql_types::{Int4, Int8, Uuid as SqlUuid};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::state::sync_signals;
use crate::audit::AuditEvent;
use crate::domain::signals::Thresholds;
use crate::domain::{PlanId, PlanStatus};
use crate::plans::queries::plan_row;
use crate::state::AppState;

/// Most plans refreshed in one round; the next round takes the rest.
const BATCH: i64 = 5_000;

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = SqlUuid)]
    plan_id: PlanId,
}

/// Plans whose time-based signals are due for a change.
pub async fn due_plans(conn: &mut AsyncPgConnection, t: &Thresholds) -> QueryResult<Vec<PlanId>> {
    let rows: Vec<Due> = diesel::sql_query(
        "SELECT p.id AS plan_id FROM plans p
          WHERE p.status = 'intake' AND p.created_at < now() - make_interval(days => $1)
            AND NOT EXISTS (SELECT 1 FROM plan_signals s
                             WHERE s.plan_id = p.id AND s.code = 'intake_without_director')
         UNION
         SELECT i.plan_id FROM involvements i
          WHERE i.status = 'requested' AND i.requested_on < current_date - $2
            AND NOT EXISTS (SELECT 1 FROM plan_signals s
                             WHERE s.plan_id = i.plan_id AND s.code = 'long_wait'
                               AND strpos(s.facts, i.id::text) > 0)
         UNION
         SELECT s.plan_id FROM plan_signals s
          WHERE s.code = 'yo_yo'
            AND coalesce((s.detail->>'oldestCountedAt')::timestamptz, '-infinity')
                < now() - make_interval(days => $3)
         LIMIT $4",
    )
    .bind::<Int4, _>(i32::try_from(t.intake_without_director_days).unwrap_or(i32::MAX))
    .bind::<Int4, _>(i32::try_from(t.long_wait_days).unwrap_or(i32::MAX))
    .bind::<Int4, _>(i32::try_from(t.yo_yo_window_days).unwrap_or(i32::MAX))
    .bind::<Int8, _>(BATCH)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.plan_id).collect())
}

/// Recomputes one plan's signals under its lock; audits what changed.
pub async fn refresh_plan(
    conn: &mut AsyncPgConnection,
    t: &Thresholds,
    plan_id: PlanId,
) -> QueryResult<bool> {
    conn.transaction(async |conn| {
        let Some(row) = plan_row(conn, plan_id, true).await? else {
            return Ok(false);
        };
        if row.status == PlanStatus::Closed {
            return Ok(false);
        }
        let changes = sync_signals(conn, t, plan_id, chrono::Utc::now()).await?;
        if changes.is_empty() {
            return Ok(false);
        }
        AuditEvent::system("update", "signals", plan_id)
            .family(row.family_id)
            .municipality(row.municipality_code.clone())
            .detail(serde_json::json!({"signals": changes, "trigger": "time"}))
            .record(conn)
            .await?;
        Ok(true)
    })
    .await
}

/// One round: every due plan refreshed. Returns how many changed.
pub async fn refresh_due(conn: &mut AsyncPgConnection, t: &Thresholds) -> QueryResult<usize> {
    let mut changed = 0;
    for plan_id in due_plans(conn, t).await? {
        if refresh_plan(conn, t, plan_id).await? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Runs [`refresh_due`] every interval for as long as the server runs.
pub fn spawn(state: Arc<AppState>) {
    let seconds = state.signals.refresh_interval_seconds;
    if seconds == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(seconds));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let round = async {
                let mut conn = state.pool.get().await.context("no database connection")?;
                let refreshed = refresh_due(&mut conn, &state.signals.thresholds).await;
                refreshed.context("refreshing time-based signals")
            };
            match round.await {
                Ok(0) => {}
                Ok(n) => tracing::info!(plans = n, "time-based signals refreshed"),
                // The whole cause chain: which statement failed, and why.
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "signal refresh failed; retrying next round"
                ),
            }
        }
    });
}
