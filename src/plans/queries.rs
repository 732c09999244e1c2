//! Reads, locks and writes of plans and director assignments.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{director_assignments, plans, user_served_municipalities, users};
use crate::db::sql::cached;
use crate::domain::{
    AssignmentId, FamilyId, GoalRealisation, PlanId, PlanStatus, Role, TeamId, UserId,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plans)]
pub struct PlanRow {
    pub id: PlanId,
    pub family_id: FamilyId,
    pub municipality_code: String,
    pub status: PlanStatus,
    pub title: String,
    pub goals: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub goal_realisation: Option<GoalRealisation>,
    pub satisfaction_score: Option<i16>,
    pub dropout: Option<bool>,
    pub dropout_reason: Option<String>,
    pub level: i16,
    pub protection_measure: bool,
}

/// A plan row, locked for the rest of the transaction when `lock` is set
/// (every change to a plan takes this lock first, so changes to one plan
/// are serialised while other plans proceed in parallel).
pub async fn plan_row(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    lock: bool,
) -> QueryResult<Option<PlanRow>> {
    let query = plans::table.find(plan_id).select(PlanRow::as_select());
    if lock {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// Takes a shared connection so it can be pipelined with other reads.
pub async fn shared_plan_row(
    mut conn: &AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Option<PlanRow>> {
    plans::table
        .find(plan_id)
        .select(PlanRow::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// The open (not closed) plan of a family, if it has one.
pub async fn open_plan_of(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
) -> QueryResult<Option<PlanRow>> {
    plans::table
        .filter(plans::family_id.eq(family))
        .filter(plans::status.ne(PlanStatus::Closed))
        .select(PlanRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A page of a family's plans, oldest first.
pub async fn family_plans(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
    after: Option<PlanId>,
    fetch: i64,
) -> QueryResult<Vec<PlanRow>> {
    let mut q = plans::table
        .filter(plans::family_id.eq(family))
        .select(PlanRow::as_select())
        .order(plans::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(plans::id.gt(after));
    }
    q.load(conn).await
}

/// A plan to open.
#[derive(Insertable)]
#[diesel(table_name = plans, treat_none_as_default_value = false)]
pub struct NewPlanRow<'a> {
    pub id: PlanId,
    pub family_id: FamilyId,
    pub municipality_code: &'a str,
    pub status: PlanStatus,
    pub title: &'a str,
    pub goals: &'a serde_json::Value,
    pub created_by: UserId,
    pub activated_at: Option<DateTime<Utc>>,
}

pub async fn insert_plan(conn: &mut AsyncPgConnection, row: NewPlanRow<'_>) -> QueryResult<()> {
    diesel::insert_into(plans::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Replaces what is given of a plan's title and goals; a new version.
pub async fn update_content(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    title: Option<&str>,
    goals: Option<&serde_json::Value>,
) -> QueryResult<()> {
    diesel::update(plans::table.find(plan_id))
        .set((
            title.map(|t| plans::title.eq(t)),
            goals.map(|g| plans::goals.eq(g)),
            plans::version.eq(plans::version + 1),
            plans::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// How a plan closes.
#[derive(AsChangeset)]
#[diesel(table_name = plans, treat_none_as_null = true)]
pub struct Closing<'a> {
    pub status: PlanStatus,
    pub closed_at: DateTime<Utc>,
    #[diesel(column_name = close_reason)]
    pub reason: &'a str,
    pub goal_realisation: GoalRealisation,
    pub satisfaction_score: Option<i16>,
    pub dropout: bool,
    pub dropout_reason: Option<&'a str>,
}

pub async fn close_plan(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    closing: Closing<'_>,
) -> QueryResult<()> {
    diesel::update(plans::table.find(plan_id))
        .set((
            &closing,
            plans::version.eq(plans::version + 1),
            plans::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Makes a plan active as of `activated_at`, at `version`.
pub async fn activate(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    activated_at: DateTime<Utc>,
    version: i32,
) -> QueryResult<()> {
    diesel::update(plans::table.find(plan_id))
        .set((
            plans::status.eq(PlanStatus::Active),
            plans::activated_at.eq(activated_at),
            plans::version.eq(version),
            plans::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Int4)]
    version: i32,
}

/// Bumps the plan's version (its ETag: the plan view changed) and returns
/// it. (Raw SQL: diesel never keeps an `UPDATE` prepared; see [`cached`].)
pub async fn bump_version(conn: &mut AsyncPgConnection, plan_id: PlanId) -> QueryResult<i32> {
    let row: Version = cached(
        "UPDATE plans SET version = version + 1, updated_at = CURRENT_TIMESTAMP
         WHERE id = $1 RETURNING version",
    )
    .bind::<SqlUuid, _>(plan_id)
    .get_result(conn)
    .await?;
    Ok(row.version)
}

/// The current director assignment of a plan.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = director_assignments)]
pub struct CurrentDirector {
    #[diesel(column_name = id)]
    pub assignment_id: AssignmentId,
    #[diesel(select_expression = users::id)]
    pub user_id: UserId,
    #[diesel(select_expression = users::display_name)]
    pub display_name: String,
    #[diesel(column_name = started_at)]
    pub since: DateTime<Utc>,
}

/// Takes a shared connection so it can be pipelined with other reads.
pub async fn current_director(
    mut conn: &AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Option<CurrentDirector>> {
    director_assignments::table
        .inner_join(users::table)
        .filter(director_assignments::plan_id.eq(plan_id))
        .filter(director_assignments::ended_at.is_null())
        .select(CurrentDirector::as_select())
        .first(&mut conn)
        .await
        .optional()
}

#[derive(QueryableByName)]
struct Instant {
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
}

/// Ends the plan's current director assignment, if any, and returns the
/// instant it ended: the clock's now, but always after the assignment's
/// start (a transaction that waited for the plan's lock may have begun
/// before the assignment it ends).
pub async fn end_current_assignment(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Option<DateTime<Utc>>> {
    let ended: Vec<Instant> = cached(
        "UPDATE director_assignments
         SET ended_at = greatest(clock_timestamp(), started_at + interval '1 microsecond')
         WHERE plan_id = $1 AND ended_at IS NULL
         RETURNING ended_at AS at",
    )
    .bind::<SqlUuid, _>(plan_id)
    .load(conn)
    .await?;
    Ok(ended.into_iter().next().map(|e| e.at))
}

/// The database clock now (not the transaction's start).
pub async fn clock_now(conn: &mut AsyncPgConnection) -> QueryResult<DateTime<Utc>> {
    let now: Instant = cached("SELECT clock_timestamp() AS at")
        .get_result(conn)
        .await?;
    Ok(now.at)
}

/// A director assignment to start.
pub struct NewAssignment<'a> {
    pub plan_id: PlanId,
    pub user_id: UserId,
    pub started_at: Option<DateTime<Utc>>,
    pub assigned_by: UserId,
    pub reason: &'a str,
}

/// Starts an assignment at `started_at`, or at the transaction's time.
pub async fn insert_assignment(
    conn: &mut AsyncPgConnection,
    a: NewAssignment<'_>,
) -> QueryResult<()> {
    let values = (
        director_assignments::id.eq(AssignmentId::new()),
        director_assignments::plan_id.eq(a.plan_id),
        director_assignments::user_id.eq(a.user_id),
        director_assignments::assigned_by.eq(a.assigned_by),
        director_assignments::reason.eq(a.reason),
    );
    let insert = diesel::insert_into(director_assignments::table);
    match a.started_at {
        Some(at) => {
            insert
                .values((values, director_assignments::started_at.eq(at)))
                .execute(conn)
                .await
        }
        None => {
            insert
                .values((
                    values,
                    director_assignments::started_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await
        }
    }
    .map(drop)
}

/// One director assignment, with its director's name.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = director_assignments)]
pub struct AssignmentRow {
    #[diesel(select_expression = users::id)]
    pub user_id: UserId,
    #[diesel(select_expression = users::display_name)]
    pub display_name: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub assigned_by: Option<UserId>,
    pub reason: String,
}

/// The assignments of a plan, oldest first; only the current one when
/// `current_only`.
pub async fn assignments(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    current_only: bool,
) -> QueryResult<Vec<AssignmentRow>> {
    let mut q = director_assignments::table
        .inner_join(users::table)
        .filter(director_assignments::plan_id.eq(plan_id))
        .order(director_assignments::started_at)
        .select(AssignmentRow::as_select())
        .into_boxed();
    if current_only {
        q = q.filter(director_assignments::ended_at.is_null());
    }
    q.load(conn).await
}

/// What decides whether a user may direct plans of a municipality.
#[derive(Debug, Queryable)]
pub struct DirectorCandidate {
    pub role: Role,
    pub active: bool,
    pub municipality_code: Option<String>,
}

pub async fn director_candidate(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> QueryResult<Option<DirectorCandidate>> {
    users::table
        .find(user)
        .select((users::role, users::active, users::municipality_code))
        .first(conn)
        .await
        .optional()
}

/// Whether a GI worker serves `municipality` besides its own.
pub async fn serves(
    conn: &mut AsyncPgConnection,
    user: UserId,
    municipality: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        user_served_municipalities::table
            .filter(user_served_municipalities::user_id.eq(user))
            .filter(user_served_municipalities::municipality_code.eq(municipality)),
    ))
    .get_result(conn)
    .await
}

/// A user who may take a plan over, with the plans it directs now.
#[derive(QueryableByName)]
pub struct EligibleRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: UserId,
    #[diesel(sql_type = Text)]
    pub display_name: String,
    #[diesel(sql_type = Text)]
    pub role: Role,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub team_id: Option<TeamId>,
    #[diesel(sql_type = Int8)]
    pub caseload: i64,
}

/// Active JGT and GI workers who may direct plans of `municipality`, other
/// than the plan's current director: a page after `after`.
pub async fn eligible_directors(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    plan_id: PlanId,
    after: Option<UserId>,
    fetch: i64,
) -> QueryResult<Vec<EligibleRow>> {
    diesel::sql_query(
        "SELECT u.id, u.display_name, u.role, u.team_id,
                (SELECT count(*) FROM director_assignments d
                  WHERE d.user_id = u.id AND d.ended_at IS NULL) AS caseload
         FROM users u
         WHERE u.active
           AND u.role IN ('jgt_worker', 'gi_worker')
           AND (u.municipality_code = $1
                OR (u.role = 'gi_worker' AND EXISTS (
                      SELECT 1 FROM user_served_municipalities s
                      WHERE s.user_id = u.id AND s.municipality_code = $1)))
           AND NOT EXISTS (SELECT 1 FROM director_assignments d
                           WHERE d.plan_id = $2 AND d.ended_at IS NULL AND d.user_id = u.id)
           AND ($3::uuid IS NULL OR u.id > $3)
         ORDER BY u.id
         LIMIT $4",
    )
    .bind::<Text, _>(municipality)
    .bind::<SqlUuid, _>(plan_id)
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<Int8, _>(fetch)
    .load(conn)
    .await
}

/// The municipality of a user (`None` for an unknown user; `Some(None)`
/// for an admin).
pub async fn user_municipality(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> QueryResult<Option<Option<String>>> {
    users::table
        .find(user)
        .select(users::municipality_code)
        .first(conn)
        .await
        .optional()
}

/// An open plan a user directs.
#[derive(QueryableByName)]
pub struct CaseloadRow {
    #[diesel(sql_type = SqlUuid)]
    pub plan_id: PlanId,
    #[diesel(sql_type = SqlUuid)]
    pub family_id: FamilyId,
    #[diesel(sql_type = Text)]
    pub family_name: String,
    #[diesel(sql_type = Text)]
    pub municipality_code: String,
    #[diesel(sql_type = Text)]
    pub status: PlanStatus,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Timestamptz)]
    pub since: DateTime<Utc>,
}

/// A page of the open plans `user` directs, of `municipality` when given.
pub async fn caseload(
    conn: &mut AsyncPgConnection,
    user: UserId,
    municipality: Option<&str>,
    after: Option<PlanId>,
    fetch: i64,
) -> QueryResult<Vec<CaseloadRow>> {
    diesel::sql_query(
        "SELECT p.id AS plan_id, p.family_id, f.name AS family_name, p.municipality_code,
                p.status, p.title, d.started_at AS since
         FROM director_assignments d
         JOIN plans p ON p.id = d.plan_id
         JOIN families f ON f.id = p.family_id
         WHERE d.user_id = $1 AND d.ended_at IS NULL
           AND ($2::text IS NULL OR p.municipality_code = $2)
           AND ($3::uuid IS NULL OR p.id > $3)
         ORDER BY p.id
         LIMIT $4",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<Nullable<Text>, _>(municipality)
    .bind::<Nullable<SqlUuid>, _>(after)
    .bind::<Int8, _>(fetch)
    .load(conn)
    .await
}
