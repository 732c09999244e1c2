//! The team lead's decisions on a referral, each in one transaction:
//! accept it into the intake (landing it in a family's plan), or decline
//! it, withdrawing the care it requested.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::matching::{self, Request};
use super::model::*;
use super::queries::{self, Accepted, ReferralRow};
use super::service::{notify, record_family_created};
use super::view::{full_view_of, load_people};
use crate::audit::AuditEvent;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::care::service::{care_changed, end_locked};
use crate::care::state::Change;
use crate::domain::care::{EndReason, InvolvementStatus};
use crate::domain::referrals::{DeclineReason, MatchBasis, ReferralStatus};
use crate::domain::{FamilyId, InvolvementId, MemberRole, PlanId, PlanStatus, ReferralId, UserId};
use crate::error::{checked, ApiError, ApiResult, ErrorCode, Invalid};
use crate::families::model::MemberSpec;
use crate::state::AppState;
use crate::tx::Tx;

/// Authorises a decision on a referral: the team lead of its municipality.
async fn authorize_decision(
    tx: &mut Tx<'_>,
    me: &Principal,
    id: ReferralId,
    event: AuditEvent,
) -> ApiResult<AuditEvent> {
    let Some(row) = queries::referral(tx.conn, id, false).await? else {
        tx.enforce(policy::case_role(me), "referral", event).await?;
        return Err(ApiError::not_found("Referral"));
    };
    let event = event.municipality(row.municipality_code.clone());
    let decision = policy::decide_referral(me, &row.facts());
    tx.enforce(decision, "referral", event.clone()).await?;
    Ok(event)
}

/// The referral, locked for its decision, if it is not decided yet.
async fn lock_undecided(conn: &mut AsyncPgConnection, id: ReferralId) -> ApiResult<ReferralRow> {
    let row = queries::referral(conn, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("Referral"))?;
    if row.status.is_decided() {
        return Err(ApiError::conflict(
            ErrorCode::ReferralDecided,
            "This referral has already been accepted or declined.",
        )
        // Not `status`: that member is the HTTP status of the problem itself.
        .with_extra("referralStatus", row.status.as_str()));
    }
    Ok(row)
}

/// Accepts a referral into the intake. A `needs_review` referral lands in
/// the family chosen by `familyId` (its open plan, or a new intake plan),
/// or, without it, in a new family.
#[tracing::instrument(skip_all, fields(referral_id = %id))]
pub async fn accept_referral(
    app: &AppState,
    bearer: &Bearer,
    id: ReferralId,
    input: AcceptReferral,
) -> ApiResult<Referral> {
    let (view, notified) = app
        .transaction(async |tx| {
            let (me, event) = tx.user_doing(bearer, "accept", "referral", id).await?;
            let event = authorize_decision(tx, &me, id, event).await?;
            let row = lock_undecided(tx.conn, id).await?;
            let before = row.status;
            let (basis, family_id, landed, created) =
                place(tx, &row, me.user_id, input.family_id).await?;
            let accepted = Accepted {
                status: ReferralStatus::Accepted,
                basis,
                family_id,
                plan_id: landed.as_ref().map(|l| l.plan_id).or(row.plan_id),
                involvement_id: landed
                    .as_ref()
                    .and_then(|l| l.involvement_id)
                    .or(row.involvement_id),
                involvement_created: landed
                    .as_ref()
                    .map_or(row.involvement_created, |l| l.created),
                decided_by: me.user_id,
            };
            let row = queries::set_accepted(tx.conn, id, accepted).await?;
            let released = release(tx.conn, &row).await?;
            if let Some(f) = created {
                record_family_created(tx, &event, f, id).await?;
            }
            event
                .family(family_id)
                .detail(json!({
                    "from": before.as_str(),
                    "matchBasis": basis,
                    "planId": row.plan_id,
                    "releasedInvolvementId": released,
                }))
                .record(tx.conn)
                .await?;
            let notified = notify(tx.conn, &row, before).await?;
            Ok((full_view_of(tx.conn, &app.vault, &row).await?, notified))
        })
        .await?;
    if notified {
        app.outbox_wakeup.notify_one();
    }
    Ok(view)
}

/// Where an accepted referral goes: its match basis, its family, where it
/// landed (when it lands now) and the family registered for it (if any).
type Placed = (
    Option<MatchBasis>,
    FamilyId,
    Option<matching::Landed>,
    Option<FamilyId>,
);

async fn place(
    tx: &mut Tx<'_>,
    row: &ReferralRow,
    by: UserId,
    chosen: Option<FamilyId>,
) -> ApiResult<Placed> {
    match (row.status, row.family_id, chosen) {
        (ReferralStatus::Matched, Some(f), c) if c.is_none_or(|c| c == f) => {
            return Ok((row.match_basis, f, None, None));
        }
        (ReferralStatus::Matched, _, _) => {
            return Err(ApiError::conflict(
                ErrorCode::ReferralAlreadyMatched,
                "This referral already joined another family's plan.",
            )
            .with_extra("familyId", json!(row.family_id)));
        }
        _ => {}
    }
    let (parents, child): (Vec<MemberSpec>, Vec<MemberSpec>) =
        load_people(tx.conn, &tx.app.vault, &[row.id])
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .partition(|p| p.role != MemberRole::Child);
    let child = child
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("referral without child")))?;
    let bsn_hash = child.bsn.as_ref().map(|b| tx.app.vault.hash(b));
    matching::lock_child(tx.conn, bsn_hash.as_deref(), &child).await?;
    let m = row.municipality_code.as_str();
    let (basis, family, created) = match chosen {
        Some(f) => {
            if !queries::family_in_municipality(tx.conn, f, m).await? {
                return Err(ApiError::unprocessable(
                    ErrorCode::UnknownFamily,
                    "No family with this id in the referral's municipality.",
                )
                .with_extra("field", "familyId"));
            }
            (MatchBasis::ChosenByTeamLead, f, None)
        }
        None => {
            let f = matching::register_family(tx.conn, tx.app, m, &child, &parents).await?;
            (MatchBasis::NewFamily, f, Some(f))
        }
    };
    let title = format!("Intake after referral {}", row.external_reference);
    let request = Request {
        title: &title,
        reason: &row.reason,
        provider_id: row.requested_provider_id,
        care_form_code: row.requested_care_form_code.as_deref(),
        by_user: Some(by),
        // Landing now is the acceptance: the care waits for nothing.
        awaiting: None,
    };
    let landed = matching::land(
        tx.conn,
        tx.app,
        family,
        m,
        bsn_hash.as_deref(),
        &child,
        &request,
    )
    .await?;
    Ok((Some(basis), family, Some(landed), created))
}

