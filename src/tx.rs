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
//! wrote is the refusal's event. Every other error rolls back.
//!
//! Requests that must not hold a connection all along are the exceptions,
//! named in `tests/api/connections.rs` with their reasons: a login hashes a
//! password between its two short transactions, and an export streams on a
//! connection of its own.

use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};

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
}

/// How often a transaction that lost a race against a concurrent change of
/// the same family is run again before the conflict is answered.
pub const CONFLICT_ATTEMPTS: u32 = 3;

impl AppState {
    /// Runs `work` in one transaction on one pooled connection; commits
    /// when it succeeds or ends in an audited refusal, rolls back otherwise.
    pub async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&mut Tx<'_>) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut conn = self.db().await?;
        run(&mut conn, self, work).await
    }

    /// As [`AppState::transaction`], running `work` again (on the same
    /// connection, in a new transaction) while it loses a race it can win
    /// on a second try ([`crate::error::ErrorCode::is_retryable_conflict`]),
    /// at most [`CONFLICT_ATTEMPTS`] times in all.
    pub async fn transaction_retrying<T>(
        &self,
        mut work: impl AsyncFnMut(&mut Tx<'_>) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut conn = self.db().await?;
        let mut attempt = 1;
        loop {
            match run(&mut conn, self, async |tx| work(tx).await).await {
                Err(e) if attempt < CONFLICT_ATTEMPTS && e.code.is_retryable_conflict() => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// diesel-async's `transaction`, with one change: an audited refusal
/// commits. (Driving the transaction manager directly also spares `work`
/// the `Send` bound `transaction` puts on its future.)
async fn run<T>(
    conn: &mut AsyncPgConnection,
    app: &AppState,
    work: impl AsyncFnOnce(&mut Tx<'_>) -> ApiResult<T>,
) -> ApiResult<T> {
    type Manager = <AsyncPgConnection as AsyncConnection>::TransactionManager;
    Manager::begin_transaction(conn).await?;
    let outcome = work(&mut Tx {
        conn: &mut *conn,
        app,
    })
    .await;
    match outcome {
        Ok(value) => {
            Manager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(refusal) if refusal.audited_refusal => {
            Manager::commit_transaction(conn).await?;
            Err(refusal)
        }
        Err(error) => match Manager::rollback_transaction(conn).await {
            // A broken transaction manager: the original error says more.
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
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
                principal::authenticate_user(self.conn, claims, bearer.request.clone()).await
            }
            Claims::Client(claims) => {
                let client =
                    client::authenticate_client(self.conn, claims, bearer.request.clone()).await?;
                let event = client::on_user_endpoint(&client);
                Err(self.refuse(event, client::not_on_user_endpoints()).await)
            }
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
        Ok((me, event))
    }

    /// The user or machine client of `bearer`, if still valid.
    pub async fn caller(&mut self, bearer: &Bearer) -> ApiResult<Caller> {
        match &bearer.claims {
            Claims::User(claims) => Ok(Caller::User(
                principal::authenticate_user(self.conn, claims, bearer.request.clone()).await?,
            )),
            Claims::Client(claims) => Ok(Caller::Client(
                client::authenticate_client(self.conn, claims, bearer.request.clone()).await?,
            )),
        }
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
            Ok(()) => Ok(()),
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
