//! `GET /v1/clients/{id}/notifications`: what was sent to a client and
//! what its receiver answered, for admins tracing a failing integration.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::db::schema::{clients, notification_attempts, notifications};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ApiQuery;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

crate::string_enum! {
    /// Delivery state of a notification.
    DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// HTTP status of the receiver's answer; null when it did not answer.
    pub status_code: Option<i16>,
    pub error: Option<String>,
    /// `delivered` or `failed`.
    pub outcome: String,
}

/// A notification and its delivery attempts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub delivery_attempts: Vec<DeliveryAttempt>,
}

crate::page_type!(
    NotificationPage,
    Notification,
    "A page of notifications, oldest first."
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only notifications in this delivery state.
    pub status: Option<DeliveryStatus>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

type Row = (
    Uuid,
    Uuid,
    String,
    String,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// (notification, attempt, at, duration, status code, error, outcome)
type AttemptRow = (
    Uuid,
    i32,
    DateTime<Utc>,
    i32,
    Option<i16>,
    Option<String>,
    String,
);

/// Notifications sent to a client, with every delivery attempt (admin).
#[utoipa::path(get, path = "/clients/{id}/notifications", tag = "Administration", operation_id = "listClientNotifications",
    params(("id" = Uuid, Path, description = "Client id"), NotificationQuery),
    responses((status = 200, description = "A page of notifications", body = NotificationPage)))]
pub async fn list_notifications(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    id: web::Path<Uuid>,
    query: ApiQuery<NotificationQuery>,
) -> ApiResult<HttpResponse> {
    let client_id = id.into_inner();
    let event = AuditEvent::by(&principal, "read", "client_notifications", client_id);
    enforce(&state, policy::admin(&principal), "client", event).await?;
    let q = query.0;
    let page = PageRequest::<Uuid>::parse(q.limit, q.cursor.as_deref())?;
    let mut conn = state.db().await?;
    let exists: i64 = clients::table
        .find(client_id)
        .count()
        .get_result(&mut conn)
        .await?;
    if exists == 0 {
        return Err(ApiError::not_found("Client"));
    }
    let mut sql = notifications::table
        .filter(notifications::client_id.eq(client_id))
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
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        sql = sql.filter(notifications::id.gt(after));
    }
    if let Some(status) = q.status {
        sql = sql.filter(notifications::status.eq(status.as_str()));
    }
    let rows: Vec<Row> = sql.load(&mut conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let attempts: Vec<AttemptRow> = notification_attempts::table
        .filter(notification_attempts::notification_id.eq_any(&ids))
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
        .load(&mut conn)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let status = DeliveryStatus::parse(&r.3)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown delivery status")))?;
        items.push(Notification {
            id: r.0,
            referral_id: r.1,
            event_type: r.2,
            status,
            attempts: r.4,
            next_attempt_at: r.5,
            created_at: r.6,
            delivered_at: r.7,
            last_error: r.8,
            delivery_attempts: attempts
                .iter()
                .filter(|a| a.0 == r.0)
                .map(|a| DeliveryAttempt {
                    attempt: a.1,
                    attempted_at: a.2,
                    duration_ms: a.3,
                    status_code: a.4,
                    error: a.5.clone(),
                    outcome: a.6.clone(),
                })
                .collect(),
        });
    }
    let (items, next_cursor) = finish(items, page.limit, |n| n.id);
    Ok(HttpResponse::Ok().json(NotificationPage { items, next_cursor }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/clients/{id}/notifications").route(web::get().to(list_notifications)),
    );
}
