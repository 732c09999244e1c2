//! The derived state of a plan: its care level, protection measure, scaling
//! history and signals. Every change to a plan's care calls [`apply`] inside
//! the transaction that holds the plan's row lock, so the derived state is
//! written with the change or not at all, and two changes to one plan can
//! never interleave. The database re-checks level and scaling at commit.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::model::Scaling;
use super::queries::{signal_rows, ScalingRow};
use crate::db::schema::{involvements, plan_signals, plans, scaling_events};
use crate::domain::care::{derive_state, direction, CareState, InvolvementStatus, Segment};
use crate::domain::signals::{
    evaluate, Finding, InvolvementFact, PlanFacts, ScalingFact, SignalStatus, Thresholds,
};
use crate::domain::PlanStatus;
use crate::error::{ApiError, ApiResult};

/// What changed a plan's care, for its scaling event.
pub struct Change<'a> {
    pub plan_id: Uuid,
    pub decided_by: Option<Uuid>,
    pub reason: &'a str,
    pub involvement_ids: Vec<Uuid>,
}

/// Signals raised, re-opened and resolved by a change.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SignalChanges {
    pub raised: Vec<&'static str>,
    pub reopened: Vec<&'static str>,
    pub resolved: Vec<String>,
}

impl SignalChanges {
    pub fn is_empty(&self) -> bool {
        self.raised.is_empty() && self.reopened.is_empty() && self.resolved.is_empty()
    }
}

/// The outcome of [`apply`].
#[derive(Debug)]
pub struct Applied {
    pub scaling: Option<Scaling>,
    pub signals: SignalChanges,
}

