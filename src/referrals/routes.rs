//! Referral endpoints: submit (clients and JGT roles, idempotent), read,
//! the intake queue, accept and decline. Each write is one transaction:
//! the referral, the family and plan it lands in, the requested
//! involvement with its signals, the audit events, the client's
//! notification in the outbox and the idempotency record commit together
//! or not at all.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::idempotency::{self, Claim};
use super::matching::{self, Match, Request};
use super::model::*;
use crate::audit::AuditEvent;
use crate::auth::client::Caller;
use crate::auth::policy::{self, ReferralAccess, ReferralFacts};
use crate::auth::{enforce, Principal};
use crate::care::routes::{care_changed, end_locked};
use crate::db::schema::{
    clients, families, municipalities, providers, referral_people, referrals, users,
};
use crate::domain::care::{EndReason, InvolvementStatus};
use crate::domain::referrals::{DeclineReason, MatchBasis, ReferralStatus};
use crate::domain::{text, Bsn, MemberRole, PlanStatus};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::families::model::MemberSpec;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::notifications::{self, ReferralStatusData};
use crate::plans::queries::plan_row;
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

/// Operation name under which idempotency keys of submissions are kept.
const CREATE_OPERATION: &str = "createReferral";

/// A referral as the caller may see it: in full for the intake queue, or
/// status and dates for its referrer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ReferralView {
    Full(Box<Referral>),
    Status(ReferralStatusView),
}

crate::page_type!(
    ReferralViewPage,
    ReferralView,
    "A page of referrals, oldest first: the intake queue in full for team leads, your own referrals' status for everyone else."
);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = referrals)]
struct Row {
    id: Uuid,
    municipality_code: String,
    client_id: Option<Uuid>,
    submitted_by: Option<Uuid>,
    external_reference: String,
    referrer_type: String,
    referrer_agb_code: Option<String>,
    referrer_name: Option<String>,
    reason: String,
    urgency: String,
    requested_care_form_code: Option<String>,
    requested_provider_agb_code: Option<String>,
    requested_provider_id: Option<Uuid>,
    status: String,
    match_basis: Option<String>,
    family_id: Option<Uuid>,
    plan_id: Option<Uuid>,
    involvement_id: Option<Uuid>,
    involvement_created: bool,
    candidate_family_ids: Vec<Uuid>,
    decline_reason_code: Option<String>,
    decline_note: Option<String>,
    decided_by: Option<Uuid>,
    decided_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn status(&self) -> ApiResult<ReferralStatus> {
        ReferralStatus::parse(&self.status)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown referral status")))
    }

    fn facts(&self) -> ReferralFacts {
        ReferralFacts {
            municipality_code: self.municipality_code.clone(),
            client_id: self.client_id.map(Into::into),
            submitted_by: self.submitted_by.map(Into::into),
        }
    }

    fn status_view(&self) -> ApiResult<ReferralStatusView> {
        Ok(ReferralStatusView {
            id: self.id,
            external_reference: self.external_reference.clone(),
            status: self.status()?,
            received_at: self.received_at,
            updated_at: self.updated_at,
            decided_at: self.decided_at,
        })
    }

    fn notification(&self, previous: Option<ReferralStatus>) -> ReferralStatusData {
        ReferralStatusData {
            referral_id: self.id,
            external_reference: self.external_reference.clone(),
            status: self.status.clone(),
            previous_status: previous.map(|s| s.as_str().to_owned()),
            received_at: self.received_at,
            updated_at: self.updated_at,
            decided_at: self.decided_at,
        }
    }
}

async fn load_row(conn: &mut AsyncPgConnection, id: Uuid, lock: bool) -> ApiResult<Option<Row>> {
    let q = referrals::table.find(id).select(Row::as_select());
    Ok(if lock {
        q.for_update().first(conn).await.optional()?
    } else {
        q.first(conn).await.optional()?
    })
}

type PersonRow = (
    Uuid,
    String,
    String,
    String,
    chrono::NaiveDate,
    Option<Vec<u8>>,
);

