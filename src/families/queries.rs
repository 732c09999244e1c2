//! Reads shared by the family and plan handlers.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{Family, Member, PlanSummary};
use crate::auth::policy::FamilyFacts;
use crate::crypto::BsnVault;
use crate::db::schema::{families, family_members};
use crate::db::sql::cached;
use crate::domain::{MemberRole, PlanStatus};
use crate::error::{ApiError, ApiResult};

#[derive(QueryableByName)]
struct FactsRow {
    #[diesel(sql_type = SqlUuid)]
    id: crate::domain::FamilyId,
    #[diesel(sql_type = Text)]
    municipality_code: String,
    #[diesel(sql_type = SqlUuid)]
    team_id: crate::domain::TeamId,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    director_id: Option<crate::domain::UserId>,
}

/// Whose facts to look up: a family, or the family of a plan.
#[derive(Debug, Clone, Copy)]
pub enum FactsOf {
    Family(crate::domain::FamilyId),
    Plan(crate::domain::PlanId),
}

/// What access decisions need about a family: its municipality, team and the
/// director of its open plan. `None` when the family (or plan) does not
/// exist. A plan's family is found in the same statement, so a plan request
/// pays one round trip for its access facts, not two.
pub async fn family_facts(
    conn: &mut AsyncPgConnection,
    of: FactsOf,
) -> QueryResult<Option<FamilyFacts>> {
    macro_rules! facts {
        ($where:literal) => {
            cached(concat!(
                "SELECT f.id, f.municipality_code, f.team_id, d.user_id AS director_id
                 FROM families f
                 LEFT JOIN plans p ON p.family_id = f.id AND p.status <> 'closed'
                 LEFT JOIN director_assignments d ON d.plan_id = p.id AND d.ended_at IS NULL
                 WHERE ",
                $where
            ))
        };
    }
    let (query, id) = match of {
        FactsOf::Family(id) => (facts!("f.id = $1"), id.uuid()),
        FactsOf::Plan(id) => (
            facts!("f.id = (SELECT q.family_id FROM plans q WHERE q.id = $1)"),
            id.uuid(),
        ),
    };
    let row: Option<FactsRow> = query
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(|r| FamilyFacts {
        family_id: r.id,
        municipality_code: r.municipality_code,
        team_id: r.team_id,
        director_id: r.director_id,
    }))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = family_members)]
pub struct MemberRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub role: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn_ciphertext: Option<Vec<u8>>,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
}

impl MemberRow {
    pub fn into_member(self, vault: &BsnVault) -> ApiResult<Member> {
        let bsn = match &self.bsn_ciphertext {
            Some(c) => Some(vault.decrypt(c)?),
            None => None,
        };
        Ok(Member {
            id: self.id,
            role: MemberRole::parse(&self.role)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown member role")))?,
            given_name: self.given_name,
            family_name: self.family_name,
            birth_date: self.birth_date,
            bsn,
            started_on: self.started_on,
            ended_on: self.ended_on,
        })
    }
}

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = SqlUuid)]
    family_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    plan_id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    director_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Int2)]
    level: i16,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    protection_measure: bool,
}

/// Open-plan summaries of the given families, keyed by family.
pub async fn plan_summaries(
    conn: &mut AsyncPgConnection,
    family_ids: &[Uuid],
) -> ApiResult<Vec<(Uuid, PlanSummary)>> {
    let rows: Vec<SummaryRow> = cached(
        "SELECT p.family_id, p.id AS plan_id, p.status, d.user_id AS director_id,
                p.level, p.protection_measure
         FROM plans p
         LEFT JOIN director_assignments d ON d.plan_id = p.id AND d.ended_at IS NULL
         WHERE p.family_id = ANY($1) AND p.status <> 'closed'",
    )
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(family_ids)
    .load(conn)
    .await?;
    let plan_ids: Vec<Uuid> = rows.iter().map(|r| r.plan_id).collect();
    let mut codes = crate::care::queries::signal_codes(conn, &plan_ids).await?;
    rows.into_iter()
        .map(|r| {
            let signals = codes
                .extract_if(.., |(plan, _)| *plan == r.plan_id)
                .map(|(_, code)| code)
                .collect();
            let status = PlanStatus::parse(&r.status)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown plan status")))?;
            Ok((
                r.family_id,
                PlanSummary {
                    plan_id: r.plan_id,
                    status,
                    director_id: r.director_id,
                    level: i32::from(r.level),
                    protection_measure: r.protection_measure,
                    signals,
                },
            ))
        })
        .collect()
}

/// The full family view, with decrypted BSNs (callers have checked access).
pub async fn load_family(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    family_id: Uuid,
) -> ApiResult<Family> {
    let (id, municipality_code, team_id, name, created_at, updated_at): (
        Uuid,
        String,
        Uuid,
        String,
        DateTime<Utc>,
        DateTime<Utc>,
    ) = families::table
        .find(family_id)
        .select((
            families::id,
            families::municipality_code,
            families::team_id,
            families::name,
            families::created_at,
            families::updated_at,
        ))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found("Family"))?;
    let members = family_members::table
        .filter(family_members::family_id.eq(family_id))
        .order((family_members::started_on, family_members::id))
        .select(MemberRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(|m| m.into_member(vault))
        .collect::<ApiResult<Vec<_>>>()?;
    let current_plan = plan_summaries(conn, &[family_id])
        .await?
        .pop()
        .map(|(_, s)| s);
    Ok(Family {
        id,
        municipality_code,
        team_id,
        name,
        members,
        current_plan,
        created_at,
        updated_at,
    })
}
