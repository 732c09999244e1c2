//! What the auth endpoints do. Logout and `/me` run in one transaction like
//! every other request. Login and the client-credentials grant are the two
//! requests allowed two pool checkouts: argon2 takes tens of milliseconds
//! of CPU, and a connection held through it would be one the pool lacks
//! while a burst of logins (or a guessing attack) hashes. So each reads
//! what it needs in a short transaction (auditing a malformed or locked
//! attempt there), gives the connection back, checks the hash on the
//! blocking pool, and records the outcome in a second short transaction.

pub mod limits;
pub mod oauth;
pub mod session;

use super::queries;
use crate::audit::AuditEvent;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::tx::Tx;

/// Ends the failed credential check reserved for `key` (it stays counted
/// towards the lockout, see [`queries::reserve_check`]) and records its
/// `login_failed` event.
async fn record_failure(tx: &mut Tx<'_>, key: &str, event: AuditEvent) -> ApiResult<()> {
    queries::finish_failure(tx.conn, key).await?;
    event.record(tx.conn).await?;
    Ok(())
}

/// A place in the login queue for the check reserved for `key`; when the
/// queue is full (503) the reservation is given back, so an overloaded
/// server costs nobody a lockout check.
async fn admit(app: &AppState, key: &str) -> ApiResult<limits::CheckSlot> {
    match app.login_gate.admit().await {
        Ok(slot) => Ok(slot),
        Err(busy) => {
            app.transaction(async |tx| {
                Ok(queries::release_check(tx.conn, key, &tx.app.auth).await?)
            })
            .await?;
            Err(busy)
        }
    }
}
