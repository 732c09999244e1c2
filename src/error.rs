//! The one error type of the HTTP layer. Every failure a client can see is an
//! [`ApiError`], rendered as RFC 9457 `application/problem+json` with a stable
//! `code` that front-ends translate and integrations branch on.
//!
//! Layers: domain parsing returns [`crate::domain::DomainError`]s collected
//! into [`ApiError::validation`]; database errors become `ApiError` through
//! [`From<diesel::result::Error>`], which maps the constraints of the schema to
//! their domain meaning (so a race lost at a unique index is a clean 409, not a
//! 500); anything unexpected is an internal error whose cause goes to the log,
//! never to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
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
    pub code: String,
    /// Human-readable reason.
    pub reason: String,
}

impl InvalidParam {
    pub fn new(
        name: impl Into<String>,
        code: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            code: code.into(),
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
    pub code: String,
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
    pub code: &'static str,
    pub detail: String,
    pub invalid_params: Vec<InvalidParam>,
    pub extra: Map<String, Value>,
    pub retry_after: Option<u64>,
    #[source]
    pub source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            invalid_params: Vec::new(),
            extra: Map::new(),
            retry_after: None,
            source: None,
        }
    }

    /// 400 with every offending field.
    pub fn validation(invalid_params: Vec<InvalidParam>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "The request contains invalid fields; see invalidParams.",
        );
        e.invalid_params = invalid_params;
        e
    }

    pub fn invalid_field(name: &str, code: &str, reason: &str) -> Self {
        Self::validation(vec![InvalidParam::new(name, code, reason)])
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found."),
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn version_mismatch() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "version_mismatch",
            "The resource was changed since you read it; fetch it again and retry with its new ETag.",
        )
    }

    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            detail,
        );
        e.retry_after = Some(1);
        e
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
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
    pub fn with_code(mut self, code: &'static str) -> Self {
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
                self.code.replace('_', "-")
            ),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            instance: ctx
                .as_ref()
                .map(|c| c.path.clone())
                .unwrap_or_else(|| "/".into()),
            code: self.code.to_owned(),
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
                        code = self.code,
                        error = format!("{source:#}"),
                        "request failed"
                    )
                }
                None => tracing::warn!(code = self.code, "request failed"),
            }
        } else if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = self.code, error = ?source, "request failed")
                }
                None => tracing::error!(code = self.code, "request failed"),
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

