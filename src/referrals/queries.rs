//! Reads and writes of referrals, the people they name, and what the
//! intake queue shows about them.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Bytea, Date, Int8, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{
    clients, families, involvements, plans, providers, referral_people, referrals, teams, users,
};
use crate::domain::care::InvolvementStatus;
use crate::domain::referrals::{MatchBasis, ReferralStatus, ReferrerType, Urgency};
use crate::domain::{
    ClientId, FamilyId, InvolvementId, MemberId, MemberRole, PlanId, PlanStatus, ProviderId,
    ReferralId, TeamId, UserId,
};
use crate::families::model::MemberSpec;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = referrals)]
pub struct ReferralRow {
    pub id: ReferralId,
    pub municipality_code: String,
    pub client_id: Option<ClientId>,
    pub submitted_by: Option<UserId>,
    pub external_reference: String,
    pub referrer_type: ReferrerType,
    pub referrer_agb_code: Option<String>,
    pub referrer_name: Option<String>,
    pub reason: String,
    pub urgency: Urgency,
    pub requested_care_form_code: Option<String>,
    pub requested_provider_agb_code: Option<String>,
    pub requested_provider_id: Option<ProviderId>,
    pub status: ReferralStatus,
    pub match_basis: Option<MatchBasis>,
    pub family_id: Option<FamilyId>,
    pub plan_id: Option<PlanId>,
    pub involvement_id: Option<InvolvementId>,
    pub involvement_created: bool,
    pub candidate_family_ids: Vec<FamilyId>,
    pub decline_reason_code: Option<String>,
    pub decline_note: Option<String>,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A referral, locked for a decision when `lock` is set.
pub async fn referral(
    conn: &mut AsyncPgConnection,
    id: ReferralId,
    lock: bool,
) -> QueryResult<Option<ReferralRow>> {
    let q = referrals::table.find(id).select(ReferralRow::as_select());
    if lock {
        q.for_update().first(conn).await.optional()
    } else {
        q.first(conn).await.optional()
    }
}

/// Whose referrals a list shows.
pub enum Owner {
    Client(ClientId),
    Municipality(String),
    User(UserId),
}

/// A page of referrals, oldest first, of `owner`, in one of `statuses`
/// when given.
pub async fn list(
    conn: &mut AsyncPgConnection,
    owner: &Owner,
    statuses: Option<&[ReferralStatus]>,
    after: Option<(DateTime<Utc>, ReferralId)>,
    fetch: i64,
) -> QueryResult<Vec<ReferralRow>> {
    let mut sql = referrals::table
        .select(ReferralRow::as_select())
        .order((referrals::received_at, referrals::id))
        .limit(fetch)
        .into_boxed();
    sql = match owner {
        Owner::Client(id) => sql.filter(referrals::client_id.eq(*id)),
        Owner::Municipality(m) => sql.filter(referrals::municipality_code.eq(m.clone())),
        Owner::User(id) => sql.filter(referrals::submitted_by.eq(*id)),
    };
    if let Some(statuses) = statuses {
        sql = sql.filter(referrals::status.eq_any(statuses.to_vec()));
    }
    if let Some((at, id)) = after {
        sql = sql.filter(
            referrals::received_at
                .gt(at)
                .or(referrals::received_at.eq(at).and(referrals::id.gt(id))),
        );
    }
    sql.load(conn).await
}

/// A referral as received (`status` received), before matching.
#[derive(Insertable)]
#[diesel(table_name = referrals, treat_none_as_default_value = false)]
pub struct NewReferralRow<'a> {
    pub id: ReferralId,
    pub municipality_code: &'a str,
    pub client_id: Option<ClientId>,
    pub submitted_by: Option<UserId>,
    pub external_reference: &'a str,
    pub referrer_type: ReferrerType,
    pub referrer_agb_code: Option<&'a str>,
    pub referrer_name: Option<&'a str>,
    pub reason: &'a str,
    pub urgency: Urgency,
    pub requested_care_form_code: Option<&'a str>,
    pub requested_provider_agb_code: Option<&'a str>,
    pub requested_provider_id: Option<ProviderId>,
    pub status: ReferralStatus,
}

