//! Reads and writes of families and their members, and the access facts a
//! family's (or a plan's) requests are decided on.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Int2, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::auth::policy::FamilyFacts;
use crate::db::schema::{families, family_members};
use crate::db::sql::cached;
use crate::domain::signals::SignalCode;
use crate::domain::{FamilyId, MemberId, MemberRole, PlanId, PlanStatus, TeamId, UserId};

#[derive(QueryableByName)]
struct FactsRow {
    #[diesel(sql_type = SqlUuid)]
    id: FamilyId,
    #[diesel(sql_type = Text)]
    municipality_code: String,
    #[diesel(sql_type = SqlUuid)]
    team_id: TeamId,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    director_id: Option<UserId>,
}

/// Whose facts to look up: a family, or the family of a plan.
#[derive(Debug, Clone, Copy)]
pub enum FactsOf {
    Family(FamilyId),
    Plan(PlanId),
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

/// A family's own row.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = families)]
pub struct FamilyRow {
    pub id: FamilyId,
    pub municipality_code: String,
    pub team_id: TeamId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn family_row(
    conn: &mut AsyncPgConnection,
    id: FamilyId,
) -> QueryResult<Option<FamilyRow>> {
    families::table
        .find(id)
        .select(FamilyRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn insert_family(
    conn: &mut AsyncPgConnection,
    id: FamilyId,
    municipality: &str,
    team: TeamId,
    name: &str,
) -> QueryResult<()> {
    diesel::insert_into(families::table)
        .values((
            families::id.eq(id),
            families::municipality_code.eq(municipality),
            families::team_id.eq(team),
            families::name.eq(name),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Sets what is given of a family's name and team, and marks it changed.
pub async fn update_family(
    conn: &mut AsyncPgConnection,
    id: FamilyId,
    name: Option<&str>,
    team: Option<TeamId>,
) -> QueryResult<()> {
    diesel::update(families::table.find(id))
        .set((
            name.map(|n| families::name.eq(n)),
            team.map(|t| families::team_id.eq(t)),
            families::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A member's row; its BSN still encrypted.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = family_members)]
pub struct MemberRow {
    pub id: MemberId,
    pub family_id: FamilyId,
    pub role: MemberRole,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn_ciphertext: Option<Vec<u8>>,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
}

/// The members of a family, past ones included, in the order they joined.
pub async fn members(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
) -> QueryResult<Vec<MemberRow>> {
    family_members::table
        .filter(family_members::family_id.eq(family))
        .order((family_members::started_on, family_members::id))
        .select(MemberRow::as_select())
        .load(conn)
        .await
}

/// A member of `family`, locked for its change when `lock` is set.
pub async fn member(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
    id: MemberId,
    lock: bool,
) -> QueryResult<Option<MemberRow>> {
    let query = family_members::table
        .find(id)
        .filter(family_members::family_id.eq(family))
        .select(MemberRow::as_select());
    if lock {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// A member to insert: its BSN already encrypted and hashed.
#[derive(Insertable)]
#[diesel(table_name = family_members, treat_none_as_default_value = false)]
pub struct NewMemberRow<'a> {
    pub id: MemberId,
    pub family_id: FamilyId,
    pub role: MemberRole,
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub birth_date: NaiveDate,
    pub bsn_ciphertext: Option<Vec<u8>>,
    pub bsn_hash: Option<Vec<u8>>,
}

pub async fn insert_member(conn: &mut AsyncPgConnection, row: NewMemberRow<'_>) -> QueryResult<()> {
    diesel::insert_into(family_members::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// What a member change sets; `None` leaves a field as it is.
#[derive(Default, AsChangeset)]
#[diesel(table_name = family_members)]
pub struct MemberChange<'a> {
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub birth_date: Option<NaiveDate>,
    /// The encrypted BSN, with its keyed hash.
    pub bsn_ciphertext: Option<Vec<u8>>,
    pub bsn_hash: Option<Vec<u8>>,
    pub ended_on: Option<NaiveDate>,
}

pub async fn update_member(
    conn: &mut AsyncPgConnection,
    id: MemberId,
    change: MemberChange<'_>,
) -> QueryResult<()> {
    diesel::update(family_members::table.find(id))
        .set((&change, family_members::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await
        .map(drop)
}

/// Marks a family changed (a member was added).
pub async fn touch_family(conn: &mut AsyncPgConnection, id: FamilyId) -> QueryResult<()> {
    diesel::update(families::table.find(id))
        .set(families::updated_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

/// Whether a child with this BSN hash is an active member of a family other
/// than `family`.
pub async fn child_elsewhere(
    conn: &mut AsyncPgConnection,
    bsn_hash: &[u8],
    family: FamilyId,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        family_members::table
            .filter(family_members::bsn_hash.eq(bsn_hash))
            .filter(family_members::role.eq(MemberRole::Child))
            .filter(family_members::ended_on.is_null())
            .filter(family_members::family_id.ne(family)),
    ))
    .get_result(conn)
    .await
}

/// The open plan of a family in brief, with the codes of its signals.
#[derive(Debug, QueryableByName)]
pub struct SummaryRow {
    #[diesel(sql_type = SqlUuid)]
    pub family_id: FamilyId,
    #[diesel(sql_type = SqlUuid)]
    pub plan_id: PlanId,
    #[diesel(sql_type = Text)]
    pub status: PlanStatus,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub director_id: Option<UserId>,
    #[diesel(sql_type = Int2)]
    pub level: i16,
    #[diesel(sql_type = Bool)]
    pub protection_measure: bool,
    #[diesel(sql_type = Array<Text>)]
    pub signals: Vec<SignalCode>,
}

/// Open-plan summaries of the given families (one statement, signals
/// aggregated in it).
pub async fn plan_summaries(
    conn: &mut AsyncPgConnection,
    family_ids: &[FamilyId],
) -> QueryResult<Vec<SummaryRow>> {
    cached(
        "SELECT p.family_id, p.id AS plan_id, p.status, d.user_id AS director_id,
                p.level, p.protection_measure,
                ARRAY(SELECT s.code FROM plan_signals s
                      WHERE s.plan_id = p.id ORDER BY s.code) AS signals
         FROM plans p
         LEFT JOIN director_assignments d ON d.plan_id = p.id AND d.ended_at IS NULL
         WHERE p.family_id = ANY($1) AND p.status <> 'closed'",
    )
    .bind::<Array<SqlUuid>, _>(family_ids)
    .load(conn)
    .await
}
