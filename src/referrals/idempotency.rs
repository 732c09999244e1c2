//! `Idempotency-Key`: a retried request gets the original response and
//! changes nothing; the same key with another body is refused (422
//! `idempotency_key_reused`).
//!
//! The key is claimed by inserting its row at the start of the request's
//! transaction. A concurrent request with the same key blocks on that
//! insert (the primary key) until the first transaction ends: when it
//! committed, the second finds the stored response and replays it; when it
//! rolled back (a refused request stores nothing), the second goes ahead as
//! if it were first. So of 50 simultaneous retries exactly one does the
//! work, and every one answers with its result. Keys are scoped to the
//! caller and the operation, and kept with the records they created.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::schema::idempotency_keys;
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult};

pub const HEADER: &str = "Idempotency-Key";

/// The key of a request: 1 to 255 visible ASCII characters.
pub fn key_of(req: &HttpRequest) -> ApiResult<String> {
    let missing = || {
        ApiError::invalid_field(
            HEADER,
            ErrorCode::Required,
            "Send an Idempotency-Key header (for example a UUID) so retries are safe.",
        )
    };
    let value = req.headers().get(HEADER).ok_or_else(missing)?;
    let key = value.to_str().map_err(|_| invalid_key())?.trim();
    if key.is_empty() {
        return Err(missing());
    }
    if key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid_key());
    }
    Ok(key.to_owned())
}

fn invalid_key() -> ApiError {
    ApiError::invalid_field(
        HEADER,
        ErrorCode::InvalidIdempotencyKey,
        "Use 1 to 255 visible ASCII characters.",
    )
}

/// SHA-256 of the parsed body in its canonical serialisation, so key order
/// and whitespace do not make the same request look different.
pub fn request_hash<T: Serialize>(body: &T) -> ApiResult<Vec<u8>> {
    let canonical = serde_json::to_vec(body).map_err(ApiError::internal)?;
    Ok(Sha256::digest(&canonical).to_vec())
}

/// What a claim found.
pub enum Claim {
    /// The key is ours: do the work, then [`complete`].
    Fresh,
    /// The key was used with this body: answer this again.
    Replay { status: StatusCode, body: Value },
}

/// Claims `key` for `principal` and `operation` in the caller's transaction.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    principal: Uuid,
    operation: &str,
    key: &str,
    hash: &[u8],
) -> ApiResult<Claim> {
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::principal_id.eq(principal),
            idempotency_keys::operation.eq(operation),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(hash),
            // Filled in by `complete` before commit; nobody sees this value.
            idempotency_keys::response_status.eq(200i16),
            idempotency_keys::response_body.eq(Value::Null),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let (stored_hash, status, body): (Vec<u8>, i16, Value) = idempotency_keys::table
        .find((principal, operation, key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::response_status,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .await?;
    if stored_hash != hash {
        return Err(ApiError::unprocessable(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
        ));
    }
    let status = StatusCode::from_u16(status as u16)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("stored status {status} is not HTTP")))?;
    Ok(Claim::Replay { status, body })
}

/// Stores the response of a fresh claim, in the same transaction.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    principal: Uuid,
    operation: &str,
    key: &str,
    status: StatusCode,
    body: &Value,
) -> ApiResult<()> {
    diesel::update(idempotency_keys::table.find((principal, operation, key)))
        .set((
            idempotency_keys::response_status.eq(status.as_u16() as i16),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
