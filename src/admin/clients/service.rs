//! What the client endpoints do, each in one transaction.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::model::ClientPage;
use super::model::{Client, ClientQuery, ClientSpec, ClientUpdate, CreatedClient, NewClient};
use super::queries;
use crate::admin::municipalities::queries::count_registered;
use crate::admin::users::service::hash_secret;
use crate::audit::AuditEvent;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::crypto::SecretBox;
use crate::domain::{ClientId, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

/// Registers a client (admins) with a fresh secret and callback secret,
/// both in the answer only.
#[tracing::instrument(skip_all, fields(client_id = tracing::field::Empty))]
pub async fn create_client(
    app: &AppState,
    bearer: &Bearer,
    input: NewClient,
) -> ApiResult<CreatedClient> {
    let id = ClientId::new();
    tracing::Span::current().record("client_id", tracing::field::display(id));
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "create", "client", id);
        tx.enforce(policy::admin(&me), "client", event.clone())
            .await?;
        let spec = input.parse()?;
        let secret = crate::auth::tokens::random_token();
        let hashed = hash_secret(secret.clone()).await?;
        let sealer = &tx.app.callback_secrets;
        let (client, callback_secret) =
            insert_client(tx.conn, sealer, id, &spec, &hashed, Some(me.user_id)).await?;
        event
            .detail(json!({
                "referrerType": spec.referrer_type.code(),
                "municipalityCodes": spec.municipality_codes,
                "scopes": spec.scopes,
                "callback": spec.callback_url.is_some(),
            }))
            .record(tx.conn)
            .await?;
        Ok(CreatedClient {
            client,
            client_id: id,
            client_secret: secret,
            callback_secret,
        })
    })
    .await
}

/// Inserts a client with the argon2id hash of its secret and a fresh,
/// sealed callback secret, in the caller's transaction (422 when one of its
/// municipalities is not registered). Returns the client and the callback
/// secret in clear (to show once). Shared by the API, the CLI and the demo.
pub async fn insert_client(
    conn: &mut AsyncPgConnection,
    sealer: &SecretBox,
    id: impl Into<ClientId>,
    spec: &ClientSpec,
    secret_hash: &str,
    created_by: Option<UserId>,
) -> ApiResult<(Client, String)> {
    let id = id.into();
    let callback_secret = new_callback_secret();
    let sealed = sealer.seal(callback_secret.as_bytes())?;
    queries::insert_client(conn, id, spec, secret_hash, &sealed, created_by).await?;
    set_municipalities(conn, id, &spec.municipality_codes).await?;
    let client = queries::client(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Client"))?;
    Ok((client, callback_secret))
}

/// Replaces the client's municipalities; 422 when one is not registered.
async fn set_municipalities(
    conn: &mut AsyncPgConnection,
    client: ClientId,
    codes: &[String],
) -> ApiResult<()> {
    if count_registered(conn, codes).await? != codes.len() as i64 {
        return Err(ApiError::unprocessable(
            ErrorCode::UnknownMunicipality,
            "A municipality in municipalityCodes is not registered.",
        )
        .with_extra("field", "municipalityCodes"));
    }
    Ok(queries::replace_municipalities(conn, client, codes).await?)
}

/// A fresh Standard Webhooks signing secret: `whsec_` + 32 random bytes.
fn new_callback_secret() -> String {
    format!("whsec_{}", B64.encode(crate::auth::tokens::random_bytes()))
}

/// A page of clients (admins).
#[tracing::instrument(skip_all)]
pub async fn list_clients(
    app: &AppState,
    bearer: &Bearer,
    query: ClientQuery,
) -> ApiResult<ClientPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "search", "client", "list");
        tx.enforce(policy::admin(&me), "client", event).await?;
        let page = PageRequest::<ClientId>::parse(query.limit, query.cursor.as_deref())?;
        let rows = queries::list_clients(tx.conn, page.after, page.fetch()).await?;
        let (items, next_cursor) = finish(rows, page.limit, |c| c.id);
        Ok(ClientPage { items, next_cursor })
    })
    .await
}

/// One client (admins).
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn get_client(app: &AppState, bearer: &Bearer, id: ClientId) -> ApiResult<Client> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "read", "client", id);
        tx.enforce(policy::admin(&me), "client", event).await?;
        queries::client(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Client"))
    })
    .await
}

/// Disables a client, or changes its callback URL, municipalities or
/// scopes (admins).
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn update_client(
    app: &AppState,
    bearer: &Bearer,
    id: ClientId,
    input: ClientUpdate,
) -> ApiResult<Client> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "update", "client", id);
        tx.enforce(policy::admin(&me), "client", event.clone())
            .await?;
        let change = input.parse()?;
        if !queries::update_client(tx.conn, id, &change).await? {
            return Err(ApiError::not_found("Client"));
        }
        if let Some(codes) = &change.municipality_codes {
            set_municipalities(tx.conn, id, codes).await?;
        }
        event
            .detail(json!({"changed": change.changed()}))
            .record(tx.conn)
            .await?;
        queries::client(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Client"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_secrets_follow_standard_webhooks() {
        let s = new_callback_secret();
        let key = B64.decode(s.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(s, new_callback_secret());
    }
}