/// The people of referrals `ids`, each with its referral: the child first,
/// then the parents, BSNs decrypted.
async fn load_people(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    ids: &[Uuid],
) -> ApiResult<Vec<(Uuid, MemberSpec)>> {
    let rows: Vec<PersonRow> = referral_people::table
        .filter(referral_people::referral_id.eq_any(ids))
        .order((referral_people::referral_id, referral_people::position))
        .select((
            referral_people::referral_id,
            referral_people::role,
            referral_people::given_name,
            referral_people::family_name,
            referral_people::birth_date,
            referral_people::bsn_ciphertext,
        ))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(id, role, given_name, family_name, birth_date, cipher)| {
            let role = MemberRole::parse(&role)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role {role}")))?;
            let bsn = match cipher {
                None => None,
                Some(c) => Some(
                    Bsn::parse(&state.vault.decrypt(&c)?)
                        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored BSN: {e}")))?,
                ),
            };
            Ok((
                id,
                MemberSpec {
                    role,
                    given_name,
                    family_name,
                    birth_date,
                    bsn,
                },
            ))
        })
        .collect()
}

/// The intake queue's view of referrals, loading people, submitters and
/// candidate families for all of them at once (not per referral).
async fn full_views(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    rows: &[Row],
) -> ApiResult<Vec<Referral>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let people = load_people(conn, state, &ids).await?;
    let client_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.client_id).collect();
    let clients: Vec<(Uuid, String)> = clients::table
        .filter(clients::id.eq_any(&client_ids))
        .select((clients::id, clients::organisation_name))
        .load(conn)
        .await?;
    let user_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.submitted_by).collect();
    let users: Vec<(Uuid, String)> = users::table
        .filter(users::id.eq_any(&user_ids))
        .select((users::id, users::display_name))
        .load(conn)
        .await?;
    let candidate_ids: Vec<Uuid> = rows
        .iter()
        .flat_map(|r| r.candidate_family_ids.iter().copied())
        .collect();
    let candidates: Vec<(Uuid, String, String)> = families::table
        .filter(families::id.eq_any(&candidate_ids))
        .select((families::id, families::municipality_code, families::name))
        .order(families::id)
        .load(conn)
        .await?;
    let name_of = |list: &[(Uuid, String)], id: Uuid| {
        list.iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("submitter {id} is gone")))
    };
    let view = |p: &MemberSpec| ReferralPersonView {
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        birth_date: p.birth_date,
        bsn: p.bsn.as_ref().map(|b| b.as_str().to_owned()),
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mine = || {
            people
                .iter()
                .filter(|(id, _)| *id == row.id)
                .map(|(_, p)| p)
        };
        let child = mine()
            .find(|p| p.role == MemberRole::Child)
            .map(view)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("referral without child")))?;
        let parents = mine()
            .filter(|p| p.role != MemberRole::Child)
            .map(view)
            .collect();
        let submitted_by = match (row.client_id, row.submitted_by) {
            (Some(id), _) => Submitter {
                kind: "client".into(),
                id,
                name: name_of(&clients, id)?,
            },
            (None, Some(id)) => Submitter {
                kind: "user".into(),
                id,
                name: name_of(&users, id)?,
            },
            (None, None) => {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "referral without submitter"
                )))
            }
        };
        out.push(Referral {
            id: row.id,
            external_reference: row.external_reference.clone(),
            status: row.status()?,
            municipality_code: row.municipality_code.clone(),
            referrer_type: row.referrer_type.clone(),
            referrer_agb_code: row.referrer_agb_code.clone(),
            referrer_name: row.referrer_name.clone(),
            submitted_by,
            child,
            parents,
            reason: row.reason.clone(),
            urgency: crate::domain::referrals::Urgency::parse(&row.urgency)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown urgency")))?,
            requested_care_form_code: row.requested_care_form_code.clone(),
            requested_provider_agb_code: row.requested_provider_agb_code.clone(),
            requested_provider_id: row.requested_provider_id,
            match_basis: row.match_basis.as_deref().and_then(MatchBasis::parse),
            family_id: row.family_id,
            plan_id: row.plan_id,
            involvement_id: row.involvement_id,
            // Only families of the referral's own municipality, ever.
            candidates: candidates
                .iter()
                .filter(|(id, m, _)| {
                    row.candidate_family_ids.contains(id) && *m == row.municipality_code
                })
                .map(|(family_id, _, family_name)| Candidate {
                    family_id: *family_id,
                    family_name: family_name.clone(),
                })
                .collect(),
            decline_reason_code: row.decline_reason_code.clone(),
            decline_note: row.decline_note.clone(),
            decided_by: row.decided_by,
            received_at: row.received_at,
            updated_at: row.updated_at,
            decided_at: row.decided_at,
        });
    }
    Ok(out)
}

