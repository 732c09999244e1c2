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
//! - BSN of an active child of the municipality: that family.
//! - BSN of an active child of another municipality: review (the team lead
//!   declines it with WJ759 5 or 8); a second family would break "1 gezin".
//! - No BSN match, but a child with the same name and birth date (without a
//!   BSN, or any child when the referral has no BSN): review, with those
//!   families as candidates. Never merged automatically.
//! - Nothing: a new family (in the municipality's first team) with an
//!   intake plan.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Date, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::care::routes::{care_changed, check_references, insert_involvement, NewRow};
use crate::db::schema::{families, involvements, plans, teams};
use crate::domain::care::InvolvementStatus;
use crate::domain::referrals::MatchBasis;
use crate::domain::PlanStatus;
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult};
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
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<Int8, _>(key)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Where matching put a referral.
#[derive(Debug, Clone)]
pub enum Match {
    Family(Uuid),
    Review {
        basis: MatchBasis,
        candidates: Vec<Uuid>,
    },
    NoMatch,
}

#[derive(QueryableByName)]
struct FamilyOf {
    #[diesel(sql_type = SqlUuid)]
    family_id: Uuid,
    #[diesel(sql_type = Text)]
    municipality_code: String,
}

/// Families of `municipality` with an active child of this name and birth
/// date; with `without_bsn`, only children whose BSN is not known.
pub async fn candidates(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    child: &MemberSpec,
    without_bsn: bool,
) -> ApiResult<Vec<Uuid>> {
    let rows: Vec<FamilyOf> = diesel::sql_query(
        "SELECT DISTINCT m.family_id, f.municipality_code
           FROM family_members m JOIN families f ON f.id = m.family_id
          WHERE m.role = 'child' AND m.ended_on IS NULL
            AND m.birth_date = $2 AND lower(m.family_name) = lower($3)
            AND lower(m.given_name) = lower($4)
            AND f.municipality_code = $1
            AND (NOT $5 OR m.bsn_hash IS NULL)
          ORDER BY m.family_id
          LIMIT 20",
    )
    .bind::<Text, _>(municipality)
    .bind::<Date, _>(child.birth_date)
    .bind::<Text, _>(&child.family_name)
    .bind::<Text, _>(&child.given_name)
    .bind::<diesel::sql_types::Bool, _>(without_bsn)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.family_id).collect())
}

/// Finds the child's family (the caller holds [`lock_child`]).
pub async fn find(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    bsn_hash: Option<&[u8]>,
    child: &MemberSpec,
) -> ApiResult<Match> {
    if let Some(hash) = bsn_hash {
        let found: Option<FamilyOf> = diesel::sql_query(
            "SELECT m.family_id, f.municipality_code
               FROM family_members m JOIN families f ON f.id = m.family_id
              WHERE m.bsn_hash = $1 AND m.role = 'child' AND m.ended_on IS NULL
              LIMIT 1",
        )
        .bind::<Bytea, _>(hash)
        .get_result(conn)
        .await
        .optional()?;
        match found {
            Some(f) if f.municipality_code == municipality => {
                return Ok(Match::Family(f.family_id))
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
    let found = candidates(conn, municipality, child, bsn_hash.is_some()).await?;
    if found.is_empty() {
        Ok(Match::NoMatch)
    } else {
        Ok(Match::Review {
            basis: MatchBasis::NameAndBirthDate,
            candidates: found,
        })
    }
}

/// Registers a new family for the referred child and its parents, in the
/// municipality's first team (the team lead can move it).
pub async fn register_family(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    municipality: &str,
    child: &MemberSpec,
    parents: &[MemberSpec],
) -> ApiResult<Uuid> {
    let team: Option<Uuid> = teams::table
        .filter(teams::municipality_code.eq(municipality))
        .order((teams::created_at, teams::id))
        .select(teams::id)
        .first(conn)
        .await
        .optional()?;
    let team = team.ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::NoTeam,
            "The municipality has no team yet to take in a new family.",
        )
    })?;
    let family_id = Uuid::now_v7();
    let name: String = format!("Familie {}", child.family_name)
        .chars()
        .take(200)
        .collect();
    diesel::insert_into(families::table)
        .values((
            families::id.eq(family_id),
            families::municipality_code.eq(municipality),
            families::team_id.eq(team),
            families::name.eq(name),
        ))
        .execute(conn)
        .await?;
    let people = std::iter::once((child, "child.bsn".to_owned())).chain(
        parents
            .iter()
            .enumerate()
            .map(|(i, p)| (p, format!("parents[{i}].bsn"))),
    );
    for (person, field) in people {
        insert_member(conn, &state.vault, family_id.into(), person, &field).await?;
    }
    Ok(family_id)
}

