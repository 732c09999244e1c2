//! Plan and director endpoints: open, read, history, change (If-Match),
//! close; handover, director history, eligible successors, caseload.

use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};

use super::model::*;
use super::{directors, service};
use crate::auth::principal::Bearer;
use crate::domain::{FamilyId, PlanId, UserId};
use crate::error::ApiResult;
use crate::http::access_reason::AccessReason;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{etag, if_match, require_if_match};
use crate::state::App;

/// A plan response with its ETag.
fn with_etag(response: &mut HttpResponseBuilder, plan: &Plan) -> HttpResponse {
    response
        .insert_header(("ETag", etag(plan.version)))
        .json(plan)
}

/// Open the family's plan: `intake` without a director, `active` with one.
#[utoipa::path(post, path = "/families/{id}/plans", tag = "Plans", operation_id = "createPlan",
    params(("id" = Uuid, Path, description = "Family id")),
    request_body = NewPlan,
    responses(
        (status = 201, description = "Opened", body = Plan, headers(("ETag" = String, description = "Plan version"))),
        (status = 409, description = "The family already has an open plan (`plan_already_open`, with `openPlanId`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The director is not eligible (`director_not_eligible`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_plan(
    app: App,
    bearer: Bearer,
    id: web::Path<FamilyId>,
    body: ApiJson<NewPlan>,
) -> ApiResult<HttpResponse> {
    let plan = service::create_plan(&app, &bearer, id.into_inner(), body.0).await?;
    let location = format!("/v1/plans/{}", plan.id);
    Ok(with_etag(
        HttpResponse::Created().insert_header(("Location", location)),
        &plan,
    ))
}

/// The family's current open plan.
#[utoipa::path(get, path = "/families/{id}/plan", tag = "Plans", operation_id = "getCurrentPlan",
    params(("id" = Uuid, Path, description = "Family id"), AccessReason),
    responses((status = 200, description = "The open plan", body = Plan, headers(("ETag" = String, description = "Plan version")))))]
pub async fn get_current_plan(
    app: App,
    bearer: Bearer,
    reason: AccessReason,
    id: web::Path<FamilyId>,
) -> ApiResult<HttpResponse> {
    let plan = service::get_current_plan(&app, &bearer, &reason, id.into_inner()).await?;
    Ok(with_etag(&mut HttpResponse::Ok(), &plan))
}

/// All plans of a family, oldest first (closed ones are the history).
#[utoipa::path(get, path = "/families/{id}/plans", tag = "Plans", operation_id = "listFamilyPlans",
    params(("id" = Uuid, Path, description = "Family id"), PageParams, AccessReason),
    responses((status = 200, description = "A page of the family's plans", body = PlanPage)))]
