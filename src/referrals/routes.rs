//! Referral endpoints: submit (clients and JGT roles, idempotent), read,
//! the intake queue, accept and decline.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::model::*;
use super::view::{ReferralView, ReferralViewPage};
use super::{decisions, idempotency, service};
use crate::auth::principal::Bearer;
use crate::domain::ReferralId;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;

/// Submit a referral. It lands in the child's family's one plan (by BSN),
/// or waits for review (a possible match without BSN), or opens a new
/// family with an intake plan.
///
/// Send an `Idempotency-Key`: a retry with the same key and body gets the
/// original response and creates nothing; the same key with another body
/// is refused (422 `idempotency_key_reused`). Clients refer only as
/// themselves (their referrer type and AGB code) and see status and dates,
/// the status `received` until the referral is accepted or declined; a
/// client may submit `referrals.per_client_per_hour` referrals an hour
/// (429 `too_many_requests` with `Retry-After` beyond).
#[utoipa::path(post, path = "/referrals", tag = "Referrals", operation_id = "createReferral",
    params(("Idempotency-Key" = String, Header, description = "Unique per request (e.g. a UUID); retries reuse it", min_length = 1, max_length = 255)),
    request_body = NewReferral,
    responses(
        (status = 201, description = "Received, with its status (for clients `received` until decided; a retry with the same key answers the same)", body = ReferralStatusView),
        (status = 403, description = "Not allowed: missing scope (`insufficient_scope`), a municipality the client does not serve (`municipality_not_served`), or referring as someone else (`referrer_mismatch`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change kept conflicting; retry with the same key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Key reused with another body (`idempotency_key_reused`), unknown municipality or provider, or no team to take a new family in", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The client sent its hourly number of referrals (`too_many_requests`); see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("clientCredentials" = ["referrals:write"])))]
pub async fn create_referral(
    app: App,
    bearer: Bearer,
    req: HttpRequest,
    body: ApiJson<NewReferral>,
) -> ApiResult<HttpResponse> {
    let key = req.headers().get(idempotency::HEADER).map(|v| v.as_bytes());
    let submitted = service::create_referral(&app, &bearer, key, body.0).await?;
    let status = StatusCode::from_u16(submitted.status)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("stored status is not HTTP")))?;
    let mut response = HttpResponse::build(status);
    if let Some(id) = submitted.body.get("id").and_then(Value::as_str) {
        response.insert_header(("Location", format!("/v1/referrals/{id}")));
    }
    Ok(response.json(submitted.body))
}

/// The intake queue (team leads: their municipality's referrals in full),
/// or your own referrals' status (clients with `referrals:read`, and the
/// JGT and GI workers who submitted them).
#[utoipa::path(get, path = "/referrals", tag = "Referrals", operation_id = "listReferrals",
    params(ReferralQuery),
    responses((status = 200, description = "A page of referrals, oldest first", body = ReferralViewPage)),
    security(("bearer" = []), ("clientCredentials" = ["referrals:read"])))]
pub async fn list_referrals(
    app: App,
    bearer: Bearer,
    query: ApiQuery<ReferralQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_referrals(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a referral: in full for the municipality's team lead, status and
/// dates for its referrer.
#[utoipa::path(get, path = "/referrals/{id}", tag = "Referrals", operation_id = "getReferral",
    params(("id" = Uuid, Path, description = "Referral id")),
    responses((status = 200, description = "The referral", body = ReferralView)),
    security(("bearer" = []), ("clientCredentials" = ["referrals:read"])))]
pub async fn get_referral(
    app: App,
    bearer: Bearer,
    id: web::Path<ReferralId>,
) -> ApiResult<HttpResponse> {
    let view = service::get_referral(&app, &bearer, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Accept a referral into the intake. A `needs_review` referral lands in
/// the family chosen by `familyId` (its open plan, or a new intake plan),
/// or, without it, in a new family.
#[utoipa::path(post, path = "/referrals/{id}/accept", tag = "Referrals", operation_id = "acceptReferral",
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = AcceptReferral,
    responses(
        (status = 200, description = "Accepted", body = Referral),
        (status = 409, description = "Already decided (`referral_decided`), matched to another family (`referral_already_matched`), or the child's BSN is in another family (`bsn_in_other_family`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The chosen family is not of the referral's municipality (`unknown_family`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept_referral(
    app: App,
    bearer: Bearer,
    id: web::Path<ReferralId>,
    body: ApiJson<AcceptReferral>,
) -> ApiResult<HttpResponse> {
    let view = decisions::accept_referral(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Decline a referral with a WJ759 reason. A requested involvement the
/// referral created is withdrawn; a family or plan it opened stays, for the
/// team lead to close.
#[utoipa::path(post, path = "/referrals/{id}/decline", tag = "Referrals", operation_id = "declineReferral",
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = DeclineReferral,
    responses(
        (status = 200, description = "Declined", body = Referral),
        (status = 409, description = "Already decided (`referral_decided`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn decline_referral(
    app: App,
    bearer: Bearer,
    id: web::Path<ReferralId>,
    body: ApiJson<DeclineReferral>,
) -> ApiResult<HttpResponse> {
    let view = decisions::decline_referral(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/referrals")
            .route(web::post().to(create_referral))
            .route(web::get().to(list_referrals)),
    )
    .service(web::resource("/referrals/{id}").route(web::get().to(get_referral)))
    .service(web::resource("/referrals/{id}/accept").route(web::post().to(accept_referral)))
    .service(web::resource("/referrals/{id}/decline").route(web::post().to(decline_referral)));
}