/// Maps database failures to their domain meaning. Constraint names are the
/// ones created in `migrations/`; a test exercises each mapping.
impl From<DieselError> for ApiError {
    fn from(err: DieselError) -> Self {
        if database_unavailable(&err) {
            let mut e =
                ApiError::service_unavailable("The database is unavailable; retry shortly.");
            e.source = Some(err.into());
            return e;
        }
        match &err {
            DieselError::NotFound => ApiError::not_found("Resource"),
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().unwrap_or_default();
                match (kind, constraint) {
                    (_, "plans_one_open_plan_per_family") => ApiError::conflict(
                        "plan_already_open",
                        "This family already has an open plan; close it before opening another.",
                    ),
                    (_, "family_members_one_active_family_per_child") => ApiError::conflict(
                        "bsn_in_other_family",
                        "A child with this BSN is already an active member of another family.",
                    ),
                    (_, "family_members_once_per_family") => ApiError::conflict(
                        "member_already_in_family",
                        "A person with this BSN is already an active member of this family.",
                    ),
                    (_, "director_assignments_one_current_per_plan")
                    | (_, "director_assignments_no_overlap")
                    | (_, "plans_active_iff_director") => ApiError::conflict(
                        "director_conflict",
                        "Another change to this plan's director happened at the same time; retry.",
                    ),
                    (_, "users_username_key") => {
                        ApiError::conflict("username_taken", "This username is already in use.")
                    }
                    (_, "municipalities_pkey") => ApiError::conflict(
                        "municipality_exists",
                        "A municipality with this code already exists.",
                    ),
                    (_, "teams_municipality_code_name_key") => ApiError::conflict(
                        "team_name_taken",
                        "The municipality already has a team with this name.",
                    ),
                    (_, "providers_agb_code_key") => ApiError::conflict(
                        "agb_code_taken",
                        "A provider with this AGB code is already registered.",
                    ),
                    (_, "involvements_once_at_a_time") => ApiError::conflict(
                        "involvement_exists",
                        "This provider already delivers this care form to this person in the plan.",
                    ),
                    (_, "plans_closed_without_care") => involvements_still_running(),
                    (_, "clients_name_key") => ApiError::conflict(
                        "client_name_taken",
                        "A client with this name is already registered.",
                    ),
                    (_, "plans_level_derived") => ApiError::conflict(
                        "concurrent_update",
                        "Another change to this plan's care happened at the same time; retry.",
                    ),
                    (DatabaseErrorKind::SerializationFailure, _) => ApiError::conflict(
                        "concurrent_update",
                        "A concurrent change conflicted with this request; retry.",
                    ),
                    (DatabaseErrorKind::ForeignKeyViolation, _) => ApiError::unprocessable(
                        "reference_not_found",
                        "The request refers to something that does not exist.",
                    ),
                    // A CHECK the request validation should have caught: the
                    // data is still safe, so answer 422 rather than 500, and
                    // warn so the missing validation gets added.
                    (DatabaseErrorKind::CheckViolation, name) => {
                        tracing::warn!(constraint = name, "CHECK violation reached the database");
                        ApiError::unprocessable(
                            "constraint_violated",
                            "A value is outside what the record allows.",
                        )
                    }
                    _ => ApiError::internal(err),
                }
            }
            _ => ApiError::internal(err),
        }
    }
}

/// Whether a database error means the connection or the server went away
/// (PostgreSQL stopped, restarted or crashed, the socket broke) rather than
/// that the request was wrong: a retry may well succeed, so the answer is
/// 503 `service_unavailable`, never a 500. The pool drops such connections
/// at their next checkout and opens fresh ones once PostgreSQL is back.
pub fn database_unavailable(err: &DieselError) -> bool {
    match err {
        // diesel-async reports a broken socket or a dead connection task as
        // "unable to send command".
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        DieselError::DatabaseError(_, info) => server_going_away(info.message()),
        // COMMIT failed and so did the ROLLBACK after it: the connection is gone.
        DieselError::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => database_unavailable(commit_error) || database_unavailable(rollback_error),
        // A transaction manager left broken by a lost connection.
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

/// PostgreSQL's words for SQLSTATE class 57P (admin shutdown, crash
/// shutdown, cannot connect now) and for a terminated session. diesel does
/// not pass the SQLSTATE on, so the message is what is left to go by; a
/// server configured with translated `lc_messages` answers the one request
/// caught mid-statement by a shutdown with a 500, and the next ones, which
/// find the connection closed, with a 503 as here.
fn server_going_away(message: &str) -> bool {
    ["terminating connection ", "the database system is "]
        .iter()
        .any(|prefix| message.starts_with(prefix))
}

/// 409 for closing a plan while care is still requested or running.
pub fn involvements_still_running() -> ApiError {
    ApiError::conflict(
        "involvements_active",
        "The plan still has requested or active involvements; end them before closing it.",
    )
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        let mut e = ApiError::service_unavailable("The database is unavailable; retry shortly.");
        e.source = Some(err.into());
        e
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::internal(err)
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Collects every invalid field of a request before answering, so a client
/// fixes all of them in one round trip.
#[derive(Debug, Default)]
pub struct Invalid(Vec<InvalidParam>);

impl Invalid {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value, or records why the field is invalid.
    pub fn check<T>(
        &mut self,
        name: &str,
        result: Result<T, crate::domain::DomainError>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(InvalidParam::new(name, e.code, e.reason));
                None
            }
        }
    }

    /// `check` for an optional input (a query filter, a PATCH field): an
    /// absent input stays `None`, a present one must parse.
    pub fn check_opt<I, T>(
        &mut self,
        name: &str,
        input: Option<I>,
        parse: impl FnOnce(I) -> Result<T, crate::domain::DomainError>,
    ) -> Option<Option<T>> {
        match input {
            None => Some(None),
            Some(i) => self.check(name, parse(i)).map(Some),
        }
    }

    pub fn push(&mut self, name: impl Into<String>, code: &str, reason: &str) {
        self.0.push(InvalidParam::new(name, code, reason));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// 400 with every recorded field, or all the checked values.
    pub fn finish<T: AllSome>(self, values: T) -> Result<T::Out, ApiError> {
        if !self.0.is_empty() {
            return Err(ApiError::validation(self.0));
        }
        values.all_some().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "a checked field was neither valid nor recorded"
            ))
        })
    }
}

