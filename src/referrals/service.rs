//! What the referral endpoints do: submit (idempotent), read and list.
//! A submission is one transaction: the referral, the family and plan it
//! lands in, the requested involvement with its signals, the audit events,
//! the client's notification in the outbox and the idempotency record
//! commit together or not at all.

use diesel_async::AsyncPgConnection;
use serde_json::{json, Value};

use super::idempotency::{self, Claim};
use super::matching::{self, Match, Request};
use super::model::*;
use super::queries::{self, Matched, NewPersonRow, NewReferralRow, Owner, ReferralRow};
use super::view::{full_view_of, full_views, ReferralView, ReferralViewPage};
use crate::audit::AuditEvent;
use crate::auth::client::{Caller, SCOPE_REFERRALS_READ};
use crate::auth::policy::{self, Denial, ReferralAccess, ReferralFacts};
use crate::auth::principal::Bearer;
use crate::domain::referrals::{MatchBasis, ReferralStatus};
use crate::domain::{FamilyId, ProviderId, ReferralId, Role};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;
use crate::tx::Tx;

/// Operation name under which idempotency keys of submissions are kept.
const CREATE_OPERATION: &str = "createReferral";

/// What a submission answered: its status and body (the same again for a
/// retry with the same key).
pub struct Submitted {
    pub status: u16,
    pub body: Value,
}

impl ReferralRow {
    pub fn facts(&self) -> ReferralFacts {
        ReferralFacts {
            municipality_code: self.municipality_code.clone(),
            client_id: self.client_id,
            submitted_by: self.submitted_by,
        }
    }
}

/// Writes the notification of `row`'s new status (previously `before`)
/// when a client submitted it and, as the client sees statuses, it changed
/// (only decisions do); true when one was written.
pub async fn notify(
    conn: &mut AsyncPgConnection,
    row: &ReferralRow,
    before: ReferralStatus,
) -> ApiResult<bool> {
    match (row.client_id, row.client_notification(before)) {
        (Some(client), Some(data)) => {
            crate::notifications::enqueue(conn, client.uuid(), &data).await
        }
        _ => Ok(false),
    }
}

/// Submits a referral. It lands in the child's family's one plan (by BSN),
/// or waits for review (a possible match without BSN), or opens a new
/// family with an intake plan. A submission that loses a race against a
/// concurrent change of the same family runs again.
#[tracing::instrument(skip_all, fields(referral_id))]
pub async fn create_referral(
    app: &AppState,
    bearer: &Bearer,
    idempotency_key: Option<&[u8]>,
    input: NewReferral,
) -> ApiResult<Submitted> {
    let referral_id = ReferralId::new();
    tracing::Span::current().record("referral_id", tracing::field::display(referral_id));
    let (submitted, notified) = app
        .transaction_retrying(async |tx| {
            let caller = tx.caller(bearer).await?;
            let event = caller.event("create", "referral", referral_id);
            let key = idempotency::key_of(idempotency_key)?;
            let spec = input.parse(|c| app.catalogue.get(c).is_some())?;
            let event = event.municipality(spec.municipality.as_str());
            authorize_submission(tx, &caller, &spec, event.clone()).await?;
            let hash = idempotency::request_hash(&input)?;
            let submission = Submission {
                caller: &caller,
                spec: &spec,
                referral_id,
                key: &key,
                hash: &hash,
                event,
            };
            submit(tx, submission).await
        })
        .await?;
    if notified {
        app.outbox_wakeup.notify_one();
    }
    Ok(submitted)
}

/// Users refer for a municipality they work for; clients only with the
/// write scope, for a municipality they serve, and as themselves.
async fn authorize_submission(
    tx: &mut Tx<'_>,
    caller: &Caller,
    spec: &ReferralSpec,
    event: AuditEvent,
) -> ApiResult<()> {
    let municipality = spec.municipality.as_str();
    match caller {
        Caller::User(p) => {
            let decision = policy::submit_referral(p, municipality);
            tx.enforce(decision, "referral", event).await
        }
        Caller::Client(c) => {
            let Err(code) = policy::client_submit_referral(c, municipality, &spec.referrer) else {
                return Ok(());
            };
            let detail = match code {
                ErrorCode::InsufficientScope => "This token lacks the referrals:write scope.",
                ErrorCode::MunicipalityNotServed => {
                    "This client does not refer to this municipality."
                }
                _ => "A client refers only as itself: its own referrer type and AGB code.",
            };
            let event = event
                .detail(json!({"reason": code.as_str()}))
                .as_access_denied();
            let error = ApiError::forbidden(detail).with_code(code);
            Err(tx.refuse(event, error).await)
        }
    }
}

