//! The one error type of the HTTP layer. Every failure a client can see is an
//! [`ApiError`], rendered as RFC 9457 `application/problem+json` with a stable
//! `code` that front-ends translate and integrations branch on.
//!
//! Layers: `queries` return diesel's `QueryResult` (or a domain error);
//! services and handlers return [`ApiResult`]. Domain parsing and
//! `validator` checks are collected by [`Invalid`] into one
//! [`ApiError::validation`]; database errors become `ApiError` in
//! [`database`], which maps the constraints of the schema to their domain
//! meaning (so a race lost at a unique index is a clean 409, not a 500);
//! anything unexpected is an internal error whose cause goes to the log,
//! never to the client. Every code is an [`ErrorCode`].

pub mod database;
pub mod invalid;

pub use crate::domain::ErrorCode;
pub use database::{database_unavailable, involvements_still_running};
pub use invalid::{checked, validate, Invalid};

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::http::request_context;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending input field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InvalidParam {
    /// Field path, e.g. `members[0].bsn`, or the query/path parameter name.
    pub name: String,
    /// Stable machine code, e.g. `invalid_bsn`, `required`, `unknown_field`.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub reason: String,
}

impl InvalidParam {
    pub fn new(name: impl Into<String>, code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            code,
            reason: reason.into(),
        }
    }
}

/// RFC 9457 problem details, as sent to clients.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// URI identifying the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// URI of this occurrence (the request path).
    pub instance: String,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Request id, as in the `X-Request-Id` header and the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Offending fields, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_params: Option<Vec<InvalidParam>>,
    /// Extra members specific to the code (for example `openPlanId`).
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {detail}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub invalid_params: Vec<InvalidParam>,
    pub extra: Map<String, Value>,
    pub retry_after: Option<u64>,
    /// A refusal whose `access_denied` audit event was written in the
    /// request's transaction: that transaction commits (it changed nothing
    /// else) although the request fails. See [`crate::tx`].
    pub(crate) audited_refusal: bool,
    #[source]
    pub source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            invalid_params: Vec::new(),
            extra: Map::new(),
            retry_after: None,
            audited_refusal: false,
            source: None,
        }
    }

    /// 400 with every offending field.
    pub fn validation(invalid_params: Vec<InvalidParam>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            "The request contains invalid fields; see invalidParams.",
        );
        e.invalid_params = invalid_params;
        e
    }

    pub fn invalid_field(name: &str, code: ErrorCode, reason: &str) -> Self {
        Self::validation(vec![InvalidParam::new(name, code, reason)])
    }

    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found."),
        )
    }

    pub fn conflict(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn unprocessable(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn version_mismatch() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::VersionMismatch,
            "The resource was changed since you read it; fetch it again and retry with its new ETag.",
        )
    }

    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            detail,
        );
        e.retry_after = Some(1);
        e
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "An unexpected error occurred; it has been logged with the request id.",
        );
        e.source = Some(source.into());
        e
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The same error under a more specific stable code.
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn title(&self) -> &'static str {
        title_for(self.status)
    }

    /// The problem document for this error in the current request.
    pub fn to_problem(&self) -> Problem {
        let ctx = request_context::current();
        Problem {
            type_: format!(
                "https://gezinsregie.nl/problems/{}",
                self.code.as_str().replace('_', "-")
            ),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            instance: ctx
                .as_ref()
                .map(|c| c.path.clone())
                .unwrap_or_else(|| "/".into()),
            code: self.code,
            request_id: ctx.map(|c| c.request_id),
            invalid_params: (!self.invalid_params.is_empty()).then(|| self.invalid_params.clone()),
            // An extra named like a standard member would repeat that key in
            // the document (a 409 once carried `"status": "declined"` after
            // `"status": 409`, and parsers keep the last): the standard one wins.
            extra: self
                .extra
                .iter()
                .filter(|(key, _)| !PROBLEM_MEMBERS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }
    }
}

/// The members every problem document has (or may have) by itself.
const PROBLEM_MEMBERS: &[&str] = &[
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "code",
    "requestId",
    "invalidParams",
];

pub fn title_for(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // An outage (PostgreSQL restarting, the pool exhausted) is an
            // operating condition, not a bug: one line per request, with
            // the cause chain but without a backtrace, so an outage does
            // not bury the log under errors.
            match &self.source {
                Some(source) => {
                    tracing::warn!(
                        code = self.code.as_str(),
                        error = format!("{source:#}"),
                        "request failed"
                    )
                }
                None => tracing::warn!(code = self.code.as_str(), "request failed"),
            }
        } else if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = self.code.as_str(), error = ?source, "request failed")
                }
                None => tracing::error!(code = self.code.as_str(), "request failed"),
            }
        }
        let mut builder = HttpResponse::build(self.status);
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_else(|_| b"{}".to_vec());
        builder.body(body)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::internal(err)
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_member_never_repeats_a_standard_one() {
        let error = ApiError::conflict(ErrorCode::ReferralDecided, "Decided.")
            .with_extra("status", "declined")
            .with_extra("referralStatus", "declined");

        let text = serde_json::to_string(&error.to_problem()).unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or_default();

        assert_eq!(text.matches("\"status\"").count(), 1, "{text}");
        assert_eq!(value["status"], 409);
        assert_eq!(value["referralStatus"], "declined");
    }
}
