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

use actix_web::http::{Method, StatusCode};
use actix_web::HttpRequest;
use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};
use serde_json::Value;

use super::AuditEvent;
use crate::error::ApiError;

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