/// One submission's inputs.
struct Submission<'a> {
    caller: &'a Caller,
    spec: &'a ReferralSpec,
    referral_id: ReferralId,
    key: &'a str,
    hash: &'a [u8],
    event: AuditEvent,
}

/// The submission transaction: the key claimed (or its answer replayed),
/// the referral stored and matched, its events, notification and answer.
async fn submit(tx: &mut Tx<'_>, s: Submission<'_>) -> ApiResult<(Submitted, bool)> {
    let claim = idempotency::claim(tx.conn, s.caller.id(), CREATE_OPERATION, s.key, s.hash).await?;
    match claim {
        Claim::Fresh => within_rate(tx, s.caller).await?,
        Claim::Reused => return Err(idempotency::key_reused()),
        Claim::Replay { status, body } => {
            let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
            s.event
                .on("read", "referral", id)
                .detail(json!({"replayed": true}))
                .record(tx.conn)
                .await?;
            return Ok((Submitted { status, body }, false));
        }
    }
    let provider_id = requested_provider(tx, s.spec).await?;
    store(tx, &s, provider_id).await?;
    let bsn_hash = s.spec.child.bsn.as_ref().map(|b| tx.app.vault.hash(b));
    let (row, created_family) = match_and_land(tx, &s, provider_id, bsn_hash.as_deref()).await?;
    if let Some(family_id) = created_family {
        record_family_created(tx, &s.event, family_id, s.referral_id).await?;
    }
    let mut event = s.event.detail(json!({
        "status": row.status.as_str(),
        "matchBasis": row.match_basis.map(|b| b.as_str()),
        "planId": row.plan_id,
        "involvementId": row.involvement_id,
        "candidates": row.candidate_family_ids.len(),
    }));
    if let Some(family_id) = row.family_id {
        event = event.family(family_id);
    }
    event.record(tx.conn).await?;
    let notified = notify(tx.conn, &row, ReferralStatus::Received).await?;
    let view = match s.caller {
        Caller::Client(_) => row.client_status_view(),
        Caller::User(_) => row.status_view(),
    };
    let body = serde_json::to_value(view).map_err(ApiError::internal)?;
    let (caller, key) = (s.caller.id(), s.key);
    idempotency::complete(tx.conn, caller, CREATE_OPERATION, key, 201, &body).await?;
    Ok((Submitted { status: 201, body }, notified))
}

/// Refuses a client's referral beyond `referrals.per_client_per_hour` in
/// the last hour (0: no limit) with 429 and when to retry. Retries of an
/// earlier submission (same key) are answered before this and never
/// refused. Users are not limited: they are staff, and audited by name.
async fn within_rate(tx: &mut Tx<'_>, caller: &Caller) -> ApiResult<()> {
    let limit = i64::from(tx.app.referrals.per_client_per_hour);
    let Caller::Client(c) = caller else {
        return Ok(());
    };
    if limit == 0 {
        return Ok(());
    }
    let recent = queries::recent_referrals(tx.conn, c.client_id, limit).await?;
    if recent.count < limit {
        return Ok(());
    }
    let retry = recent.seconds_left.unwrap_or(1.0).ceil().max(1.0) as u64;
    tracing::warn!(client_id = %c.client_id, limit, "referral rate limit reached");
    Err(ApiError::new(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyRequests,
        format!("At most {limit} referrals per hour; retry later."),
    )
    .with_retry_after(retry))
}

/// The registered, active provider a referral asks for, if it names one.
async fn requested_provider(tx: &mut Tx<'_>, spec: &ReferralSpec) -> ApiResult<Option<ProviderId>> {
    let municipality = spec.municipality.as_str();
    if !crate::admin::queries::municipality_exists(tx.conn, municipality).await? {
        return Err(ApiError::unprocessable(
            ErrorCode::UnknownMunicipality,
            "The municipality is not registered.",
        )
        .with_extra("field", "municipalityCode"));
    }
    let Some(agb) = &spec.provider_agb else {
        return Ok(None);
    };
    match queries::provider_by_agb(tx.conn, agb.as_str()).await? {
        Some((id, true)) => Ok(Some(id)),
        Some((_, false)) => Err(ApiError::unprocessable(
            ErrorCode::ProviderInactive,
            "The requested provider takes no new involvements.",
        )
        .with_extra("field", "requestedProviderAgbCode")),
        None => Err(ApiError::unprocessable(
            ErrorCode::UnknownProvider,
            "No provider with this AGB code is registered.",
        )
        .with_extra("field", "requestedProviderAgbCode")),
    }
}

