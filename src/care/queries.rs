//! Reads of involvements, scaling events and signals, and the lens through
//! which a plan's care is shown (the JGT's full view or a provider's).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::catalogue::Catalogue;
use super::model::{Involvement, Scaling, Signal};
use crate::db::schema::{involvements, plan_signals, providers, scaling_events};
use crate::domain::care::{Direction, EndReason, InvolvementStatus, Segment};
use crate::domain::signals::{SignalCode, SignalStatus};
use crate::error::{ApiError, ApiResult};

/// Who looks at a plan's care: the JGT (everything) or one provider (its own
/// notes, and only names and care forms of the others).
#[derive(Clone, Copy)]
pub struct Lens<'a> {
    pub catalogue: &'a Catalogue,
    pub provider: Option<Uuid>,
}

impl<'a> Lens<'a> {
    pub fn full(catalogue: &'a Catalogue) -> Self {
        Self {
            catalogue,
            provider: None,
        }
    }

    pub fn provider(catalogue: &'a Catalogue, provider: Uuid) -> Self {
        Self {
            catalogue,
            provider: Some(provider),
        }
    }
}

fn stored<T>(value: Option<T>, what: &str) -> ApiResult<T> {
    value.ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown {what} in database")))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = involvements)]
pub struct InvolvementRow {
    pub id: Uuid,
    pub plan_id: Uuid,
    pub family_id: Uuid,
    pub provider_id: Uuid,
    pub care_form_code: String,
    pub segment: String,
    pub level: Option<i16>,
    pub product_category: String,
    pub member_id: Option<Uuid>,
    pub status: String,
    pub requested_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub end_reason: Option<String>,
    pub reason: Option<String>,
    pub end_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl InvolvementRow {
    pub fn status(&self) -> ApiResult<InvolvementStatus> {
        stored(InvolvementStatus::parse(&self.status), "involvement status")
    }

    pub fn segment(&self) -> ApiResult<Segment> {
        stored(Segment::parse(&self.segment), "segment")
    }

    pub fn into_view(self, provider_name: String, lens: Lens<'_>) -> ApiResult<Involvement> {
        let status = self.status()?;
        let segment = self.segment()?;
        let end_reason = match &self.end_reason {
            Some(r) => Some(stored(EndReason::parse(r), "end reason")?),
            None => None,
        };
        let own = lens.provider.is_none_or(|p| p == self.provider_id);
        Ok(Involvement {
            id: self.id,
            plan_id: self.plan_id,
            provider_id: self.provider_id,
            provider_name,
            care_form_name: lens
                .catalogue
                .get(&self.care_form_code)
                .map(|f| f.name.clone()),
            care_form_code: self.care_form_code,
            segment,
            level: self.level,
            product_category: self.product_category,
            member_id: self.member_id,
            status,
            requested_on: self.requested_on,
            started_on: self.started_on,
            ended_on: self.ended_on,
            end_reason_code: end_reason.and_then(|r| r.ijw_code()).map(str::to_owned),
            end_reason,
            waiting_days: self.started_on.map(|s| (s - self.requested_on).num_days()),
            reason: if own { self.reason } else { None },
            end_note: if own { self.end_note } else { None },
            created_at: self.created_at,
        })
    }
}

/// An involvement row, locked for the transaction when `lock` is set.
pub async fn involvement_row(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lock: bool,
) -> ApiResult<Option<InvolvementRow>> {
    let q = involvements::table
        .find(id)
        .select(InvolvementRow::as_select());
    Ok(if lock {
        q.for_update().first(conn).await.optional()?
    } else {
        q.first(conn).await.optional()?
    })
}

/// Every involvement of a plan, in the order they were registered.
/// Takes a shared connection so it can be pipelined with other reads.
pub async fn plan_involvements(
    mut conn: &AsyncPgConnection,
    plan_id: Uuid,
    lens: Lens<'_>,
) -> ApiResult<Vec<Involvement>> {
    let rows: Vec<(InvolvementRow, String)> = involvements::table
        .inner_join(providers::table)
        .filter(involvements::plan_id.eq(plan_id))
        .order(involvements::id)
        .select((InvolvementRow::as_select(), providers::name))
        .load(&mut conn)
        .await?;
    rows.into_iter()
        .map(|(row, name)| row.into_view(name, lens))
        .collect()
}

/// One involvement in the given lens.
pub async fn involvement_view(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lens: Lens<'_>,
) -> ApiResult<Involvement> {
    let (row, name): (InvolvementRow, String) = involvements::table
        .inner_join(providers::table)
        .filter(involvements::id.eq(id))
        .select((InvolvementRow::as_select(), providers::name))
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found("Involvement"))?;
    row.into_view(name, lens)
}

/// Providers with requested or active care in a plan.
pub async fn providers_in_plan(
    conn: &mut AsyncPgConnection,
    plan_id: Uuid,
) -> ApiResult<Vec<Uuid>> {
    Ok(involvements::table
        .filter(involvements::plan_id.eq(plan_id))
        .filter(involvements::status.ne("ended"))
        .select(involvements::provider_id)
        .distinct()
        .load(conn)
        .await?)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scaling_events)]
