//! Pulling a referral into the family's one plan.
//!
//! Matching runs under transaction-scoped advisory locks on the child's
//! identity (the keyed BSN hash, and name plus birth date), so two
//! referrals for the same child, on any server process, match one after
//! the other: the second sees the family and plan the first created
//! instead of creating its own. The unique indexes behind "1 gezin" and
//! "1 plan" remain the last word; a request that loses a race against a
//! user's own change is retried by the caller.
//!
//! - BSN of an active child of the municipality, with the name and birth
//!   date the family has for that child (names folded: case, diacritics,
//!   spacing): that family.
//! - BSN of an active child of the municipality, but another name or birth
//!   date: review, with that family as the candidate. A BSN alone opens no
//!   family (issue 15 item 3): whoever knows a child's BSN could otherwise
//!   bring any provider into its plan.
//! - BSN of an active child of another municipality: review (the team lead
//!   declines it with WJ759 5 or 8); a second family would break "1 gezin".
//! - No BSN match, but a child with the same name and birth date (without a
//!   BSN, or any child when the referral has no BSN): review, with those
//!   families as candidates. Never merged automatically.
//! - Nothing: a new family (in the municipality's first team) with an
//!   intake plan.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use sha2::{Digest, Sha256};

use super::queries;
use crate::care::queries::{self as care, NewInvolvementRow};
use crate::care::service::{care_changed, check_references};
use crate::care::state::Change;
use crate::domain::care::InvolvementStatus;
use crate::domain::referrals::MatchBasis;
use crate::domain::text::fold_name;
use crate::domain::{FamilyId, InvolvementId, PlanId, ProviderId, ReferralId, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::families::model::MemberSpec;
use crate::families::service::insert_member;
use crate::state::AppState;

/// An advisory-lock key: 64 bits of SHA-256 over a namespaced identity.
fn lock_key(parts: &[&[u8]]) -> i64 {
    let mut h = Sha256::new();
    h.update(b"gezinsregie referral match\0");
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Serialises matching of one child: first by BSN hash (when known), then
/// by name and birth date, always in this order so two matchings never
/// wait for each other in a cycle.
pub async fn lock_child(
    conn: &mut AsyncPgConnection,
    bsn_hash: Option<&[u8]>,
    child: &MemberSpec,
) -> ApiResult<()> {
    let mut keys = Vec::new();
    if let Some(hash) = bsn_hash {
        keys.push(lock_key(&[b"bsn", hash]));
    }
    let name = format!(
        "{}\0{}",
        child.given_name.to_lowercase(),
        child.family_name.to_lowercase()
    );
    let born = child.birth_date.to_string();
    keys.push(lock_key(&[b"name", name.as_bytes(), born.as_bytes()]));
    for key in keys {
        queries::advisory_lock(conn, key).await?;
    }
    Ok(())
}

/// Where matching put a referral.
#[derive(Debug, Clone)]
pub enum Match {
    Family(FamilyId),
    Review {
        basis: MatchBasis,
        candidates: Vec<FamilyId>,
    },
    NoMatch,
}

/// Finds the child's family (the caller holds [`lock_child`]).
pub async fn find(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    bsn_hash: Option<&[u8]>,
    child: &MemberSpec,
) -> ApiResult<Match> {
    if let Some(hash) = bsn_hash {
        match queries::family_of_child(conn, hash).await? {
            Some(f) if f.municipality_code == municipality => {
                return Ok(if same_child(&f, child) {
                    Match::Family(f.family_id)
                } else {
                    Match::Review {
                        basis: MatchBasis::BsnDetailsDiffer,
                        candidates: vec![f.family_id],
                    }
                });
            }
            Some(_) => {
                return Ok(Match::Review {
                    basis: MatchBasis::BsnInOtherMunicipality,
                    candidates: Vec::new(),
                })
            }
            None => {}
        }
    }
    let found = queries::name_matches(conn, municipality, child, bsn_hash.is_some()).await?;
    if found.is_empty() {
        Ok(Match::NoMatch)
    } else {
        Ok(Match::Review {
            basis: MatchBasis::NameAndBirthDate,
            candidates: found,
        })
    }
}

/// Whether the referral's child has the name and birth date the family has
/// for the child with its BSN.
fn same_child(known: &queries::ChildFamily, child: &MemberSpec) -> bool {
    known.birth_date == child.birth_date
        && fold_name(&known.given_name) == fold_name(&child.given_name)
        && fold_name(&known.family_name) == fold_name(&child.family_name)
}

/// Registers a new family for the referred child and its parents, in the
/// municipality's first team (the team lead can move it).
pub async fn register_family(
    conn: &mut AsyncPgConnection,
    app: &AppState,
    municipality: &str,
    child: &MemberSpec,
    parents: &[MemberSpec],
) -> ApiResult<FamilyId> {
    let team = queries::first_team(conn, municipality)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                ErrorCode::NoTeam,
                "The municipality has no team yet to take in a new family.",
            )
        })?;
    let family_id = FamilyId::new();
    let name: String = format!("Familie {}", child.family_name)
        .chars()
        .take(200)
        .collect();
    crate::families::queries::insert_family(conn, family_id, municipality, team, &name).await?;
    let people = std::iter::once((child, "child.bsn".to_owned())).chain(
        parents
            .iter()
            .enumerate()
            .map(|(i, p)| (p, format!("parents[{i}].bsn"))),
    );
    for (person, field) in people {
        insert_member(conn, &app.vault, family_id, person, &field).await?;
    }
    Ok(family_id)
}