pub async fn insert_referral(
    conn: &mut AsyncPgConnection,
    row: NewReferralRow<'_>,
) -> QueryResult<()> {
    diesel::insert_into(referrals::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// A person named in a referral, its BSN encrypted and hashed.
#[derive(Insertable)]
#[diesel(table_name = referral_people, treat_none_as_default_value = false)]
pub struct NewPersonRow<'a> {
    pub referral_id: ReferralId,
    pub position: i16,
    pub role: MemberRole,
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub birth_date: NaiveDate,
    pub bsn_ciphertext: Option<Vec<u8>>,
    pub bsn_hash: Option<Vec<u8>>,
}

pub async fn insert_person(conn: &mut AsyncPgConnection, row: NewPersonRow<'_>) -> QueryResult<()> {
    diesel::insert_into(referral_people::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// A person of a referral as stored; its BSN still encrypted.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = referral_people)]
pub struct PersonRow {
    pub referral_id: ReferralId,
    pub role: MemberRole,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub bsn_ciphertext: Option<Vec<u8>>,
}

/// The people of referrals `ids`, each with its referral: the child first,
/// then the parents.
pub async fn people(
    conn: &mut AsyncPgConnection,
    ids: &[ReferralId],
) -> QueryResult<Vec<PersonRow>> {
    referral_people::table
        .filter(referral_people::referral_id.eq_any(ids))
        .order((referral_people::referral_id, referral_people::position))
        .select(PersonRow::as_select())
        .load(conn)
        .await
}

/// Organisation names of clients.
pub async fn client_names(
    conn: &mut AsyncPgConnection,
    ids: &[ClientId],
) -> QueryResult<Vec<(ClientId, String)>> {
    clients::table
        .filter(clients::id.eq_any(ids))
        .select((clients::id, clients::organisation_name))
        .load(conn)
        .await
}

/// Display names of users.
pub async fn user_names(
    conn: &mut AsyncPgConnection,
    ids: &[UserId],
) -> QueryResult<Vec<(UserId, String)>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::display_name))
        .load(conn)
        .await
}

/// Families by id, with their municipality and name.
pub async fn families_named(
    conn: &mut AsyncPgConnection,
    ids: &[FamilyId],
) -> QueryResult<Vec<(FamilyId, String, String)>> {
    families::table
        .filter(families::id.eq_any(ids))
        .select((families::id, families::municipality_code, families::name))
        .order(families::id)
        .load(conn)
        .await
}

/// Whether `family` is a family of `municipality`.
pub async fn family_in_municipality(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
    municipality: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        families::table
            .filter(families::id.eq(family))
            .filter(families::municipality_code.eq(municipality)),
    ))
    .get_result(conn)
    .await
}

/// The provider with this AGB code, and whether it takes new care.
pub async fn provider_by_agb(
    conn: &mut AsyncPgConnection,
    agb: &str,
) -> QueryResult<Option<(ProviderId, bool)>> {
    providers::table
        .filter(providers::agb_code.eq(agb))
        .select((providers::id, providers::active))
        .first(conn)
        .await
        .optional()
}

/// Where matching put a referral (`None` is stored as NULL).
#[derive(AsChangeset)]
#[diesel(table_name = referrals, treat_none_as_null = true)]
pub struct Matched<'a> {
    pub status: ReferralStatus,
    #[diesel(column_name = match_basis)]
    pub basis: MatchBasis,
    pub family_id: Option<FamilyId>,
    pub plan_id: Option<PlanId>,
    pub involvement_id: Option<InvolvementId>,
    pub involvement_created: bool,
    #[diesel(column_name = candidate_family_ids)]
    pub candidates: &'a [FamilyId],
}

pub async fn set_matched(
    conn: &mut AsyncPgConnection,
    id: ReferralId,
    m: Matched<'_>,
) -> QueryResult<ReferralRow> {
    diesel::update(referrals::table.find(id))
        .set((&m, referrals::updated_at.eq(diesel::dsl::now)))
        .returning(ReferralRow::as_returning())
        .get_result(conn)
        .await
}

/// What an acceptance records (`None` is stored as NULL).
#[derive(AsChangeset)]
#[diesel(table_name = referrals, treat_none_as_null = true)]
pub struct Accepted {
    pub status: ReferralStatus,
    #[diesel(column_name = match_basis)]
    pub basis: Option<MatchBasis>,
    pub family_id: FamilyId,
    pub plan_id: Option<PlanId>,
    pub involvement_id: Option<InvolvementId>,
    pub involvement_created: bool,
    pub decided_by: UserId,
}