/// Declines a referral with a WJ759 reason. The involvement the referral
/// created is withdrawn (requested or, if started, ended) with the access
/// it gave its provider; a family or plan it opened stays, for the team
/// lead to close.
#[tracing::instrument(skip_all, fields(referral_id = %id))]
pub async fn decline_referral(
    app: &AppState,
    bearer: &Bearer,
    id: ReferralId,
    input: DeclineReferral,
) -> ApiResult<Referral> {
    let (view, notified) = app
        .transaction(async |tx| {
            let (me, event) = tx.user_doing(bearer, "decline", "referral", id).await?;
            let event = authorize_decision(tx, &me, id, event).await?;
            let (reason, note) = parse_decline(&input)?;
            let row = lock_undecided(tx.conn, id).await?;
            let before = row.status;
            let withdrawn = match (row.involvement_id, row.plan_id, row.involvement_created) {
                (Some(inv), Some(plan), true) => withdraw(tx, id, plan, inv, me.user_id).await?,
                _ => None,
            };
            let row =
                queries::set_declined(tx.conn, id, reason.code(), note.as_deref(), me.user_id)
                    .await?;
            let mut event = event.detail(json!({
                "from": before.as_str(),
                "reasonCode": reason.code(),
                "withdrawnInvolvementId": withdrawn,
            }));
            if let Some(f) = row.family_id {
                event = event.family(f);
            }
            event.record(tx.conn).await?;
            let notified = notify(tx.conn, &row, before).await?;
            Ok((full_view_of(tx.conn, &app.vault, &row).await?, notified))
        })
        .await?;
    if notified {
        app.outbox_wakeup.notify_one();
    }
    Ok(view)
}

/// The decline's reason and note, or 400: `other` needs a note.
fn parse_decline(input: &DeclineReferral) -> ApiResult<(DeclineReason, Option<String>)> {
    let mut v = Invalid::validated(input);
    let reason = v.check("reasonCode", DeclineReason::parse(&input.reason_code));
    let note = checked(crate::domain::text::optional(input.note.as_deref(), 2000));
    let blank = matches!(&note, Ok(None));
    if reason.is_some_and(DeclineReason::needs_note) && blank {
        v.push(
            "note",
            ErrorCode::Required,
            "Say why in a note when the reason is other.",
        );
    }
    let (reason,) = v.finish((reason,))?;
    Ok((reason, note?))
}

/// Releases the care an accepted referral requested: from now on it is the
/// provider's like any care in the plan (it may read the plan and start
/// it). Returns the involvement when one was waiting.
async fn release(
    conn: &mut AsyncPgConnection,
    row: &ReferralRow,
) -> ApiResult<Option<InvolvementId>> {
    let (Some(involvement), Some(plan)) = (row.involvement_id, row.plan_id) else {
        return Ok(None);
    };
    if !queries::release_involvement(conn, involvement).await? {
        return Ok(None);
    }
    // The plan's view changed (the care no longer waits): a new version.
    crate::plans::queries::bump_version(conn, plan).await?;
    Ok(Some(involvement))
}

/// Withdraws everything a declined referral brought into the plan: the
/// involvement it created, whether still requested or (care started under
/// it before the grants waited for acceptance) already running, so its
/// provider keeps no access through it. Level, scaling history and signals
/// move exactly as when care ends through the end endpoint. Care that
/// another referral's acceptance approved, or that has ended, stays as it
/// is. Returns the involvement when it withdrew one.
async fn withdraw(
    tx: &mut Tx<'_>,
    referral: ReferralId,
    plan_id: PlanId,
    involvement_id: InvolvementId,
    by: UserId,
) -> ApiResult<Option<InvolvementId>> {
    let plan = crate::plans::queries::plan_row(tx.conn, plan_id, true).await?;
    if plan.is_none_or(|p| p.status == PlanStatus::Closed) {
        return Ok(None);
    }
    let row = crate::care::queries::involvement_row(tx.conn, involvement_id, true).await?;
    let Some(row) = row.filter(|r| r.status != InvolvementStatus::Ended) else {
        return Ok(None);
    };
    let waits_for_this = row.awaiting_referral_id == Some(referral);
    if !waits_for_this && queries::accepted_elsewhere(tx.conn, involvement_id, referral).await? {
        return Ok(None);
    }
    let today = Utc::now().date_naive();
    let ended_on = today.max(row.started_on.unwrap_or(row.requested_on));
    let reason = "Referral declined";
    end_locked(tx.conn, &row, ended_on, EndReason::Other, Some(reason)).await?;
    let change = Change {
        plan_id,
        decided_by: Some(by),
        reason,
        involvement_ids: vec![involvement_id],
    };
    care_changed(tx.conn, tx.app, change).await?;
    Ok(Some(involvement_id))
}
