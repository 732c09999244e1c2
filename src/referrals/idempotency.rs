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

/// The key of a request (the raw header, when sent): 1 to 255 visible
/// ASCII characters.
pub fn key_of(raw: Option<&[u8]>) -> ApiResult<String> {
    let missing = || {
        ApiError::invalid_field(
            HEADER,
            ErrorCode::Required,
            "Send an Idempotency-Key header (for example a UUID) so retries are safe.",
        )
    };
    let value = raw.ok_or_else(missing)?;
    let key = std::str::from_utf8(value)
        .map_err(|_| invalid_key())?
        .trim();
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
    Replay { status: u16, body: Value },
    /// The key was used with another body.
    Reused,
}

/// 422 for a key used before with another body.
pub fn key_reused() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key was used for a different request; use a new key for a new request.",
    )
}

/// Claims `key` for `principal` and `operation` in the caller's transaction.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    principal: Uuid,
    operation: &str,
    key: &str,
    hash: &[u8],
) -> QueryResult<Claim> {
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
        return Ok(Claim::Reused);
    }
    Ok(Claim::Replay {
        status: status as u16,
        body,
    })
}

/// Stores the response of a fresh claim, in the same transaction.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    principal: Uuid,
    operation: &str,
    key: &str,
    status: u16,
    body: &Value,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((principal, operation, key)))
        .set((
            idempotency_keys::response_status.eq(status as i16),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .await
        .map(drop)
}