pub async fn set_accepted(
    conn: &mut AsyncPgConnection,
    id: ReferralId,
    a: Accepted,
) -> QueryResult<ReferralRow> {
    diesel::update(referrals::table.find(id))
        .set((
            &a,
            referrals::decided_at.eq(diesel::dsl::now),
            referrals::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ReferralRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn set_declined(
    conn: &mut AsyncPgConnection,
    id: ReferralId,
    reason_code: &str,
    note: Option<&str>,
    by: UserId,
) -> QueryResult<ReferralRow> {
    diesel::update(referrals::table.find(id))
        .set((
            referrals::status.eq(ReferralStatus::Declined),
            referrals::decline_reason_code.eq(reason_code),
            referrals::decline_note.eq(note),
            referrals::decided_by.eq(by),
            referrals::decided_at.eq(diesel::dsl::now),
            referrals::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ReferralRow::as_returning())
        .get_result(conn)
        .await
}

/// Waits for a transaction-scoped advisory lock.
pub async fn advisory_lock(conn: &mut AsyncPgConnection, key: i64) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<Int8, _>(key)
        .execute(conn)
        .await
        .map(drop)
}

#[derive(QueryableByName)]
pub struct FamilyOf {
    #[diesel(sql_type = SqlUuid)]
    pub family_id: FamilyId,
    #[diesel(sql_type = Text)]
    pub municipality_code: String,
}

/// The family of a child found by BSN, with the name and birth date the
/// family has for that child (a referral must agree with them).
#[derive(QueryableByName)]
pub struct ChildFamily {
    #[diesel(sql_type = SqlUuid)]
    pub family_id: FamilyId,
    #[diesel(sql_type = Text)]
    pub municipality_code: String,
    #[diesel(sql_type = Text)]
    pub given_name: String,
    #[diesel(sql_type = Text)]
    pub family_name: String,
    #[diesel(sql_type = Date)]
    pub birth_date: NaiveDate,
}

/// The family of the active child with this BSN hash, in any municipality.
pub async fn family_of_child(
    conn: &mut AsyncPgConnection,
    bsn_hash: &[u8],
) -> QueryResult<Option<ChildFamily>> {
    diesel::sql_query(
        "SELECT m.family_id, f.municipality_code, m.given_name, m.family_name, m.birth_date
           FROM family_members m JOIN families f ON f.id = m.family_id
          WHERE m.bsn_hash = $1 AND m.role = 'child' AND m.ended_on IS NULL
          LIMIT 1",
    )
    .bind::<Bytea, _>(bsn_hash)
    .get_result(conn)
    .await
    .optional()
}

/// Families of `municipality` with an active child of this name and birth
/// date; with `without_bsn`, only children whose BSN is not known.
pub async fn name_matches(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    child: &MemberSpec,
    without_bsn: bool,
) -> QueryResult<Vec<FamilyId>> {
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
    .bind::<Bool, _>(without_bsn)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.family_id).collect())
}

/// The municipality's first team (where a referral's new family goes).
pub async fn first_team(
    conn: &mut AsyncPgConnection,
    municipality: &str,
) -> QueryResult<Option<TeamId>> {
    teams::table
        .filter(teams::municipality_code.eq(municipality))
        .order((teams::created_at, teams::id))
        .select(teams::id)
        .first(conn)
        .await
        .optional()
}

#[derive(QueryableByName)]
struct MemberIdRow {
    #[diesel(sql_type = SqlUuid)]
    id: MemberId,
}

/// The referred child as a member of `family`: by BSN hash, else by name
/// and birth date.
pub async fn child_member(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
    bsn_hash: Option<&[u8]>,
    child: &MemberSpec,
) -> QueryResult<Option<MemberId>> {
    let row: Option<MemberIdRow> = diesel::sql_query(
        "SELECT id FROM family_members
          WHERE family_id = $1 AND role = 'child' AND ended_on IS NULL
            AND (bsn_hash = $2 OR (birth_date = $3 AND lower(family_name) = lower($4)
                                   AND lower(given_name) = lower($5)))
          ORDER BY (bsn_hash = $2) DESC NULLS LAST, id
          LIMIT 1",
    )
    .bind::<SqlUuid, _>(family)
    .bind::<Nullable<Bytea>, _>(bsn_hash)
    .bind::<Date, _>(child.birth_date)
    .bind::<Text, _>(&child.family_name)
    .bind::<Text, _>(&child.given_name)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map(|r| r.id))
}

