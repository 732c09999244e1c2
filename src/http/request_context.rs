//! Request ids and per-request context. Every request gets an id of the
//! server's own (a new UUID) that appears in the `X-Request-Id` response
//! header, the logs, problem documents and audit events. A client's own
//! `X-Request-Id`, when it is sane, is kept apart as `client_request_id`
//! (issue 15 item 10): in the log span, in the audit event's
//! `detail.clientRequestId` and echoed in `X-Client-Request-Id`. Were it
//! the request id, a client could choose the id its requests are logged
//! and audited under, and make them collide with someone else's.

use std::cell::Cell;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use super::API_VERSION;

/// What the rest of the request needs to know about the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The server's own id of the request.
    pub request_id: String,
    /// The client's `X-Request-Id`, when it sent a sane one.
    pub client_request_id: Option<String>,
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

/// When a request started, for the `handled` log line.
#[derive(Debug, Clone, Copy)]
pub struct Started(pub Instant);

tokio::task_local! {
    /// Pool checkouts of the request being handled on this task.
    static CHECKOUTS: Cell<u32>;
}

/// Counts a pool checkout against the current request, if any (see
/// [`crate::state::AppState::db`]).
pub fn count_checkout() {
    let _ = CHECKOUTS.try_with(|n| n.set(n.get() + 1));
}

/// Gives the request its id and context, counts its pool checkouts into
/// `gezinsregie_db_checkouts_per_request` (which shows that a request holds
/// one connection, see [`crate::tx`]), and adds the `X-Request-Id`,
/// `X-Client-Request-Id` (when the client sent one) and `API-Version`
/// headers. The request's span and its `handled` line come
/// from `tracing-actix-web` ([`crate::telemetry::RequestSpan`]), just inside.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("x-request-id")
        .and_then(accept_request_id);
    let ctx = RequestContext {
        request_id: request_id.clone(),
        client_request_id: client_request_id.clone(),
        path: req.path().to_owned(),
        ip: super::client_addr::of(req.request()).map(|ip| ip.to_string()),
    };
    req.extensions_mut().insert(ctx.clone());
    req.extensions_mut().insert(Started(Instant::now()));
    let metrics = req
        .app_data::<actix_web::web::Data<std::sync::Arc<crate::state::AppState>>>()
        .map(|state| state.metrics.checkouts.clone());
    let (result, checkouts) = CONTEXT
        .scope(
            ctx,
            CHECKOUTS.scope(Cell::new(0), async {
                let result = next.call(req).await;
                (result, CHECKOUTS.with(Cell::get))
            }),
        )
        .await;
    // Errors raised by middleware (not handlers) are rendered by actix itself.
    let mut res = result?.map_into_boxed_body();
    if let Some(histogram) = metrics {
        let endpoint = res.request().match_pattern();
        histogram
            .with_label_values(&[
                res.request().method().as_str(),
                endpoint.as_deref().unwrap_or("UNKNOWN"),
            ])
            .observe(f64::from(checkouts));
    }
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    if let Some(v) = client_request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        headers.insert(HeaderName::from_static("x-client-request-id"), v);
    }
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(API_VERSION),
    );
    Ok(res)
}