/// Tuples of options that are all `Some` after a successful validation.
pub trait AllSome {
    type Out;
    fn all_some(self) -> Option<Self::Out>;
}

macro_rules! all_some_tuple {
    ($($t:ident),+) => {
        impl<$($t),+> AllSome for ($(Option<$t>,)+) {
            type Out = ($($t,)+);
            #[allow(non_snake_case)]
            fn all_some(self) -> Option<Self::Out> {
                let ($($t,)+) = self;
                Some(($($t?,)+))
            }
        }
    };
}
all_some_tuple!(A);
all_some_tuple!(A, B);
all_some_tuple!(A, B, C);
all_some_tuple!(A, B, C, D);
all_some_tuple!(A, B, C, D, E);
all_some_tuple!(A, B, C, D, E, F);
all_some_tuple!(A, B, C, D, E, F, G);
all_some_tuple!(A, B, C, D, E, F, G, H);

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_lost_or_shut_down_database_is_a_503_not_a_500() {
        let lost = [
            db_error(DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            db_error(
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection",
            ),
            db_error(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            db_error(
                DatabaseErrorKind::Unknown,
                "terminating connection because of crash of another server process",
            ),
            db_error(
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
            ),
            db_error(
                DatabaseErrorKind::Unknown,
                "the database system is starting up",
            ),
            DieselError::RollbackErrorOnCommit {
                rollback_error: Box::new(db_error(
                    DatabaseErrorKind::UnableToSendCommand,
                    "connection closed",
                )),
                commit_error: Box::new(db_error(
                    DatabaseErrorKind::Unknown,
                    "terminating connection due to administrator command",
                )),
            },
            DieselError::BrokenTransactionManager,
        ];
        for err in lost {
            let text = err.to_string();
            let api = ApiError::from(err);
            assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
            assert_eq!(api.code, "service_unavailable", "{text}");
            assert_eq!(api.retry_after, Some(1), "{text}");
        }
    }

    #[test]
    fn other_database_errors_keep_their_meaning() {
        let unknown = ApiError::from(db_error(DatabaseErrorKind::Unknown, "division by zero"));
        assert_eq!(unknown.status, StatusCode::INTERNAL_SERVER_ERROR);
        let serialization = ApiError::from(db_error(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access",
        ));
        assert_eq!(serialization.code, "concurrent_update");
        assert_eq!(ApiError::from(DieselError::NotFound).code, "not_found");
    }

    #[test]
    fn no_free_connection_in_time_is_a_503() {
        let err: diesel_async::pooled_connection::deadpool::PoolError =
            deadpool::managed::PoolError::Timeout(deadpool::managed::TimeoutType::Wait);
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.code, "service_unavailable");
    }

    #[test]
    fn an_extra_member_never_repeats_a_standard_one() {
        let error = ApiError::conflict("referral_decided", "Decided.")
            .with_extra("status", "declined")
            .with_extra("referralStatus", "declined");

        let text = serde_json::to_string(&error.to_problem()).unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or_default();

        assert_eq!(text.matches("\"status\"").count(), 1, "{text}");
        assert_eq!(value["status"], 409);
        assert_eq!(value["referralStatus"], "declined");
    }
}
