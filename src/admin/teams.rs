//! JGT teams of a municipality.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::db::schema::{municipalities, teams};
use crate::domain::{text, MunicipalityCode, Role};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewTeam {
    #[schema(example = "0546", pattern = "^[0-9]{4}$")]
    pub municipality_code: String,
    #[schema(example = "JGT Leiden Noord", min_length = 1, max_length = 200)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = teams)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: Uuid,
    pub municipality_code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

crate::page_type!(TeamPage, Team, "A page of teams.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TeamQuery {
    /// Only teams of this municipality.
    #[param(pattern = "^[0-9]{4}$")]
    pub municipality_code: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Register a team.
#[utoipa::path(post, path = "/teams", tag = "Administration", operation_id = "createTeam",
    request_body = NewTeam,
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 409, description = "Name already used in this municipality", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_team(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    body: ApiJson<NewTeam>,
) -> ApiResult<HttpResponse> {
    let id = Uuid::now_v7();
    let event = AuditEvent::by(&principal, "create", "team", id);
    enforce(&state, policy::admin(&principal), "team", event.clone()).await?;
    let mut v = Invalid::new();
    let code = v.check(
        "municipalityCode",
        MunicipalityCode::parse(&body.0.municipality_code),
    );
    let name = v.check("name", text::required(&body.0.name, 200));
    let (code, name) = v.finish((code, name))?;
    let mut conn = state.db().await?;
    let team = conn
        .transaction(async |conn| {
            let exists: i64 = municipalities::table
                .filter(municipalities::code.eq(code.as_str()))
                .count()
                .get_result(conn)
                .await?;
            if exists == 0 {
                return Err(ApiError::unprocessable(
                    ErrorCode::UnknownMunicipality,
                    "No municipality has this code.",
                ));
            }
            let team: Team = diesel::insert_into(teams::table)
                .values((
                    teams::id.eq(id),
                    teams::municipality_code.eq(code.as_str()),
                    teams::name.eq(&name),
                ))
                .returning(Team::as_returning())
                .get_result(conn)
                .await?;
            event.municipality(code.as_str()).record(conn).await?;
            Ok(team)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/teams/{}", team.id)))
        .json(team))
}

/// List teams (admins: all; others: of their own municipality).
#[utoipa::path(get, path = "/teams", tag = "Administration", operation_id = "listTeams",
    params(TeamQuery),
    responses((status = 200, description = "A page of teams", body = TeamPage)))]
pub async fn list_teams(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    query: ApiQuery<TeamQuery>,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::<Uuid>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let mut v = Invalid::new();
    let code = v.check_opt(
        "municipalityCode",
        query.0.municipality_code.as_deref(),
        MunicipalityCode::parse,
    );
    let (code,) = v.finish((code,))?;
    let mut conn = state.db().await?;
    let mut q = teams::table
        .select(Team::as_select())
        .order(teams::id)
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(teams::id.gt(after));
    }
    if let Some(code) = &code {
        q = q.filter(teams::municipality_code.eq(code.as_str()));
    }
    if principal.role != Role::Admin {
        q = q.filter(
            teams::municipality_code
                .nullable()
                .eq(principal.municipality_code.clone()),
        );
    }
    let rows = q.load(&mut conn).await?;
    let (items, next_cursor) = finish(rows, page.limit, |t| t.id);
    Ok(HttpResponse::Ok().json(TeamPage { items, next_cursor }))
}

/// Whether `team_id` is a team of `municipality` (so a record naming both
/// cannot name another municipality's team).
pub async fn team_in_municipality(
    conn: &mut diesel_async::AsyncPgConnection,
    team_id: Uuid,
    municipality: Option<&str>,
) -> ApiResult<bool> {
    let found: Option<String> = teams::table
        .find(team_id)
        .select(teams::municipality_code)
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some() && found.as_deref() == municipality)
}

/// 422 for a team that does not belong to the municipality.
pub fn unknown_team() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::UnknownTeam,
        "The team does not exist in this municipality.",
    )
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/teams")
            .route(web::post().to(create_team))
            .route(web::get().to(list_teams)),
    );
}
