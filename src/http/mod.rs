//! HTTP plumbing shared by every resource: request ids and the API-Version
//! header, strict JSON and query extraction, problem+json for errors actix
//! produces itself, pagination, ETags.

pub mod access_reason;
pub mod client_addr;
pub mod extract;
pub mod limits;
pub mod metrics_token;
pub mod objects_only;
pub mod pagination;
pub mod request_context;
pub mod security_headers;
pub mod validation;

use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::HttpRequest;

use crate::error::ErrorCode;
use crate::error::{ApiError, PROBLEM_JSON};

/// Semantic version of the API contract, sent as `API-Version` on every response.
pub const API_VERSION: &str = "1.0.0";

/// Largest request body accepted (DESIGN section 5).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Turns errors that actix answers itself (no route, wrong method, ...) into
/// problem+json, so clients see one error shape whatever failed.
pub fn problemize<B: actix_web::body::MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = match status {
        StatusCode::NOT_FOUND => {
            ApiError::new(status, ErrorCode::NotFound, "No resource at this path.")
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            ErrorCode::MethodNotAllowed,
            "This method is not supported on this path.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            ErrorCode::PayloadTooLarge,
            "The request body exceeds the limit of 1 MiB.",
        ),
        s if s.is_server_error() => ApiError::new(
            s,
            ErrorCode::InternalError,
            "An unexpected error occurred; it has been logged with the request id.",
        ),
        s => ApiError::new(s, ErrorCode::HttpError, crate::error::title_for(s)),
    };
    let (req, res) = res.into_parts();
    let mut new = actix_web::ResponseError::error_response(&error);
    // Keep headers actix set on purpose (Allow on 405, CORS headers).
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

/// A resource at `path` for a GET that is answered before it: by the
/// metrics middleware (`/metrics`) or by a GET-guarded service registered
/// ahead of it (Swagger UI, the OpenAPI document). Every other method falls
/// through to here and is refused with 405 and `Allow: GET`; without it
/// those requests found no resource and were answered 404.
pub fn get_served_elsewhere(path: &str) -> actix_web::Resource {
    actix_web::web::resource(path).default_service(actix_web::web::to(|| async {
        actix_web::HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET"))
            .finish()
    }))
}

/// 201 with the new resource's `Location` and its JSON.
pub fn created(location: String, body: &impl serde::Serialize) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body)
}

/// The `ETag` value for a version.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// Reads `If-Match`. `Ok(None)` when absent; a value that is not one of our
/// ETags can never match, so it reads as version -1.
pub fn if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let version = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i32>().ok())
        .unwrap_or(-1);
    Ok(Some(version))
}

/// `If-Match` where a request must carry one (428 when it does not).
pub fn require_if_match(req: &HttpRequest) -> Result<i32, ApiError> {
    if_match(req)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            ErrorCode::IfMatchRequired,
            "Send If-Match with the plan's current ETag to change it.",
        )
    })
}