/// What to create in the plan.
pub struct Request<'a> {
    pub title: &'a str,
    pub reason: &'a str,
    pub provider_id: Option<Uuid>,
    pub care_form_code: Option<&'a str>,
    /// User behind the change, if a user made it.
    pub by_user: Option<Uuid>,
}

#[derive(QueryableByName)]
struct MemberId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// The referred child as a member of `family_id`: by BSN hash, else by
/// name and birth date.
async fn child_member(
    conn: &mut AsyncPgConnection,
    family_id: Uuid,
    bsn_hash: Option<&[u8]>,
    child: &MemberSpec,
) -> ApiResult<Option<Uuid>> {
    let row: Option<MemberId> = diesel::sql_query(
        "SELECT id FROM family_members
          WHERE family_id = $1 AND role = 'child' AND ended_on IS NULL
            AND (bsn_hash = $2 OR (birth_date = $3 AND lower(family_name) = lower($4)
                                   AND lower(given_name) = lower($5)))
          ORDER BY (bsn_hash = $2) DESC NULLS LAST, id
          LIMIT 1",
    )
    .bind::<SqlUuid, _>(family_id)
    .bind::<Nullable<Bytea>, _>(bsn_hash)
    .bind::<Date, _>(child.birth_date)
    .bind::<Text, _>(&child.family_name)
    .bind::<Text, _>(&child.given_name)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map(|r| r.id))
}

/// The plan and involvement a referral landed in.
pub struct Landed {
    pub plan_id: Uuid,
    pub involvement_id: Option<Uuid>,
    /// Whether the involvement was created now (not one already requested).
    pub created: bool,
}

/// Lands the referral in the family's open plan, or opens an intake plan,
/// and turns a requested provider and care form into a `requested`
/// involvement (or links the one already requested).
pub async fn land(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    family_id: Uuid,
    municipality: &str,
    bsn_hash: Option<&[u8]>,
    child: &MemberSpec,
    req: &Request<'_>,
) -> ApiResult<Landed> {
    let open: Option<Uuid> = plans::table
        .filter(plans::family_id.eq(family_id))
        .filter(plans::status.ne(PlanStatus::Closed.as_str()))
        .select(plans::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let plan_id = match open {
        Some(id) => id,
        None => {
            let id = Uuid::now_v7();
            let title: String = req.title.chars().take(200).collect();
            diesel::insert_into(plans::table)
                .values((
                    plans::id.eq(id),
                    plans::family_id.eq(family_id),
                    plans::municipality_code.eq(municipality),
                    plans::status.eq(PlanStatus::Intake.as_str()),
                    plans::title.eq(title),
                    plans::created_by.eq(req.by_user),
                ))
                .execute(conn)
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
    let form = state.catalogue.get(code).ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::UnknownCareForm,
            "The requested care form is no longer in the catalogue.",
        )
    })?;
    let member_id = child_member(conn, family_id, bsn_hash, child).await?;
    let existing: Option<Uuid> = involvements::table
        .filter(involvements::plan_id.eq(plan_id))
        .filter(involvements::provider_id.eq(provider_id))
        .filter(involvements::care_form_code.eq(code))
        .filter(involvements::status.ne(InvolvementStatus::Ended.as_str()))
        .filter(involvements::member_id.is_not_distinct_from(member_id))
        .select(involvements::id)
        .first(conn)
        .await
        .optional()?;
    if let Some(id) = existing {
        return Ok(Landed {
            plan_id,
            involvement_id: Some(id),
            created: false,
        });
    }
    check_references(conn, family_id, provider_id, member_id).await?;
    let reason: String = req.reason.chars().take(2000).collect();
    let id = insert_involvement(
        conn,
        NewRow {
            id: Uuid::now_v7(),
            plan_id,
            family_id,
            provider_id,
            form,
            member_id,
            status: InvolvementStatus::Requested,
            requested_on: Utc::now().date_naive(),
            started_on: None,
            reason: Some(&reason),
            created_by: req.by_user,
        },
    )
    .await?;
    care_changed(
        conn,
        state,
        plan_id,
        req.by_user,
        "Care requested by referral",
        vec![id],
    )
    .await?;
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
