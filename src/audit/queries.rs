//! Reads of the audit trail for its own views: the filtered event list,
//! the emergency accesses of a municipality, and a family's access log.
//! (Writing events is [`super::AuditEvent::record`]; sealing and
//! verification are in [`super::chain`], the export in [`super::export`].)

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::chain::StoredEvent;
use crate::db::schema::audit_events;
use crate::domain::{FamilyId, UserId};

/// What an event list is filtered by.
#[derive(Debug, Default)]
pub struct EventFilter<'a> {
    pub municipality: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub family: Option<FamilyId>,
    /// A user or a client.
    pub actor: Option<Uuid>,
    pub action: Option<&'a str>,
}

/// A page of events older than `before`, newest first.
pub async fn list_events(
    conn: &mut AsyncPgConnection,
    filter: &EventFilter<'_>,
    before: Option<i64>,
    fetch: i64,
) -> QueryResult<Vec<StoredEvent>> {
    let mut q = audit_events::table
        .select(StoredEvent::as_select())
        .order(audit_events::seq.desc())
        .limit(fetch)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(audit_events::seq.lt(before));
    }
    if let Some(m) = filter.municipality {
        q = q.filter(audit_events::municipality_code.eq(m));
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(audit_events::occurred_at.lt(to));
    }
    if let Some(family) = filter.family {
        q = q.filter(audit_events::family_id.eq(family));
    }
    if let Some(actor) = filter.actor {
        q = q.filter(audit_events::actor_id.eq(actor));
    }
    if let Some(action) = filter.action {
        q = q.filter(audit_events::action.eq(action));
    }
    q.load(conn).await
}

/// A read made by breaking the glass, with the names a review needs.
#[derive(Debug, QueryableByName)]
pub struct EmergencyRow {
    #[diesel(sql_type = Int8)]
    pub seq: i64,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub actor_id: Option<UserId>,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_role: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub family_id: Option<FamilyId>,
    #[diesel(sql_type = Nullable<Text>)]
    pub family_name: Option<String>,
    #[diesel(sql_type = Text)]
    pub resource_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub resource_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub reason: String,
}

/// A page of the emergency accesses to families of `municipality` in
/// `[from, to)`, older than `before`, newest first.
pub async fn emergency_accesses(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    before: Option<i64>,
    fetch: i64,
) -> QueryResult<Vec<EmergencyRow>> {
    // Walks the partial index on emergency rows (municipality, seq).
    diesel::sql_query(
        "SELECT e.seq, e.occurred_at, e.actor_id, u.display_name AS actor_display_name,
                e.actor_role, e.family_id, f.name AS family_name, e.resource_type,
                e.resource_id, COALESCE(e.detail->>'accessReason', '') AS reason
         FROM audit_events e
         LEFT JOIN users u ON u.id = e.actor_id
         LEFT JOIN families f ON f.id = e.family_id
         WHERE e.emergency_access AND e.outcome = 'success'
           AND e.municipality_code = $1
           AND ($2::timestamptz IS NULL OR e.occurred_at >= $2)
           AND ($3::timestamptz IS NULL OR e.occurred_at < $3)
           AND ($4::int8 IS NULL OR e.seq < $4)
         ORDER BY e.seq DESC
         LIMIT $5",
    )
    .bind::<Text, _>(municipality)
    .bind::<Nullable<Timestamptz>, _>(from)
    .bind::<Nullable<Timestamptz>, _>(to)
    .bind::<Nullable<Int8>, _>(before)
    .bind::<Int8, _>(fetch)
    .load(conn)
    .await
}

/// An event of a family's access log, with the organisation its actor
/// works for now (the trail records the role at the time).
#[derive(Debug, QueryableByName)]
pub struct AccessRow {
    #[diesel(sql_type = Int8)]
    pub seq: i64,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub actor_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_role: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub organisation: Option<String>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub resource_type: String,
    #[diesel(sql_type = Bool)]
    pub emergency_access: bool,
    #[diesel(sql_type = Text)]
    pub outcome: String,
}

/// A page of the events about `family` older than `before`, newest first.
pub async fn access_log(
    conn: &mut AsyncPgConnection,
    family: FamilyId,
    before: Option<i64>,
    fetch: i64,
) -> QueryResult<Vec<AccessRow>> {
    diesel::sql_query(
        "SELECT e.seq, e.occurred_at, e.actor_type, e.actor_role, e.action,
                e.resource_type, e.emergency_access, e.outcome,
                CASE
                  WHEN e.actor_type = 'client' THEN e.on_behalf_of
                  WHEN u.role = 'provider_user' THEN p.name
                  WHEN u.role IN ('team_lead', 'jgt_worker') THEN COALESCE(t.name, 'Gemeente ' || m.name)
                  WHEN u.role = 'auditor' THEN 'Gemeente ' || m.name
                END AS organisation
         FROM audit_events e
         LEFT JOIN users u ON e.actor_type = 'user' AND u.id = e.actor_id
         LEFT JOIN teams t ON t.id = u.team_id
         LEFT JOIN municipalities m ON m.code = u.municipality_code
         LEFT JOIN providers p ON p.id = u.provider_id
         WHERE e.family_id = $1
           AND ($2::int8 IS NULL OR e.seq < $2)
         ORDER BY e.seq DESC
         LIMIT $3",
    )
    .bind::<SqlUuid, _>(family)
    .bind::<Nullable<Int8>, _>(before)
    .bind::<Int8, _>(fetch)
    .load(conn)
    .await
}
