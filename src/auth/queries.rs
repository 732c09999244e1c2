//! Reads and writes of sessions, refresh tokens, machine clients and the
//! lockout counters. Plain queries: they return `QueryResult` and leave
//! every decision to their callers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int4, Int8, Nullable, Text, Timestamptz};
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

/// Seconds `key` (a lowercased username, or `client:<id>`) stays locked,
/// if it is.
pub async fn locked_for(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<Option<u64>> {
    let locked_until: Option<Option<DateTime<Utc>>> = login_failures::table
        .find(key)
        .select(login_failures::locked_until)
        .first(conn)
        .await
        .optional()?;
    Ok(locked_until
        .flatten()
        .map(|until| (until - Utc::now()).num_seconds())
        .filter(|s| *s > 0)
        .map(|s| s as u64))
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_until: Option<DateTime<Utc>>,
}

/// Counts a failure for `key` within the lockout window; returns until
/// when it is locked, if this failure locked it.
pub async fn count_failure(
    conn: &mut AsyncPgConnection,
    key: &str,
    settings: &AuthSettings,
) -> QueryResult<Option<DateTime<Utc>>> {
    let row: Locked = diesel::sql_query(
        "INSERT INTO login_failures AS lf (username_key, failure_count, window_started_at, locked_until)
         VALUES ($1, 1, now(), CASE WHEN 1 >= $3 THEN now() + make_interval(mins => $4::int) END)
         ON CONFLICT (username_key) DO UPDATE SET
           failure_count = CASE WHEN lf.window_started_at < now() - make_interval(mins => $2::int)
                                THEN 1 ELSE lf.failure_count + 1 END,
           window_started_at = CASE WHEN lf.window_started_at < now() - make_interval(mins => $2::int)
                                THEN now() ELSE lf.window_started_at END,
           locked_until = CASE WHEN (CASE WHEN lf.window_started_at < now() - make_interval(mins => $2::int)
                                          THEN 1 ELSE lf.failure_count + 1 END) >= $3
                               THEN now() + make_interval(mins => $4::int) END
         RETURNING locked_until",
    )
    .bind::<Text, _>(key)
    .bind::<Int8, _>(settings.lockout_window_minutes)
    .bind::<Int4, _>(settings.lockout_threshold)
    .bind::<Int8, _>(settings.lockout_minutes)
    .get_result(conn)
    .await?;
    Ok(row.locked_until)
}

/// Forgets the failures of `key` (after a successful login).
pub async fn clear_failures(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.find(key))
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
