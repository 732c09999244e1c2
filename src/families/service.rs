//! What the family endpoints do, each in one transaction: register, search,
//! read and change families and their members.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::access::{authorize, authorize_read};
use super::model::*;
use super::queries::{self, FactsOf, MemberChange, NewMemberRow};
use super::search::{self, Reach, Search};
use crate::admin::queries::team_in_municipality;
use crate::admin::service::unknown_team;
use crate::audit::AuditEvent;
use crate::auth::policy::{self, Denial, FamilyFacts};
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::crypto::BsnVault;
use crate::domain::{text, Bsn, FamilyId, MemberId, MemberRole, Role};
use crate::error::{checked, ApiError, ApiResult, ErrorCode, Invalid};
use crate::http::access_reason::AccessReason;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;
use crate::tx::Tx;

/// Registers a family with its members.
#[tracing::instrument(skip_all, fields(family_id))]
pub async fn create_family(app: &AppState, bearer: &Bearer, input: NewFamily) -> ApiResult<Family> {
    let family_id = FamilyId::new();
    tracing::Span::current().record("family_id", tracing::field::display(family_id));
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "create", "family", family_id).await?;
        let event = event.family(family_id);
        tx.enforce(policy::case_role(&me), "family", event.clone())
            .await?;
        let spec = input.parse()?;
        let municipality = spec.municipality.as_str();
        let event = event.municipality(municipality);
        let decision = policy::create_family(&me, municipality, spec.team_id);
        tx.enforce(decision, "family", event.clone()).await?;
        if !team_in_municipality(tx.conn, spec.team_id, Some(municipality)).await? {
            return Err(unknown_team());
        }
        queries::insert_family(tx.conn, family_id, municipality, spec.team_id, &spec.name).await?;
        for (i, member) in spec.members.iter().enumerate() {
            let field = format!("members[{i}].bsn");
            insert_member(tx.conn, &app.vault, family_id, member, &field).await?;
        }
        event
            .detail(json!({"members": spec.members.len()}))
            .record(tx.conn)
            .await?;
        load_family(tx.conn, &app.vault, family_id).await
    })
    .await
}

/// Families within the caller's reach: team leads search their
/// municipality, JGT workers their team and the families they direct, GI
/// workers the families they direct.
#[tracing::instrument(skip_all)]
pub async fn list_families(
    app: &AppState,
    bearer: &Bearer,
    q: FamilyQuery,
) -> ApiResult<FamilyPage> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "search", "family", "search").await?;
        tx.enforce(policy::case_role(&me), "family", event.clone())
            .await?;
        let page = PageRequest::<FamilyId>::parse(q.limit, q.cursor.as_deref())?;
        Invalid::validated(&q).into_result()?;
        let name = checked(text::optional(q.name.as_deref(), 200))?;
        let bsn = checked(q.bsn.as_deref().map(Bsn::parse).transpose())?;
        let found = search::search(
            tx.conn,
            &Search {
                reach: reach_of(&me),
                user: me.user_id,
                name: name.as_deref(),
                team: q.team_id,
                director: q.director_id,
                bsn_hash: bsn.as_ref().map(|b| app.vault.hash(b)),
                signal: q.signal,
                after: page.after,
                fetch: page.fetch(),
            },
        )
        .await?;
        let (rows, next_cursor) = finish(found, page.limit, |r| r.id);
        let ids: Vec<FamilyId> = rows.iter().map(|r| r.id).collect();
        let mut summaries = plan_summaries(tx.conn, &ids).await?;
        let items: Vec<FamilySummary> = rows
            .into_iter()
            .map(|r| FamilySummary {
                current_plan: take_summary(&mut summaries, r.id),
                id: r.id,
                municipality_code: r.municipality_code,
                team_id: r.team_id,
                name: r.name,
            })
            .collect();
        // The search itself is audited: which filters (never their
        // values) and which families were shown.
        let detail = json!({"filters": filters(&q), "resultCount": items.len(), "familyIds": ids});
        event.detail(detail).record(tx.conn).await?;
        Ok(FamilyPage { items, next_cursor })
    })
    .await
}

fn reach_of(me: &Principal) -> Reach {
    match me.role {
        Role::TeamLead => Reach::Municipality(me.municipality_code.clone()),
        Role::JgtWorker => Reach::TeamOrDirected {
            municipality: me.municipality_code.clone(),
            team: me.team_id,
        },
        _ => Reach::Directed,
    }
}

fn filters(q: &FamilyQuery) -> Vec<&'static str> {
    [
        q.name.as_ref().map(|_| "name"),
        q.bsn.as_ref().map(|_| "bsn"),
        q.team_id.as_ref().map(|_| "teamId"),
        q.director_id.as_ref().map(|_| "directorId"),
        q.signal.as_ref().map(|_| "signal"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Reads a family with its members (BSNs included) and current plan; a
/// JGT or GI worker may break the glass with a stated reason.
#[tracing::instrument(skip_all, fields(family_id = %id))]
pub async fn get_family(
    app: &AppState,
    bearer: &Bearer,
    reason: &AccessReason,
    id: FamilyId,
) -> ApiResult<Family> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "read", "family", id).await?;
        let of = FactsOf::Family(id);
        let grant = authorize_read(tx, &me, of, reason, event.clone(), "family").await?;
        let family = load_family(tx.conn, &app.vault, id).await?;
        grant.stamp(event).record(tx.conn).await?;
        Ok(family)
    })
    .await
}

