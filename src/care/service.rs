//! What the involvement endpoints do, each in one transaction that takes
//! the plan's row lock first, changes involvements, brings level, scaling
//! history and signals in line ([`state::apply`]) and writes its audit
//! event: all or nothing. Also the pieces referrals use to request and
//! withdraw care in the same way.

use chrono::{NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::model::*;
use super::queries::{self, InvolvementRow, NewInvolvementRow};
use super::state::{self, Applied, Change};
use super::view::Lens;
use crate::audit::AuditEvent;
use crate::auth::policy::{self, Denial, FamilyFacts};
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::domain::care::{EndReason, InvolvementStatus};
use crate::domain::{FamilyId, InvolvementId, MemberId, PlanId, ProviderId, Role, UserId};
use crate::error::{checked, ApiError, ApiResult, ErrorCode, Invalid};
use crate::families::access::authorize;
use crate::families::queries::{family_facts, FactsOf};
use crate::http::pagination::{finish, PageRequest};
use crate::plans::queries::bump_version;
use crate::plans::service::{authorize_plan, lock_for_change, lock_open_plan};
use crate::state::AppState;
use crate::tx::Tx;

/// The care forms of the region's catalogue, lightest segment first.
#[tracing::instrument(skip_all)]
pub async fn list_care_forms(app: &AppState, bearer: &Bearer) -> ApiResult<CareFormPage> {
    app.transaction(async |tx| {
        tx.user(bearer).await?;
        let items = app.catalogue.all().into_iter().cloned().collect();
        Ok(CareFormPage {
            items,
            next_cursor: None,
        })
    })
    .await
}

/// Registers care for a plan, requested (waiting) or already active;
/// returns it with the plan's new version.
#[tracing::instrument(skip_all, fields(plan_id = %plan_id, involvement_id))]
pub async fn create_involvement(
    app: &AppState,
    bearer: &Bearer,
    plan_id: PlanId,
    input: NewInvolvement,
) -> ApiResult<(Involvement, i32)> {
    let id = InvolvementId::new();
    tracing::Span::current().record("involvement_id", tracing::field::display(id));
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "create", "involvement", id).await?;
        let facts = authorize_plan(tx, &me, plan_id, policy::change_plan, event.clone()).await?;
        let spec = input.parse(&app.catalogue, Utc::now().date_naive())?;
        lock_for_change(tx.conn, &me, &facts, plan_id, None).await?;
        check_references(tx.conn, facts.family_id, input.provider_id, input.member_id).await?;
        let row = NewInvolvementRow {
            id,
            plan_id,
            family_id: facts.family_id,
            provider_id: input.provider_id,
            form: spec.form.into(),
            member_id: input.member_id,
            status: spec.status,
            requested_on: spec.requested_on,
            started_on: spec.started_on,
            reason: spec.reason.as_deref(),
            created_by: Some(me.user_id),
            awaiting_referral_id: None,
        };
        queries::insert_involvement(tx.conn, row).await?;
        let version = bump_version(tx.conn, plan_id).await?;
        let reason = spec.reason.as_deref().unwrap_or("Care started");
        let applied = apply(tx, plan_id, me.user_id, reason, vec![id]).await?;
        let mut detail = applied_detail(&applied);
        detail["planId"] = json!(plan_id);
        detail["providerId"] = json!(input.provider_id);
        detail["careFormCode"] = json!(spec.form.code);
        detail["status"] = json!(spec.status.as_str());
        audit(event, &facts).detail(detail).record(tx.conn).await?;
        let lens = Lens::full(&app.catalogue);
        Ok((involvement_view(tx.conn, id, lens).await?, version))
    })
    .await
}

/// Starts requested care.
#[tracing::instrument(skip_all, fields(involvement_id = %id))]
pub async fn start_involvement(
    app: &AppState,
    bearer: &Bearer,
    id: InvolvementId,
    input: StartInvolvement,
) -> ApiResult<Involvement> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "start", "involvement", id).await?;
        let access = authorize_involvement(tx, &me, id, event.clone()).await?;
        let mut v = Invalid::new();
        let today = Utc::now().date_naive();
        let started_on = date_field(&mut v, "startedOn", input.started_on, today);
        let (started_on,) = v.finish((started_on,))?;
        let row = lock_involvement(tx.conn, &me, &access, id).await?;
        if row.status != InvolvementStatus::Requested {
            return Err(ApiError::conflict(
                ErrorCode::InvolvementNotRequested,
                "Only requested care can start; this involvement has started or ended.",
            ));
        }
        if let Some(referral) = row.awaiting_referral_id {
            return Err(ApiError::conflict(
                ErrorCode::ReferralNotAccepted,
                "This care was requested by a referral that is not accepted yet; accept the referral first.",
            )
            .with_extra("referralId", referral.to_string()));
        }
        if started_on < row.requested_on {
            return Err(ApiError::invalid_field(
                "startedOn",
                ErrorCode::BeforeRequested,
                "Care cannot start before it was requested.",
            ));
        }
        queries::start_involvement(tx.conn, id, started_on).await?;
        bump_version(tx.conn, row.plan_id).await?;
        let reason = row.reason.as_deref().unwrap_or("Care started");
        let applied = apply(tx, row.plan_id, me.user_id, reason, vec![id]).await?;
        let mut detail = applied_detail(&applied);
        detail["planId"] = json!(row.plan_id);
        detail["startedOn"] = json!(started_on);
        audit(event, &access.facts)
            .detail(detail)
            .record(tx.conn)
            .await?;
        involvement_view(tx.conn, id, lens_of(app, &me)).await
    })
    .await
}