pub async fn list_family_plans(
    app: App,
    bearer: Bearer,
    reason: AccessReason,
    id: web::Path<FamilyId>,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let page = service::list_family_plans(&app, &bearer, &reason, id.into_inner(), query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a plan. A provider user gets the limited view of a plan its provider
/// has requested or active care in: no signals, no other provider's notes.
#[utoipa::path(get, path = "/plans/{id}", tag = "Plans", operation_id = "getPlan",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "The plan", body = Plan, headers(("ETag" = String, description = "Plan version")))))]
pub async fn get_plan(
    app: App,
    bearer: Bearer,
    reason: AccessReason,
    id: web::Path<PlanId>,
) -> ApiResult<HttpResponse> {
    let plan = service::get_plan(&app, &bearer, &reason, id.into_inner()).await?;
    Ok(with_etag(&mut HttpResponse::Ok(), &plan))
}

/// Change a plan's title or goals. Requires `If-Match` with the current ETag.
#[utoipa::path(patch, path = "/plans/{id}", tag = "Plans", operation_id = "updatePlan",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("If-Match" = String, Header, description = "ETag of the plan as last read"),
    ),
    request_body = PlanUpdate,
    responses(
        (status = 200, description = "The changed plan", body = Plan, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "The plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale ETag (`version_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_plan(
    app: App,
    bearer: Bearer,
    req: HttpRequest,
    id: web::Path<PlanId>,
    body: ApiJson<PlanUpdate>,
) -> ApiResult<HttpResponse> {
    let expected = require_if_match(&req);
    let plan = service::update_plan(&app, &bearer, id.into_inner(), expected, body.0).await?;
    Ok(with_etag(&mut HttpResponse::Ok(), &plan))
}

/// Close a plan with its outcome; the director assignment ends with it.
#[utoipa::path(post, path = "/plans/{id}/close", tag = "Plans", operation_id = "closePlan",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the plan as last read (optional)"),
    ),
    request_body = ClosePlan,
    responses(
        (status = 200, description = "The closed plan", body = Plan, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "Already closed (`plan_closed`), or involvements still requested or active (`involvements_active`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale ETag (`version_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn close_plan(
    app: App,
    bearer: Bearer,
    req: HttpRequest,
    id: web::Path<PlanId>,
    body: ApiJson<ClosePlan>,
) -> ApiResult<HttpResponse> {
    let expected = if_match(&req)?;
    let plan = service::close_plan(&app, &bearer, id.into_inner(), expected, body.0).await?;
    Ok(with_etag(&mut HttpResponse::Ok(), &plan))
}

/// Hand the plan over to another director (or assign the first one).
#[utoipa::path(put, path = "/plans/{id}/director", tag = "Directors", operation_id = "assignDirector",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the plan as last read (optional)"),
    ),
    request_body = DirectorChange,
    responses(
        (status = 200, description = "The new (current) assignment", body = DirectorAssignment, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "The plan is closed, or a concurrent change won", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale ETag (`version_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The user cannot direct this plan (`director_not_eligible`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn assign_director(
    app: App,
    bearer: Bearer,
    req: HttpRequest,
    id: web::Path<PlanId>,
    body: ApiJson<DirectorChange>,
) -> ApiResult<HttpResponse> {
    let expected = if_match(&req)?;
    let (assignment, version) =
        directors::assign_director(&app, &bearer, id.into_inner(), expected, body.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(version)))
        .json(assignment))
}

/// Every director the plan has had, oldest first.
#[utoipa::path(get, path = "/plans/{id}/director-history", tag = "Directors", operation_id = "getDirectorHistory",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "Assignments, oldest first", body = Vec<DirectorAssignment>)))]
pub async fn director_history(
    app: App,
    bearer: Bearer,
    reason: AccessReason,
    id: web::Path<PlanId>,
) -> ApiResult<HttpResponse> {
    let history = directors::director_history(&app, &bearer, &reason, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(history))
}

/// Users who may take the plan over, with their current caseload.
#[utoipa::path(get, path = "/plans/{id}/eligible-directors", tag = "Directors", operation_id = "listEligibleDirectors",
    params(("id" = Uuid, Path, description = "Plan id"), PageParams),
    responses((status = 200, description = "A page of eligible users", body = EligibleDirectorPage)))]
pub async fn eligible_directors(
    app: App,
    bearer: Bearer,
    id: web::Path<PlanId>,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let page = directors::eligible_directors(&app, &bearer, id.into_inner(), query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The open plans a user directs.
#[utoipa::path(get, path = "/users/{id}/caseload", tag = "Directors", operation_id = "getCaseload",
    params(("id" = Uuid, Path, description = "User id"), PageParams),
    responses((status = 200, description = "A page of open plans directed by the user", body = CaseloadPage)))]
pub async fn caseload(
    app: App,
    bearer: Bearer,
    id: web::Path<UserId>,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let page = directors::caseload(&app, &bearer, id.into_inner(), query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/families/{id}/plans")
            .route(web::post().to(create_plan))
            .route(web::get().to(list_family_plans)),
    )
    .service(web::resource("/families/{id}/plan").route(web::get().to(get_current_plan)))
    .service(
        web::resource("/plans/{id}")
            .route(web::get().to(get_plan))
            .route(web::patch().to(update_plan)),
    )
    .service(web::resource("/plans/{id}/close").route(web::post().to(close_plan)))
    .service(web::resource("/plans/{id}/director").route(web::put().to(assign_director)))
    .service(web::resource("/plans/{id}/director-history").route(web::get().to(director_history)))
    .service(
        web::resource("/plans/{id}/eligible-directors").route(web::get().to(eligible_directors)),
    )
    .service(web::resource("/users/{id}/caseload").route(web::get().to(caseload)));
}
