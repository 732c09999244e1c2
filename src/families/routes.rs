//! Family endpoints: register, search, read, change, members.

use actix_web::{web, HttpResponse};

use super::model::*;
use super::service;
use crate::auth::principal::Bearer;
use crate::domain::{FamilyId, MemberId};
use crate::error::ApiResult;
use crate::http::access_reason::AccessReason;
use crate::http::created;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// Register a family with its members.
#[utoipa::path(post, path = "/families", tag = "Families", operation_id = "createFamily",
    request_body = NewFamily,
    responses(
        (status = 201, description = "Registered", body = Family),
        (status = 409, description = "A child's BSN is active in another family (`bsn_in_other_family`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The team does not belong to the municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_family(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewFamily>,
) -> ApiResult<HttpResponse> {
    let family = service::create_family(&app, &bearer, body.0).await?;
    Ok(created(format!("/v1/families/{}", family.id), &family))
}

/// Search families within your reach.
///
/// Team leads search their municipality, JGT workers their team and the
/// families they direct, GI workers the families they direct.
#[utoipa::path(get, path = "/families", tag = "Families", operation_id = "listFamilies",
    params(FamilyQuery),
    responses((status = 200, description = "A page of families", body = FamilyPage)))]
pub async fn list_families(
    app: App,
    bearer: Bearer,
    query: ApiQuery<FamilyQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_families(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a family with its members (BSNs included) and current plan.
///
/// A JGT or GI worker may open a family of its municipality outside its
/// normal reach by stating why in `X-Access-Reason` (emergency access).
#[utoipa::path(get, path = "/families/{id}", tag = "Families", operation_id = "getFamily",
    params(("id" = Uuid, Path, description = "Family id"), AccessReason),
    responses((status = 200, description = "The family", body = Family)))]
pub async fn get_family(
    app: App,
    bearer: Bearer,
    reason: AccessReason,
    id: web::Path<FamilyId>,
) -> ApiResult<HttpResponse> {
    let family = service::get_family(&app, &bearer, &reason, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(family))
}

/// Change a family's name or team.
#[utoipa::path(patch, path = "/families/{id}", tag = "Families", operation_id = "updateFamily",
    params(("id" = Uuid, Path, description = "Family id")),
    request_body = FamilyUpdate,
    responses(
        (status = 200, description = "The changed family", body = Family),
        (status = 422, description = "The team does not belong to the family's municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_family(
    app: App,
    bearer: Bearer,
    id: web::Path<FamilyId>,
    body: ApiJson<FamilyUpdate>,
) -> ApiResult<HttpResponse> {
    let family = service::update_family(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(family))
}

/// Add a member to a family.
#[utoipa::path(post, path = "/families/{id}/members", tag = "Families", operation_id = "addMember",
    params(("id" = Uuid, Path, description = "Family id")),
    request_body = NewMember,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 409, description = "BSN already active in another family or this one", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_member(
    app: App,
    bearer: Bearer,
    id: web::Path<FamilyId>,
    body: ApiJson<NewMember>,
) -> ApiResult<HttpResponse> {
    let family_id = id.into_inner();
    let member = service::add_member(&app, &bearer, family_id, body.0).await?;
    let location = format!("/v1/families/{family_id}/members/{}", member.id);
    Ok(created(location, &member))
}

/// Change a member; `endedOn` ends the membership.
#[utoipa::path(patch, path = "/families/{id}/members/{memberId}", tag = "Families", operation_id = "updateMember",
    params(("id" = Uuid, Path, description = "Family id"), ("memberId" = Uuid, Path, description = "Member id")),
    request_body = MemberUpdate,
    responses(
        (status = 200, description = "The changed member", body = Member),
        (status = 409, description = "BSN already active in another family", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_member(
    app: App,
    bearer: Bearer,
    path: web::Path<(FamilyId, MemberId)>,
    body: ApiJson<MemberUpdate>,
) -> ApiResult<HttpResponse> {
    let (id, member_id) = path.into_inner();
    let member = service::update_member(&app, &bearer, id, member_id, body.0).await?;
    Ok(HttpResponse::Ok().json(member))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/families")
            .route(web::post().to(create_family))
            .route(web::get().to(list_families)),
    )
    .service(
        web::resource("/families/{id}")
            .route(web::get().to(get_family))
            .route(web::patch().to(update_family)),
    )
    .service(web::resource("/families/{id}/members").route(web::post().to(add_member)))
    .service(
        web::resource("/families/{id}/members/{memberId}").route(web::patch().to(update_member)),
    );
}
