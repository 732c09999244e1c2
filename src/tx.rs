//! One request, one connection, one transaction.
//!
//! Every service function runs its request as a [`Tx`]: one connection
//! checked out of the pool once, one database transaction on it. In that
//! transaction the caller's session is checked ([`Tx::user`],
//! [`Tx::caller`]), the facts that decide access are loaded, the pure
//! policy decides ([`Tx::enforce`]), rows are locked and changed, derived
//! state and signals follow, and the audit event is written. So what was
//! authorised is what gets changed, a change never commits without its
//! event, and a request never holds two connections (a burst of requests
//! cannot deadlock the pool waiting for their second one).
//!
//! A refusal commits too: [`Tx::enforce`] writes the `access_denied` event
//! and returns an error marked as an audited refusal, for which the
//! transaction is committed and the error answered. That is sound because
//! authorisation comes before any change: the only row such a transaction
//! wrote is the refusal's event. Every other error rolls back; when an
//! authenticated caller was writing, the attempt is then recorded as
//! `write_failed` in a second short transaction on the same connection
//! ([`crate::audit::failures`]), so the failed change stays absent and the
//! failure does not go unrecorded.
//!
//! Requests that must not hold a connection all along are the exceptions,
//! named in `tests/api/connections.rs` with their reasons: a login hashes a
//! password between its two short transactions, and an export streams on a
//! connection of its own.

use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};

use crate::audit::failures::{self, Attempt, WRITE};
use crate::audit::AuditEvent;
use crate::auth::client::{self, Caller};
use crate::auth::policy::Denial;
use crate::auth::principal::{self, Bearer, Claims, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The request's transaction: its connection and the application state.
pub struct Tx<'c> {
    /// The transaction's connection, for `queries` functions.
    pub conn: &'c mut AsyncPgConnection,
    pub app: &'c AppState,
    /// What an authenticated caller is writing, recorded if the write fails.
    attempt: Option<Attempt>,
}

/// How often a transaction that lost a race against a concurrent change of
/// the same family is run again before the conflict is answered.
pub const CONFLICT_ATTEMPTS: u32 = 3;

impl AppState {
    /// Runs `work` in one transaction on one pooled connection; commits
    /// when it succeeds or ends in an audited refusal, rolls back otherwise
    /// (and then records a failed write, see [`crate::audit::failures`]).
    pub async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&mut Tx<'_>) -> ApiResult<T>,
    ) -> ApiResult<T> {
        failures::transacted();
        let mut conn = self.db().await?;
        match run(&mut conn, self, work).await {
            Ok(value) => Ok(value),
            Err(failed) => Err(failed.recorded(&mut conn).await),
        }
    }

    /// As [`AppState::transaction`], running `work` again (on the same
    /// connection, in a new transaction) while it loses a race it can win
    /// on a second try ([`crate::error::ErrorCode::is_retryable_conflict`]),
    /// at most [`CONFLICT_ATTEMPTS`] times in all. Only the last failure is
    /// recorded: the ones before were not answered.
    pub async fn transaction_retrying<T>(
        &self,
        mut work: impl AsyncFnMut(&mut Tx<'_>) -> ApiResult<T>,
    ) -> ApiResult<T> {
        failures::transacted();
        let mut conn = self.db().await?;
        let mut attempt = 1;
        loop {
            match run(&mut conn, self, async |tx| work(tx).await).await {
                Ok(value) => return Ok(value),
                Err(f) if attempt < CONFLICT_ATTEMPTS && f.error.code.is_retryable_conflict() => {
                    attempt += 1;
                }
                Err(failed) => return Err(failed.recorded(&mut conn).await),
            }
        }
    }
}

/// A transaction that ended in an error, and the write it attempted if
/// that is to be recorded (after a rollback that left the connection fit
/// for another transaction).
struct Failed {
    error: ApiError,
    attempt: Option<Attempt>,
}

impl Failed {
    fn bare(error: ApiError) -> Self {
        Self {
            error,
            attempt: None,
        }
    }

    /// Records the failed write, if any, and gives the error to answer.
    async fn recorded(self, conn: &mut AsyncPgConnection) -> ApiError {
        if let Some(attempt) = self.attempt {
            attempt.record_failure(conn, &self.error).await;
        }
        self.error
    }
}

