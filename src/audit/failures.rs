//! The audit event of a write that failed (NEN 7513 asks for the result of
//! every attempt, not only of those that succeeded).
//!
//! A write that fails rolls its transaction back, and with it the event it
//! would have written: without more, a 400, a 409, a 422 or a database
//! error left no trace. So [`crate::tx`] keeps what an authenticated
//! caller is attempting to write (the event of [`crate::tx::Tx::user_doing`]
//! as the policy checks refine it, else the endpoint itself) and, after the
//! rollback, records it as `write_failed` in a short transaction of its own
//! on the same connection. The failed change itself stays absent; the
//! record says who tried what, on which resource, and with which error
//! code. Refusals by a policy are not recorded here: they commit their own
//! `access_denied` event in the request's transaction.
//!
//! A write can also fail before its handler opens a transaction: a body or
//! path that does not parse is refused by its extractor. [`middleware`]
//! records those: when a write with a verifying token was answered with a
//! 4xx (other than 401 and 429, which are counted or shed elsewhere) and
//! ran no transaction, it checks the caller's session and records the
//! failure under the endpoint, in one short transaction.

use std::cell::Cell;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpRequest};
use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};
use serde_json::Value;

use super::AuditEvent;
use crate::auth::principal::{bearer_token, Bearer};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The endpoint a request called: what a failed or unauthenticated attempt
/// is recorded under when no service named its resource.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub method: Method,
    /// The route template (`/v1/families/{id}`), never the path itself,
    /// whose ids and typos would make every request a new key.
    pub route: String,
}

impl Endpoint {
    pub fn of(req: &HttpRequest) -> Self {
        Self {
            method: req.method().clone(),
            route: req.match_pattern().unwrap_or_else(|| "UNKNOWN".to_owned()),
        }
    }

    /// Whether a call changes data: every method but the safe ones.
    pub fn writes(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
    }

    /// `GET /v1/families/{id}`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

/// A write under way: its event (as far as the service got in naming it)
/// and the endpoint, kept by the transaction until it ends.
#[derive(Debug)]
pub struct Attempt {
    pub event: AuditEvent,
    pub endpoint: Endpoint,
}

impl Attempt {
    /// The attempt as its caller's event about the endpoint, before any
    /// service names the resource (`path` is the request path, ids and all).
    pub fn new(event: AuditEvent, endpoint: &Endpoint) -> Self {
        Self {
            event,
            endpoint: endpoint.clone(),
        }
    }

    /// Records the attempt as failed with `error`, in a transaction of its
    /// own on `conn` (whose failed transaction has been rolled back). A
    /// failure to record is logged, not answered: the client gets the
    /// error its request met.
    pub async fn record_failure(self, conn: &mut AsyncPgConnection, error: &ApiError) {
        type Manager = <AsyncPgConnection as AsyncConnection>::TransactionManager;
        let event = self.event.as_failed(error, &self.endpoint);
        let recorded = async {
            Manager::begin_transaction(conn).await?;
            match event.record(conn).await {
                Ok(()) => Manager::commit_transaction(conn).await,
                Err(e) => {
                    let _ = Manager::rollback_transaction(conn).await;
                    Err(e)
                }
            }
        };
        if let Err(e) = recorded.await {
            tracing::warn!(
                error = %e,
                code = error.code.as_str(),
                "the audit event of a failed write could not be recorded"
            );
        }
    }
}

/// Action of the event of a write that failed (its own action, like
/// `access_denied`, so that what a write records when it succeeds keeps
/// meaning that it happened).
pub const WRITE_FAILED: &str = "write_failed";

/// What an attempt is called when no service named it.
pub const WRITE: &str = "write";

impl AuditEvent {
    /// The same attempt, recorded as failed: action `write_failed`, outcome
    /// `denied` for a 401 or 403 (a refusal no policy audited) and `error`
    /// otherwise, with the attempted action, the error code and status and
    /// the endpoint in the detail.
    pub fn as_failed(mut self, error: &ApiError, endpoint: &Endpoint) -> Self {
        let attempted = self.action;
        self.action = WRITE_FAILED;
        self.outcome = match error.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "denied",
            _ => "error",
        };
        if !self.detail.is_object() {
            self.detail = Value::Object(Default::default());
        }
        if let Value::Object(map) = &mut self.detail {
            map.insert("attempted".into(), attempted.into());
            map.insert("code".into(), error.code.as_str().into());
            map.insert("status".into(), error.status.as_u16().into());
            map.insert("method".into(), endpoint.method.as_str().into());
            map.insert("route".into(), endpoint.route.clone().into());
        }
        self
    }
}

tokio::task_local! {
    /// Whether the request being handled opened a transaction (which then
    /// records its own failure).
    static TRANSACTED: Cell<bool>;
}

/// Notes that the current request opened a transaction (see [`middleware`]).
pub fn transacted() {
    let _ = TRANSACTED.try_with(|t| t.set(true));
}

/// Records a write whose request failed before any transaction (see the
/// module header). Reads pass straight through.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !Endpoint::of(req.request()).writes() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let (res, ran) = TRANSACTED
        .scope(Cell::new(false), async {
            let res = next.call(req).await;
            (res, TRANSACTED.with(Cell::get))
        })
        .await;
    let res = res?.map_into_boxed_body();
    let status = res.status();
    let unrecorded = status.is_client_error()
        && !matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        );
    if !ran && unrecorded && res.request().match_pattern().is_some() {
        record_early_failure(&res).await;
    }
    Ok(res)
}

/// The failure of `res`, recorded if its token verifies and its session
/// is valid.
async fn record_early_failure(res: &ServiceResponse<BoxBody>) {
    let req = res.request();
    let Some(state) = req.app_data::<web::Data<Arc<AppState>>>() else {
        return;
    };
    // Checked here first so that a token the route never asked for (a
    // login that sends one) is not counted as an unauthenticated attempt.
    let verifies = bearer_token(req).is_some_and(|t| {
        state.tokens.verify(&t).is_some() || state.tokens.verify_client(&t).is_some()
    });
    let Some(Ok(bearer)) =
        verifies.then(|| Bearer::from_request(req, &mut Payload::None).into_inner())
    else {
        return;
    };
    let code = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .map_or(ErrorCode::HttpError, |e| e.code);
    let error = ApiError::new(res.status(), code, "");
    let recorded = state
        .transaction(async |tx| {
            let caller = tx.caller(&bearer).await?;
            let event = caller.event(WRITE, "endpoint", &bearer.request.path);
            event
                .as_failed(&error, &bearer.endpoint)
                .record(tx.conn)
                .await?;
            Ok(())
        })
        .await;
    match recorded {
        Ok(()) => {}
        // An ended session is counted as an unauthenticated attempt instead.
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {}
        Err(e) => tracing::warn!(
            error = %e,
            "the audit event of a failed write could not be recorded"
        ),
    }
}
