//! Sessions of users: login (with its lockout), refresh-token rotation with
//! reuse detection, logout and `/me`.

use chrono::{Duration, Utc};
use serde_json::json;

use super::{admit, record_failure};
use crate::audit::AuditEvent;
use crate::auth::model::{
    account_locked, account_pending_approval, invalid_credentials, invalid_refresh_token,
    refresh_token_reused, LoginRequest, Me, RefreshRequest, TokenPair,
};
use crate::auth::password::verify_off_worker;
use crate::auth::principal::Bearer;
use crate::auth::queries::{self, LoginRow, Reservation};
use crate::auth::tokens::{hash_token, random_token};
use crate::domain::{Role, SessionId, UserId};
use crate::error::ApiResult;
use crate::http::request_context::RequestContext;
use crate::state::AppState;
use crate::tx::Tx;

/// Logs a user in. One of the two requests with two pool checkouts (see
/// the module above): the account and its lock state are read in a first
/// transaction, the password is hashed with no connection held, and the
/// outcome is recorded in a second.
#[tracing::instrument(skip_all, fields(user = tracing::field::Empty))]
pub async fn login(
    app: &AppState,
    ctx: &RequestContext,
    input: LoginRequest,
) -> ApiResult<TokenPair> {
    let malformed = input.is_malformed();
    let key = input.lockout_key();
    // Refused before any database work: the per-address limit (see `limits`).
    app.login_gate.limit_address(ctx.ip.as_deref()).await?;
    let account = app
        .transaction(async |tx| {
            if malformed {
                let event = login_failed(ctx).detail(json!({"reason": "malformed"}));
                return Err(tx.refuse(event, invalid_credentials()).await);
            }
            // The check is reserved before the hash, so concurrent logins
            // cannot check more passwords than the lockout allows.
            let reservation = queries::reserve_check(tx.conn, &key, &tx.app.auth).await?;
            if let Reservation::Locked(remaining) = reservation {
                let event = login_failed(ctx).detail(json!({"reason": "locked"}));
                return Err(tx.refuse(event, account_locked(remaining)).await);
            }
            Ok(queries::login_account(tx.conn, &key).await?)
        })
        .await?;
    if let Some(a) = &account {
        tracing::Span::current().record("user", tracing::field::display(a.id));
    }
    // The check is reserved first, so however the queue orders the hashes
    // no more than the threshold run; then a place in the bounded queue.
    let slot = admit(app, &key).await?;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let verified = verify_off_worker(input.password, stored, "password check").await?;
    drop(slot);
    // A failure is answered after its transaction committed, so the counted
    // failure and its event stay.
    let pair = app
        .transaction(async |tx| match &account {
            Some(a) if a.active && verified && !a.approved => {
                let event = failure(ctx, Some(a)).detail(json!({"reason": "pending_approval"}));
                Err(tx.refuse(event, account_pending_approval()).await)
            }
            Some(a) if a.active && verified => Ok(Some(start_session(tx, ctx, &key, a).await?)),
            other => {
                record_failure(tx, &key, failure(ctx, other.as_ref())).await?;
                Ok(None)
            }
        })
        .await?;
    pair.ok_or_else(invalid_credentials)
}

fn login_failed(ctx: &RequestContext) -> AuditEvent {
    AuditEvent::anonymous(ctx, "login_failed", "session").denied()
}

/// Ends the check reserved for `key` (forgetting its failures), opens a session and audits the login.
async fn start_session(
    tx: &mut Tx<'_>,
    ctx: &RequestContext,
    key: &str,
    account: &LoginRow,
) -> ApiResult<TokenPair> {
    queries::finish_success(tx.conn, key).await?;
    let session = SessionId::new();
    let expires_at = Utc::now() + Duration::hours(tx.app.auth.session_ttl_hours);
    queries::insert_session(tx.conn, session, account.id, expires_at).await?;
    let pair = issue_pair(tx, account.id, session, account.role).await?;
    AuditEvent::anonymous(ctx, "login", "session")
        .user(
            account.id.uuid(),
            account.role.as_str(),
            account.municipality_code.clone(),
        )
        .record(tx.conn)
        .await?;
    Ok(pair)
}

