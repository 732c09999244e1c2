//! Login, token refresh with rotation and reuse detection, logout, `/me`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int4, Int8, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::tokens::{hash_token, random_token};
use super::Principal;
use crate::audit::AuditEvent;
use crate::auth::principal::RequestMeta;
use crate::db::schema::{auth_sessions, login_failures, refresh_tokens, users};
use crate::domain::Role;
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ApiJson;
use crate::state::AppState;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginRequest {
    #[schema(example = "teamlead.leiden")]
    pub username: String,
    #[schema(example = "demo-wachtwoord-2026")]
    pub password: String,
}

/// A new token pair.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Single-use token for `POST /v1/auth/refresh`.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The logged-in user.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: Option<String>,
    pub team_id: Option<Uuid>,
    /// Municipalities a GI worker serves besides its own.
    pub served_municipality_codes: Vec<String>,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        "Username or password is incorrect.",
    )
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_until: Option<DateTime<Utc>>,
}

/// Counts a failure for a username; returns when it becomes locked.
/// Seconds `key` (a username, or `client:<id>`) stays locked, if it is.
pub(crate) async fn locked_for(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> QueryResult<Option<u64>> {
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

pub(crate) async fn count_failure(
    conn: &mut AsyncPgConnection,
    key: &str,
    state: &AppState,
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
    .bind::<Int8, _>(state.auth.lockout_window_minutes)
    .bind::<Int4, _>(state.auth.lockout_threshold)
    .bind::<Int8, _>(state.auth.lockout_minutes)
    .get_result(conn)
    .await?;
    Ok(row.locked_until)
}

async fn start_session(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user_id: Uuid,
    role: &str,
) -> ApiResult<TokenPair> {
    let session_id = Uuid::now_v7();
    diesel::insert_into(auth_sessions::table)
        .values((
            auth_sessions::id.eq(session_id),
            auth_sessions::user_id.eq(user_id),
            auth_sessions::expires_at
                .eq(Utc::now() + Duration::hours(state.auth.session_ttl_hours)),
        ))
        .execute(conn)
        .await?;
    issue_pair(conn, state, user_id, session_id, role).await
}

async fn issue_pair(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    role: &str,
) -> ApiResult<TokenPair> {
    let refresh = random_token();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash_token(&refresh)),
            refresh_tokens::session_id.eq(session_id),
        ))
        .execute(conn)
        .await?;
    Ok(TokenPair {
        access_token: state.tokens.issue(user_id, session_id, role)?,
        refresh_token: refresh,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl_seconds,
    })
}

/// Log in with username and password.
///
/// Unknown users and wrong passwords get the same answer. After 5 failures
/// within 15 minutes the username is locked for 15 minutes (429).
#[utoipa::path(
    post, path = "/auth/login", tag = "Auth", operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Wrong username or password", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Locked after repeated failures; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn login(
    state: web::Data<Arc<AppState>>,
    meta: RequestMeta,
    body: ApiJson<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let LoginRequest { username, password } = body.0;
    let mut conn = state.db().await?;
    // A name PostgreSQL cannot store (NUL) or no account can have is simply
    // a wrong login: audited, but kept out of the lockout table.
    if username.len() > 100 || password.len() > 1024 || username.chars().any(char::is_control) {
        AuditEvent::anonymous(&meta.0, "login_failed", "session")
            .denied()
            .detail(json!({"reason": "malformed"}))
            .record(&conn)
            .await?;
        return Err(invalid_credentials());
    }
    let key = username.trim().to_lowercase();

    if let Some(remaining) = locked_for(&mut conn, &key).await? {
        AuditEvent::anonymous(&meta.0, "login_failed", "session")
            .denied()
            .detail(json!({"reason": "locked"}))
            .record(&conn)
            .await?;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::AccountLocked,
            "Too many failed logins; try again later.",
        )
        .with_retry_after(remaining));
    }

    let user: Option<(Uuid, String, String, bool, Option<String>)> = users::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(username) = ").bind::<Text, _>(&key),
        )
        .select((
            users::id,
            users::password_hash,
            users::role,
            users::active,
            users::municipality_code,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let stored = user.as_ref().map(|u| u.1.clone());
    let verified = web::block(move || super::password::verify(&password, stored.as_deref()))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("password check: {e}")))?;

    match user {
        Some((user_id, _, role, true, municipality)) if verified => {
            let state2 = state.clone();
            let ctx = meta.0.clone();
            let pair = conn
                .transaction(async |conn| {
                    diesel::delete(login_failures::table.find(&key))
                        .execute(conn)
                        .await?;
                    let pair = start_session(conn, &state2, user_id, &role).await?;
                    AuditEvent::anonymous(&ctx, "login", "session")
                        .user(user_id, &role, municipality.clone())
                        .record(conn)
                        .await?;
                    Ok::<_, ApiError>(pair)
                })
                .await?;
            Ok(HttpResponse::Ok().json(pair))
        }
        other => {
            let ctx = meta.0.clone();
            let state2 = state.clone();
            conn.transaction(async |conn| {
                count_failure(conn, &key, &state2).await?;
                let mut event = AuditEvent::anonymous(&ctx, "login_failed", "session").denied();
                if let Some((user_id, _, role, active, municipality)) = &other {
                    event = event.user(*user_id, role, municipality.clone()).detail(
                        json!({"reason": if *active { "wrong_password" } else { "disabled" }}),
                    );
                } else {
                    event = event.detail(json!({"reason": "unknown_user"}));
                }
                event.record(conn).await?;
                Ok::<_, ApiError>(())
            })
            .await?;
            Err(invalid_credentials())
        }
    }
}

