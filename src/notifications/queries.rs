//! Reads of the outbox for the notification list (the worker keeps its
//! claim and record statements beside it, in `worker.rs`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::DeliveryStatus;
use crate::db::schema::{clients, notification_attempts, notifications};
use crate::domain::{ClientId, NotificationId, ReferralId};

/// Whether a client with this id exists.
pub async fn client_exists(conn: &mut AsyncPgConnection, id: ClientId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(clients::table.find(id)))
        .get_result(conn)
        .await
}

/// A notification as listed.
#[derive(Debug, Queryable)]
pub struct NotificationRow {
    pub id: NotificationId,
    pub referral_id: ReferralId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A page of the notifications of `client` after `after`, oldest first, in
/// `status` when given.
pub async fn notifications_of(
    conn: &mut AsyncPgConnection,
    client: ClientId,
    status: Option<DeliveryStatus>,
    after: Option<NotificationId>,
    fetch: i64,
) -> QueryResult<Vec<NotificationRow>> {
    let mut q = notifications::table
        .filter(notifications::client_id.eq(client))
        .select((
            notifications::id,
            notifications::referral_id,
            notifications::event_type,
            notifications::status,
            notifications::attempts,
            notifications::next_attempt_at,
            notifications::created_at,
            notifications::delivered_at,
            notifications::last_error,
        ))
        .order(notifications::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(notifications::id.gt(after));
    }
    if let Some(status) = status {
        q = q.filter(notifications::status.eq(status));
    }
    q.load(conn).await
}

/// A delivery attempt of a notification.
#[derive(Debug, Queryable)]
pub struct AttemptRow {
    pub notification_id: NotificationId,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i16>,
    pub error: Option<String>,
    pub outcome: String,
}

/// Every attempt of the notifications `ids`, by notification and attempt.
pub async fn attempts_of(
    conn: &mut AsyncPgConnection,
    ids: &[NotificationId],
) -> QueryResult<Vec<AttemptRow>> {
    notification_attempts::table
        .filter(notification_attempts::notification_id.eq_any(ids))
        .order((
            notification_attempts::notification_id,
            notification_attempts::attempt,
        ))
        .select((
            notification_attempts::notification_id,
            notification_attempts::attempt,
            notification_attempts::attempted_at,
            notification_attempts::duration_ms,
            notification_attempts::status_code,
            notification_attempts::error,
            notification_attempts::outcome,
        ))
        .load(conn)
        .await
}