/// The `login_failed` event of a login, with the reason when the account
/// exists.
fn failure(ctx: &RequestContext, account: Option<&LoginRow>) -> AuditEvent {
    match account {
        Some(a) => login_failed(ctx)
            .user(a.id.uuid(), a.role.as_str(), a.municipality_code.clone())
            .detail(json!({"reason": if a.active { "wrong_password" } else { "disabled" }})),
        None => login_failed(ctx).detail(json!({"reason": "unknown_user"})),
    }
}

/// A new access token and a new refresh token of `session`.
async fn issue_pair(
    tx: &mut Tx<'_>,
    user: UserId,
    session: SessionId,
    role: Role,
) -> ApiResult<TokenPair> {
    let refresh = random_token();
    queries::insert_refresh_token(tx.conn, &hash_token(&refresh), session).await?;
    Ok(TokenPair {
        access_token: tx
            .app
            .tokens
            .issue(user.uuid(), session.uuid(), role.as_str())?,
        refresh_token: refresh,
        token_type: "Bearer".into(),
        expires_in: tx.app.tokens.ttl_seconds,
    })
}

/// What presenting a refresh token came to.
enum Exchange {
    Issued(TokenPair),
    /// Spent before: the session was revoked.
    Reused,
    Invalid,
}

/// Exchanges a refresh token for a new pair. Refresh tokens are single-use:
/// one presented again was stolen or replayed, and its whole session is
/// revoked.
#[tracing::instrument(skip_all)]
pub async fn refresh(
    app: &AppState,
    ctx: &RequestContext,
    input: RefreshRequest,
) -> ApiResult<TokenPair> {
    let hash = hash_token(&input.refresh_token);
    // Refusals are answered after the transaction committed: a reuse
    // revokes the session and is audited even though the request fails.
    let exchange = app
        .transaction(async |tx| exchange(tx, ctx, &hash).await)
        .await?;
    match exchange {
        Exchange::Issued(pair) => Ok(pair),
        Exchange::Reused => Err(refresh_token_reused()),
        Exchange::Invalid => Err(invalid_refresh_token()),
    }
}

async fn exchange(tx: &mut Tx<'_>, ctx: &RequestContext, hash: &[u8]) -> ApiResult<Exchange> {
    let Some(row) = queries::lock_refresh_token(tx.conn, hash).await? else {
        return Ok(Exchange::Invalid);
    };
    tracing::Span::current().record("user", tracing::field::display(row.user_id));
    let event = AuditEvent::anonymous(ctx, "token_refresh", "session").user(
        row.user_id.uuid(),
        row.role.as_str(),
        row.municipality_code.clone(),
    );
    if row.used_at.is_some() {
        queries::revoke_session(tx.conn, row.session_id, "refresh_token_reuse").await?;
        event
            .denied()
            .detail(json!({"reason": "refresh_token_reuse", "sessionRevoked": true}))
            .record(tx.conn)
            .await?;
        return Ok(Exchange::Reused);
    }
    if row.revoked_at.is_some() || row.expires_at <= Utc::now() || !row.active {
        return Ok(Exchange::Invalid);
    }
    queries::spend_refresh_token(tx.conn, hash).await?;
    let pair = issue_pair(tx, row.user_id, row.session_id, row.role).await?;
    event.record(tx.conn).await?;
    Ok(Exchange::Issued(pair))
}

/// Ends the session of the caller's access token.
#[tracing::instrument(skip_all)]
pub async fn logout(app: &AppState, bearer: &Bearer) -> ApiResult<()> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        queries::revoke_session(tx.conn, me.session_id, "logout").await?;
        AuditEvent::by(&me, "logout", "session", me.session_id)
            .record(tx.conn)
            .await?;
        Ok(())
    })
    .await
}

/// The caller, as its session says.
#[tracing::instrument(skip_all)]
pub async fn me(app: &AppState, bearer: &Bearer) -> ApiResult<Me> {
    app.transaction(async |tx| Ok(Me::from(tx.user(bearer).await?)))
        .await
}