/// (session, used at, user, session revoked at, session expires at, role, active, municipality)
type RefreshRow = (
    Uuid,
    Option<DateTime<Utc>>,
    Uuid,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    String,
    bool,
    Option<String>,
);

enum RefreshOutcome {
    Issued(TokenPair),
    Reused,
    Invalid,
}

/// Exchange a refresh token for a new pair.
///
/// Refresh tokens are single-use. Presenting a spent one again means it was
/// stolen or replayed: the whole session is revoked.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "Auth", operation_id = "refreshToken",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenPair),
        (status = 401, description = "Invalid, expired or reused refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn refresh(
    state: web::Data<Arc<AppState>>,
    meta: RequestMeta,
    body: ApiJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let hash = hash_token(&body.0.refresh_token);
    let mut conn = state.db().await?;
    let state2 = state.clone();
    let ctx = meta.0.clone();
    let outcome = conn
        .transaction(async |conn| {
            let row: Option<RefreshRow> = refresh_tokens::table
                .inner_join(auth_sessions::table.inner_join(users::table))
                .filter(refresh_tokens::token_hash.eq(&hash))
                .select((
                    refresh_tokens::session_id,
                    refresh_tokens::used_at,
                    users::id,
                    auth_sessions::revoked_at,
                    auth_sessions::expires_at,
                    users::role,
                    users::active,
                    users::municipality_code,
                ))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let Some((
                session_id,
                used_at,
                user_id,
                revoked_at,
                expires_at,
                role,
                active,
                municipality,
            )) = row
            else {
                return Ok::<_, ApiError>(RefreshOutcome::Invalid);
            };
            let event = AuditEvent::anonymous(&ctx, "token_refresh", "session").user(
                user_id,
                &role,
                municipality.clone(),
            );
            if used_at.is_some() {
                diesel::update(auth_sessions::table.find(session_id))
                    .filter(auth_sessions::revoked_at.is_null())
                    .set((
                        auth_sessions::revoked_at.eq(diesel::dsl::now),
                        auth_sessions::revoked_reason.eq("refresh_token_reuse"),
                    ))
                    .execute(conn)
                    .await?;
                event
                    .denied()
                    .detail(json!({"reason": "refresh_token_reuse", "sessionRevoked": true}))
                    .record(conn)
                    .await?;
                return Ok(RefreshOutcome::Reused);
            }
            if revoked_at.is_some() || expires_at <= Utc::now() || !active {
                return Ok(RefreshOutcome::Invalid);
            }
            diesel::update(refresh_tokens::table.find(&hash))
                .set(refresh_tokens::used_at.eq(diesel::dsl::now))
                .execute(conn)
                .await?;
            let pair = issue_pair(conn, &state2, user_id, session_id, &role).await?;
            event.record(conn).await?;
            Ok(RefreshOutcome::Issued(pair))
        })
        .await?;
    match outcome {
        RefreshOutcome::Issued(pair) => Ok(HttpResponse::Ok().json(pair)),
        RefreshOutcome::Reused => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::RefreshTokenReused,
            "This refresh token was already used; the session has been revoked. Log in again.",
        )),
        RefreshOutcome::Invalid => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidRefreshToken,
            "The refresh token is invalid or its session has ended.",
        )),
    }
}

/// Log out: revoke the session of the access token.
#[utoipa::path(
    post, path = "/auth/logout", tag = "Auth", operation_id = "logout",
    responses((status = 204, description = "Session revoked")),
    security(("bearer" = []))
)]
pub async fn logout(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db().await?;
    conn.transaction(async |conn| {
        diesel::update(auth_sessions::table.find(principal.session_id))
            .set((
                auth_sessions::revoked_at.eq(diesel::dsl::now),
                auth_sessions::revoked_reason.eq("logout"),
            ))
            .execute(conn)
            .await?;
        AuditEvent::by(&principal, "logout", "session", principal.session_id)
            .record(conn)
            .await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The logged-in user.
#[utoipa::path(
    get, path = "/me", tag = "Auth", operation_id = "getMe",
    responses((status = 200, description = "The logged-in user", body = Me)),
    security(("bearer" = []))
)]
pub async fn me(principal: Principal) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(Me {
        id: principal.user_id.uuid(),
        username: principal.username,
        display_name: principal.display_name,
        role: principal.role,
        municipality_code: principal.municipality_code,
        team_id: principal.team_id.map(|t| t.uuid()),
        served_municipality_codes: principal.served_municipalities,
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/me").route(web::get().to(me)));
    super::oauth::routes(cfg);
}