/// The intake queue's view of one referral.
async fn full_view(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    row: &Row,
) -> ApiResult<Referral> {
    full_views(conn, state, std::slice::from_ref(row))
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no view of the referral")))
}

/// Writes the notification of `row`'s new status (previously `before`)
/// when a client submitted it; true when one was written.
async fn notify(
    conn: &mut AsyncPgConnection,
    row: &Row,
    before: ReferralStatus,
) -> ApiResult<bool> {
    match row.client_id {
        Some(client) => notifications::enqueue(conn, client, &row.notification(Some(before))).await,
        None => Ok(false),
    }
}

/// Records that a referral registered a family, as a create of that family
/// by the same actor.
async fn record_family_created(
    conn: &mut AsyncPgConnection,
    event: &AuditEvent,
    family_id: Uuid,
    referral_id: Uuid,
) -> ApiResult<()> {
    event
        .clone()
        .on("create", "family", family_id)
        .family(family_id)
        .detail(json!({"byReferral": referral_id}))
        .record(conn)
        .await?;
    Ok(())
}

/// The audit event of `caller` doing `action` on a referral.
fn event_of(caller: &Caller, action: &'static str, id: impl ToString) -> AuditEvent {
    match caller {
        Caller::User(p) => AuditEvent::by(p, action, "referral", id),
        Caller::Client(c) => AuditEvent::by_client(c, action, "referral", id),
    }
}

/// Applies a refusal: audited, and answered 403 or 404.
async fn refuse(state: &AppState, denial: policy::Denial, event: AuditEvent) -> ApiError {
    match crate::audit::record_alone(state, event.as_access_denied()).await {
        Ok(()) => denial.into_error("referral"),
        Err(e) => e,
    }
}

/// What a submission transaction produced.
struct Submitted {
    status: StatusCode,
    body: Value,
    notified: bool,
}

/// Submit a referral. It lands in the child's family's one plan (by BSN),
/// or waits for review (a possible match without BSN), or opens a new
/// family with an intake plan.
///
/// Send an `Idempotency-Key`: a retry with the same key and body gets the
/// original response and creates nothing; the same key with another body
/// is refused (422 `idempotency_key_reused`). Clients refer only as
/// themselves (their referrer type and AGB code) and see status and dates.
#[utoipa::path(post, path = "/referrals", tag = "Referrals", operation_id = "createReferral",
    params(("Idempotency-Key" = String, Header, description = "Unique per request (e.g. a UUID); retries reuse it", min_length = 1, max_length = 255)),
    request_body = NewReferral,
    responses(
        (status = 201, description = "Received, with its status after matching (a retry with the same key answers the same)", body = ReferralStatusView),
        (status = 403, description = "Not allowed: missing scope (`insufficient_scope`), a municipality the client does not serve (`municipality_not_served`), or referring as someone else (`referrer_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change kept conflicting; retry with the same key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Key reused with another body (`idempotency_key_reused`), unknown municipality or provider, or no team to take a new family in", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("clientCredentials" = ["referrals:write"])))]
pub async fn create_referral(
    state: State,
    caller: Caller,
    req: HttpRequest,
    body: ApiJson<NewReferral>,
) -> ApiResult<HttpResponse> {
    let referral_id = Uuid::now_v7();
    let event = event_of(&caller, "create", referral_id);
    let key = idempotency::key_of(&req)?;
    let body = body.0;
    let spec = body.parse(Utc::now().date_naive(), |c| {
        state.catalogue.get(c).is_some()
    })?;
    let event = event.municipality(spec.municipality.as_str());
    match &caller {
        Caller::User(p) => {
            enforce(
                &state,
                policy::submit_referral(p, spec.municipality.as_str()),
                "referral",
                event.clone(),
            )
            .await?
        }
        Caller::Client(c) => {
            if let Err(code) =
                policy::client_submit_referral(c, spec.municipality.as_str(), &spec.referrer)
            {
                crate::audit::record_alone(
                    &state,
                    event
                        .clone()
                        .detail(json!({"reason": code.as_str()}))
                        .as_access_denied(),
                )
                .await?;
                return Err(ApiError::forbidden(match code {
                    ErrorCode::InsufficientScope => "This token lacks the referrals:write scope.",
                    ErrorCode::MunicipalityNotServed => {
                        "This client does not refer to this municipality."
                    }
                    _ => "A client refers only as itself: its own referrer type and AGB code.",
                })
                .with_code(code));
            }
        }
    }
    let hash = idempotency::request_hash(&body)?;
    let bsn_hash = spec.child.bsn.as_ref().map(|b| state.vault.hash(b));
    let mut conn = state.db().await?;
    let mut attempt = 0;
    let submitted = loop {
        attempt += 1;
        let result = conn
            .transaction(async |conn| {
                submit(
                    conn,
                    &state,
                    &caller,
                    &spec,
                    referral_id,
                    bsn_hash.as_deref(),
                    (&key, &hash),
                    event.clone(),
                )
                .await
            })
            .await;
        match result {
            Err(e) if attempt < 3 && e.code.is_retryable_conflict() => continue,
            other => break other?,
        }
    };
    if submitted.notified {
        state.outbox_wakeup.notify_one();
    }
    let mut response = HttpResponse::build(submitted.status);
    if let Some(id) = submitted.body.get("id").and_then(Value::as_str) {
        response.insert_header(("Location", format!("/v1/referrals/{id}")));
    }
    Ok(response.json(submitted.body))
}

