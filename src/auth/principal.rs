//! Who calls. A protected handler takes a [`Bearer`]: a token whose
//! signature, issuer, audience and expiry verified, with no database work
//! yet, so a forged or expired token costs the server one HMAC and never a
//! connection. The request's transaction then turns it into the caller
//! ([`crate::tx::Tx::user`], [`crate::tx::Tx::caller`]) by checking that
//! its session (or client) is still valid, on the same connection and in
//! the same transaction as everything else the request does: logout,
//! refresh-token reuse and disabling a user take effect at once.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;
use diesel_async::AsyncPgConnection;

use super::queries;
use super::tokens::{AccessClaims, ClientClaims};
use crate::audit::attempts::Reason;
use crate::audit::failures::Endpoint;
use crate::domain::{ProviderId, Role, SessionId, TeamId, UserId};
use crate::error::ApiError;
use crate::http::request_context::RequestContext;
use crate::state::AppState;

/// A logged-in user, as the request's transaction found its session.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: Option<String>,
    pub team_id: Option<TeamId>,
    /// For GI workers: municipalities served besides the home one.
    pub served_municipalities: Vec<String>,
    /// For provider users: the provider they work for.
    pub provider_id: Option<ProviderId>,
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

/// What a verified token says about its bearer.
#[derive(Debug, Clone)]
pub enum Claims {
    User(AccessClaims),
    Client(ClientClaims),
}

/// A verified bearer token and the request it came with. 401 when the
/// request has none, or one that does not verify as a user's or a
/// client's token.
#[derive(Debug, Clone)]
pub struct Bearer {
    pub claims: Claims,
    pub request: RequestContext,
    /// What was called: a write that fails is audited under it.
    pub endpoint: Endpoint,
}

/// The request context of a request (always present behind the middleware).
pub fn request_context(req: &HttpRequest) -> RequestContext {
    req.extensions()
        .get::<RequestContext>()
        .cloned()
        .unwrap_or_else(|| RequestContext {
            request_id: uuid::Uuid::new_v4().to_string(),
            client_request_id: None,
            path: req.path().to_owned(),
            ip: crate::http::client_addr::of(req).map(|ip| ip.to_string()),
        })
}

/// The bearer token of a request, if it sends one.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(verify(req))
    }
}

/// A 401 here is counted as an unauthenticated attempt on the endpoint
/// (audited in aggregate, see [`crate::audit::attempts`]).
fn verify(req: &HttpRequest) -> Result<Bearer, ApiError> {
    let state = req
        .app_data::<web::Data<Arc<AppState>>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
    let refuse = |reason, detail: &str| {
        let endpoint = Endpoint::of(req);
        state
            .attempts
            .note(&request_context(req), &endpoint, reason);
        ApiError::unauthorized(detail)
    };
    let token =
        bearer_token(req).ok_or_else(|| refuse(Reason::NoToken, "Send a bearer access token."))?;
    let claims = match state.tokens.verify(&token) {
        Some(claims) => Claims::User(claims),
        None => match state.tokens.verify_client(&token) {
            Some(claims) => Claims::Client(claims),
            None => {
                return Err(refuse(
                    Reason::InvalidToken,
                    "The access token is invalid or expired.",
                ))
            }
        },
    };
    Ok(Bearer {
        claims,
        request: request_context(req),
        endpoint: Endpoint::of(req),
    })
}

/// The user behind verified claims, if its session is still valid.
pub async fn authenticate_user(
    conn: &mut AsyncPgConnection,
    claims: &AccessClaims,
    ctx: RequestContext,
) -> Result<Principal, ApiError> {
    let session = queries::session_of(
        conn,
        SessionId::from_uuid(claims.sid),
        UserId::from_uuid(claims.sub),
    )
    .await?
    .ok_or_else(|| ApiError::unauthorized("The session of this token does not exist."))?;
    if !session.active || session.revoked_at.is_some() || session.expires_at <= Utc::now() {
        return Err(ApiError::unauthorized(
            "The session of this token has ended; log in again.",
        ));
    }
    let served_municipalities = if session.role == Role::GiWorker {
        queries::served_municipalities(conn, session.user_id).await?
    } else {
        Vec::new()
    };
    Ok(Principal {
        user_id: session.user_id,
        session_id: SessionId::from_uuid(claims.sid),
        username: session.username,
        display_name: session.display_name,
        role: session.role,
        municipality_code: session.municipality_code,
        team_id: session.team_id,
        served_municipalities,
        provider_id: session.provider_id,
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
