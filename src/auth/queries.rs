//! Reads and writes of sessions, refresh tokens, machine clients and the
//! lockout counters. Plain queries: they return `QueryResult` and leave
//! every decision to their callers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int4, Int8, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::admin::model::ClientRow;
use crate::config::AuthSettings;
use crate::db::schema::{
    auth_sessions, client_municipalities, clients, login_failures, refresh_tokens,
    user_served_municipalities, users,
};
use crate::domain::{ClientId, ProviderId, Role, SessionId, TeamId, UserId};

/// A session with its user, as a request's authentication needs it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct SessionRow {
    #[diesel(column_name = id)]
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: Option<String>,
    pub team_id: Option<TeamId>,
    pub active: bool,
    #[diesel(select_expression = auth_sessions::revoked_at)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[diesel(select_expression = auth_sessions::expires_at)]
    pub expires_at: DateTime<Utc>,
    pub provider_id: Option<ProviderId>,
}

/// Session `session` of user `user`, if both exist.
pub async fn session_of(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    user: UserId,
) -> QueryResult<Option<SessionRow>> {
    auth_sessions::table
        .inner_join(users::table)
        .filter(auth_sessions::id.eq(session))
        .filter(users::id.eq(user))
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The municipalities a GI worker serves besides its own.
pub async fn served_municipalities(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> QueryResult<Vec<String>> {
    user_served_municipalities::table
        .filter(user_served_municipalities::user_id.eq(user))
        .select(user_served_municipalities::municipality_code)
        .load(conn)
        .await
}

/// A machine client as stored (its secrets and municipalities apart).
pub async fn client(conn: &mut AsyncPgConnection, id: ClientId) -> QueryResult<Option<ClientRow>> {
    clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The municipalities a client refers to.
pub async fn client_municipalities(
    conn: &mut AsyncPgConnection,
    id: ClientId,
) -> QueryResult<Vec<String>> {
    client_municipalities::table
        .filter(client_municipalities::client_id.eq(id))
        .select(client_municipalities::municipality_code)
        .load(conn)
        .await
}

/// What a client's token request checks: its secret's hash, scopes,
/// whether it is active, and its organisation.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientSecretRow {
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub active: bool,
    pub organisation_name: String,
}

pub async fn client_secret(
    conn: &mut AsyncPgConnection,
    id: ClientId,
) -> QueryResult<Option<ClientSecretRow>> {
    clients::table
        .find(id)
        .select(ClientSecretRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// What a login checks about an account.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct LoginRow {
    pub id: UserId,
    pub password_hash: String,
    pub role: Role,
    pub active: bool,
    pub municipality_code: Option<String>,
    /// False while admin-set credentials await a team lead's approval
    /// (`admin::approvals`): the login is refused.
    pub approved: bool,
}

/// The account a login names, matched without regard to case.
pub async fn login_account(
    conn: &mut AsyncPgConnection,
    lowercase_username: &str,
) -> QueryResult<Option<LoginRow>> {
    users::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(username) = ")
                .bind::<Text, _>(lowercase_username),
        )
        .select(LoginRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// What reserving a password check came to.
pub enum Reservation {
    /// The check may run; it is counted already.
    Granted,
    /// `key` is locked for this many more seconds: no check runs.
    Locked(u64),
}

#[derive(QueryableByName)]
struct Reserved {
    #[diesel(sql_type = Int4)]
    #[allow(dead_code)]
    failure_count: i32,
}

/// Reserves one password check for `key` (a lowercased username, or
/// `client:<id>`) before the hash runs, or says how long `key` is locked.
///
/// Issue 15 item 4: counting failures after the hash let any number of
/// concurrent attempts past a check of the lock made before them. Here the
/// reservation is one conditional upsert: concurrent ones queue on the row
/// lock and each sees the count the one before it left, so no more than
/// `lockout_threshold` checks run per window, however many arrive at once.
/// The check that reaches the threshold locks `key` at once; if it turns
/// out right, [`finish_success`] lifts the lock again.
pub async fn reserve_check(
    conn: &mut AsyncPgConnection,
    key: &str,
    settings: &AuthSettings,
) -> QueryResult<Reservation> {
    let reserved: Option<Reserved> = diesel::sql_query(
        "INSERT INTO login_failures AS lf
           (username_key, failure_count, window_started_at, locked_until, checks_in_flight)
         VALUES ($1, 1, now(), CASE WHEN 1 >= $3 THEN now() + make_interval(mins => $4::int) END, 1)
         ON CONFLICT (username_key) DO UPDATE SET
           failure_count = CASE WHEN lf.window_started_at < now() - make_interval(mins => $2::int)
                                THEN 1 ELSE lf.failure_count + 1 END,
           window_started_at = CASE WHEN lf.window_started_at < now() - make_interval(mins => $2::int)
                                THEN now() ELSE lf.window_started_at END,
           checks_in_flight = CASE WHEN lf.window_started_at < now() - make_interval(mins => $2::int)
                                THEN 1 ELSE lf.checks_in_flight + 1 END,
           locked_until = CASE WHEN (CASE WHEN lf.window_started_at < now() - make_interval(mins => $2::int)
                                          THEN 1 ELSE lf.failure_count + 1 END) >= $3
                               THEN now() + make_interval(mins => $4::int) END
         WHERE lf.locked_until IS NULL OR lf.locked_until <= now()
         RETURNING failure_count",
    )
    .bind::<Text, _>(key)
    .bind::<Int8, _>(settings.lockout_window_minutes)
    .bind::<Int4, _>(settings.lockout_threshold)
    .bind::<Int8, _>(settings.lockout_minutes)
    .get_result(conn)
    .await
    .optional()?;
    if reserved.is_some() {
        return Ok(Reservation::Granted);
    }
    let locked_until: Option<Option<DateTime<Utc>>> = login_failures::table
        .find(key)
        .select(login_failures::locked_until)
        .first(conn)
        .await
        .optional()?;
    let seconds = locked_until
        .flatten()
        .map(|until| (until - Utc::now()).num_seconds())
        .unwrap_or(0);
    Ok(Reservation::Locked(seconds.max(1) as u64))
}

/// Ends a reserved check that failed: it stays counted in the window.
pub async fn finish_failure(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<()> {
    diesel::update(login_failures::table.find(key))
        .filter(login_failures::checks_in_flight.gt(0))
        .set(login_failures::checks_in_flight.eq(login_failures::checks_in_flight - 1))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Gives back a reserved check that never ran (the login queue was full):
/// it no longer counts, nor does the lock it may have set.
pub async fn release_check(
    conn: &mut AsyncPgConnection,
    key: &str,
    settings: &AuthSettings,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE login_failures SET
           failure_count = greatest(failure_count - 1, 0),
           checks_in_flight = greatest(checks_in_flight - 1, 0),
           locked_until = CASE WHEN failure_count - 1 >= $2 THEN locked_until END
         WHERE username_key = $1 AND checks_in_flight > 0",
    )
    .bind::<Text, _>(key)
    .bind::<Int4, _>(settings.lockout_threshold)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Ends a reserved check that succeeded. The window (and any lock) is
/// forgotten only when no other check of `key` is still running: a right
/// password among a concurrent burst must not hand the burst a fresh
/// window of checks.
pub async fn finish_success(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<()> {
    finish_failure(conn, key).await?;
    diesel::delete(login_failures::table.find(key))
        .filter(login_failures::checks_in_flight.eq(0))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Opens a session for `user` that ends at `expires_at`.
pub async fn insert_session(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    user: UserId,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(auth_sessions::table)
        .values((
            auth_sessions::id.eq(id),
            auth_sessions::user_id.eq(user),
            auth_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Stores the hash of a new refresh token of `session`.
pub async fn insert_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    session: SessionId,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::session_id.eq(session),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// A refresh token with its session and user, locked for its exchange.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub session_id: SessionId,
    pub used_at: Option<DateTime<Utc>>,
    #[diesel(select_expression = users::id)]
    pub user_id: UserId,
    #[diesel(select_expression = auth_sessions::revoked_at)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[diesel(select_expression = auth_sessions::expires_at)]
    pub expires_at: DateTime<Utc>,
    #[diesel(select_expression = users::role)]
    pub role: Role,
    #[diesel(select_expression = users::active)]
    pub active: bool,
    #[diesel(select_expression = users::municipality_code)]
    pub municipality_code: Option<String>,
}

pub async fn lock_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<RefreshRow>> {
    refresh_tokens::table
        .inner_join(auth_sessions::table.inner_join(users::table))
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Marks a refresh token spent.
pub async fn spend_refresh_token(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<()> {
    diesel::update(refresh_tokens::table.find(hash))
        .set(refresh_tokens::used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Revokes a session (if it is not already) for `reason`.
pub async fn revoke_session(
    conn: &mut AsyncPgConnection,
    session: SessionId,
    reason: &str,
) -> QueryResult<()> {
    diesel::update(auth_sessions::table.find(session))
        .filter(auth_sessions::revoked_at.is_null())
        .set((
            auth_sessions::revoked_at.eq(diesel::dsl::now),
            auth_sessions::revoked_reason.eq(reason),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}