/// Changes a family's name or (team leads only) its team.
#[tracing::instrument(skip_all, fields(family_id = %id))]
pub async fn update_family(
    app: &AppState,
    bearer: &Bearer,
    id: FamilyId,
    update: FamilyUpdate,
) -> ApiResult<Family> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "update", "family", id).await?;
        let facts = authorize_write(tx, &me, id, event.clone()).await?;
        let event = event
            .family(id)
            .municipality(facts.municipality_code.clone());
        if update.team_id.is_some_and(|t| t != facts.team_id) {
            let decision = match me.role {
                Role::TeamLead => Ok(()),
                _ => Err(Denial::Forbidden),
            };
            tx.enforce(decision, "family", event.clone()).await?;
        }
        Invalid::validated(&update).into_result()?;
        let name = checked(text::replacement(update.name.as_deref(), 200))?;
        if let Some(team) = update.team_id {
            if !team_in_municipality(tx.conn, team, Some(&facts.municipality_code)).await? {
                return Err(unknown_team());
            }
        }
        queries::update_family(tx.conn, id, name.as_deref(), update.team_id).await?;
        let changed: Vec<&str> = [
            name.as_ref().map(|_| "name"),
            update.team_id.map(|_| "teamId"),
        ]
        .into_iter()
        .flatten()
        .collect();
        event
            .detail(json!({"changed": changed}))
            .record(tx.conn)
            .await?;
        load_family(tx.conn, &app.vault, id).await
    })
    .await
}

/// Adds a member to a family.
#[tracing::instrument(skip_all, fields(family_id = %id))]
pub async fn add_member(
    app: &AppState,
    bearer: &Bearer,
    id: FamilyId,
    input: NewMember,
) -> ApiResult<Member> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "create", "member", id).await?;
        let facts = authorize_write(tx, &me, id, event).await?;
        let spec = input.parse()?;
        let member_id = insert_member(tx.conn, &app.vault, id, &spec, "bsn").await?;
        queries::touch_family(tx.conn, id).await?;
        AuditEvent::by(&me, "create", "member", member_id)
            .family(id)
            .municipality(facts.municipality_code.clone())
            .record(tx.conn)
            .await?;
        load_member(tx.conn, &app.vault, id, member_id).await
    })
    .await
}

/// Changes a member; `endedOn` ends the membership.
#[tracing::instrument(skip_all, fields(family_id = %id, member_id = %member_id))]
pub async fn update_member(
    app: &AppState,
    bearer: &Bearer,
    id: FamilyId,
    member_id: MemberId,
    update: MemberUpdate,
) -> ApiResult<Member> {
    app.transaction(async |tx| {
        let (me, event) = tx.user_doing(bearer, "update", "member", member_id).await?;
        let facts = authorize_write(tx, &me, id, event.clone()).await?;
        let change = MemberEdit::parse(&update)?;
        let current = queries::member(tx.conn, id, member_id, true)
            .await?
            .ok_or_else(|| ApiError::not_found("Member"))?;
        if update
            .ended_on
            .is_some_and(|ended| ended < current.started_on)
        {
            return Err(ApiError::invalid_field(
                "endedOn",
                ErrorCode::BeforeStart,
                "A membership cannot end before it started.",
            ));
        }
        let (bsn_ciphertext, bsn_hash) = match &change.bsn {
            Some(bsn) => {
                let hash = app.vault.hash(bsn);
                let active_child = current.role == MemberRole::Child
                    && current.ended_on.is_none()
                    && update.ended_on.is_none();
                if active_child {
                    ensure_child_not_elsewhere(tx.conn, &hash, id, "bsn").await?;
                }
                (Some(app.vault.encrypt(bsn)?), Some(hash))
            }
            None => (None, None),
        };
        let changes = MemberChange {
            given_name: change.given_name.as_deref(),
            family_name: change.family_name.as_deref(),
            birth_date: update.birth_date,
            bsn_ciphertext,
            bsn_hash,
            ended_on: update.ended_on,
        };
        queries::update_member(tx.conn, member_id, changes)
            .await
            .map_err(|e| name_bsn_field(e.into(), "bsn"))?;
        event
            .family(id)
            .municipality(facts.municipality_code.clone())
            .detail(json!({"changed": change.changed(&update)}))
            .record(tx.conn)
            .await?;
        load_member(tx.conn, &app.vault, id, member_id).await
    })
    .await
}

/// A checked member change.
struct MemberEdit {
    given_name: Option<String>,
    family_name: Option<String>,
    bsn: Option<Bsn>,
}