/// The submission transaction.
#[allow(clippy::too_many_arguments)]
async fn submit(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    caller: &Caller,
    spec: &ReferralSpec,
    referral_id: Uuid,
    bsn_hash: Option<&[u8]>,
    (key, hash): (&str, &[u8]),
    event: AuditEvent,
) -> ApiResult<Submitted> {
    if let Claim::Replay { status, body } =
        idempotency::claim(conn, caller.id(), CREATE_OPERATION, key, hash).await?
    {
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        event
            .on("read", "referral", id)
            .detail(json!({"replayed": true}))
            .record(conn)
            .await?;
        return Ok(Submitted {
            status,
            body,
            notified: false,
        });
    }
    let municipality = spec.municipality.as_str();
    let known: i64 = municipalities::table
        .find(municipality)
        .count()
        .get_result(conn)
        .await?;
    if known == 0 {
        return Err(ApiError::unprocessable(
            ErrorCode::UnknownMunicipality,
            "The municipality is not registered.",
        )
        .with_extra("field", "municipalityCode"));
    }
    let provider_id = match &spec.provider_agb {
        None => None,
        Some(agb) => {
            let found: Option<(Uuid, bool)> = providers::table
                .filter(providers::agb_code.eq(agb.as_str()))
                .select((providers::id, providers::active))
                .first(conn)
                .await
                .optional()?;
            match found {
                Some((id, true)) => Some(id),
                Some((_, false)) => {
                    return Err(ApiError::unprocessable(
                        ErrorCode::ProviderInactive,
                        "The requested provider takes no new involvements.",
                    )
                    .with_extra("field", "requestedProviderAgbCode"))
                }
                None => {
                    return Err(ApiError::unprocessable(
                        ErrorCode::UnknownProvider,
                        "No provider with this AGB code is registered.",
                    )
                    .with_extra("field", "requestedProviderAgbCode"))
                }
            }
        }
    };
    let (client_id, user_id) = match caller {
        Caller::Client(c) => (Some(c.client_id), None),
        Caller::User(p) => (None, Some(p.user_id)),
    };
    diesel::insert_into(referrals::table)
        .values((
            referrals::id.eq(referral_id),
            referrals::municipality_code.eq(municipality),
            referrals::client_id.eq(client_id),
            referrals::submitted_by.eq(user_id),
            referrals::external_reference.eq(&spec.external_reference),
            referrals::referrer_type.eq(spec.referrer.kind.code()),
            referrals::referrer_agb_code.eq(spec
                .referrer
                .agb_code
                .as_ref()
                .map(|a| a.as_str().to_owned())),
            referrals::referrer_name.eq(&spec.referrer.name),
            referrals::reason.eq(&spec.reason),
            referrals::urgency.eq(spec.urgency.as_str()),
            referrals::requested_care_form_code.eq(&spec.care_form_code),
            referrals::requested_provider_agb_code
                .eq(spec.provider_agb.as_ref().map(|a| a.as_str().to_owned())),
            referrals::requested_provider_id.eq(provider_id),
            referrals::status.eq(ReferralStatus::Received.as_str()),
        ))
        .execute(conn)
        .await?;
    let people = std::iter::once(&spec.child).chain(&spec.parents);
    for (position, p) in people.enumerate() {
        let (cipher, bsn) = match &p.bsn {
            Some(b) => (Some(state.vault.encrypt(b)?), Some(state.vault.hash(b))),
            None => (None, None),
        };
        diesel::insert_into(referral_people::table)
            .values((
                referral_people::referral_id.eq(referral_id),
                referral_people::position.eq(position as i16),
                referral_people::role.eq(p.role.as_str()),
                referral_people::given_name.eq(&p.given_name),
                referral_people::family_name.eq(&p.family_name),
                referral_people::birth_date.eq(p.birth_date),
                referral_people::bsn_ciphertext.eq(cipher),
                referral_people::bsn_hash.eq(bsn),
            ))
            .execute(conn)
            .await?;
    }

    matching::lock_child(conn, bsn_hash, &spec.child).await?;
    let found = matching::find(conn, municipality, bsn_hash, &spec.child).await?;
    let title = format!("Intake after referral {}", spec.external_reference);
    let request = Request {
        title: &title,
        reason: &spec.reason,
        provider_id,
        care_form_code: spec.care_form_code.as_deref(),
        by_user: user_id.map(Into::into),
    };
    let mut created_family = None;
    let (status, basis, family_id, landed, candidates) = match found {
        Match::Family(family_id) => {
            let landed = matching::land(
                conn,
                state,
                family_id,
                municipality,
                bsn_hash,
                &spec.child,
                &request,
            )
            .await?;
            (
                ReferralStatus::Matched,
                MatchBasis::Bsn,
                Some(family_id),
                Some(landed),
                vec![],
            )
        }
        Match::NoMatch => {
            let family_id =
                matching::register_family(conn, state, municipality, &spec.child, &spec.parents)
                    .await?;
            created_family = Some(family_id);
            let landed = matching::land(
                conn,
                state,
                family_id,
                municipality,
                bsn_hash,
                &spec.child,
                &request,
            )
            .await?;
            (
                ReferralStatus::Matched,
                MatchBasis::NewFamily,
                Some(family_id),
                Some(landed),
                vec![],
            )
        }
        Match::Review { basis, candidates } => {
            (ReferralStatus::NeedsReview, basis, None, None, candidates)
        }
    };
    let row: Row = diesel::update(referrals::table.find(referral_id))
        .set((
            referrals::status.eq(status.as_str()),
            referrals::match_basis.eq(basis.as_str()),
            referrals::family_id.eq(family_id),
            referrals::plan_id.eq(landed.as_ref().map(|l| l.plan_id)),
            referrals::involvement_id.eq(landed.as_ref().and_then(|l| l.involvement_id)),
            referrals::involvement_created.eq(landed.as_ref().is_some_and(|l| l.created)),
            referrals::candidate_family_ids.eq(&candidates),
            referrals::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Row::as_returning())
        .get_result(conn)
        .await?;

    if let Some(family_id) = created_family {
        record_family_created(conn, &event, family_id, referral_id).await?;
    }
    let mut create_event = event.detail(json!({
        "status": status.as_str(),
        "matchBasis": basis.as_str(),
        "planId": row.plan_id,
        "involvementId": row.involvement_id,
        "candidates": candidates.len(),
    }));
    if let Some(family_id) = family_id {
        create_event = create_event.family(family_id);
    }
    create_event.record(conn).await?;

    let notified = notify(conn, &row, ReferralStatus::Received).await?;
    let body = serde_json::to_value(row.status_view()?).map_err(ApiError::internal)?;
    idempotency::complete(
        conn,
        caller.id(),
        CREATE_OPERATION,
        key,
        StatusCode::CREATED,
        &body,
    )
    .await?;
    Ok(Submitted {
        status: StatusCode::CREATED,
        body,
        notified,
    })
}

/// The intake queue (team leads: their municipality's referrals in full),
/// or your own referrals' status (clients with `referrals:read`, and the
/// JGT and GI workers who submitted them).
#[utoipa::path(get, path = "/referrals", tag = "Referrals", operation_id = "listReferrals",
    params(ReferralQuery),
    responses((status = 200, description = "A page of referrals, oldest first", body = ReferralViewPage)),
    security(("bearer" = []), ("clientCredentials" = ["referrals:read"])))]
