//! How referrals are shown: in full in the intake queue (people, submitter
//! and candidate families loaded for a whole page at once), as status and
//! dates to their referrer, and as the status notification a client gets.

use diesel_async::AsyncPgConnection;
use serde::Serialize;
use utoipa::ToSchema;

use super::model::*;
use super::queries::{self, ReferralRow};
use crate::crypto::BsnVault;
use crate::domain::referrals::ReferralStatus;
use crate::domain::{Bsn, ClientId, FamilyId, MemberRole, ReferralId, UserId};
use crate::error::{ApiError, ApiResult};
use crate::families::model::MemberSpec;
use crate::notifications::ReferralStatusData;

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

impl ReferralRow {
    /// What a referring user (staff) sees: status and dates.
    pub fn status_view(&self) -> ReferralStatusView {
        ReferralStatusView {
            id: self.id,
            external_reference: self.external_reference.clone(),
            status: self.status,
            received_at: self.received_at,
            updated_at: self.updated_at,
            decided_at: self.decided_at,
        }
    }

    /// What a referring machine client sees: status and dates, the status
    /// `received` until the decision ([`ReferralStatus::as_seen_by_client`]).
    pub fn client_status_view(&self) -> ReferralStatusView {
        ReferralStatusView {
            status: self.status.as_seen_by_client(),
            ..self.status_view()
        }
    }

    /// The notification of this row's status, previously `previous`, as
    /// the submitting client sees both; `None` when, to the client, nothing
    /// changed (matching, review).
    pub fn client_notification(&self, previous: ReferralStatus) -> Option<ReferralStatusData> {
        let (now, before) = (
            self.status.as_seen_by_client(),
            previous.as_seen_by_client(),
        );
        (now != before).then(|| ReferralStatusData {
            referral_id: self.id.uuid(),
            external_reference: self.external_reference.clone(),
            status: now.as_str().to_owned(),
            previous_status: Some(before.as_str().to_owned()),
            received_at: self.received_at,
            updated_at: self.updated_at,
            decided_at: self.decided_at,
        })
    }
}

/// The people of referrals `ids`, each with its referral: the child first,
/// then the parents, BSNs decrypted.
pub async fn load_people(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    ids: &[ReferralId],
) -> ApiResult<Vec<(ReferralId, MemberSpec)>> {
    queries::people(conn, ids)
        .await?
        .into_iter()
        .map(|p| {
            let bsn = match p.bsn_ciphertext {
                None => None,
                Some(c) => Some(
                    Bsn::parse(&vault.decrypt(&c)?)
                        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored BSN: {e}")))?,
                ),
            };
            let spec = MemberSpec {
                role: p.role,
                given_name: p.given_name,
                family_name: p.family_name,
                birth_date: p.birth_date,
                bsn,
            };
            Ok((p.referral_id, spec))
        })
        .collect()
}

/// What the intake queue shows besides the rows themselves.
struct Context {
    people: Vec<(ReferralId, MemberSpec)>,
    clients: Vec<(ClientId, String)>,
    users: Vec<(UserId, String)>,
    candidates: Vec<(FamilyId, String, String)>,
}

/// The intake queue's view of referrals, loading people, submitters and
/// candidate families for all of them at once (not per referral).
pub async fn full_views(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    rows: &[ReferralRow],
) -> ApiResult<Vec<Referral>> {
    let ids: Vec<ReferralId> = rows.iter().map(|r| r.id).collect();
    let client_ids: Vec<ClientId> = rows.iter().filter_map(|r| r.client_id).collect();
    let user_ids: Vec<UserId> = rows.iter().filter_map(|r| r.submitted_by).collect();
    let candidate_ids: Vec<FamilyId> = rows
        .iter()
        .flat_map(|r| r.candidate_family_ids.iter().copied())
        .collect();
    let context = Context {
        people: load_people(conn, vault, &ids).await?,
        clients: queries::client_names(conn, &client_ids).await?,
        users: queries::user_names(conn, &user_ids).await?,
        candidates: queries::families_named(conn, &candidate_ids).await?,
    };
    rows.iter().map(|row| full_view(&context, row)).collect()
}

/// The intake queue's view of one referral.
pub async fn full_view_of(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    row: &ReferralRow,
) -> ApiResult<Referral> {
    full_views(conn, vault, std::slice::from_ref(row))
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no view of the referral")))
}

fn person(p: &MemberSpec) -> ReferralPersonView {
    ReferralPersonView {
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        birth_date: p.birth_date,
        bsn: p.bsn.as_ref().map(|b| b.as_str().to_owned()),
    }
}

fn name_of<T: PartialEq + Copy + std::fmt::Display>(
    list: &[(T, String)],
    id: T,
) -> ApiResult<String> {
    list.iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n.clone())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("submitter {id} is gone")))
}

fn submitter(context: &Context, row: &ReferralRow) -> ApiResult<Submitter> {
    match (row.client_id, row.submitted_by) {
        (Some(id), _) => Ok(Submitter {
            kind: "client".into(),
            id: id.uuid(),
            name: name_of(&context.clients, id)?,
        }),
        (None, Some(id)) => Ok(Submitter {
            kind: "user".into(),
            id: id.uuid(),
            name: name_of(&context.users, id)?,
        }),
        (None, None) => Err(ApiError::internal(anyhow::anyhow!(
            "referral without submitter"
        ))),
    }
}

fn full_view(context: &Context, row: &ReferralRow) -> ApiResult<Referral> {
    let mine = || {
        context
            .people
            .iter()
            .filter(|(id, _)| *id == row.id)
            .map(|(_, p)| p)
    };
    let child = mine()
        .find(|p| p.role == MemberRole::Child)
        .map(person)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("referral without child")))?;
    let parents = mine()
        .filter(|p| p.role != MemberRole::Child)
        .map(person)
        .collect();
    // Only families of the referral's own municipality, ever.
    let candidates = context
        .candidates
        .iter()
        .filter(|(id, m, _)| row.candidate_family_ids.contains(id) && *m == row.municipality_code)
        .map(|(family_id, _, family_name)| Candidate {
            family_id: *family_id,
            family_name: family_name.clone(),
        })
        .collect();
    Ok(Referral {
        id: row.id,
        external_reference: row.external_reference.clone(),
        status: row.status,
        municipality_code: row.municipality_code.clone(),
        referrer_type: row.referrer_type.code().to_owned(),
        referrer_agb_code: row.referrer_agb_code.clone(),
        referrer_name: row.referrer_name.clone(),
        submitted_by: submitter(context, row)?,
        child,
        parents,
        reason: row.reason.clone(),
        urgency: row.urgency,
        requested_care_form_code: row.requested_care_form_code.clone(),
        requested_provider_agb_code: row.requested_provider_agb_code.clone(),
        requested_provider_id: row.requested_provider_id,
        match_basis: row.match_basis,
        family_id: row.family_id,
        plan_id: row.plan_id,
        involvement_id: row.involvement_id,
        candidates,
        decline_reason_code: row.decline_reason_code.clone(),
        decline_note: row.decline_note.clone(),
        decided_by: row.decided_by,
        received_at: row.received_at,
        updated_at: row.updated_at,
        decided_at: row.decided_at,
    })
}
