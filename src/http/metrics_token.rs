//! `/metrics` behind a bearer token (issue 15 item 10): request counts per
//! route, pool use and latencies tell an outsider what the service does and
//! when. With `secrets.metrics_token` set, a scrape must send
//! `Authorization: Bearer <token>`; production refuses to start without
//! one (`cli`). Without it (local runs) `/metrics` stays open.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The path actix-web-prom answers.
pub const METRICS_PATH: &str = "/metrics";

/// Whether the request carries `token` as its bearer token; compared in
/// constant time, so the answer's timing does not reveal a prefix.
fn carries(req: &ServiceRequest, token: &str) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|sent| bool::from(sent.trim().as_bytes().ct_eq(token.as_bytes())))
}

/// Middleware, outside the metrics middleware: a request for `/metrics`
/// without the token gets 401 before the metrics are rendered.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
    token: Option<std::sync::Arc<str>>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let guarded = req.path() == METRICS_PATH;
    match token {
        Some(token) if guarded && !carries(&req, &token) => {
            let error = ApiError::unauthorized("Send the metrics token as a bearer token.");
            let (req, _) = req.into_parts();
            Ok(
                ServiceResponse::new(req, actix_web::ResponseError::error_response(&error))
                    .map_into_right_body(),
            )
        }
        _ => Ok(next.call(req).await?.map_into_left_body()),
    }
}
