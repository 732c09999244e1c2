//! Request and response shapes of login, token refresh, `/me` and the
//! client-credentials grant, and the answers they refuse with.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::client::SCOPES;
use super::Principal;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginRequest {
    #[schema(example = "teamlead.leiden")]
    pub username: String,
    #[schema(example = "demo-wachtwoord-2026")]
    pub password: String,
}

impl LoginRequest {
    /// A name PostgreSQL cannot store (NUL) or no account can have, or a
    /// password longer than any: not a 400 but simply a wrong login (the
    /// same answer as any other), audited and kept out of the lockout table.
    pub fn is_malformed(&self) -> bool {
        self.username.len() > 100
            || self.password.len() > 1024
            || self.username.chars().any(char::is_control)
    }

    /// The key of the lockout counter and of the account lookup.
    pub fn lockout_key(&self) -> String {
        self.username.trim().to_lowercase()
    }
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

impl From<Principal> for Me {
    fn from(p: Principal) -> Self {
        Self {
            id: p.user_id.uuid(),
            username: p.username,
            display_name: p.display_name,
            role: p.role,
            municipality_code: p.municipality_code,
            team_id: p.team_id.map(|t| t.uuid()),
            served_municipality_codes: p.served_municipalities,
        }
    }
}

/// Form fields of a token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Always `client_credentials`.
    #[schema(example = "client_credentials")]
    pub grant_type: String,
    /// The client id, unless sent by HTTP Basic.
    pub client_id: Option<String>,
    /// The client secret, unless sent by HTTP Basic.
    pub client_secret: Option<String>,
    /// Space-separated scopes to ask for; all of the client's when absent.
    #[schema(example = "referrals:write referrals:read")]
    pub scope: Option<String>,
}

/// An access token for a machine client (RFC 6749 section 5.1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientToken {
    /// JWT for `Authorization: Bearer` on the referral endpoints.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// A client-credentials grant as the request made it: the client id and
/// secret (as sent, checked against the database later) and the scopes
/// asked for.
#[derive(Debug)]
pub struct ClientGrant {
    pub client_id: String,
    pub secret: String,
    pub scope: Option<String>,
}

impl ClientGrant {
    /// Refuses any grant but `client_credentials` (RFC 6749 section 4.4).
    pub fn check_grant_type(params: &HashMap<String, String>) -> ApiResult<()> {
        match params.get("grant_type").map(String::as_str) {
            None => Err(invalid_request("grant_type is required.")),
            Some("client_credentials") => Ok(()),
            Some(_) => Err(oauth_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnsupportedGrantType,
                "Only grant_type=client_credentials is supported.",
            )),
        }
    }

    /// The grant of a form whose grant type was checked, with the
    /// credentials of HTTP Basic if it used it: by Basic or in the form,
    /// never both (RFC 6749 section 2.3.1).
    pub fn from_form(
        mut params: HashMap<String, String>,
        basic: Option<(String, String)>,
    ) -> ApiResult<Self> {
        let in_form = (params.remove("client_id"), params.remove("client_secret"));
        let (client_id, secret) = match (basic, in_form) {
            (Some(_), (Some(_), _)) | (Some(_), (_, Some(_))) => {
                return Err(invalid_request(
                    "Authenticate by HTTP Basic or in the form, not both.",
                ))
            }
            (Some(creds), _) => creds,
            (None, (Some(id), Some(secret))) => (id, secret),
            (None, _) => return Err(invalid_client()),
        };
        Ok(Self {
            client_id,
            secret,
            scope: params.remove("scope"),
        })
    }

    /// The scopes to grant: all the client has when none were asked for,
    /// else those asked, each of which the client must have.
    pub fn granted_scopes(&self, have: &[String]) -> ApiResult<Vec<String>> {
        let Some(asked) = &self.scope else {
            return Ok(have.to_vec());
        };
        let asked: Vec<String> = asked.split_whitespace().map(str::to_owned).collect();
        let foreign = |s: &String| !have.contains(s) || !SCOPES.contains(&s.as_str());
        if asked.is_empty() || asked.iter().any(foreign) {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidScope,
                "Ask only for scopes this client has.",
            )
            .with_extra("allowedScopes", have.to_vec()));
        }
        Ok(asked)
    }
}

/// Unknown users, wrong passwords and disabled accounts all get this.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        "Username or password is incorrect.",
    )
}

/// A username locked after repeated failures, for `remaining` seconds.
pub fn account_locked(remaining: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::AccountLocked,
        "Too many failed logins; try again later.",
    )
    .with_retry_after(remaining)
}

/// The right password of an account whose admin-set credentials still wait
/// for a team lead's approval (issue 15 item 8).
pub fn account_pending_approval() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::AccountPendingApproval,
        "This account waits for the approval of a team lead of its municipality.",
    )
}

pub fn refresh_token_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::RefreshTokenReused,
        "This refresh token was already used; the session has been revoked. Log in again.",
    )
}

pub fn invalid_refresh_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidRefreshToken,
        "The refresh token is invalid or its session has ended.",
    )
}

/// An OAuth error as problem+json with the RFC 6749 `error` member, so
/// OAuth libraries understand it.
pub fn oauth_error(status: StatusCode, error: ErrorCode, detail: &str) -> ApiError {
    ApiError::new(status, error, detail).with_extra("error", error.as_str())
}

pub fn invalid_request(detail: &str) -> ApiError {
    oauth_error(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, detail)
}

pub fn invalid_client() -> ApiError {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidClient,
        "Client authentication failed.",
    )
}

/// A client locked after repeated failures, for `remaining` seconds.
pub fn client_locked(remaining: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ClientLocked,
        "Too many failed token requests; try again later.",
    )
    .with_extra("error", ErrorCode::InvalidClient.as_str())
    .with_retry_after(remaining)
}

/// A token request that is not a form.
pub fn not_a_form() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
        "Send the token request as application/x-www-form-urlencoded.",
    )
    .with_extra("error", ErrorCode::InvalidRequest.as_str())
}