/// The open plan of a family, locked.
pub async fn lock_open_plan_of(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
) -> QueryResult<Option<PlanId>> {
    plans::table
        .filter(plans::family_id.eq(family))
        .filter(plans::status.ne(PlanStatus::Closed))
        .select(plans::id)
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Opens an intake plan (no director, no goals) for a referral.
pub async fn insert_intake_plan(
    conn: &mut AsyncPgConnection,
    id: PlanId,
    family: FamilyId,
    municipality: &str,
    title: &str,
    created_by: Option<UserId>,
) -> QueryResult<()> {
    diesel::insert_into(plans::table)
        .values((
            plans::id.eq(id),
            plans::family_id.eq(family),
            plans::municipality_code.eq(municipality),
            plans::status.eq(PlanStatus::Intake),
            plans::title.eq(title),
            plans::created_by.eq(created_by),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Care of this provider and form for this member that a plan already has
/// requested or running.
pub async fn running_request(
    conn: &mut AsyncPgConnection,
    plan: PlanId,
    provider: ProviderId,
    care_form_code: &str,
    member: Option<MemberId>,
) -> QueryResult<Option<InvolvementId>> {
    involvements::table
        .filter(involvements::plan_id.eq(plan))
        .filter(involvements::provider_id.eq(provider))
        .filter(involvements::care_form_code.eq(care_form_code))
        .filter(involvements::status.ne(InvolvementStatus::Ended))
        .filter(involvements::member_id.is_not_distinct_from(member))
        .select(involvements::id)
        .first(conn)
        .await
        .optional()
}

/// Lets care a referral requested go from waiting to granted (its referral
/// was accepted); true when it was waiting.
pub async fn release_involvement(
    conn: &mut AsyncPgConnection,
    id: InvolvementId,
) -> QueryResult<bool> {
    let n = diesel::update(
        involvements::table
            .find(id)
            .filter(involvements::awaiting_referral_id.is_not_null())
            .filter(involvements::status.ne(InvolvementStatus::Ended)),
    )
    .set((
        involvements::awaiting_referral_id.eq(None::<ReferralId>),
        involvements::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Whether a referral other than `except` that links this involvement has
/// been accepted (its acceptance approved the care).
pub async fn accepted_elsewhere(
    conn: &mut AsyncPgConnection,
    involvement: InvolvementId,
    except: ReferralId,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        referrals::table
            .filter(referrals::involvement_id.eq(involvement))
            .filter(referrals::id.ne(except))
            .filter(referrals::status.eq(ReferralStatus::Accepted)),
    ))
    .get_result(conn)
    .await
}

#[derive(QueryableByName)]
pub struct RecentReferrals {
    #[diesel(sql_type = Int8)]
    pub count: i64,
    /// Seconds until the oldest of them is an hour old (when any).
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    pub seconds_left: Option<f64>,
}

/// How many referrals a client submitted in the last hour, counting at
/// most `limit`, and when the oldest counted leaves the hour. Takes a
/// transaction-scoped lock on the client first, so concurrent submissions
/// of one client are counted one after the other (on any server process).
pub async fn recent_referrals(
    conn: &mut AsyncPgConnection,
    client: ClientId,
    limit: i64,
) -> QueryResult<RecentReferrals> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended('referral rate ' || $1::text, 0))",
    )
    .bind::<SqlUuid, _>(client)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "SELECT count(*) AS count,
                extract(epoch FROM min(received_at) + interval '1 hour' - now())::float8 AS seconds_left
           FROM (SELECT received_at FROM referrals
                  WHERE client_id = $1 AND received_at > now() - interval '1 hour'
                  ORDER BY received_at DESC LIMIT $2) recent",
    )
    .bind::<SqlUuid, _>(client)
    .bind::<Int8, _>(limit)
    .get_result(conn)
    .await
}