pub async fn list_referrals(
    state: State,
    caller: Caller,
    query: ApiQuery<ReferralQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let event = event_of(&caller, "search", "intake_queue");
    let page = PageRequest::<(DateTime<Utc>, Uuid)>::parse(q.limit, q.cursor.as_deref())?;
    let mut sql = referrals::table
        .select(Row::as_select())
        .order((referrals::received_at, referrals::id))
        .limit(page.fetch())
        .into_boxed();
    let full = match &caller {
        Caller::Client(c) => {
            if !c.has_scope(crate::auth::client::SCOPE_REFERRALS_READ) {
                return Err(refuse(&state, policy::Denial::Forbidden, event).await);
            }
            sql = sql.filter(referrals::client_id.eq(c.client_id));
            false
        }
        Caller::User(p) if p.role == crate::domain::Role::TeamLead => {
            let Some(m) = p.municipality_code.clone() else {
                return Err(refuse(&state, policy::Denial::Forbidden, event).await);
            };
            sql = sql.filter(referrals::municipality_code.eq(m));
            true
        }
        Caller::User(p) => {
            sql = sql.filter(referrals::submitted_by.eq(p.user_id));
            false
        }
    };
    if let Some(status) = q.status {
        sql = sql.filter(referrals::status.eq(status.as_str()));
    }
    if let Some((at, id)) = page.after {
        sql = sql.filter(
            referrals::received_at
                .gt(at)
                .or(referrals::received_at.eq(at).and(referrals::id.gt(id))),
        );
    }
    let mut conn = state.db().await?;
    let rows: Vec<Row> = sql.load(&mut conn).await?;
    let (rows, next_cursor) = finish(rows, page.limit, |r| (r.received_at, r.id));
    let items: Vec<ReferralView> = if full {
        full_views(&mut conn, &state, &rows)
            .await?
            .into_iter()
            .map(|r| ReferralView::Full(Box::new(r)))
            .collect()
    } else {
        rows.iter()
            .map(|r| r.status_view().map(ReferralView::Status))
            .collect::<ApiResult<_>>()?
    };
    event
        .detail(json!({"status": q.status.map(|s| s.as_str()), "results": items.len()}))
        .record(&conn)
        .await?;
    Ok(HttpResponse::Ok().json(ReferralViewPage { items, next_cursor }))
}