/// Stores the referral as received, with its people (BSNs encrypted).
async fn store(tx: &mut Tx<'_>, s: &Submission<'_>, provider: Option<ProviderId>) -> ApiResult<()> {
    let spec = s.spec;
    let (client_id, submitted_by) = match s.caller {
        Caller::Client(c) => (Some(c.client_id), None),
        Caller::User(p) => (None, Some(p.user_id)),
    };
    let row = NewReferralRow {
        id: s.referral_id,
        municipality_code: spec.municipality.as_str(),
        client_id,
        submitted_by,
        external_reference: &spec.external_reference,
        referrer_type: spec.referrer.kind,
        referrer_agb_code: spec.referrer.agb_code.as_ref().map(|a| a.as_str()),
        referrer_name: spec.referrer.name.as_deref(),
        reason: &spec.reason,
        urgency: spec.urgency,
        requested_care_form_code: spec.care_form_code.as_deref(),
        requested_provider_agb_code: spec.provider_agb.as_ref().map(|a| a.as_str()),
        requested_provider_id: provider,
        status: ReferralStatus::Received,
    };
    queries::insert_referral(tx.conn, row).await?;
    let people = std::iter::once(&spec.child).chain(&spec.parents);
    for (position, p) in people.enumerate() {
        let (bsn_ciphertext, bsn_hash) = match &p.bsn {
            Some(b) => (Some(tx.app.vault.encrypt(b)?), Some(tx.app.vault.hash(b))),
            None => (None, None),
        };
        let person = NewPersonRow {
            referral_id: s.referral_id,
            position: position as i16,
            role: p.role,
            given_name: &p.given_name,
            family_name: &p.family_name,
            birth_date: p.birth_date,
            bsn_ciphertext,
            bsn_hash,
        };
        queries::insert_person(tx.conn, person).await?;
    }
    Ok(())
}

/// Matches the stored referral to its family and lands it there (or marks
/// it for review); returns the updated row and the family it registered,
/// if it did.
async fn match_and_land(
    tx: &mut Tx<'_>,
    s: &Submission<'_>,
    provider_id: Option<ProviderId>,
    bsn_hash: Option<&[u8]>,
) -> ApiResult<(ReferralRow, Option<FamilyId>)> {
    let spec = s.spec;
    let municipality = spec.municipality.as_str();
    matching::lock_child(tx.conn, bsn_hash, &spec.child).await?;
    let found = matching::find(tx.conn, municipality, bsn_hash, &spec.child).await?;
    let title = format!("Intake after referral {}", spec.external_reference);
    let request = Request {
        title: &title,
        reason: &spec.reason,
        provider_id,
        care_form_code: spec.care_form_code.as_deref(),
        by_user: match s.caller {
            Caller::User(p) => Some(p.user_id),
            Caller::Client(_) => None,
        },
        awaiting: Some(s.referral_id),
    };
    let (basis, family, candidates, created) = match found {
        Match::Family(f) => (MatchBasis::Bsn, Some(f), Vec::new(), None),
        Match::NoMatch => {
            let f = matching::register_family(
                tx.conn,
                tx.app,
                municipality,
                &spec.child,
                &spec.parents,
            )
            .await?;
            (MatchBasis::NewFamily, Some(f), Vec::new(), Some(f))
        }
        Match::Review { basis, candidates } => (basis, None, candidates, None),
    };
    let landed = match family {
        Some(f) => Some(
            matching::land(
                tx.conn,
                tx.app,
                f,
                municipality,
                bsn_hash,
                &spec.child,
                &request,
            )
            .await?,
        ),
        None => None,
    };
    let matched = Matched {
        status: match family {
            Some(_) => ReferralStatus::Matched,
            None => ReferralStatus::NeedsReview,
        },
        basis,
        family_id: family,
        plan_id: landed.as_ref().map(|l| l.plan_id),
        involvement_id: landed.as_ref().and_then(|l| l.involvement_id),
        involvement_created: landed.as_ref().is_some_and(|l| l.created),
        candidates: &candidates,
    };
    let row = queries::set_matched(tx.conn, s.referral_id, matched).await?;
    Ok((row, created))
}

/// Records that a referral registered a family, as a create of that family
/// by the same actor.
pub async fn record_family_created(
    tx: &mut Tx<'_>,
    event: &AuditEvent,
    family_id: FamilyId,
    referral_id: ReferralId,
) -> ApiResult<()> {
    event
        .clone()
        .on("create", "family", family_id)
        .family(family_id)
        .detail(json!({"byReferral": referral_id}))
        .record(tx.conn)
        .await?;
    Ok(())
}