/// diesel-async's `transaction`, with two changes: an audited refusal
/// commits, and a failure hands back the write it attempted. (Driving the
/// transaction manager directly also spares `work` the `Send` bound
/// `transaction` puts on its future.)
async fn run<T>(
    conn: &mut AsyncPgConnection,
    app: &AppState,
    work: impl AsyncFnOnce(&mut Tx<'_>) -> ApiResult<T>,
) -> Result<T, Failed> {
    type Manager = <AsyncPgConnection as AsyncConnection>::TransactionManager;
    Manager::begin_transaction(conn)
        .await
        .map_err(|e| Failed::bare(e.into()))?;
    let mut tx = Tx {
        conn: &mut *conn,
        app,
        attempt: None,
    };
    let outcome = work(&mut tx).await;
    let attempt = tx.attempt.take();
    // A COMMIT that fails (a deferred constraint) has rolled back: the
    // write failed as surely as one whose statement failed.
    match outcome {
        Ok(value) => match Manager::commit_transaction(conn).await {
            Ok(()) => Ok(value),
            Err(e) => Err(Failed {
                error: e.into(),
                attempt,
            }),
        },
        Err(refusal) if refusal.audited_refusal => {
            Manager::commit_transaction(conn)
                .await
                .map_err(|e| Failed::bare(e.into()))?;
            Err(Failed::bare(refusal))
        }
        Err(error) => match Manager::rollback_transaction(conn).await {
            Ok(()) => Err(Failed { error, attempt }),
            // A broken transaction manager: the original error says more,
            // and the connection is fit for nothing more.
            Err(diesel::result::Error::BrokenTransactionManager) => Err(Failed::bare(error)),
            Err(rollback) => Err(Failed::bare(rollback.into())),
        },
    }
}

impl Tx<'_> {
    /// The logged-in user of `bearer`, if its session is still valid. A
    /// machine client's token is refused here (403, audited): clients only
    /// use the referral endpoints, which ask for [`Tx::caller`].
    pub async fn user(&mut self, bearer: &Bearer) -> ApiResult<Principal> {
        match &bearer.claims {
            Claims::User(claims) => {
                let me = principal::authenticate_user(self.conn, claims, bearer.request.clone())
                    .await
                    .inspect_err(|e| self.app.attempts.session_ended(bearer, e))?;
                self.attempting(bearer, || {
                    AuditEvent::by(&me, WRITE, "endpoint", path(bearer))
                });
                Ok(me)
            }
            Claims::Client(claims) => {
                let client = client::authenticate_client(self.conn, claims, bearer.request.clone())
                    .await
                    .inspect_err(|e| self.app.attempts.session_ended(bearer, e))?;
                let event = client::on_user_endpoint(&client);
                Err(self.refuse(event, client::not_on_user_endpoints()).await)
            }
        }
    }

    /// Keeps what the caller of `bearer` is writing (nothing for a read), so
    /// that a failure is recorded ([`crate::audit::failures`]).
    fn attempting(&mut self, bearer: &Bearer, event: impl FnOnce() -> AuditEvent) {
        if bearer.endpoint.writes() {
            self.attempt = Some(Attempt::new(event(), &bearer.endpoint));
        }
    }

    /// The logged-in user of `bearer` and the audit event of what it is
    /// doing (`action` on `resource` `id`): what a service records when the
    /// action succeeds, and what [`Tx::enforce`] records when it is refused.
    pub async fn user_doing(
        &mut self,
        bearer: &Bearer,
        action: &'static str,
        resource: &'static str,
        id: impl ToString,
    ) -> ApiResult<(Principal, AuditEvent)> {
        let me = self.user(bearer).await?;
        let event = AuditEvent::by(&me, action, resource, id);
        self.attempting(bearer, || event.clone());
        Ok((me, event))
    }

    /// The user or machine client of `bearer`, if still valid.
    pub async fn caller(&mut self, bearer: &Bearer) -> ApiResult<Caller> {
        let caller = match &bearer.claims {
            Claims::User(claims) => {
                principal::authenticate_user(self.conn, claims, bearer.request.clone())
                    .await
                    .map(Caller::User)
            }
            Claims::Client(claims) => {
                client::authenticate_client(self.conn, claims, bearer.request.clone())
                    .await
                    .map(Caller::Client)
            }
        }
        .inspect_err(|e| self.app.attempts.session_ended(bearer, e))?;
        self.attempting(bearer, || caller.event(WRITE, "endpoint", path(bearer)));
        Ok(caller)
    }

    /// Applies a policy decision: on refusal the attempt is audited as
    /// `access_denied` (in this transaction, which then commits) and the
    /// matching 403 or 404 returned, naming the resource `what`.
    pub async fn enforce(
        &mut self,
        decision: Result<(), Denial>,
        what: &str,
        event: AuditEvent,
    ) -> ApiResult<()> {
        match decision {
            Ok(()) => {
                // The service's event names the resource better than the
                // endpoint does: a failure later on is recorded with it.
                if let Some(attempt) = &mut self.attempt {
                    attempt.event = event;
                }
                Ok(())
            }
            Err(denial) => Err(self.deny(denial, what, event).await),
        }
    }

    /// A refusal: the attempt audited as `access_denied` (in this
    /// transaction, which then commits) and its 403 or 404.
    pub async fn deny(&mut self, denial: Denial, what: &str, event: AuditEvent) -> ApiError {
        self.refuse(event.as_access_denied(), denial.into_error(what))
            .await
    }

    /// Records `event` (a refusal's) and returns `error` marked so that the
    /// transaction commits with the event.
    pub async fn refuse(&mut self, event: AuditEvent, mut error: ApiError) -> ApiError {
        match event.record(self.conn).await {
            Ok(()) => {
                error.audited_refusal = true;
                error
            }
            Err(e) => e.into(),
        }
    }
}

/// The request path, ids and all: what a write no service named is about.
fn path(bearer: &Bearer) -> &str {
    &bearer.request.path
}
