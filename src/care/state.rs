//! The derived state of a plan: its care level, protection measure, scaling
//! history and signals. Every change to a plan's care calls [`apply`] inside
//! the transaction that holds the plan's row lock, so the derived state is
//! written with the change or not at all, and two changes to one plan can
//! never interleave. The database re-checks level and scaling at commit.

use chrono::{DateTime, Duration, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use serde::Serialize;

use super::model::Scaling;
use super::queries::{self, NewScaling, RaisedSignal};
use crate::domain::care::{derive_state, direction, CareState};
use crate::domain::signals::{
    evaluate, Finding, InvolvementFact, PlanFacts, ScalingFact, SignalStatus, Thresholds,
};
use crate::domain::{FamilyId, InvolvementId, PlanId, PlanStatus, UserId};

/// What changed a plan's care, for its scaling event.
pub struct Change<'a> {
    pub plan_id: PlanId,
    pub decided_by: Option<UserId>,
    pub reason: &'a str,
    pub involvement_ids: Vec<InvolvementId>,
}

/// Signals raised, re-opened and resolved by a change.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SignalChanges {
    pub raised: Vec<&'static str>,
    pub reopened: Vec<&'static str>,
    pub resolved: Vec<&'static str>,
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
pub async fn derived_state(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<CareState> {
    Ok(derive_state(queries::active_segments(conn, plan_id).await?))
}

/// Brings the plan's level, protection measure, scaling history and signals
/// in line with its involvements. The caller holds the plan's row lock.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    thresholds: &Thresholds,
    change: Change<'_>,
) -> QueryResult<Applied> {
    let (level, protection) = queries::plan_level(conn, change.plan_id).await?;
    let derived = derived_state(conn, change.plan_id).await?;
    if derived.level != level || derived.protection_measure != protection {
        queries::set_plan_level(
            conn,
            change.plan_id,
            derived.level,
            derived.protection_measure,
        )
        .await?;
    }
    let mut scaling = None;
    if let Some(dir) = direction(level, derived.level) {
        let step = NewScaling {
            id: crate::domain::ScalingId::new(),
            plan_id: change.plan_id,
            from_level: level,
            to_level: derived.level,
            direction: dir,
            reason: change.reason,
            decided_by: change.decided_by,
            involvement_ids: &change.involvement_ids,
        };
        scaling = Some(queries::insert_scaling(conn, step).await?);
    }
    let signals = sync_signals(conn, thresholds, change.plan_id, Utc::now()).await?;
    Ok(Applied { scaling, signals })
}

/// Loads what the signal rules look at and evaluates them: the signals that
/// should hold for the plan at `now`, computed from scratch, with the
/// plan's family and municipality.
pub async fn evaluate_plan(
    conn: &AsyncPgConnection,
    thresholds: &Thresholds,
    plan_id: PlanId,
    now: DateTime<Utc>,
) -> QueryResult<(FamilyId, String, Vec<Finding>)> {
    let since = now - Duration::days(thresholds.yo_yo_window_days);
    // The plan, its running care and its recent steps are independent reads:
    // pipelined, they cost one round trip instead of three.
    let (head, running, steps) = futures_util::try_join!(
        queries::plan_head(conn, plan_id),
        queries::running_care(conn, plan_id),
        queries::recent_steps(conn, plan_id, since),
    )?;
    if head.status == PlanStatus::Closed {
        return Ok((head.family_id, head.municipality_code, Vec::new()));
    }
    let facts = PlanFacts {
        status: head.status,
        created_at: head.created_at,
        involvements: running
            .into_iter()
            .map(|r| InvolvementFact {
                id: r.id.uuid(),
                provider_id: r.provider_id.uuid(),
                member_id: r.member_id.map(|m| m.uuid()),
                segment: r.segment,
                status: r.status,
                requested_on: r.requested_on,
            })
            .collect(),
        scalings: steps
            .into_iter()
            .map(|(id, occurred_at, direction)| ScalingFact {
                id: id.uuid(),
                occurred_at,
                direction,
            })
            .collect(),
    };
    let findings = evaluate(&facts, thresholds, now);
    Ok((head.family_id, head.municipality_code, findings))
}

/// Makes the stored signals of a plan equal to a fresh evaluation: new ones
/// are raised, vanished ones resolved, and an acknowledged one whose facts
/// changed is re-opened (the acknowledgement was about other facts).
pub async fn sync_signals(
    conn: &mut AsyncPgConnection,
    thresholds: &Thresholds,
    plan_id: PlanId,
    now: DateTime<Utc>,
) -> QueryResult<SignalChanges> {
    let shared: &AsyncPgConnection = conn;
    let ((family_id, municipality, findings), stored) = futures_util::try_join!(
        evaluate_plan(shared, thresholds, plan_id, now),
        queries::signal_rows(shared, plan_id),
    )?;
    let mut changes = SignalChanges::default();
    for f in &findings {
        let code = f.code.as_str();
        match stored.iter().find(|s| s.code == f.code) {
            None => {
                let raised = RaisedSignal {
                    plan_id,
                    code: f.code,
                    family_id,
                    municipality_code: &municipality,
                    status: SignalStatus::Open,
                    facts: &f.facts,
                    detail: &f.detail,
                    raised_at: now,
                };
                queries::insert_signal(conn, raised).await?;
                changes.raised.push(code);
            }
            Some(s) if s.facts != f.facts => {
                let reopen = s.status == SignalStatus::Acknowledged;
                let raised_at = if reopen { now } else { s.raised_at };
                queries::reopen_signal(conn, plan_id, f.code, &f.facts, &f.detail, raised_at)
                    .await?;
                if reopen {
                    changes.reopened.push(code);
                }
            }
            Some(s) if s.detail != f.detail => {
                queries::set_signal_detail(conn, plan_id, f.code, &f.detail).await?;
            }
            Some(_) => {}
        }
    }
    for s in &stored {
        if !findings.iter().any(|f| f.code == s.code) {
            queries::delete_signal(conn, plan_id, s.code).await?;
            changes.resolved.push(s.code.as_str());
        }
    }
    Ok(changes)
}