/// The care state the plan's active involvements give.
pub async fn derived_state(conn: &mut AsyncPgConnection, plan_id: Uuid) -> ApiResult<CareState> {
    let segments: Vec<String> = involvements::table
        .filter(involvements::plan_id.eq(plan_id))
        .filter(involvements::status.eq(InvolvementStatus::Active.as_str()))
        .select(involvements::segment)
        .load(conn)
        .await?;
    let segments = segments
        .iter()
        .map(|s| {
            Segment::parse(s)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown segment {s}")))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(derive_state(segments))
}

/// Brings the plan's level, protection measure, scaling history and signals
/// in line with its involvements. The caller holds the plan's row lock.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    thresholds: &Thresholds,
    change: Change<'_>,
) -> ApiResult<Applied> {
    let (level, protection): (i16, bool) = plans::table
        .find(change.plan_id)
        .select((plans::level, plans::protection_measure))
        .first(conn)
        .await?;
    let derived = derived_state(conn, change.plan_id).await?;
    let mut scaling = None;
    if derived.level != level || derived.protection_measure != protection {
        diesel::update(plans::table.find(change.plan_id))
            .set((
                plans::level.eq(derived.level),
                plans::protection_measure.eq(derived.protection_measure),
            ))
            .execute(conn)
            .await?;
    }
    if let Some(dir) = direction(level, derived.level) {
        let row: ScalingRow = diesel::insert_into(scaling_events::table)
            .values((
                scaling_events::id.eq(Uuid::now_v7()),
                scaling_events::plan_id.eq(change.plan_id),
                scaling_events::from_level.eq(level),
                scaling_events::to_level.eq(derived.level),
                scaling_events::direction.eq(dir.as_str()),
                scaling_events::reason.eq(change.reason),
                scaling_events::decided_by.eq(change.decided_by),
                scaling_events::involvement_ids.eq(&change.involvement_ids),
            ))
            .returning(ScalingRow::as_returning())
            .get_result(conn)
            .await?;
        scaling = Some(row.into_view()?);
    }
    let signals = sync_signals(conn, thresholds, change.plan_id, Utc::now()).await?;
    Ok(Applied { scaling, signals })
}

#[derive(Queryable)]
struct PlanHead {
    family_id: Uuid,
    municipality_code: String,
    status: String,
    created_at: DateTime<Utc>,
}

/// Loads what the signal rules look at and evaluates them: the signals that
/// should hold for the plan at `now`, computed from scratch.
pub async fn evaluate_plan(
    conn: &AsyncPgConnection,
    thresholds: &Thresholds,
    plan_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<(Uuid, String, Vec<Finding>)> {
    let since = now - Duration::days(thresholds.yo_yo_window_days);
    // The plan, its running care and its recent steps are independent reads:
    // pipelined, they cost one round trip instead of three.
    let (mut c1, mut c2, mut c3) = (conn, conn, conn);
    let (head, rows, scalings) = futures_util::try_join!(
        plans::table
            .find(plan_id)
            .select((
                plans::family_id,
                plans::municipality_code,
                plans::status,
                plans::created_at,
            ))
            .first::<PlanHead>(&mut c1),
        involvements::table
            .filter(involvements::plan_id.eq(plan_id))
            .filter(involvements::status.ne(InvolvementStatus::Ended.as_str()))
            .select((
                involvements::id,
                involvements::provider_id,
                involvements::member_id,
                involvements::segment,
                involvements::status,
                involvements::requested_on,
            ))
            .load::<(Uuid, Uuid, Option<Uuid>, String, String, chrono::NaiveDate)>(&mut c2),
        scaling_events::table
            .filter(scaling_events::plan_id.eq(plan_id))
            .filter(scaling_events::occurred_at.ge(since))
            .order((scaling_events::occurred_at, scaling_events::id))
            .select((
                scaling_events::id,
                scaling_events::occurred_at,
                scaling_events::direction,
            ))
            .load::<(Uuid, DateTime<Utc>, String)>(&mut c3),
    )?;
    let status = PlanStatus::parse(&head.status)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown plan status")))?;
    if status == PlanStatus::Closed {
        return Ok((head.family_id, head.municipality_code, Vec::new()));
    }
    let mut facts_involvements = Vec::with_capacity(rows.len());
    for (id, provider_id, member_id, segment, status, requested_on) in rows {
        facts_involvements.push(InvolvementFact {
            id,
            provider_id,
            member_id,
            segment: Segment::parse(&segment)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown segment")))?,
            status: InvolvementStatus::parse(&status)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown status")))?,
            requested_on,
        });
    }
    let scalings = scalings
        .into_iter()
        .map(|(id, occurred_at, dir)| {
            Ok(ScalingFact {
                id,
                occurred_at,
                direction: crate::domain::care::Direction::parse(&dir)
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown direction")))?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let facts = PlanFacts {
        status,
        created_at: head.created_at,
        involvements: facts_involvements,
        scalings,
    };
    Ok((
        head.family_id,
        head.municipality_code,
        evaluate(&facts, thresholds, now),
    ))
}

/// Makes the stored signals of a plan equal to a fresh evaluation: new ones
/// are raised, vanished ones resolved, and an acknowledged one whose facts
/// changed is re-opened (the acknowledgement was about other facts).
pub async fn sync_signals(
    conn: &mut AsyncPgConnection,
    thresholds: &Thresholds,
    plan_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<SignalChanges> {
    let shared: &AsyncPgConnection = conn;
    let ((family_id, municipality, findings), stored) = futures_util::try_join!(
        evaluate_plan(shared, thresholds, plan_id, now),
        signal_rows(shared, plan_id),
    )?;
    let mut changes = SignalChanges::default();
    for f in &findings {
        let code = f.code.as_str();
        match stored.iter().find(|s| s.code == code) {
            None => {
                diesel::insert_into(plan_signals::table)
                    .values((
                        plan_signals::plan_id.eq(plan_id),
                        plan_signals::code.eq(code),
                        plan_signals::family_id.eq(family_id),
                        plan_signals::municipality_code.eq(&municipality),
                        plan_signals::status.eq(SignalStatus::Open.as_str()),
                        plan_signals::facts.eq(&f.facts),
                        plan_signals::detail.eq(&f.detail),
                        plan_signals::raised_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                changes.raised.push(code);
            }
            Some(s) if s.facts != f.facts => {
                let reopen = s.status == SignalStatus::Acknowledged.as_str();
                diesel::update(plan_signals::table.find((plan_id, code)))
                    .set((
                        plan_signals::status.eq(SignalStatus::Open.as_str()),
                        plan_signals::facts.eq(&f.facts),
                        plan_signals::detail.eq(&f.detail),
                        plan_signals::raised_at.eq(if reopen { now } else { s.raised_at }),
                        plan_signals::acknowledged_at.eq(None::<DateTime<Utc>>),
                        plan_signals::acknowledged_by.eq(None::<Uuid>),
                        plan_signals::note.eq(None::<String>),
                    ))
                    .execute(conn)
                    .await?;
                if reopen {
                    changes.reopened.push(code);
                }
            }
            Some(s) if s.detail != f.detail => {
                diesel::update(plan_signals::table.find((plan_id, code)))
                    .set(plan_signals::detail.eq(&f.detail))
                    .execute(conn)
                    .await?;
            }
            Some(_) => {}
        }
    }
    for s in &stored {
        if !findings.iter().any(|f| f.code.as_str() == s.code) {
            diesel::delete(plan_signals::table.find((plan_id, &s.code)))
                .execute(conn)
                .await?;
            changes.resolved.push(s.code.clone());
        }
    }
    Ok(changes)
}
