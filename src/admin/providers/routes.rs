//! Provider endpoints.

use actix_web::{web, HttpResponse};

use super::model::{NewProvider, Provider, ProviderPage, ProviderQuery, ProviderUpdate};
use super::service;
use crate::auth::principal::Bearer;
use crate::domain::ProviderId;
use crate::error::ApiResult;
use crate::http::created;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// Register a provider.
#[utoipa::path(post, path = "/providers", tag = "Administration", operation_id = "createProvider",
    request_body = NewProvider,
    responses(
        (status = 201, description = "Created", body = Provider),
        (status = 409, description = "AGB code already registered (`agb_code_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_provider(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewProvider>,
) -> ApiResult<HttpResponse> {
    let provider = service::create_provider(&app, &bearer, body.0).await?;
    Ok(created(format!("/v1/providers/{}", provider.id), &provider))
}

/// List providers.
#[utoipa::path(get, path = "/providers", tag = "Administration", operation_id = "listProviders",
    params(ProviderQuery),
    responses((status = 200, description = "A page of providers", body = ProviderPage)))]
pub async fn list_providers(
    app: App,
    bearer: Bearer,
    query: ApiQuery<ProviderQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_providers(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a provider.
#[utoipa::path(get, path = "/providers/{id}", tag = "Administration", operation_id = "getProvider",
    params(("id" = Uuid, Path, description = "Provider id")),
    responses((status = 200, description = "The provider", body = Provider)))]
pub async fn get_provider(
    app: App,
    bearer: Bearer,
    id: web::Path<ProviderId>,
) -> ApiResult<HttpResponse> {
    let provider = service::get_provider(&app, &bearer, id.into_inner()).await?;
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
    app: App,
    bearer: Bearer,
    id: web::Path<ProviderId>,
    body: ApiJson<ProviderUpdate>,
) -> ApiResult<HttpResponse> {
    let provider = service::update_provider(&app, &bearer, id.into_inner(), body.0).await?;
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
