//! Machine client endpoints.

use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::{web, HttpResponse};

use super::model::{Client, ClientPage, ClientQuery, ClientUpdate, CreatedClient, NewClient};
use super::service;
use crate::auth::principal::Bearer;
use crate::domain::ClientId;
use crate::error::ApiResult;
use crate::http::created;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// Register a machine client; its secrets are in this response only.
#[utoipa::path(post, path = "/clients", tag = "Administration", operation_id = "createClient",
    request_body = NewClient,
    responses(
        (status = 201, description = "Registered; store clientSecret and callbackSecret now", body = CreatedClient),
        (status = 409, description = "Name already in use (`client_name_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A municipality is not registered (`unknown_municipality`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_client(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewClient>,
) -> ApiResult<HttpResponse> {
    let registered = service::create_client(&app, &bearer, body.0).await?;
    let mut response = created(format!("/v1/clients/{}", registered.client_id), &registered);
    // The secrets must not linger in a cache.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// List machine clients.
#[utoipa::path(get, path = "/clients", tag = "Administration", operation_id = "listClients",
    params(ClientQuery),
    responses((status = 200, description = "A page of clients", body = ClientPage)))]
pub async fn list_clients(
    app: App,
    bearer: Bearer,
    query: ApiQuery<ClientQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_clients(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a machine client.
#[utoipa::path(get, path = "/clients/{id}", tag = "Administration", operation_id = "getClient",
    params(("id" = Uuid, Path, description = "Client id")),
    responses((status = 200, description = "The client", body = Client)))]
pub async fn get_client(
    app: App,
    bearer: Bearer,
    id: web::Path<ClientId>,
) -> ApiResult<HttpResponse> {
    let client = service::get_client(&app, &bearer, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(client))
}

/// Disable a client, or change its callback URL, municipalities or scopes.
#[utoipa::path(patch, path = "/clients/{id}", tag = "Administration", operation_id = "updateClient",
    params(("id" = Uuid, Path, description = "Client id")),
    request_body = ClientUpdate,
    responses(
        (status = 200, description = "The changed client", body = Client),
        (status = 422, description = "A municipality is not registered (`unknown_municipality`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_client(
    app: App,
    bearer: Bearer,
    id: web::Path<ClientId>,
    body: ApiJson<ClientUpdate>,
) -> ApiResult<HttpResponse> {
    let client = service::update_client(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(client))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/clients")
            .route(web::post().to(create_client))
            .route(web::get().to(list_clients)),
    )
    .service(
        web::resource("/clients/{id}")
            .route(web::get().to(get_client))
            .route(web::patch().to(update_client)),
    );
}