pub struct ScalingRow {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub from_level: i16,
    pub to_level: i16,
    pub direction: String,
    pub reason: String,
    pub decided_by: Option<Uuid>,
    pub involvement_ids: Vec<Uuid>,
}

impl ScalingRow {
    pub fn into_view(self) -> ApiResult<Scaling> {
        Ok(Scaling {
            id: self.id,
            occurred_at: self.occurred_at,
            from_level: self.from_level,
            to_level: self.to_level,
            direction: stored(Direction::parse(&self.direction), "direction")?,
            reason: self.reason,
            decided_by: self.decided_by,
            involvement_ids: self.involvement_ids,
        })
    }
}

/// A plan's whole scaling history, oldest first (a bare list, as the
/// director history: a plan's history is short).
pub async fn plan_scalings(conn: &mut AsyncPgConnection, plan_id: Uuid) -> ApiResult<Vec<Scaling>> {
    scaling_events::table
        .filter(scaling_events::plan_id.eq(plan_id))
        .order((scaling_events::occurred_at, scaling_events::id))
        .select(ScalingRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(ScalingRow::into_view)
        .collect()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plan_signals)]
pub struct SignalRow {
    pub code: String,
    pub status: String,
    pub facts: String,
    pub detail: serde_json::Value,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
    pub note: Option<String>,
}

impl SignalRow {
    pub fn into_view(self) -> ApiResult<Signal> {
        Ok(Signal {
            code: stored(SignalCode::parse(&self.code), "signal code")?,
            status: stored(SignalStatus::parse(&self.status), "signal status")?,
            raised_at: self.raised_at,
            detail: self.detail,
            acknowledged_at: self.acknowledged_at,
            acknowledged_by: self.acknowledged_by,
            note: self.note,
        })
    }
}

/// The signals that hold for a plan now.
/// Takes a shared connection so it can be pipelined with other reads.
pub async fn signal_rows(mut conn: &AsyncPgConnection, plan_id: Uuid) -> ApiResult<Vec<SignalRow>> {
    Ok(plan_signals::table
        .filter(plan_signals::plan_id.eq(plan_id))
        .order(plan_signals::code)
        .select(SignalRow::as_select())
        .load(&mut conn)
        .await?)
}

pub async fn plan_signal_views(conn: &AsyncPgConnection, plan_id: Uuid) -> ApiResult<Vec<Signal>> {
    signal_rows(conn, plan_id)
        .await?
        .into_iter()
        .map(SignalRow::into_view)
        .collect()
}

/// Signal codes of several plans at once (family list).
pub async fn signal_codes(
    conn: &mut AsyncPgConnection,
    plan_ids: &[Uuid],
) -> ApiResult<Vec<(Uuid, SignalCode)>> {
    let rows: Vec<(Uuid, String)> = plan_signals::table
        .filter(plan_signals::plan_id.eq_any(plan_ids))
        .order((plan_signals::plan_id, plan_signals::code))
        .select((plan_signals::plan_id, plan_signals::code))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(p, c)| Ok((p, stored(SignalCode::parse(&c), "signal code")?)))
        .collect()
}