/// Read a referral: in full for the municipality's team lead, status and
/// dates for its referrer.
#[utoipa::path(get, path = "/referrals/{id}", tag = "Referrals", operation_id = "getReferral",
    params(("id" = Uuid, Path, description = "Referral id")),
    responses((status = 200, description = "The referral", body = ReferralView)),
    security(("bearer" = []), ("clientCredentials" = ["referrals:read"])))]
pub async fn get_referral(
    state: State,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = event_of(&caller, "read", id);
    let mut conn = state.db().await?;
    let Some(row) = load_row(&mut conn, id, false).await? else {
        return Err(refuse(&state, policy::Denial::Hidden, event).await);
    };
    let mut event = event.municipality(row.municipality_code.clone());
    if let Some(f) = row.family_id {
        event = event.family(f);
    }
    let access = match policy::read_referral(&caller, &row.facts()) {
        Ok(a) => a,
        Err(denial) => return Err(refuse(&state, denial, event).await),
    };
    let view = match access {
        ReferralAccess::Full => {
            ReferralView::Full(Box::new(full_view(&mut conn, &state, &row).await?))
        }
        ReferralAccess::StatusOnly => ReferralView::Status(row.status_view()?),
    };
    event.record(&conn).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Loads a referral for a decision and checks the team lead may make it.
async fn authorize_decision(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    event: AuditEvent,
) -> ApiResult<AuditEvent> {
    let row = {
        let mut conn = state.db().await?;
        load_row(&mut conn, id, false).await?
    };
    let Some(row) = row else {
        enforce(state, policy::case_role(principal), "referral", event).await?;
        return Err(ApiError::not_found("Referral"));
    };
    let event = event.municipality(row.municipality_code.clone());
    enforce(
        state,
        policy::decide_referral(principal, &row.facts()),
        "referral",
        event.clone(),
    )
    .await?;
    Ok(event)
}

fn already_decided(row: &Row) -> ApiError {
    ApiError::conflict(
        ErrorCode::ReferralDecided,
        "This referral has already been accepted or declined.",
    )
    // Not `status`: that member is the HTTP status of the problem itself.
    .with_extra("referralStatus", row.status.clone())
}

/// Accept a referral into the intake. A `needs_review` referral lands in
/// the family chosen by `familyId` (its open plan, or a new intake plan),
/// or, without it, in a new family.
#[utoipa::path(post, path = "/referrals/{id}/accept", tag = "Referrals", operation_id = "acceptReferral",
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = AcceptReferral,
    responses(
        (status = 200, description = "Accepted", body = Referral),
        (status = 409, description = "Already decided (`referral_decided`), matched to another family (`referral_already_matched`), or the child's BSN is in another family (`bsn_in_other_family`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The chosen family is not of the referral's municipality (`unknown_family`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept_referral(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<AcceptReferral>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "accept", "referral", id);
    let event = authorize_decision(&state, &principal, id, event).await?;
    let chosen = body.0.family_id;
    let mut conn = state.db().await?;
    let (view, notified) = conn
        .transaction(async |conn| {
            let row = load_row(conn, id, true)
                .await?
                .ok_or_else(|| ApiError::not_found("Referral"))?;
            let before = row.status()?;
            if before.is_decided() {
                return Err(already_decided(&row));
            }
            let (child, parents): (Vec<MemberSpec>, Vec<MemberSpec>) =
                load_people(conn, &state, &[id])
                    .await?
                    .into_iter()
                    .map(|(_, p)| p)
                    .partition(|p| p.role == MemberRole::Child);
            let child = child
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("referral without child")))?;
            let bsn_hash = child.bsn.as_ref().map(|b| state.vault.hash(b));
            matching::lock_child(conn, bsn_hash.as_deref(), &child).await?;
            let title = format!("Intake after referral {}", row.external_reference);
            let care_form = row.requested_care_form_code.clone();
            let request = Request {
                title: &title,
                reason: &row.reason,
                provider_id: row.requested_provider_id,
                care_form_code: care_form.as_deref(),
                by_user: Some(principal.user_id.uuid()),
            };
            let m = row.municipality_code.as_str();
            let mut created_family = None;
            let (basis, family_id, landed) = match (before, row.family_id, chosen) {
                (ReferralStatus::Matched, Some(f), c) if c.is_none_or(|c| c == f) => {
                    (row.match_basis.clone(), f, None)
                }
                (ReferralStatus::Matched, _, _) => {
                    return Err(ApiError::conflict(
                        ErrorCode::ReferralAlreadyMatched,
                        "This referral already joined another family's plan.",
                    )
                    .with_extra("familyId", json!(row.family_id)))
                }
                (_, _, Some(f)) => {
                    let in_municipality: i64 = families::table
                        .filter(families::id.eq(f))
                        .filter(families::municipality_code.eq(m))
                        .count()
                        .get_result(conn)
                        .await?;
                    if in_municipality == 0 {
                        return Err(ApiError::unprocessable(
                            ErrorCode::UnknownFamily,
                            "No family with this id in the referral's municipality.",
                        )
                        .with_extra("field", "familyId"));
                    }
                    let landed =
                        matching::land(conn, &state, f, m, bsn_hash.as_deref(), &child, &request)
                            .await?;
                    (
                        Some(MatchBasis::ChosenByTeamLead.as_str().to_owned()),
                        f,
                        Some(landed),
                    )
                }
                (_, _, None) => {
                    let f = matching::register_family(conn, &state, m, &child, &parents).await?;
                    created_family = Some(f);
                    let landed =
                        matching::land(conn, &state, f, m, bsn_hash.as_deref(), &child, &request)
                            .await?;
                    (
                        Some(MatchBasis::NewFamily.as_str().to_owned()),
                        f,
                        Some(landed),
                    )
                }
            };
            let row: Row = diesel::update(referrals::table.find(id))
                .set((
                    referrals::status.eq(ReferralStatus::Accepted.as_str()),
                    referrals::match_basis.eq(&basis),
                    referrals::family_id.eq(family_id),
                    referrals::plan_id.eq(landed.as_ref().map(|l| l.plan_id).or(row.plan_id)),
                    referrals::involvement_id.eq(landed
                        .as_ref()
                        .and_then(|l| l.involvement_id)
                        .or(row.involvement_id)),
                    referrals::involvement_created.eq(landed
                        .as_ref()
                        .map(|l| l.created)
                        .unwrap_or(row.involvement_created)),
                    referrals::decided_by.eq(principal.user_id),
                    referrals::decided_at.eq(diesel::dsl::now),
                    referrals::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Row::as_returning())
                .get_result(conn)
                .await?;
            if let Some(f) = created_family {
                record_family_created(conn, &event, f, id).await?;
            }
            event
                .clone()
                .family(family_id)
                .detail(
                    json!({"from": before.as_str(), "matchBasis": basis, "planId": row.plan_id}),
                )
                .record(conn)
                .await?;
            let notified = notify(conn, &row, before).await?;
            Ok::<_, ApiError>((full_view(conn, &state, &row).await?, notified))
        })
        .await?;
    if notified {
        state.outbox_wakeup.notify_one();
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Decline a referral with a WJ759 reason. A requested involvement the
/// referral created is withdrawn; a family or plan it opened stays, for the
/// team lead to close.
#[utoipa::path(post, path = "/referrals/{id}/decline", tag = "Referrals", operation_id = "declineReferral",
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = DeclineReferral,
    responses(
        (status = 200, description = "Declined", body = Referral),
        (status = 409, description = "Already decided (`referral_decided`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn decline_referral(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<DeclineReferral>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "decline", "referral", id);
    let event = authorize_decision(&state, &principal, id, event).await?;
    let mut v = Invalid::new();
    let reason = v.check("reasonCode", DeclineReason::parse(&body.0.reason_code));
    let note = v.check("note", text::optional(body.0.note.as_deref(), 2000));
    if let (Some(r), Some(None)) = (reason, &note) {
        if r.needs_note() {
            v.push(
                "note",
                ErrorCode::Required,
                "Say why in a note when the reason is other.",
            );
        }
    }
    let (reason, note) = v.finish((reason, note))?;
    let mut conn = state.db().await?;
    let (view, notified) = conn
        .transaction(async |conn| {
            let row = load_row(conn, id, true)
                .await?
                .ok_or_else(|| ApiError::not_found("Referral"))?;
            let before = row.status()?;
            if before.is_decided() {
                return Err(already_decided(&row));
            }
            let mut withdrawn = None;
            if let (Some(inv), Some(plan), true) =
                (row.involvement_id, row.plan_id, row.involvement_created)
            {
                withdrawn = withdraw(conn, &state, plan, inv, principal.user_id.uuid()).await?;
            }
            let row: Row = diesel::update(referrals::table.find(id))
                .set((
                    referrals::status.eq(ReferralStatus::Declined.as_str()),
                    referrals::decline_reason_code.eq(reason.code()),
                    referrals::decline_note.eq(&note),
                    referrals::decided_by.eq(principal.user_id),
                    referrals::decided_at.eq(diesel::dsl::now),
                    referrals::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Row::as_returning())
                .get_result(conn)
                .await?;
            let mut event = event.clone().detail(json!({
                "from": before.as_str(),
                "reasonCode": reason.code(),
                "withdrawnInvolvementId": withdrawn,
            }));
            if let Some(f) = row.family_id {
                event = event.family(f);
            }
            event.record(conn).await?;
            let notified = notify(conn, &row, before).await?;
            Ok::<_, ApiError>((full_view(conn, &state, &row).await?, notified))
        })
        .await?;
    if notified {
        state.outbox_wakeup.notify_one();
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Ends the involvement a declined referral requested, if it is still only
/// requested and its plan open; returns its id when it did.
async fn withdraw(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    plan_id: Uuid,
    involvement_id: Uuid,
    by: Uuid,
) -> ApiResult<Option<Uuid>> {
    let plan = plan_row(conn, plan_id, true).await?;
    if plan
        .map(|p| p.status())
        .transpose()?
        .is_none_or(|s| s == PlanStatus::Closed)
    {
        return Ok(None);
    }
    let row = crate::care::queries::involvement_row(conn, involvement_id, true).await?;
    let Some(row) = row else { return Ok(None) };
    if row.status()? != InvolvementStatus::Requested {
        return Ok(None);
    }
    let today = Utc::now().date_naive().max(row.requested_on);
    end_locked(
        conn,
        &row,
        today,
        EndReason::Other,
        Some("Referral declined"),
    )
    .await?;
    care_changed(
        conn,
        state,
        plan_id,
        Some(by),
        "Referral declined",
        vec![involvement_id],
    )
    .await?;
    Ok(Some(involvement_id))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/referrals")
            .route(web::post().to(create_referral))
            .route(web::get().to(list_referrals)),
    )
    .service(web::resource("/referrals/{id}").route(web::get().to(get_referral)))
    .service(web::resource("/referrals/{id}/accept").route(web::post().to(accept_referral)))
    .service(web::resource("/referrals/{id}/decline").route(web::post().to(decline_referral)));
}
