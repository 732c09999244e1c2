//! What the scaling and signal endpoints do: a whole step up or down in one
//! transaction, the scaling history, and the signals with their
//! acknowledgement.

use chrono::Utc;
use serde_json::json;

use super::model::*;
use super::queries::{self, NewInvolvementRow};
use super::service::{applied_detail, end_locked};
use super::state::{self, Change};
use super::view::Lens;
use crate::audit::AuditEvent;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::domain::care::InvolvementStatus;
use crate::domain::signals::SignalCode;
use crate::domain::{InvolvementId, PlanId};
use crate::error::{checked, ApiError, ApiResult, ErrorCode, Invalid};
use crate::http::access_reason::AccessReason;
use crate::plans::model::Plan;
use crate::plans::queries::bump_version;
use crate::plans::service::{authorize_plan, authorize_plan_read, lock_for_change};
use crate::plans::view::load_plan;
use crate::state::AppState;

/// One whole scaling step: end some involvements and start others today,
/// atomically, with one scaling event when the level moves. If any part
/// fails (an involvement of another plan, an unknown provider), nothing
/// changes.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn scale_plan(
    app: &AppState,
    bearer: &Bearer,
    plan_id: PlanId,
    step: ScalingStep,
) -> ApiResult<Plan> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "scale", "plan", plan_id).await?;
        let facts = authorize_plan(tx, &me, plan_id, policy::change_plan, event.clone()).await?;
        let (reason, forms) = step.parse(&app.catalogue)?;
        let today = Utc::now().date_naive();
        lock_for_change(tx.conn, &me, &facts, plan_id, None).await?;
        let mut changed = Vec::new();
        for e in &step.end {
            let row = queries::involvement_row(tx.conn, e.involvement_id, true).await?;
            let row = row.filter(|r| r.plan_id == plan_id).ok_or_else(|| {
                ApiError::unprocessable(
                    ErrorCode::InvolvementNotInPlan,
                    "An involvement to end does not belong to this plan.",
                )
                .with_extra("involvementId", e.involvement_id.to_string())
            })?;
            end_locked(tx.conn, &row, today, e.end_reason, Some(&reason)).await?;
            changed.push(row.id);
        }
        for (s, form) in step.start.iter().zip(forms) {
            super::service::check_references(tx.conn, facts.family_id, s.provider_id, s.member_id)
                .await?;
            let row = NewInvolvementRow {
                id: InvolvementId::new(),
                plan_id,
                family_id: facts.family_id,
                provider_id: s.provider_id,
                form: form.into(),
                member_id: s.member_id,
                status: InvolvementStatus::Active,
                requested_on: today,
                started_on: Some(today),
                reason: Some(&reason),
                created_by: Some(me.user_id),
                awaiting_referral_id: None,
            };
            changed.push(row.id);
            queries::insert_involvement(tx.conn, row).await?;
        }
        bump_version(tx.conn, plan_id).await?;
        let change = Change {
            plan_id,
            decided_by: Some(me.user_id),
            reason: &reason,
            involvement_ids: changed.clone(),
        };
        let applied = state::apply(tx.conn, &app.signals.thresholds, change).await?;
        let mut detail = applied_detail(&applied);
        detail["involvementIds"] = json!(changed);
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

/// The plan's scaling history, oldest first.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn list_scalings(
    app: &AppState,
    bearer: &Bearer,
    reason: &AccessReason,
    plan_id: PlanId,
) -> ApiResult<Vec<Scaling>> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = authorize_plan_read(tx, &me, plan_id, "scaling_history", reason).await?;
        event.record(tx.conn).await?;
        Ok(queries::plan_scalings(tx.conn, plan_id).await?)
    })
    .await
}

/// The plan's signals, open and acknowledged.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn list_signals(
    app: &AppState,
    bearer: &Bearer,
    reason: &AccessReason,
    plan_id: PlanId,
) -> ApiResult<Vec<Signal>> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = authorize_plan_read(tx, &me, plan_id, "signals", reason).await?;
        event.record(tx.conn).await?;
        let rows = queries::signal_rows(tx.conn, plan_id).await?;
        Ok(rows.into_iter().map(Signal::from).collect())
    })
    .await
}

/// Records that a signalled situation is deliberate. The signal stays
/// visible as acknowledged, and re-opens when its facts change.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id))]
pub async fn acknowledge_signal(
    app: &AppState,
    bearer: &Bearer,
    plan_id: PlanId,
    code: &str,
    input: Acknowledge,
) -> ApiResult<Signal> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let Some(code) = SignalCode::parse(code) else {
            return Err(ApiError::invalid_field(
                "code",
                ErrorCode::UnknownSignal,
                "Not a signal code.",
            ));
        };
        let event = AuditEvent::by(&me, "acknowledge", "signal", format!("{plan_id}/{code}"));
        let facts = authorize_plan(tx, &me, plan_id, policy::change_plan, event.clone()).await?;
        Invalid::validated(&input).into_result()?;
        let note = checked(crate::domain::text::required(&input.note, 2000))?;
        lock_for_change(tx.conn, &me, &facts, plan_id, None).await?;
        let row = queries::acknowledge_signal(tx.conn, plan_id, code, me.user_id, &note)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    actix_web::http::StatusCode::NOT_FOUND,
                    ErrorCode::SignalNotFound,
                    "This signal does not hold for the plan now.",
                )
            })?;
        event
            .family(facts.family_id)
            .municipality(facts.municipality_code.clone())
            .detail(json!({"code": code.as_str(), "facts": row.facts}))
            .record(tx.conn)
            .await?;
        Ok(row.into())
    })
    .await
}
