//! Reads and writes of involvements, scaling events and signals.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::catalogue::CareForm;
use super::model::Scaling;
use crate::db::schema::{
    family_members, involvements, plan_signals, plans, providers, scaling_events,
};
use crate::domain::care::{Direction, EndReason, InvolvementStatus, Segment};
use crate::domain::signals::{SignalCode, SignalStatus};
use crate::domain::{
    FamilyId, InvolvementId, MemberId, PlanId, ProviderId, ReferralId, ScalingId, UserId,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = involvements)]
pub struct InvolvementRow {
    pub id: InvolvementId,
    pub plan_id: PlanId,
    pub family_id: FamilyId,
    pub provider_id: ProviderId,
    pub care_form_code: String,
    pub segment: Segment,
    pub level: Option<i16>,
    pub product_category: String,
    pub member_id: Option<MemberId>,
    pub status: InvolvementStatus,
    pub requested_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub end_reason: Option<EndReason>,
    pub reason: Option<String>,
    pub end_note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The referral whose acceptance this requested care waits for: until
    /// then it grants its provider nothing.
    pub awaiting_referral_id: Option<ReferralId>,
}

/// An involvement row, locked for the transaction when `lock` is set.
pub async fn involvement_row(
    conn: &mut AsyncPgConnection,
    id: InvolvementId,
    lock: bool,
) -> QueryResult<Option<InvolvementRow>> {
    let q = involvements::table
        .find(id)
        .select(InvolvementRow::as_select());
    if lock {
        q.for_update().first(conn).await.optional()
    } else {
        q.first(conn).await.optional()
    }
}

/// Every involvement of a plan with its provider's name, in the order they
/// were registered. Takes a shared connection so it can be pipelined with
/// other reads.
pub async fn plan_involvements(
    mut conn: &AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Vec<(InvolvementRow, String)>> {
    involvements::table
        .inner_join(providers::table)
        .filter(involvements::plan_id.eq(plan_id))
        .order(involvements::id)
        .select((InvolvementRow::as_select(), providers::name))
        .load(&mut conn)
        .await
}

/// One involvement with its provider's name.
pub async fn involvement_with_provider(
    conn: &mut AsyncPgConnection,
    id: InvolvementId,
) -> QueryResult<Option<(InvolvementRow, String)>> {
    involvements::table
        .inner_join(providers::table)
        .filter(involvements::id.eq(id))
        .select((InvolvementRow::as_select(), providers::name))
        .first(conn)
        .await
        .optional()
}

/// Providers with requested or active care in a plan; care still waiting
/// for a referral's acceptance counts for nothing.
pub async fn providers_in_plan(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Vec<ProviderId>> {
    involvements::table
        .filter(involvements::plan_id.eq(plan_id))
        .filter(involvements::status.ne(InvolvementStatus::Ended))
        .filter(involvements::awaiting_referral_id.is_null())
        .select(involvements::provider_id)
        .distinct()
        .load(conn)
        .await
}

/// How many involvements of a plan are requested or active.
pub async fn running_involvements(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<i64> {
    involvements::table
        .filter(involvements::plan_id.eq(plan_id))
        .filter(involvements::status.ne(InvolvementStatus::Ended))
        .count()
        .get_result(conn)
        .await
}

/// Whether a provider exists (`None`) and takes new care (`Some(true)`).
pub async fn provider_active(
    conn: &mut AsyncPgConnection,
    id: ProviderId,
) -> QueryResult<Option<bool>> {
    providers::table
        .find(id)
        .select(providers::active)
        .first(conn)
        .await
        .optional()
}

/// Whether `member` is a current member of `family`.
pub async fn is_current_member(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
    member: MemberId,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        family_members::table
            .filter(family_members::id.eq(member))
            .filter(family_members::family_id.eq(family))
            .filter(family_members::ended_on.is_null()),
    ))
    .get_result(conn)
    .await
}

/// The columns an involvement takes from its care form (kept with it, so
/// the involvement keeps its meaning when the catalogue changes).
#[derive(Insertable)]
#[diesel(table_name = involvements, treat_none_as_default_value = false)]
pub struct FormColumns<'a> {
    pub care_form_code: &'a str,
    pub segment: Segment,
    pub level: Option<i16>,
    pub product_category: &'a str,
}

impl<'a> From<&'a CareForm> for FormColumns<'a> {
    fn from(form: &'a CareForm) -> Self {
        Self {
            care_form_code: &form.code,
            segment: form.segment,
            level: form.level,
            product_category: &form.product_category,
        }
    }
}