/// Ends care (or withdraws a request), with the iJw end reason.
#[tracing::instrument(skip_all, fields(involvement_id = %id))]
pub async fn end_involvement(
    app: &AppState,
    bearer: &Bearer,
    id: InvolvementId,
    input: EndInvolvement,
) -> ApiResult<Involvement> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "end", "involvement", id).await?;
        let access = authorize_involvement(tx, &me, id, event.clone()).await?;
        let mut v = Invalid::validated(&input);
        let today = Utc::now().date_naive();
        let ended_on = date_field(&mut v, "endedOn", input.ended_on, today);
        let (ended_on,) = v.finish((ended_on,))?;
        let note = checked(crate::domain::text::optional(input.reason.as_deref(), 2000))?;
        let row = lock_involvement(tx.conn, &me, &access, id).await?;
        end_locked(tx.conn, &row, ended_on, input.end_reason, note.as_deref()).await?;
        bump_version(tx.conn, row.plan_id).await?;
        let reason = note.as_deref().unwrap_or("Care ended");
        let applied = apply(tx, row.plan_id, me.user_id, reason, vec![id]).await?;
        let mut detail = applied_detail(&applied);
        detail["planId"] = json!(row.plan_id);
        detail["endReason"] = json!(input.end_reason.as_str());
        audit(event, &access.facts)
            .detail(detail)
            .record(tx.conn)
            .await?;
        involvement_view(tx.conn, id, lens_of(app, &me)).await
    })
    .await
}

/// The provider's work list: its own involvements in its municipality.
#[tracing::instrument(skip_all)]
pub async fn list_own_involvements(
    app: &AppState,
    bearer: &Bearer,
    q: WorklistQuery,
) -> ApiResult<InvolvementPage> {
    app.transaction(async |tx| {
        let (me, event) = tx
            .user_doing(bearer, "search", "involvement", "worklist")
            .await?;
        let decision = policy::provider_worklist(&me);
        tx.enforce(decision, "involvement", event.clone()).await?;
        let (Some(provider), Some(municipality)) = (me.provider_id, me.municipality_code.clone())
        else {
            return Err(ApiError::forbidden("Only provider users have a work list."));
        };
        let page = PageRequest::<InvolvementId>::parse(q.limit, q.cursor.as_deref())?;
        let rows = queries::worklist(
            tx.conn,
            provider,
            &municipality,
            q.status,
            page.after,
            page.fetch(),
        )
        .await?;
        let (rows, next_cursor) = finish(rows, page.limit, |(r, _)| r.id);
        let ids: Vec<InvolvementId> = rows.iter().map(|(r, _)| r.id).collect();
        let items = Lens::provider(&app.catalogue, provider).involvements(rows);
        event
            .municipality(municipality)
            .detail(json!({"involvementIds": ids}))
            .record(tx.conn)
            .await?;
        Ok(InvolvementPage { items, next_cursor })
    })
    .await
}

/// The event of a change to a family's care, about that family.
fn audit(event: AuditEvent, facts: &FamilyFacts) -> AuditEvent {
    event
        .family(facts.family_id)
        .municipality(facts.municipality_code.clone())
}

/// Brings the plan's derived state in line after a change by `by`.
async fn apply(
    tx: &mut Tx<'_>,
    plan_id: PlanId,
    by: UserId,
    reason: &str,
    involvement_ids: Vec<InvolvementId>,
) -> ApiResult<Applied> {
    let change = Change {
        plan_id,
        decided_by: Some(by),
        reason,
        involvement_ids,
    };
    Ok(state::apply(tx.conn, &tx.app.signals.thresholds, change).await?)
}

/// What a change did to the level and the signals, for its audit event.
pub fn applied_detail(applied: &Applied) -> serde_json::Value {
    json!({
        "scaling": applied.scaling.as_ref().map(|s| json!({
            "id": s.id, "fromLevel": s.from_level, "toLevel": s.to_level,
            "direction": s.direction.as_str(),
        })),
        "signals": applied.signals,
    })
}

