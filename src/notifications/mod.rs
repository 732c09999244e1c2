//! Status notifications to machine clients, through a transactional outbox.
//!
//! A status change of a referral writes its notification into the
//! `notifications` table in the same transaction as the change ([`enqueue`]),
//! so there is never a change without its notification, nor a notification
//! of a change that rolled back. A worker in every server process
//! ([`worker`]) claims due notifications with a lease (`FOR UPDATE SKIP
//! LOCKED`, so two processes never send the same one at once), POSTs them,
//! signed, to the client's callback URL, records every attempt, and retries
//! failures with exponential backoff. Because the outbox is a table,
//! notifications survive a crash or restart: a claim of a killed worker
//! expires with its lease and the next worker takes over. Delivery is
//! at-least-once; receivers drop repeats by the `webhook-id` header.
//!
//! Signatures follow the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp`
//! (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{id}.{timestamp}.{body}"` with the client's `whsec_` secret, so the
//! body and its timestamp are both covered and a replay is detectable.

pub mod address;
pub mod signing;
pub mod worker;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::db::schema::{clients, notifications};
use crate::error::ApiResult;

crate::string_enum! {
    /// Delivery state of a notification.
    DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

/// Event type of a referral status change.
pub const REFERRAL_STATUS_CHANGED: &str = "referral.status_changed";

/// What a client learns about its referral: status and dates, nothing of
/// the family.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferralStatusData {
    pub referral_id: Uuid,
    pub external_reference: String,
    pub status: String,
    pub previous_status: Option<String>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: DateTime<Utc>,
    data: &'a T,
}

/// Writes a notification of a referral's status change for `client_id`, in
/// the caller's transaction. Nothing is written when the client has no
/// callback URL. Returns whether one was written (to wake the worker after
/// commit).
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    client_id: Uuid,
    data: &ReferralStatusData,
) -> ApiResult<bool> {
    let callback: Option<Option<String>> = clients::table
        .find(client_id)
        .select(clients::callback_url)
        .first(conn)
        .await
        .optional()?;
    if !matches!(callback, Some(Some(_))) {
        return Ok(false);
    }
    let body = serde_json::to_string(&Envelope {
        kind: REFERRAL_STATUS_CHANGED,
        timestamp: data.updated_at,
        data,
    })
    .map_err(crate::error::ApiError::internal)?;
    diesel::insert_into(notifications::table)
        .values((
            notifications::id.eq(Uuid::now_v7()),
            notifications::client_id.eq(client_id),
            notifications::referral_id.eq(data.referral_id),
            notifications::event_type.eq(REFERRAL_STATUS_CHANGED),
            notifications::body.eq(body),
        ))
        .execute(conn)
        .await?;
    Ok(true)
}
