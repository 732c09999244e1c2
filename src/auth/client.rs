//! Machine clients (GP, youth doctor and GI systems) as callers. A client
//! token verifies only against the client audience, and the client must
//! still be active in the database, so disabling it takes effect at once.
//! [`Caller`] is the extractor of the endpoints both users and clients use
//! (the referral endpoints); every other endpoint takes a
//! [`Principal`](super::Principal) and refuses client tokens with 403.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use super::principal::{authenticate_user, bearer_token, request_context};
use super::tokens::ClientClaims;
use super::Principal;
use crate::audit::AuditEvent;
use crate::db::schema::{client_municipalities, clients};
use crate::domain::referrals::ReferrerType;
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::http::request_context::RequestContext;
use crate::state::AppState;

/// Scopes a client can be given.
pub const SCOPES: &[&str] = &[SCOPE_REFERRALS_WRITE, SCOPE_REFERRALS_READ];
/// Submit referrals.
pub const SCOPE_REFERRALS_WRITE: &str = "referrals:write";
/// Read the status of one's own referrals.
pub const SCOPE_REFERRALS_READ: &str = "referrals:read";

/// An authenticated machine client.
#[derive(Debug, Clone)]
pub struct ClientPrincipal {
    pub client_id: Uuid,
    pub name: String,
    pub referrer_type: ReferrerType,
    pub agb_code: Option<String>,
    pub organisation_name: String,
    pub municipalities: Vec<String>,
    /// Scopes of this token (a subset of the client's).
    pub scopes: Vec<String>,
    pub request: RequestContext,
}

impl ClientPrincipal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn serves(&self, municipality: &str) -> bool {
        self.municipalities.iter().any(|m| m == municipality)
    }
}

type ClientRow = (
    Uuid,
    String,
    String,
    Option<String>,
    String,
    Vec<String>,
    bool,
);

/// The client behind verified claims, if it is still active. The token's
/// scopes count only as far as the client still has them.
pub async fn authenticate_client(
    state: &AppState,
    claims: &ClientClaims,
    ctx: RequestContext,
) -> Result<ClientPrincipal, ApiError> {
    let mut conn = state.db().await?;
    let row: Option<ClientRow> = clients::table
        .find(claims.sub)
        .select((
            clients::id,
            clients::name,
            clients::referrer_type,
            clients::agb_code,
            clients::organisation_name,
            clients::scopes,
            clients::active,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((client_id, name, referrer_type, agb_code, organisation_name, scopes, true)) = row
    else {
        return Err(ApiError::unauthorized(
            "The client of this token does not exist or is disabled.",
        ));
    };
    let referrer_type = ReferrerType::parse(&referrer_type)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("unknown referrer type in database")))?;
    let municipalities = client_municipalities::table
        .filter(client_municipalities::client_id.eq(client_id))
        .select(client_municipalities::municipality_code)
        .load(&mut conn)
        .await?;
    let granted: Vec<String> = claims
        .scope
        .split_whitespace()
        .filter(|s| scopes.iter().any(|have| have == s))
        .map(str::to_owned)
        .collect();
    Ok(ClientPrincipal {
        client_id,
        name,
        referrer_type,
        agb_code,
        organisation_name,
        municipalities,
        scopes: granted,
        request: ctx,
    })
}

/// A client token on an endpoint for users: 403, audited as a denied access
/// of that client (or 401 when the client is gone).
pub async fn refuse_on_user_endpoint(
    state: &AppState,
    claims: ClientClaims,
    ctx: RequestContext,
) -> ApiError {
    let path = ctx.path.clone();
    match authenticate_client(state, &claims, ctx).await {
        Ok(client) => {
            let event = AuditEvent::by_client(&client, "access_denied", "endpoint", path)
                .denied()
                .detail(serde_json::json!({"reason": "client_token_on_user_endpoint"}));
            if let Err(e) = crate::audit::record_alone(state, event).await {
                return e;
            }
            ApiError::forbidden(
                "Machine clients may only use the referral endpoints and POST /v1/oauth/token.",
            )
            .with_code(ErrorCode::ClientNotAllowed)
        }
        Err(e) => e,
    }
}

/// Who calls a referral endpoint: a logged-in user or a machine client.
#[derive(Debug, Clone)]
pub enum Caller {
    User(Principal),
    Client(ClientPrincipal),
}

impl Caller {
    /// Id under which the caller's idempotency keys are kept.
    pub fn id(&self) -> Uuid {
        match self {
            Caller::User(p) => p.user_id,
            Caller::Client(c) => c.client_id,
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<Arc<AppState>>>().cloned();
        let token = bearer_token(req);
        let ctx = request_context(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let token =
                token.ok_or_else(|| ApiError::unauthorized("Send a bearer access token."))?;
            if let Some(claims) = state.tokens.verify(&token) {
                return Ok(Caller::User(authenticate_user(&state, claims, ctx).await?));
            }
            if let Some(claims) = state.tokens.verify_client(&token) {
                return Ok(Caller::Client(
                    authenticate_client(&state, &claims, ctx).await?,
                ));
            }
            Err(ApiError::unauthorized(
                "The access token is invalid or expired.",
            ))
        })
    }
}
