//! User account endpoints.

use actix_web::{web, HttpResponse};

use super::model::{NewUser, User, UserPage, UserQuery, UserUpdate};
use super::service;
use crate::auth::principal::Bearer;
use crate::domain::UserId;
use crate::error::ApiResult;
use crate::http::created;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// Create a user account.
#[utoipa::path(post, path = "/users", tag = "Administration", operation_id = "createUser",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 409, description = "Username taken", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown municipality, team or provider", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewUser>,
) -> ApiResult<HttpResponse> {
    let user = service::create_user(&app, &bearer, body.0).await?;
    Ok(created(format!("/v1/users/{}", user.id), &user))
}

/// List user accounts.
#[utoipa::path(get, path = "/users", tag = "Administration", operation_id = "listUsers",
    params(UserQuery),
    responses((status = 200, description = "A page of users", body = UserPage)))]
pub async fn list_users(
    app: App,
    bearer: Bearer,
    query: ApiQuery<UserQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_users(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Get a user account.
#[utoipa::path(get, path = "/users/{id}", tag = "Administration", operation_id = "getUser",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User)))]
pub async fn get_user(app: App, bearer: Bearer, id: web::Path<UserId>) -> ApiResult<HttpResponse> {
    let user = service::get_user(&app, &bearer, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Change a user account; `active: false` disables it.
#[utoipa::path(patch, path = "/users/{id}", tag = "Administration", operation_id = "updateUser",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "The changed user", body = User),
        (status = 422, description = "Unknown team", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_user(
    app: App,
    bearer: Bearer,
    id: web::Path<UserId>,
    body: ApiJson<UserUpdate>,
) -> ApiResult<HttpResponse> {
    let user = service::update_user(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(user))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::post().to(create_user))
            .route(web::get().to(list_users)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(get_user))
            .route(web::patch().to(update_user)),
    );
}
