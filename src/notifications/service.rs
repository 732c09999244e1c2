//! What the notification list does, in one transaction.

use super::model::{DeliveryAttempt, Notification, NotificationPage, NotificationQuery};
use super::queries::{self, AttemptRow, NotificationRow};
use crate::audit::AuditEvent;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::domain::{ClientId, NotificationId};
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

/// The notifications sent to a client, with every delivery attempt, for
/// admins tracing a failing integration.
#[tracing::instrument(skip_all, fields(client = %client_id))]
pub async fn list_notifications(
    app: &AppState,
    bearer: &Bearer,
    client_id: ClientId,
    query: NotificationQuery,
) -> ApiResult<NotificationPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "read", "client_notifications", client_id);
        tx.enforce(policy::admin(&me), "client", event).await?;
        let page = PageRequest::<NotificationId>::parse(query.limit, query.cursor.as_deref())?;
        if !queries::client_exists(tx.conn, client_id).await? {
            return Err(ApiError::not_found("Client"));
        }
        let rows =
            queries::notifications_of(tx.conn, client_id, query.status, page.after, page.fetch())
                .await?;
        let ids: Vec<NotificationId> = rows.iter().map(|r| r.id).collect();
        let attempts = queries::attempts_of(tx.conn, &ids).await?;
        let items = rows
            .into_iter()
            .map(|r| notification(r, &attempts))
            .collect();
        let (items, next_cursor) = finish(items, page.limit, |n: &Notification| n.id);
        Ok(NotificationPage { items, next_cursor })
    })
    .await
}

fn notification(r: NotificationRow, attempts: &[AttemptRow]) -> Notification {
    Notification {
        id: r.id.uuid(),
        referral_id: r.referral_id.uuid(),
        event_type: r.event_type,
        status: r.status,
        attempts: r.attempts,
        next_attempt_at: r.next_attempt_at,
        created_at: r.created_at,
        delivered_at: r.delivered_at,
        last_error: r.last_error,
        delivery_attempts: attempts
            .iter()
            .filter(|a| a.notification_id == r.id)
            .map(|a| DeliveryAttempt {
                attempt: a.attempt,
                attempted_at: a.attempted_at,
                duration_ms: a.duration_ms,
                status_code: a.status_code,
                error: a.error.clone(),
                outcome: a.outcome.clone(),
            })
            .collect(),
    }
}