/// Who may change an involvement, and the facts of its family.
struct InvolvementAccess {
    facts: FamilyFacts,
    plan_id: PlanId,
    as_provider: bool,
}

/// JGT roles change involvements as they change the plan (team lead or
/// director); a provider user only its own provider's; anything else 404.
async fn authorize_involvement(
    tx: &mut Tx<'_>,
    me: &Principal,
    id: InvolvementId,
    event: AuditEvent,
) -> ApiResult<InvolvementAccess> {
    let row = queries::involvement_row(tx.conn, id, false).await?;
    if me.role == Role::ProviderUser {
        let facts = match &row {
            Some(r) => family_facts(tx.conn, FactsOf::Family(r.family_id)).await?,
            None => None,
        };
        let (decision, event) = match (&row, &facts) {
            (Some(r), Some(f)) => (
                policy::provider_change_involvement(
                    me,
                    &f.municipality_code,
                    r.provider_id,
                    r.awaiting_referral_id.is_some(),
                ),
                audit(event, f),
            ),
            _ => (Err(Denial::Hidden), event),
        };
        tx.enforce(decision, "involvement", event).await?;
        let (Some(row), Some(facts)) = (row, facts) else {
            return Err(ApiError::not_found("Involvement"));
        };
        return Ok(InvolvementAccess {
            facts,
            plan_id: row.plan_id,
            as_provider: true,
        });
    }
    tx.enforce(policy::case_role(me), "involvement", event.clone())
        .await?;
    let row = row.ok_or_else(|| ApiError::not_found("Involvement"))?;
    let of = FactsOf::Family(row.family_id);
    let facts = authorize(tx, me, of, policy::change_plan, event, "involvement").await?;
    Ok(InvolvementAccess {
        facts,
        plan_id: row.plan_id,
        as_provider: false,
    })
}

/// Locks the plan of an involvement for a change (it must still be open,
/// and a JGT caller must still be allowed with the director as it is
/// now), then the involvement itself.
async fn lock_involvement(
    conn: &mut AsyncPgConnection,
    me: &Principal,
    access: &InvolvementAccess,
    id: InvolvementId,
) -> ApiResult<InvolvementRow> {
    if access.as_provider {
        lock_open_plan(conn, access.plan_id, None).await?;
    } else {
        lock_for_change(conn, me, &access.facts, access.plan_id, None).await?;
    }
    queries::involvement_row(conn, id, true)
        .await?
        .ok_or_else(|| ApiError::not_found("Involvement"))
}

fn lens_of<'a>(app: &'a AppState, me: &Principal) -> Lens<'a> {
    match (me.role, me.provider_id) {
        (Role::ProviderUser, Some(p)) => Lens::provider(&app.catalogue, p),
        _ => Lens::full(&app.catalogue),
    }
}

/// One involvement in the given lens.
pub async fn involvement_view(
    conn: &mut AsyncPgConnection,
    id: InvolvementId,
    lens: Lens<'_>,
) -> ApiResult<Involvement> {
    let (row, name) = queries::involvement_with_provider(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Involvement"))?;
    Ok(lens.involvement(row, name))
}

/// Checks under the plan's lock that the provider takes care and the member
/// belongs to the plan's family.
pub async fn check_references(
    conn: &mut AsyncPgConnection,
    family_id: FamilyId,
    provider_id: ProviderId,
    member_id: Option<MemberId>,
) -> ApiResult<()> {
    match queries::provider_active(conn, provider_id).await? {
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
        if !queries::is_current_member(conn, family_id, member_id).await? {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownMember,
                "The member is not a current member of the plan's family.",
            ));
        }
    }
    Ok(())
}

/// Ends a locked involvement row (the end endpoint, scaling steps and
/// declined referrals).
pub async fn end_locked(
    conn: &mut AsyncPgConnection,
    row: &InvolvementRow,
    ended_on: NaiveDate,
    reason: EndReason,
    note: Option<&str>,
) -> ApiResult<()> {
    if row.status == InvolvementStatus::Ended {
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
    Ok(queries::end_involvement(conn, row.id, ended_on, reason, note).await?)
}

/// After a change to a plan's involvements made outside the care endpoints
/// (a referral requesting care, a decline withdrawing it): bumps the plan's
/// version and brings level, scaling history and signals in line, under the
/// plan's lock the caller holds.
pub async fn care_changed(
    conn: &mut AsyncPgConnection,
    app: &AppState,
    change: Change<'_>,
) -> ApiResult<Applied> {
    bump_version(conn, change.plan_id).await?;
    Ok(state::apply(conn, &app.signals.thresholds, change).await?)
}
