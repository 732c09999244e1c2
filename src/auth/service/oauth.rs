//! The OAuth 2.0 client-credentials grant (RFC 6749 section 4.4) for
//! machine clients. Failures count towards the same lockout as user logins,
//! keyed by client id, so a secret cannot be guessed at speed.

use serde_json::json;

use super::{admit, record_failure};
use crate::audit::AuditEvent;
use crate::auth::model::{client_locked, invalid_client, ClientGrant, ClientToken};
use crate::auth::password::verify_off_worker;
use crate::auth::queries::{self, ClientSecretRow, Reservation};
use crate::domain::ClientId;
use crate::error::ApiResult;
use crate::http::request_context::RequestContext;
use crate::state::AppState;
use crate::tx::Tx;

/// Longest secret that is hashed at all; a longer one is simply wrong.
const MAX_SECRET_BYTES: usize = 1024;

/// Issues a client token. One of the two requests with two pool checkouts
/// (see the module above): the client and its lock state are read in a
/// first transaction, the secret is hashed with no connection held, and the
/// outcome is recorded in a second.
#[tracing::instrument(skip_all, fields(client = tracing::field::Empty))]
pub async fn issue_client_token(
    app: &AppState,
    ctx: &RequestContext,
    grant: ClientGrant,
) -> ApiResult<ClientToken> {
    let parsed: Option<ClientId> = grant.client_id.parse().ok();
    if let Some(id) = parsed {
        tracing::Span::current().record("client", tracing::field::display(id));
    }
    // The per-address limit, as for logins.
    app.login_gate.limit_address(ctx.ip.as_deref()).await?;
    let (client_id, client) = app
        .transaction(async |tx| look_up(tx, ctx, parsed).await)
        .await?;
    let key = lockout_key(client_id);
    // After the reservation, as for logins.
    let slot = admit(app, &key).await?;
    let verified = if grant.secret.len() > MAX_SECRET_BYTES {
        false
    } else {
        let stored = client.as_ref().map(|c| c.secret_hash.clone());
        verify_off_worker(grant.secret.clone(), stored, "secret check").await?
    };
    drop(slot);
    match &client {
        Some(c) if c.active && verified => {
            let scope = match grant.granted_scopes(&c.scopes) {
                Ok(scopes) => scopes.join(" "),
                Err(refusal) => {
                    // The secret was right: its reserved check ends as one.
                    app.transaction(async |tx| Ok(queries::finish_success(tx.conn, &key).await?))
                        .await?;
                    return Err(refusal);
                }
            };
            let token = app.tokens.issue_client(client_id.uuid(), &scope)?;
            app.transaction(async |tx| {
                queries::finish_success(tx.conn, &key).await?;
                AuditEvent::anonymous(ctx, "login", "client")
                    .client(client_id.uuid(), &c.organisation_name)
                    .detail(json!({"scope": scope}))
                    .record(tx.conn)
                    .await?;
                Ok(())
            })
            .await?;
            Ok(ClientToken {
                access_token: token,
                token_type: "Bearer".into(),
                expires_in: app.tokens.ttl_seconds,
                scope,
            })
        }
        other => {
            // Answered after the transaction committed, so the counted
            // failure and its event stay.
            app.transaction(async |tx| {
                record_failure(tx, &key, failure(ctx, client_id, other.as_ref())).await
            })
            .await?;
            Err(invalid_client())
        }
    }
}

/// The first transaction: refuses (and audits) a malformed id and a locked
/// client; otherwise the client, if it exists.
async fn look_up(
    tx: &mut Tx<'_>,
    ctx: &RequestContext,
    parsed: Option<ClientId>,
) -> ApiResult<(ClientId, Option<ClientSecretRow>)> {
    let Some(client_id) = parsed else {
        let event = login_failed(ctx).detail(json!({"reason": "malformed"}));
        return Err(tx.refuse(event, invalid_client()).await);
    };
    // Reserved before the hash, as for logins: concurrent requests cannot
    // check more secrets than the lockout allows.
    let key = lockout_key(client_id);
    if let Reservation::Locked(remaining) =
        queries::reserve_check(tx.conn, &key, &tx.app.auth).await?
    {
        let event = login_failed(ctx).detail(json!({"reason": "locked", "clientId": client_id}));
        return Err(tx.refuse(event, client_locked(remaining)).await);
    }
    Ok((client_id, queries::client_secret(tx.conn, client_id).await?))
}

/// The `login_failed` event of a token request, with the reason when the
/// client exists.
fn failure(
    ctx: &RequestContext,
    client_id: ClientId,
    client: Option<&ClientSecretRow>,
) -> AuditEvent {
    match client {
        Some(c) => login_failed(ctx)
            .client(client_id.uuid(), &c.organisation_name)
            .detail(json!({"reason": if c.active { "wrong_secret" } else { "disabled" }})),
        None => {
            login_failed(ctx).detail(json!({"reason": "unknown_client", "clientId": client_id}))
        }
    }
}

fn login_failed(ctx: &RequestContext) -> AuditEvent {
    AuditEvent::anonymous(ctx, "login_failed", "client").denied()
}

/// The lockout counter of a client, beside those of usernames.
fn lockout_key(id: ClientId) -> String {
    format!("client:{id}")
}
