//! Team endpoints.

use actix_web::{web, HttpResponse};

use super::model::{NewTeam, Team, TeamPage, TeamQuery};
use super::service;
use crate::auth::principal::Bearer;
use crate::error::ApiResult;
use crate::http::created;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// Register a team.
#[utoipa::path(post, path = "/teams", tag = "Administration", operation_id = "createTeam",
    request_body = NewTeam,
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 409, description = "Name already used in this municipality", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_team(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewTeam>,
) -> ApiResult<HttpResponse> {
    let team = service::create_team(&app, &bearer, body.0).await?;
    Ok(created(format!("/v1/teams/{}", team.id), &team))
}

/// List teams (admins: all; others: of their own municipality).
#[utoipa::path(get, path = "/teams", tag = "Administration", operation_id = "listTeams",
    params(TeamQuery),
    responses((status = 200, description = "A page of teams", body = TeamPage)))]
pub async fn list_teams(
    app: App,
    bearer: Bearer,
    query: ApiQuery<TeamQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_teams(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/teams")
            .route(web::post().to(create_team))
            .route(web::get().to(list_teams)),
    );
}
