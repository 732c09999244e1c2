//! Database failures in their domain meaning: the constraints of the schema
//! (`migrations/`) mapped to stable codes, so a race lost at a unique index
//! is a clean 409 and a lost database a 503, never a 500.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::{ApiError, ErrorCode};

/// The constraints of the schema whose violation has a domain meaning: its
/// name (as created in `migrations/`), the code and the sentence answered
/// with 409. A test exercises each.
const CONFLICTS: &[(&str, ErrorCode, &str)] = &[
    (
        "plans_one_open_plan_per_family",
        ErrorCode::PlanAlreadyOpen,
        "This family already has an open plan; close it before opening another.",
    ),
    (
        "family_members_one_active_family_per_child",
        ErrorCode::BsnInOtherFamily,
        "A child with this BSN is already an active member of another family.",
    ),
    (
        "family_members_once_per_family",
        ErrorCode::MemberAlreadyInFamily,
        "A person with this BSN is already an active member of this family.",
    ),
    (
        "director_assignments_one_current_per_plan",
        ErrorCode::DirectorConflict,
        DIRECTOR_CONFLICT,
    ),
    (
        "director_assignments_no_overlap",
        ErrorCode::DirectorConflict,
        DIRECTOR_CONFLICT,
    ),
    (
        "plans_active_iff_director",
        ErrorCode::DirectorConflict,
        DIRECTOR_CONFLICT,
    ),
    (
        "users_username_key",
        ErrorCode::UsernameTaken,
        "This username is already in use.",
    ),
    (
        "municipalities_pkey",
        ErrorCode::MunicipalityExists,
        "A municipality with this code already exists.",
    ),
    (
        "teams_municipality_code_name_key",
        ErrorCode::TeamNameTaken,
        "The municipality already has a team with this name.",
    ),
    (
        "providers_agb_code_key",
        ErrorCode::AgbCodeTaken,
        "A provider with this AGB code is already registered.",
    ),
    (
        "involvements_once_at_a_time",
        ErrorCode::InvolvementExists,
        "This provider already delivers this care form to this person in the plan.",
    ),
    (
        "plans_closed_without_care",
        ErrorCode::InvolvementsActive,
        INVOLVEMENTS_ACTIVE,
    ),
    (
        "involvements_awaiting_not_started",
        ErrorCode::ReferralNotAccepted,
        "This care was requested by a referral that is not accepted yet; accept the referral first.",
    ),
    (
        "clients_name_key",
        ErrorCode::ClientNameTaken,
        "A client with this name is already registered.",
    ),
    (
        "plans_level_derived",
        ErrorCode::ConcurrentUpdate,
        "Another change to this plan's care happened at the same time; retry.",
    ),
];

const DIRECTOR_CONFLICT: &str =
    "Another change to this plan's director happened at the same time; retry.";
const INVOLVEMENTS_ACTIVE: &str =
    "The plan still has requested or active involvements; end them before closing it.";

/// Maps database failures to their domain meaning (see [`CONFLICTS`]): a
/// race lost at a constraint is a 409, a lost database a 503.
impl From<DieselError> for ApiError {
    fn from(err: DieselError) -> Self {
        if database_unavailable(&err) {
            let mut e =
                ApiError::service_unavailable("The database is unavailable; retry shortly.");
            e.source = Some(err.into());
            return e;
        }
        let DieselError::DatabaseError(kind, info) = &err else {
            return match err {
                DieselError::NotFound => ApiError::not_found("Resource"),
                other => ApiError::internal(other),
            };
        };
        let constraint = info.constraint_name().unwrap_or_default();
        if let Some((_, code, detail)) = CONFLICTS.iter().find(|(name, ..)| *name == constraint) {
            return ApiError::conflict(*code, *detail);
        }
        match kind {
            DatabaseErrorKind::SerializationFailure => ApiError::conflict(
                ErrorCode::ConcurrentUpdate,
                "A concurrent change conflicted with this request; retry.",
            ),
            DatabaseErrorKind::ForeignKeyViolation => ApiError::unprocessable(
                ErrorCode::ReferenceNotFound,
                "The request refers to something that does not exist.",
            ),
            // A CHECK the request validation should have caught: the data
            // is still safe, so answer 422 rather than 500, and warn so the
            // missing validation gets added.
            DatabaseErrorKind::CheckViolation => {
                tracing::warn!(constraint, "CHECK violation reached the database");
                ApiError::unprocessable(
                    ErrorCode::ConstraintViolated,
                    "A value is outside what the record allows.",
                )
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
    ApiError::conflict(ErrorCode::InvolvementsActive, INVOLVEMENTS_ACTIVE)
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        let mut e = ApiError::service_unavailable("The database is unavailable; retry shortly.");
        e.source = Some(err.into());
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;

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
            assert_eq!(api.code, ErrorCode::ServiceUnavailable, "{text}");
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
        assert_eq!(serialization.code, ErrorCode::ConcurrentUpdate);
        assert_eq!(
            ApiError::from(DieselError::NotFound).code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn no_free_connection_in_time_is_a_503() {
        let err: diesel_async::pooled_connection::deadpool::PoolError =
            deadpool::managed::PoolError::Timeout(deadpool::managed::TimeoutType::Wait);
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.code, ErrorCode::ServiceUnavailable);
    }
}
