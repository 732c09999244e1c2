//! Care providers (zorgaanbieders), identified by their AGB code. Admins
//! register and change them; every logged-in user may read them, because
//! directors pick providers for involvements and providers see who else
//! is involved.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::db::schema::providers;
use crate::domain::{text, AgbCode};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewProvider {
    #[schema(example = "Cardea Jeugdzorg", min_length = 1, max_length = 200)]
    pub name: String,
    /// 8-digit AGB code (Vektis).
    #[schema(example = "98123456", pattern = "^[0-9]{8}$")]
    pub agb_code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderUpdate {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(pattern = "^[0-9]{8}$")]
    pub agb_code: Option<String>,
    /// False: no new involvements with this provider.
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = providers)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    pub agb_code: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::page_type!(ProviderPage, Provider, "A page of providers.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProviderQuery {
    /// Only the provider with this AGB code.
    #[param(pattern = "^[0-9]{8}$")]
    pub agb_code: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Register a provider.
#[utoipa::path(post, path = "/providers", tag = "Administration", operation_id = "createProvider",
    request_body = NewProvider,
    responses(
        (status = 201, description = "Created", body = Provider),
        (status = 409, description = "AGB code already registered (`agb_code_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_provider(
    state: State,
    principal: Principal,
    body: ApiJson<NewProvider>,
) -> ApiResult<HttpResponse> {
    let id = Uuid::now_v7();
    let event = AuditEvent::by(&principal, "create", "provider", id);
    enforce(&state, policy::admin(&principal), "provider", event.clone()).await?;
    let mut v = Invalid::new();
    let name = v.check("name", text::required(&body.0.name, 200));
    let agb = v.check("agbCode", AgbCode::parse(&body.0.agb_code));
    let (name, agb) = v.finish((name, agb))?;
    let mut conn = state.db().await?;
    let provider = conn
        .transaction(async |conn| {
            let provider: Provider = diesel::insert_into(providers::table)
                .values((
                    providers::id.eq(id),
                    providers::name.eq(&name),
                    providers::agb_code.eq(agb.as_str()),
                ))
                .returning(Provider::as_returning())
                .get_result(conn)
                .await?;
            event
                .detail(json!({"agbCode": agb.as_str()}))
                .record(conn)
                .await?;
            Ok::<_, ApiError>(provider)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/providers/{id}")))
        .json(provider))
}

/// List providers.
#[utoipa::path(get, path = "/providers", tag = "Administration", operation_id = "listProviders",
    params(ProviderQuery),
    responses((status = 200, description = "A page of providers", body = ProviderPage)))]
pub async fn list_providers(
    state: State,
    _principal: Principal,
    query: ApiQuery<ProviderQuery>,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::<Uuid>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let mut v = Invalid::new();
    let agb = v.check_opt("agbCode", query.0.agb_code.as_deref(), AgbCode::parse);
    let (agb,) = v.finish((agb,))?;
    let mut conn = state.db().await?;
    let mut q = providers::table
        .select(Provider::as_select())
        .order(providers::id)
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(providers::id.gt(after));
    }
    if let Some(agb) = &agb {
        q = q.filter(providers::agb_code.eq(agb.as_str().to_owned()));
    }
    let rows = q.load(&mut conn).await?;
    let (items, next_cursor) = finish(rows, page.limit, |p| p.id);
    Ok(HttpResponse::Ok().json(ProviderPage { items, next_cursor }))
}

/// Read a provider.
#[utoipa::path(get, path = "/providers/{id}", tag = "Administration", operation_id = "getProvider",
    params(("id" = Uuid, Path, description = "Provider id")),
    responses((status = 200, description = "The provider", body = Provider)))]
pub async fn get_provider(
    state: State,
    _principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db().await?;
    let provider: Provider = providers::table
        .find(id.into_inner())
        .select(Provider::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found("Provider"))?;
    Ok(HttpResponse::Ok().json(provider))
}

/// Change a provider's name, AGB code or whether it takes new involvements.
#[utoipa::path(patch, path = "/providers/{id}", tag = "Administration", operation_id = "updateProvider",
    params(("id" = Uuid, Path, description = "Provider id")),
    request_body = ProviderUpdate,
    responses(
        (status = 200, description = "The changed provider", body = Provider),
        (status = 409, description = "AGB code already registered (`agb_code_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_provider(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<ProviderUpdate>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "update", "provider", id);
    enforce(&state, policy::admin(&principal), "provider", event.clone()).await?;
    let update = body.0;
    let mut v = Invalid::new();
    let name = v.check("name", text::replacement(update.name.as_deref(), 200));
    let agb = v.check_opt("agbCode", update.agb_code.as_deref(), AgbCode::parse);
    let (name, agb) = v.finish((name, agb))?;
    let mut conn = state.db().await?;
    let provider = conn
        .transaction(async |conn| {
            let provider: Option<Provider> = diesel::update(providers::table.find(id))
                .set((
                    name.as_ref().map(|n| providers::name.eq(n)),
                    agb.as_ref()
                        .map(|a| providers::agb_code.eq(a.as_str().to_owned())),
                    update.active.map(|a| providers::active.eq(a)),
                    providers::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Provider::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            let provider = provider.ok_or_else(|| ApiError::not_found("Provider"))?;
            let changed: Vec<&str> = [
                name.as_ref().map(|_| "name"),
                agb.as_ref().map(|_| "agbCode"),
                update.active.map(|_| "active"),
            ]
            .into_iter()
            .flatten()
            .collect();
            event
                .detail(json!({"changed": changed}))
                .record(conn)
                .await?;
            Ok::<_, ApiError>(provider)
        })
        .await?;
    Ok(HttpResponse::Ok().json(provider))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/providers")
            .route(web::post().to(create_provider))
            .route(web::get().to(list_providers)),
    )
    .service(
        web::resource("/providers/{id}")
            .route(web::get().to(get_provider))
            .route(web::patch().to(update_provider)),
    );
}
