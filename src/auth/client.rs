//! Machine clients (GP, youth doctor and GI systems) as callers. A client
//! token verifies only against the client audience, and the client must
//! still be active in the database, so disabling it takes effect at once.
//! [`Caller`] is who calls the endpoints both users and clients use (the
//! referral endpoints); every other endpoint refuses client tokens with 403.

use diesel_async::AsyncPgConnection;

use super::queries;
use super::tokens::ClientClaims;
use super::Principal;
use crate::audit::AuditEvent;
use crate::domain::referrals::ReferrerType;
use crate::domain::{ClientId, ErrorCode};
use crate::error::ApiError;
use crate::http::request_context::RequestContext;

/// Scopes a client can be given.
pub const SCOPES: &[&str] = &[SCOPE_REFERRALS_WRITE, SCOPE_REFERRALS_READ];
/// Submit referrals.
pub const SCOPE_REFERRALS_WRITE: &str = "referrals:write";
/// Read the status of one's own referrals.
pub const SCOPE_REFERRALS_READ: &str = "referrals:read";

/// An authenticated machine client.
#[derive(Debug, Clone)]
pub struct ClientPrincipal {
    pub client_id: ClientId,
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

/// The client behind verified claims, if it is still active. The token's
/// scopes count only as far as the client still has them.
pub async fn authenticate_client(
    conn: &mut AsyncPgConnection,
    claims: &ClientClaims,
    ctx: RequestContext,
) -> Result<ClientPrincipal, ApiError> {
    let id = ClientId::from_uuid(claims.sub);
    let row = queries::client(conn, id).await?;
    let Some(row) = row.filter(|c| c.active) else {
        return Err(ApiError::unauthorized(
            "The client of this token does not exist or is disabled.",
        ));
    };
    let municipalities = queries::client_municipalities(conn, id).await?;
    let scopes: Vec<String> = claims
        .scope
        .split_whitespace()
        .filter(|s| row.scopes.iter().any(|have| have == s))
        .map(str::to_owned)
        .collect();
    Ok(ClientPrincipal {
        client_id: row.id,
        name: row.name,
        referrer_type: row.referrer_type,
        agb_code: row.agb_code,
        organisation_name: row.organisation_name,
        municipalities,
        scopes,
        request: ctx,
    })
}

/// The audit event of a client token used on an endpoint for users.
pub fn on_user_endpoint(client: &ClientPrincipal) -> AuditEvent {
    AuditEvent::by_client(
        client,
        "access_denied",
        "endpoint",
        client.request.path.clone(),
    )
    .denied()
    .detail(serde_json::json!({"reason": "client_token_on_user_endpoint"}))
}

/// The answer to a client token on an endpoint for users.
pub fn not_on_user_endpoints() -> ApiError {
    ApiError::forbidden(
        "Machine clients may only use the referral endpoints and POST /v1/oauth/token.",
    )
    .with_code(ErrorCode::ClientNotAllowed)
}

/// Who calls a referral endpoint: a logged-in user or a machine client.
#[derive(Debug, Clone)]
pub enum Caller {
    User(Principal),
    Client(ClientPrincipal),
}

impl Caller {
    /// Id under which the caller's idempotency keys are kept.
    pub fn id(&self) -> uuid::Uuid {
        match self {
            Caller::User(p) => p.user_id.uuid(),
            Caller::Client(c) => c.client_id.uuid(),
        }
    }

    /// The audit event of this caller doing `action` on a resource.
    pub fn event(
        &self,
        action: &'static str,
        resource_type: &'static str,
        id: impl ToString,
    ) -> AuditEvent {
        match self {
            Caller::User(p) => AuditEvent::by(p, action, resource_type, id),
            Caller::Client(c) => AuditEvent::by_client(c, action, resource_type, id),
        }
    }
}
