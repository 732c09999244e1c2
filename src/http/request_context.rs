//! Request ids and per-request context. Every request gets an id (the
//! client's `X-Request-Id` when it is sane, otherwise a new UUID) that appears
//! in the response headers, the logs, problem documents and audit events.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

use super::API_VERSION;

/// What the rest of the request needs to know about the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub path: String,
    pub ip: Option<String>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request being handled on this task, if any.
pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(|c| c.clone()).ok()
}

fn accept_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let sane = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| text.to_owned())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(accept_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ctx = RequestContext {
        request_id: request_id.clone(),
        path: req.path().to_owned(),
        ip: req.peer_addr().map(|a| a.ip().to_string()),
    };
    req.extensions_mut().insert(ctx.clone());
    // Only the path, never the query string: it may hold a BSN.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let result = CONTEXT
        .scope(ctx.clone(), next.call(req))
        .instrument(span.clone())
        .await;
    // Errors raised by middleware (not handlers) are rendered by actix itself.
    let mut res = result?.map_into_boxed_body();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(API_VERSION),
    );
    let status = res.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, elapsed_ms = format!("{elapsed_ms:.1}"), "handled"));
    Ok(res)
}
