//! Care endpoints: the care-form catalogue, involvements (create, start,
//! end), whole scaling steps, the scaling history, signals and their
//! acknowledgement, and the provider's work list.

use actix_web::{web, HttpResponse};

use super::model::*;
use super::{scaling, service};
use crate::auth::principal::Bearer;
use crate::domain::signals::SignalCode;
use crate::domain::{InvolvementId, PlanId};
use crate::error::ApiResult;
use crate::http::access_reason::AccessReason;
use crate::http::etag;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// The care forms of the region's catalogue, lightest segment first.
#[utoipa::path(get, path = "/care-forms", tag = "Care", operation_id = "listCareForms",
    responses((status = 200, description = "All care forms (one page)", body = CareFormPage)))]
pub async fn list_care_forms(app: App, bearer: Bearer) -> ApiResult<HttpResponse> {
    let page = service::list_care_forms(&app, &bearer).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Register care for the plan: requested (waiting) or already active.
#[utoipa::path(post, path = "/plans/{id}/involvements", tag = "Care", operation_id = "createInvolvement",
    params(("id" = Uuid, Path, description = "Plan id")),
    request_body = NewInvolvement,
    responses(
        (status = 201, description = "Registered; an active one may have moved the level (see the scaling history)", body = Involvement),
        (status = 409, description = "The plan is closed (`plan_closed`), or this provider already delivers this form to this person (`involvement_exists`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or inactive provider, or a member not in the family", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_involvement(
    app: App,
    bearer: Bearer,
    id: web::Path<PlanId>,
    body: ApiJson<NewInvolvement>,
) -> ApiResult<HttpResponse> {
    let (involvement, version) =
        service::create_involvement(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/involvements/{}", involvement.id)))
        .insert_header(("ETag", etag(version)))
        .json(involvement))
}

/// Start requested care.
#[utoipa::path(post, path = "/involvements/{id}/start", tag = "Care", operation_id = "startInvolvement",
    params(("id" = Uuid, Path, description = "Involvement id")),
    request_body = StartInvolvement,
    responses(
        (status = 200, description = "Started; the plan's level may have moved", body = Involvement),
        (status = 409, description = "Not requested any more (`involvement_not_requested`), or the plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_involvement(
    app: App,
    bearer: Bearer,
    id: web::Path<InvolvementId>,
    body: ApiJson<StartInvolvement>,
) -> ApiResult<HttpResponse> {
    let involvement = service::start_involvement(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(involvement))
}

/// End care (or withdraw a request), with the iJw end reason.
#[utoipa::path(post, path = "/involvements/{id}/end", tag = "Care", operation_id = "endInvolvement",
    params(("id" = Uuid, Path, description = "Involvement id")),
    request_body = EndInvolvement,
    responses(
        (status = 200, description = "Ended; the plan's level may have moved", body = Involvement),
        (status = 409, description = "Already ended (`involvement_ended`), or the plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn end_involvement(
    app: App,
    bearer: Bearer,
    id: web::Path<InvolvementId>,
    body: ApiJson<EndInvolvement>,
) -> ApiResult<HttpResponse> {
    let involvement = service::end_involvement(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(involvement))
}

/// One whole scaling step: end some involvements and start others today,
/// atomically, with one scaling event when the level moves. If any part
/// fails (an involvement of another plan, an unknown provider), nothing
/// changes.
#[utoipa::path(post, path = "/plans/{id}/scalings", tag = "Care", operation_id = "scalePlan",
    params(("id" = Uuid, Path, description = "Plan id")),
    request_body = ScalingStep,
    responses(
        (status = 200, description = "The plan after the step (its level, involvements and signals)", body = crate::plans::model::Plan, headers(("ETag" = String, description = "New plan version"))),
        (status = 409, description = "The plan is closed, an involvement already ended, or a started one already runs", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "An involvement of another plan (`involvement_not_in_plan`), an unknown provider or member", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn scale_plan(
    app: App,
    bearer: Bearer,
    id: web::Path<PlanId>,
    body: ApiJson<ScalingStep>,
) -> ApiResult<HttpResponse> {
    let plan = scaling::scale_plan(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(plan.version)))
        .json(plan))
}

/// The plan's scaling history, oldest first.
#[utoipa::path(get, path = "/plans/{id}/scalings", tag = "Care", operation_id = "listScalings",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "Every change of the plan's level, oldest first", body = Vec<Scaling>)))]
pub async fn list_scalings(
    app: App,
    bearer: Bearer,
    reason: AccessReason,
    id: web::Path<PlanId>,
) -> ApiResult<HttpResponse> {
    let items = scaling::list_scalings(&app, &bearer, &reason, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(items))
}

/// The plan's signals, open and acknowledged.
#[utoipa::path(get, path = "/plans/{id}/signals", tag = "Care", operation_id = "listSignals",
    params(("id" = Uuid, Path, description = "Plan id"), AccessReason),
    responses((status = 200, description = "Signals that hold now", body = Vec<Signal>)))]
pub async fn list_signals(
    app: App,
    bearer: Bearer,
    reason: AccessReason,
    id: web::Path<PlanId>,
) -> ApiResult<HttpResponse> {
    let items = scaling::list_signals(&app, &bearer, &reason, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(items))
}

/// Record that a signalled situation is deliberate. The signal stays
/// visible as acknowledged, and re-opens when its facts change.
#[utoipa::path(post, path = "/plans/{id}/signals/{code}/acknowledge", tag = "Care", operation_id = "acknowledgeSignal",
    params(
        ("id" = Uuid, Path, description = "Plan id"),
        ("code" = SignalCode, Path, description = "Signal code"),
    ),
    request_body = Acknowledge,
    responses(
        (status = 200, description = "The acknowledged signal", body = Signal),
        (status = 409, description = "The plan is closed", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn acknowledge_signal(
    app: App,
    bearer: Bearer,
    path: web::Path<(PlanId, String)>,
    body: ApiJson<Acknowledge>,
) -> ApiResult<HttpResponse> {
    let (plan_id, code) = path.into_inner();
    let signal = scaling::acknowledge_signal(&app, &bearer, plan_id, &code, body.0).await?;
    Ok(HttpResponse::Ok().json(signal))
}

/// The provider's work list: its own involvements in its municipality, with
/// their plan ids (read a plan with `GET /v1/plans/{id}`).
#[utoipa::path(get, path = "/involvements", tag = "Care", operation_id = "listOwnInvolvements",
    params(WorklistQuery),
    responses((status = 200, description = "A page of the provider's involvements", body = InvolvementPage)))]
pub async fn list_own_involvements(
    app: App,
    bearer: Bearer,
    query: ApiQuery<WorklistQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_own_involvements(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/care-forms").route(web::get().to(list_care_forms)))
        .service(web::resource("/involvements").route(web::get().to(list_own_involvements)))
        .service(
            web::resource("/plans/{id}/involvements").route(web::post().to(create_involvement)),
        )
        .service(web::resource("/involvements/{id}/start").route(web::post().to(start_involvement)))
        .service(web::resource("/involvements/{id}/end").route(web::post().to(end_involvement)))
        .service(
            web::resource("/plans/{id}/scalings")
                .route(web::post().to(scale_plan))
                .route(web::get().to(list_scalings)),
        )
        .service(web::resource("/plans/{id}/signals").route(web::get().to(list_signals)))
        .service(
            web::resource("/plans/{id}/signals/{code}/acknowledge")
                .route(web::post().to(acknowledge_signal)),
        );
}