impl MemberEdit {
    fn parse(update: &MemberUpdate) -> ApiResult<Self> {
        let mut v = Invalid::validated(update);
        if update.ended_on.is_some_and(|d| d > Utc::now().date_naive()) {
            v.push(
                "endedOn",
                ErrorCode::InFuture,
                "A membership can only be ended today or in the past.",
            );
        }
        v.into_result()?;
        Ok(Self {
            given_name: checked(text::replacement(update.given_name.as_deref(), 200))?,
            family_name: checked(text::replacement(update.family_name.as_deref(), 200))?,
            bsn: checked(update.bsn.as_deref().map(Bsn::parse).transpose())?,
        })
    }

    /// The fields the change sets, for the audit trail.
    fn changed(&self, update: &MemberUpdate) -> Vec<&'static str> {
        [
            self.given_name.as_ref().map(|_| "givenName"),
            self.family_name.as_ref().map(|_| "familyName"),
            update.birth_date.map(|_| "birthDate"),
            self.bsn.as_ref().map(|_| "bsn"),
            update.ended_on.map(|_| "endedOn"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Changing a family's record and members: whoever may read it.
async fn authorize_write(
    tx: &mut Tx<'_>,
    me: &Principal,
    id: FamilyId,
    event: AuditEvent,
) -> ApiResult<FamilyFacts> {
    let of = FactsOf::Family(id);
    authorize(tx, me, of, policy::write_family, event, "family").await
}

/// Inserts one member (the API, referrals and the demo data all add
/// members this way). A child whose BSN is active in another family is
/// refused: the partial unique index decides under concurrency, the check
/// before it only names the field in the answer.
pub async fn insert_member(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    family_id: FamilyId,
    spec: &MemberSpec,
    field: &str,
) -> ApiResult<MemberId> {
    let (bsn_ciphertext, bsn_hash) = match &spec.bsn {
        Some(bsn) => (Some(vault.encrypt(bsn)?), Some(vault.hash(bsn))),
        None => (None, None),
    };
    if let (Some(hash), MemberRole::Child) = (&bsn_hash, spec.role) {
        ensure_child_not_elsewhere(conn, hash, family_id, field).await?;
    }
    let id = MemberId::new();
    let row = NewMemberRow {
        id,
        family_id,
        role: spec.role,
        given_name: &spec.given_name,
        family_name: &spec.family_name,
        birth_date: spec.birth_date,
        bsn_ciphertext,
        bsn_hash,
    };
    queries::insert_member(conn, row)
        .await
        .map_err(|e| name_bsn_field(e.into(), field))?;
    Ok(id)
}

/// 409 naming `field` when a child with this BSN hash is an active member
/// of a family other than `family`.
async fn ensure_child_not_elsewhere(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    family: FamilyId,
    field: &str,
) -> ApiResult<()> {
    if queries::child_elsewhere(conn, hash, family).await? {
        return Err(ApiError::conflict(
            ErrorCode::BsnInOtherFamily,
            "A child with this BSN is already an active member of another family.",
        )
        .with_extra("field", field));
    }
    Ok(())
}

/// A BSN conflict the database found, naming the field it came from.
fn name_bsn_field(err: ApiError, field: &str) -> ApiError {
    if matches!(
        err.code,
        ErrorCode::BsnInOtherFamily | ErrorCode::MemberAlreadyInFamily
    ) {
        err.with_extra("field", field)
    } else {
        err
    }
}

/// The full family view, with decrypted BSNs (callers have checked access).
pub async fn load_family(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    id: FamilyId,
) -> ApiResult<Family> {
    let row = queries::family_row(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Family"))?;
    let members = queries::members(conn, id)
        .await?
        .into_iter()
        .map(|m| Member::from_row(m, vault))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let current_plan = plan_summaries(conn, &[id]).await?.pop().map(|(_, s)| s);
    Ok(Family {
        id: row.id,
        municipality_code: row.municipality_code,
        team_id: row.team_id,
        name: row.name,
        members,
        current_plan,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

async fn load_member(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    family: FamilyId,
    id: MemberId,
) -> ApiResult<Member> {
    let row = queries::member(conn, family, id, false)
        .await?
        .ok_or_else(|| ApiError::not_found("Member"))?;
    Ok(Member::from_row(row, vault)?)
}

/// Open-plan summaries of the given families, keyed by family.
pub async fn plan_summaries(
    conn: &mut AsyncPgConnection,
    ids: &[FamilyId],
) -> ApiResult<Vec<(FamilyId, PlanSummary)>> {
    let rows = queries::plan_summaries(conn, ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let summary = PlanSummary {
                plan_id: r.plan_id,
                status: r.status,
                director_id: r.director_id,
                level: i32::from(r.level),
                protection_measure: r.protection_measure,
                signals: r.signals,
            };
            (r.family_id, summary)
        })
        .collect())
}

fn take_summary(summaries: &mut Vec<(FamilyId, PlanSummary)>, id: FamilyId) -> Option<PlanSummary> {
    let i = summaries.iter().position(|(f, _)| *f == id)?;
    Some(summaries.swap_remove(i).1)
}
