//! The authenticated caller. Handlers that take a [`Principal`] are protected:
//! the bearer token must verify, and its session must still be valid in the
//! database (so logout, refresh-token reuse and disabling a user take effect
//! at once, not after the token's 15 minutes).

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use super::tokens::AccessClaims;
use crate::db::schema::{auth_sessions, user_served_municipalities, users};
use crate::domain::Role;
use crate::error::ApiError;
use crate::http::request_context::RequestContext;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: Option<String>,
    pub team_id: Option<Uuid>,
    /// For GI workers: municipalities served besides the home one.
    pub served_municipalities: Vec<String>,
    /// For provider users: the provider they work for.
    pub provider_id: Option<Uuid>,
    pub request: RequestContext,
}

impl Principal {
    /// Home municipality, or the served ones for a GI worker.
    pub fn serves(&self, municipality: &str) -> bool {
        self.municipality_code.as_deref() == Some(municipality)
            || (self.role == Role::GiWorker
                && self.served_municipalities.iter().any(|m| m == municipality))
    }
}

/// The request context of a request (always present behind the middleware).
pub fn request_context(req: &HttpRequest) -> RequestContext {
    req.extensions()
        .get::<RequestContext>()
        .cloned()
        .unwrap_or_else(|| RequestContext {
            request_id: Uuid::new_v4().to_string(),
            path: req.path().to_owned(),
            ip: req.peer_addr().map(|a| a.ip().to_string()),
        })
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

type SessionRow = (
    Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<Uuid>,
    bool,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<Uuid>,
);

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<Arc<AppState>>>().cloned();
        let token = bearer(req);
        let ctx = request_context(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let token =
                token.ok_or_else(|| ApiError::unauthorized("Send a bearer access token."))?;
            match state.tokens.verify(&token) {
                Some(claims) => authenticate_user(&state, claims, ctx).await,
                None => match state.tokens.verify_client(&token) {
                    // A machine client's valid token on a user endpoint: a
                    // known principal without the right (audited).
                    Some(claims) => {
                        Err(super::client::refuse_on_user_endpoint(&state, claims, ctx).await)
                    }
                    None => Err(ApiError::unauthorized(
                        "The access token is invalid or expired.",
                    )),
                },
            }
        })
    }
}

/// The bearer token of a request, if it sends one.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    bearer(req)
}

/// The user behind verified claims, if its session is still valid.
pub async fn authenticate_user(
    state: &AppState,
    claims: AccessClaims,
    ctx: RequestContext,
) -> Result<Principal, ApiError> {
    let mut conn = state.db().await?;
    let row: Option<SessionRow> = auth_sessions::table
        .inner_join(users::table)
        .filter(auth_sessions::id.eq(claims.sid))
        .filter(users::id.eq(claims.sub))
        .select((
            users::id,
            users::username,
            users::display_name,
            users::role,
            users::municipality_code,
            users::team_id,
            users::active,
            auth_sessions::revoked_at,
            auth_sessions::expires_at,
            users::provider_id,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((
        user_id,
        username,
        display_name,
        role,
        municipality_code,
        team_id,
        active,
        revoked_at,
        expires_at,
        provider_id,
    )) = row
    else {
        return Err(ApiError::unauthorized(
            "The session of this token does not exist.",
        ));
    };
    if !active || revoked_at.is_some() || expires_at <= Utc::now() {
        return Err(ApiError::unauthorized(
            "The session of this token has ended; log in again.",
        ));
    }
    let role = Role::parse(&role)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role in database")))?;
    let served_municipalities = if role == Role::GiWorker {
        user_served_municipalities::table
            .filter(user_served_municipalities::user_id.eq(user_id))
            .select(user_served_municipalities::municipality_code)
            .load(&mut conn)
            .await?
    } else {
        Vec::new()
    };
    Ok(Principal {
        user_id,
        session_id: claims.sid,
        username,
        display_name,
        role,
        municipality_code,
        team_id,
        served_municipalities,
        provider_id,
        request: ctx,
    })
}

/// The request context as an extractor, for handlers without a principal.
pub struct RequestMeta(pub RequestContext);

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(RequestMeta(request_context(req))))
    }
}