/// An involvement to register.
#[derive(Insertable)]
#[diesel(table_name = involvements, treat_none_as_default_value = false)]
pub struct NewInvolvementRow<'a> {
    pub id: InvolvementId,
    pub plan_id: PlanId,
    pub family_id: FamilyId,
    pub provider_id: ProviderId,
    #[diesel(embed)]
    pub form: FormColumns<'a>,
    pub member_id: Option<MemberId>,
    pub status: InvolvementStatus,
    pub requested_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub reason: Option<&'a str>,
    pub created_by: Option<UserId>,
    /// The referral whose acceptance this requested care waits for.
    pub awaiting_referral_id: Option<ReferralId>,
}

pub async fn insert_involvement(
    conn: &mut AsyncPgConnection,
    row: NewInvolvementRow<'_>,
) -> QueryResult<()> {
    diesel::insert_into(involvements::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Marks requested care active from `started_on`.
pub async fn start_involvement(
    conn: &mut AsyncPgConnection,
    id: InvolvementId,
    started_on: NaiveDate,
) -> QueryResult<()> {
    diesel::update(involvements::table.find(id))
        .set((
            involvements::status.eq(InvolvementStatus::Active),
            involvements::started_on.eq(started_on),
            involvements::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Ends care on `ended_on`, for `reason`, with an optional note.
pub async fn end_involvement(
    conn: &mut AsyncPgConnection,
    id: InvolvementId,
    ended_on: NaiveDate,
    reason: EndReason,
    note: Option<&str>,
) -> QueryResult<()> {
    diesel::update(involvements::table.find(id))
        .set((
            involvements::status.eq(InvolvementStatus::Ended),
            involvements::ended_on.eq(ended_on),
            involvements::end_reason.eq(reason),
            involvements::end_note.eq(note),
            involvements::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A page of a provider's involvements in a municipality, with their
/// provider's name: requested and active ones, or those of `status`; never
/// care still waiting for a referral's acceptance.
pub async fn worklist(
    conn: &mut AsyncPgConnection,
    provider: ProviderId,
    municipality: &str,
    status: Option<InvolvementStatus>,
    after: Option<InvolvementId>,
    fetch: i64,
) -> QueryResult<Vec<(InvolvementRow, String)>> {
    let mut rows = involvements::table
        .inner_join(plans::table)
        .inner_join(providers::table)
        .filter(involvements::provider_id.eq(provider))
        .filter(involvements::awaiting_referral_id.is_null())
        .filter(plans::municipality_code.eq(municipality))
        .order(involvements::id)
        .limit(fetch)
        .select((InvolvementRow::as_select(), providers::name))
        .into_boxed();
    rows = match status {
        Some(s) => rows.filter(involvements::status.eq(s)),
        None => rows.filter(involvements::status.ne(InvolvementStatus::Ended)),
    };
    if let Some(after) = after {
        rows = rows.filter(involvements::id.gt(after));
    }
    rows.load(conn).await
}

/// A plan's whole scaling history, oldest first (a bare list, as the
/// director history: a plan's history is short).
pub async fn plan_scalings(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Vec<Scaling>> {
    scaling_events::table
        .filter(scaling_events::plan_id.eq(plan_id))
        .order((scaling_events::occurred_at, scaling_events::id))
        .select(Scaling::as_select())
        .load(conn)
        .await
}

/// A change of level to record.
#[derive(Insertable)]
#[diesel(table_name = scaling_events, treat_none_as_default_value = false)]
pub struct NewScaling<'a> {
    pub id: ScalingId,
    pub plan_id: PlanId,
    pub from_level: i16,
    pub to_level: i16,
    pub direction: Direction,
    pub reason: &'a str,
    pub decided_by: Option<UserId>,
    pub involvement_ids: &'a [InvolvementId],
}

pub async fn insert_scaling(
    conn: &mut AsyncPgConnection,
    row: NewScaling<'_>,
) -> QueryResult<Scaling> {
    diesel::insert_into(scaling_events::table)
        .values(row)
        .returning(Scaling::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plan_signals)]
pub struct SignalRow {
    pub code: SignalCode,
    pub status: SignalStatus,
    pub facts: String,
    pub detail: serde_json::Value,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<UserId>,
    pub note: Option<String>,
}

/// The signals that hold for a plan now.
/// Takes a shared connection so it can be pipelined with other reads.
pub async fn signal_rows(
    mut conn: &AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Vec<SignalRow>> {
    plan_signals::table
        .filter(plan_signals::plan_id.eq(plan_id))
        .order(plan_signals::code)
        .select(SignalRow::as_select())
        .load(&mut conn)
        .await
}

/// Marks a signal that holds as deliberate; `None` when it does not hold.
pub async fn acknowledge_signal(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    code: SignalCode,
    by: UserId,
    note: &str,
) -> QueryResult<Option<SignalRow>> {
    diesel::update(plan_signals::table.find((plan_id, code)))
        .set((
            plan_signals::status.eq(SignalStatus::Acknowledged),
            plan_signals::acknowledged_at.eq(diesel::dsl::now),
            plan_signals::acknowledged_by.eq(by),
            plan_signals::note.eq(note),
        ))
        .returning(SignalRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// A plan's stored care level and protection measure.
pub async fn plan_level(conn: &mut AsyncPgConnection, plan_id: PlanId) -> QueryResult<(i16, bool)> {
    plans::table
        .find(plan_id)
        .select((plans::level, plans::protection_measure))
        .first(conn)
        .await
}

pub async fn set_plan_level(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    level: i16,
    protection_measure: bool,
) -> QueryResult<()> {
    diesel::update(plans::table.find(plan_id))
        .set((
            plans::level.eq(level),
            plans::protection_measure.eq(protection_measure),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The segments of a plan's active care.
pub async fn active_segments(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Vec<Segment>> {
    involvements::table
        .filter(involvements::plan_id.eq(plan_id))
        .filter(involvements::status.eq(InvolvementStatus::Active))
        .select(involvements::segment)
        .load(conn)
        .await
}

/// What the signal rules need of a plan itself.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = plans)]
pub struct PlanHead {
    pub family_id: FamilyId,
    pub municipality_code: String,
    pub status: crate::domain::PlanStatus,
    pub created_at: DateTime<Utc>,
}

pub async fn plan_head(mut conn: &AsyncPgConnection, plan_id: PlanId) -> QueryResult<PlanHead> {
    plans::table
        .find(plan_id)
        .select(PlanHead::as_select())
        .first(&mut conn)
        .await
}

/// A plan's requested or active care, as the signal rules see it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = involvements)]
pub struct RunningCare {
    pub id: InvolvementId,
    pub provider_id: ProviderId,
    pub member_id: Option<MemberId>,
    pub segment: Segment,
    pub status: InvolvementStatus,
    pub requested_on: NaiveDate,
}

pub async fn running_care(
    mut conn: &AsyncPgConnection,
    plan_id: PlanId,
) -> QueryResult<Vec<RunningCare>> {
    involvements::table
        .filter(involvements::plan_id.eq(plan_id))
        .filter(involvements::status.ne(InvolvementStatus::Ended))
        .select(RunningCare::as_select())
        .load(&mut conn)
        .await
}

/// A plan's scaling steps since `since`, in order.
pub async fn recent_steps(
    mut conn: &AsyncPgConnection,
    plan_id: PlanId,
    since: DateTime<Utc>,
) -> QueryResult<Vec<(ScalingId, DateTime<Utc>, Direction)>> {
    scaling_events::table
        .filter(scaling_events::plan_id.eq(plan_id))
        .filter(scaling_events::occurred_at.ge(since))
        .order((scaling_events::occurred_at, scaling_events::id))
        .select((
            scaling_events::id,
            scaling_events::occurred_at,
            scaling_events::direction,
        ))
        .load(&mut conn)
        .await
}

/// A signal that now holds for a plan.
#[derive(Insertable)]
#[diesel(table_name = plan_signals)]
pub struct RaisedSignal<'a> {
    pub plan_id: PlanId,
    pub code: SignalCode,
    pub family_id: FamilyId,
    pub municipality_code: &'a str,
    pub status: SignalStatus,
    pub facts: &'a str,
    pub detail: &'a serde_json::Value,
    pub raised_at: DateTime<Utc>,
}

pub async fn insert_signal(conn: &mut AsyncPgConnection, row: RaisedSignal<'_>) -> QueryResult<()> {
    diesel::insert_into(plan_signals::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// A signal whose facts changed: open again, with its new facts, and no
/// longer acknowledged.
pub async fn reopen_signal(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    code: SignalCode,
    facts: &str,
    detail: &serde_json::Value,
    raised_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(plan_signals::table.find((plan_id, code)))
        .set((
            plan_signals::status.eq(SignalStatus::Open),
            plan_signals::facts.eq(facts),
            plan_signals::detail.eq(detail),
            plan_signals::raised_at.eq(raised_at),
            plan_signals::acknowledged_at.eq(None::<DateTime<Utc>>),
            plan_signals::acknowledged_by.eq(None::<UserId>),
            plan_signals::note.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_signal_detail(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    code: SignalCode,
    detail: &serde_json::Value,
) -> QueryResult<()> {
    diesel::update(plan_signals::table.find((plan_id, code)))
        .set(plan_signals::detail.eq(detail))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn delete_signal(
    conn: &mut AsyncPgConnection,
    plan_id: PlanId,
    code: SignalCode,
) -> QueryResult<()> {
    diesel::delete(plan_signals::table.find((plan_id, code)))
        .execute(conn)
        .await
        .map(drop)
}
