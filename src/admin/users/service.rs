//! What the user endpoints do, each in one transaction.

use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

use super::model::{NewUser, User, UserPage, UserQuery, UserSpec, UserUpdate};
use super::queries;
use crate::admin::municipalities::queries::count_registered;
use crate::admin::providers::queries::provider_exists;
use crate::admin::teams::queries::team_in_municipality;
use crate::admin::teams::service::unknown_team;
use crate::audit::AuditEvent;
use crate::auth::principal::Bearer;
use crate::auth::{password, policy};
use crate::domain::{MunicipalityCode, UserId};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

/// Creates an account (admins).
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn create_user(app: &AppState, bearer: &Bearer, input: NewUser) -> ApiResult<User> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "create", "user", "new");
        tx.enforce(policy::admin(&me), "user", event).await?;
        let spec = input.parse()?;
        let hash = hash_secret(spec.password.clone()).await?;
        let id = UserId::from_uuid(insert_user(tx.conn, &spec, &hash).await?);
        tracing::Span::current().record("user_id", tracing::field::display(id));
        let user = queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))?;
        AuditEvent::by(&me, "create", "user", id)
            .detail(json!({"role": spec.role.as_str()}))
            .record(tx.conn)
            .await?;
        Ok(user)
    })
    .await
}

/// Inserts a validated account in the caller's transaction, after checking
/// that its municipalities, team and provider exist (422 when one does
/// not). Shared by the API, the CLI and the demo data.
pub async fn insert_user(
    conn: &mut AsyncPgConnection,
    spec: &UserSpec,
    password_hash: &str,
) -> ApiResult<Uuid> {
    let id = UserId::new();
    let municipality = spec.municipality.as_ref().map(MunicipalityCode::as_str);
    if let Some(code) = municipality {
        let mut wanted = vec![code.to_owned()];
        wanted.extend(spec.served.iter().map(|m| m.as_str().to_owned()));
        wanted.sort();
        wanted.dedup();
        if count_registered(conn, &wanted).await? != wanted.len() as i64 {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownMunicipality,
                "A municipality code does not exist.",
            ));
        }
    }
    if let Some(team_id) = spec.team_id {
        if !team_in_municipality(conn, team_id.into(), municipality).await? {
            return Err(unknown_team());
        }
    }
    if let Some(provider_id) = spec.provider_id {
        if !provider_exists(conn, provider_id.into()).await? {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownProvider,
                "The provider does not exist.",
            ));
        }
    }
    queries::insert_user(conn, id, spec, password_hash).await?;
    for code in &spec.served {
        // The home municipality is served anyway.
        if Some(code.as_str()) != municipality {
            queries::add_served(conn, id, code.as_str()).await?;
        }
    }
    Ok(id.uuid())
}

/// A page of accounts (admins).
#[tracing::instrument(skip_all)]
pub async fn list_users(app: &AppState, bearer: &Bearer, query: UserQuery) -> ApiResult<UserPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "search", "user", "list");
        tx.enforce(policy::admin(&me), "user", event).await?;
        let page = PageRequest::<UserId>::parse(query.limit, query.cursor.as_deref())?;
        let municipality = query.municipality()?;
        let rows = queries::list_users(
            tx.conn,
            query.role,
            municipality.as_ref().map(MunicipalityCode::as_str),
            page.after,
            page.fetch(),
        )
        .await?;
        let (rows, next_cursor) = finish(rows, page.limit, |u| u.id);
        let items = queries::accounts(tx.conn, rows).await?;
        Ok(UserPage { items, next_cursor })
    })
    .await
}

/// One account (admins).
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn get_user(app: &AppState, bearer: &Bearer, id: UserId) -> ApiResult<User> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "read", "user", id);
        tx.enforce(policy::admin(&me), "user", event).await?;
        queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))
    })
    .await
}

/// Changes an account (admins); disabling it or setting a new password
/// ends its sessions.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn update_user(
    app: &AppState,
    bearer: &Bearer,
    id: UserId,
    input: UserUpdate,
) -> ApiResult<User> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "update", "user", id);
        tx.enforce(policy::admin(&me), "user", event.clone())
            .await?;
        let change = input.parse()?;
        let current = queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))?;
        if let Some(team_id) = change.team_id {
            let municipality = current.municipality_code.as_deref();
            if !team_in_municipality(tx.conn, team_id, municipality).await? {
                return Err(unknown_team());
            }
        }
        let hash = match &change.password {
            Some(new) => Some(hash_secret(new.clone()).await?),
            None => None,
        };
        queries::update_user(tx.conn, id, &change, hash.as_deref()).await?;
        if change.ends_sessions() {
            queries::revoke_sessions(tx.conn, id).await?;
        }
        event
            .detail(json!({"changed": change.changed()}))
            .record(tx.conn)
            .await?;
        queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))
    })
    .await
}

/// The argon2id hash of a password or client secret, computed on the
/// blocking pool so the worker thread keeps serving other requests.
pub async fn hash_secret(secret: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing task: {e}")))?
        .map_err(ApiError::internal)
}