/// The intake queue (team leads: their municipality's referrals in full),
/// or your own referrals' status (clients with `referrals:read`, and the
/// JGT and GI workers who submitted them).
#[tracing::instrument(skip_all)]
pub async fn list_referrals(
    app: &AppState,
    bearer: &Bearer,
    q: ReferralQuery,
) -> ApiResult<ReferralViewPage> {
    app.transaction(async |tx| {
        let caller = tx.caller(bearer).await?;
        let event = caller.event("search", "referral", "intake_queue");
        type Cursor = (chrono::DateTime<chrono::Utc>, ReferralId);
        let page = PageRequest::<Cursor>::parse(q.limit, q.cursor.as_deref())?;
        let owner = match &caller {
            Caller::Client(c) if !c.has_scope(SCOPE_REFERRALS_READ) => {
                return Err(tx.deny(Denial::Forbidden, "referral", event).await);
            }
            Caller::Client(c) => Owner::Client(c.client_id),
            Caller::User(p) if p.role == Role::TeamLead => match p.municipality_code.clone() {
                Some(m) => Owner::Municipality(m),
                None => return Err(tx.deny(Denial::Forbidden, "referral", event).await),
            },
            Caller::User(p) => Owner::User(p.user_id),
        };
        let statuses = listed_statuses(&owner, q.status);
        let rows = queries::list(tx.conn, &owner, statuses, page.after, page.fetch()).await?;
        let (rows, next_cursor) = finish(rows, page.limit, |r| (r.received_at, r.id));
        let items: Vec<ReferralView> = match owner {
            Owner::Municipality(_) => full_views(tx.conn, &app.vault, &rows)
                .await?
                .into_iter()
                .map(|r| ReferralView::Full(Box::new(r)))
                .collect(),
            Owner::Client(_) => rows
                .iter()
                .map(|r| ReferralView::Status(r.client_status_view()))
                .collect(),
            Owner::User(_) => rows
                .iter()
                .map(|r| ReferralView::Status(r.status_view()))
                .collect(),
        };
        event
            .detail(json!({"status": q.status.map(|s| s.as_str()), "results": items.len()}))
            .record(tx.conn)
            .await?;
        Ok(ReferralViewPage { items, next_cursor })
    })
    .await
}

/// The stored statuses a `?status=` filter selects. A client filters by
/// the status it sees: `received` is every undecided referral, and the
/// intermediate statuses select nothing (else the filter would reveal
/// them).
fn listed_statuses(
    owner: &Owner,
    status: Option<ReferralStatus>,
) -> Option<&'static [ReferralStatus]> {
    use ReferralStatus::*;
    let status = status?;
    Some(match (owner, status) {
        (Owner::Client(_), Received) => &[Received, NeedsReview, Matched],
        (Owner::Client(_), NeedsReview | Matched) => &[],
        (_, Received) => &[Received],
        (_, NeedsReview) => &[NeedsReview],
        (_, Matched) => &[Matched],
        (_, Accepted) => &[Accepted],
        (_, Declined) => &[Declined],
    })
}

/// Reads a referral: in full for the municipality's team lead, status and
/// dates for its referrer.
#[tracing::instrument(skip_all, fields(referral_id = %id))]
pub async fn get_referral(
    app: &AppState,
    bearer: &Bearer,
    id: ReferralId,
) -> ApiResult<ReferralView> {
    app.transaction(async |tx| {
        let caller = tx.caller(bearer).await?;
        let event = caller.event("read", "referral", id);
        let Some(row) = queries::referral(tx.conn, id, false).await? else {
            return Err(tx.deny(Denial::Hidden, "referral", event).await);
        };
        let mut event = event.municipality(row.municipality_code.clone());
        if let Some(f) = row.family_id {
            event = event.family(f);
        }
        let access = match policy::read_referral(&caller, &row.facts()) {
            Ok(access) => access,
            Err(denial) => return Err(tx.deny(denial, "referral", event).await),
        };
        let view = match access {
            ReferralAccess::Full => {
                ReferralView::Full(Box::new(full_view_of(tx.conn, &app.vault, &row).await?))
            }
            ReferralAccess::StatusOnly => ReferralView::Status(match caller {
                Caller::Client(_) => row.client_status_view(),
                Caller::User(_) => row.status_view(),
            }),
        };
        event.record(tx.conn).await?;
        Ok(view)
    })
    .await
}