/// What to create in the plan.
pub struct Request<'a> {
    pub title: &'a str,
    pub reason: &'a str,
    pub provider_id: Option<ProviderId>,
    pub care_form_code: Option<&'a str>,
    /// User behind the change, if a user made it.
    pub by_user: Option<UserId>,
    /// The referral not yet accepted whose acceptance the requested care
    /// waits for (none when the landing is the acceptance itself).
    pub awaiting: Option<ReferralId>,
}

/// The plan and involvement a referral landed in.
pub struct Landed {
    pub plan_id: PlanId,
    pub involvement_id: Option<InvolvementId>,
    /// Whether the involvement was created now (not one already requested).
    pub created: bool,
}

/// Lands the referral in the family's open plan, or opens an intake plan,
/// and turns a requested provider and care form into a `requested`
/// involvement (or links the one already requested). Before the referral
/// is accepted that involvement waits for it (`Request::awaiting`) and
/// grants its provider nothing.
pub async fn land(
    conn: &mut AsyncPgConnection,
    app: &AppState,
    family_id: FamilyId,
    municipality: &str,
    bsn_hash: Option<&[u8]>,
    child: &MemberSpec,
    req: &Request<'_>,
) -> ApiResult<Landed> {
    let plan_id = match queries::lock_open_plan_of(conn, family_id).await? {
        Some(id) => id,
        None => {
            let id = PlanId::new();
            let title: String = req.title.chars().take(200).collect();
            queries::insert_intake_plan(conn, id, family_id, municipality, &title, req.by_user)
                .await?;
            id
        }
    };
    let (Some(provider_id), Some(code)) = (req.provider_id, req.care_form_code) else {
        return Ok(Landed {
            plan_id,
            involvement_id: None,
            created: false,
        });
    };
    let form = app.catalogue.get(code).ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::UnknownCareForm,
            "The requested care form is no longer in the catalogue.",
        )
    })?;
    let member_id = queries::child_member(conn, family_id, bsn_hash, child).await?;
    if let Some(id) = queries::running_request(conn, plan_id, provider_id, code, member_id).await? {
        return Ok(Landed {
            plan_id,
            involvement_id: Some(id),
            created: false,
        });
    }
    check_references(conn, family_id, provider_id, member_id).await?;
    let reason: String = req.reason.chars().take(2000).collect();
    let row = NewInvolvementRow {
        id: InvolvementId::new(),
        plan_id,
        family_id,
        provider_id,
        form: form.into(),
        member_id,
        status: InvolvementStatus::Requested,
        requested_on: Utc::now().date_naive(),
        started_on: None,
        reason: Some(&reason),
        created_by: req.by_user,
        awaiting_referral_id: req.awaiting,
    };
    let id = row.id;
    care::insert_involvement(conn, row).await?;
    let change = Change {
        plan_id,
        decided_by: req.by_user,
        reason: "Care requested by referral",
        involvement_ids: vec![id],
    };
    care_changed(conn, app, change).await?;
    Ok(Landed {
        plan_id,
        involvement_id: Some(id),
        created: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_separate_identities_and_namespaces() {
        assert_eq!(lock_key(&[b"bsn", b"abc"]), lock_key(&[b"bsn", b"abc"]));
        assert_ne!(lock_key(&[b"bsn", b"abc"]), lock_key(&[b"bsn", b"abd"]));
        assert_ne!(lock_key(&[b"bsn", b"abc"]), lock_key(&[b"name", b"abc"]));
        // Length prefixes: ("ab", "c") is not ("a", "bc").
        assert_ne!(lock_key(&[b"ab", b"c"]), lock_key(&[b"a", b"bc"]));
    }
}
