//! Municipality endpoints.

use actix_web::{web, HttpResponse};

use super::model::{Municipality, MunicipalityPage, NewMunicipality, PageParams};
use super::service;
use crate::auth::principal::Bearer;
use crate::error::ApiResult;
use crate::http::created;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// Register a municipality.
#[utoipa::path(post, path = "/municipalities", tag = "Administration", operation_id = "createMunicipality",
    request_body = NewMunicipality,
    responses(
        (status = 201, description = "Created", body = Municipality),
        (status = 409, description = "Code already registered", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_municipality(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewMunicipality>,
) -> ApiResult<HttpResponse> {
    let created_one = service::create_municipality(&app, &bearer, body.0).await?;
    Ok(created(
        format!("/v1/municipalities/{}", created_one.code),
        &created_one,
    ))
}

/// List municipalities (admins: all; others: their own).
#[utoipa::path(get, path = "/municipalities", tag = "Administration", operation_id = "listMunicipalities",
    params(PageParams),
    responses((status = 200, description = "A page of municipalities", body = MunicipalityPage)))]
pub async fn list_municipalities(
    app: App,
    bearer: Bearer,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let page = service::list_municipalities(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/municipalities")
            .route(web::post().to(create_municipality))
            .route(web::get().to(list_municipalities)),
    );
}
