//! What the provider endpoints do, each in one transaction.

use serde_json::json;

use super::model::{NewProvider, Provider, ProviderPage, ProviderQuery, ProviderUpdate};
use super::queries;
use crate::audit::AuditEvent;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::domain::ProviderId;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

/// Registers a provider (admins).
#[tracing::instrument(skip_all, fields(provider_id = tracing::field::Empty))]
pub async fn create_provider(
    app: &AppState,
    bearer: &Bearer,
    input: NewProvider,
) -> ApiResult<Provider> {
    let id = ProviderId::new();
    tracing::Span::current().record("provider_id", tracing::field::display(id));
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "create", "provider", id);
        tx.enforce(policy::admin(&me), "provider", event.clone())
            .await?;
        let spec = input.parse()?;
        let provider = queries::insert_provider(tx.conn, id, &spec.name, &spec.agb_code).await?;
        event
            .detail(json!({"agbCode": spec.agb_code.as_str()}))
            .record(tx.conn)
            .await?;
        Ok(provider)
    })
    .await
}

/// A page of providers (every logged-in user).
#[tracing::instrument(skip_all)]
pub async fn list_providers(
    app: &AppState,
    bearer: &Bearer,
    query: ProviderQuery,
) -> ApiResult<ProviderPage> {
    app.transaction(async |tx| {
        tx.user(bearer).await?;
        let page = PageRequest::<ProviderId>::parse(query.limit, query.cursor.as_deref())?;
        let agb_code = query.agb_code()?;
        let rows =
            queries::list_providers(tx.conn, agb_code.as_ref(), page.after, page.fetch()).await?;
        let (items, next_cursor) = finish(rows, page.limit, |p| p.id);
        Ok(ProviderPage { items, next_cursor })
    })
    .await
}

/// One provider (every logged-in user).
#[tracing::instrument(skip_all, fields(provider_id = %id))]
pub async fn get_provider(app: &AppState, bearer: &Bearer, id: ProviderId) -> ApiResult<Provider> {
    app.transaction(async |tx| {
        tx.user(bearer).await?;
        queries::provider(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Provider"))
    })
    .await
}

/// Changes a provider's name, AGB code or whether it takes new
/// involvements (admins).
#[tracing::instrument(skip_all, fields(provider_id = %id))]
pub async fn update_provider(
    app: &AppState,
    bearer: &Bearer,
    id: ProviderId,
    input: ProviderUpdate,
) -> ApiResult<Provider> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let event = AuditEvent::by(&me, "update", "provider", id);
        tx.enforce(policy::admin(&me), "provider", event.clone())
            .await?;
        let change = input.parse()?;
        let provider = queries::update_provider(tx.conn, id, &change)
            .await?
            .ok_or_else(|| ApiError::not_found("Provider"))?;
        event
            .detail(json!({"changed": change.changed()}))
            .record(tx.conn)
            .await?;
        Ok(provider)
    })
    .await
}
