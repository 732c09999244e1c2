//! `POST /v1/oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749
//! section 4.4) for machine clients. Credentials come by HTTP Basic or in
//! the form, never both (section 2.3.1). Failures count towards the same
//! lockout as user logins, keyed by client id, so a secret cannot be
//! guessed at speed; errors are problem+json that also carry the RFC's
//! `error` member, so OAuth libraries understand them.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::client::SCOPES;
use super::principal::RequestMeta;
use super::routes::{count_failure, locked_for};
use crate::audit::AuditEvent;
use crate::db::schema::{clients, login_failures};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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

/// An OAuth error as problem+json with the RFC 6749 `error` member.
fn oauth_error(status: StatusCode, error: ErrorCode, detail: &str) -> ApiError {
    ApiError::new(status, error, detail).with_extra("error", error.as_str())
}

fn invalid_request(detail: &str) -> ApiError {
    oauth_error(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, detail)
}

fn invalid_client() -> ApiError {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidClient,
        "Client authentication failed.",
    )
}

/// Longest form accepted; a token request is a few hundred bytes.
const MAX_FORM_BYTES: usize = 8 * 1024;

/// The form's parameters; repeated ones are refused (RFC 6749 section 3.2).
fn parse_form(req: &HttpRequest, body: &[u8]) -> ApiResult<HashMap<String, String>> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "Send the token request as application/x-www-form-urlencoded.",
        )
        .with_extra("error", ErrorCode::InvalidRequest.as_str()));
    }
    if body.len() > MAX_FORM_BYTES {
        return Err(invalid_request("The token request is too long."));
    }
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if value.contains('\0') {
            return Err(invalid_request("Parameters cannot contain NUL."));
        }
        if params.insert(key.to_string(), value.to_string()).is_some() {
            return Err(invalid_request(&format!(
                "The parameter {key} is repeated."
            )));
        }
    }
    Ok(params)
}

/// Client id and secret from HTTP Basic (each form-urlencoded, RFC 6749
/// section 2.3.1), if the request uses it.
fn basic_credentials(req: &HttpRequest) -> ApiResult<Option<(String, String)>> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| invalid_client())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid_client());
    }
    let decoded = B64.decode(encoded.trim()).map_err(|_| invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

type ClientAuthRow = (String, Vec<String>, bool, String);

/// Get an access token for a machine client (client-credentials grant).
///
/// Send `grant_type=client_credentials`, the client id and secret by HTTP
/// Basic or as `client_id` and `client_secret`, and optionally `scope`.
/// After 5 failures within 15 minutes the client is locked for 15 minutes.
#[utoipa::path(
    post, path = "/oauth/token", tag = "Auth", operation_id = "issueClientToken",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token", body = ClientToken),
        (status = 400, description = "Malformed request (`invalid_request`), another grant (`unsupported_grant_type`) or a scope the client does not have (`invalid_scope`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown client, wrong secret or disabled client (`invalid_client`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a form", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Locked after repeated failures; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("basicClient" = []))
)]
pub async fn issue_token(
    state: web::Data<Arc<AppState>>,
    meta: RequestMeta,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let params = parse_form(&req, &body)?;
    match params.get("grant_type").map(String::as_str) {
        None => return Err(invalid_request("grant_type is required.")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnsupportedGrantType,
                "Only grant_type=client_credentials is supported.",
            ))
        }
    }
    let basic = basic_credentials(&req)?;
    let in_form = (params.get("client_id"), params.get("client_secret"));
    let (id, secret) = match (basic, in_form) {
        (Some(_), (Some(_), _)) | (Some(_), (_, Some(_))) => {
            return Err(invalid_request(
                "Authenticate by HTTP Basic or in the form, not both.",
            ))
        }
        (Some(creds), _) => creds,
        (None, (Some(id), Some(secret))) => (id.clone(), secret.clone()),
        (None, _) => return Err(invalid_client()),
    };
    let mut conn = state.db().await?;
    let Ok(client_id) = Uuid::parse_str(&id) else {
        AuditEvent::anonymous(&meta.0, "login_failed", "client")
            .denied()
            .detail(json!({"reason": "malformed"}))
            .record(&conn)
            .await?;
        return Err(invalid_client());
    };
    let key = format!("client:{client_id}");

    if let Some(remaining) = locked_for(&mut conn, &key).await? {
        AuditEvent::anonymous(&meta.0, "login_failed", "client")
            .denied()
            .detail(json!({"reason": "locked", "clientId": client_id}))
            .record(&conn)
            .await?;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ClientLocked,
            "Too many failed token requests; try again later.",
        )
        .with_extra("error", ErrorCode::InvalidClient.as_str())
        .with_retry_after(remaining));
    }

    let client: Option<ClientAuthRow> = clients::table
        .find(client_id)
        .select((
            clients::secret_hash,
            clients::scopes,
            clients::active,
            clients::organisation_name,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let stored = client.as_ref().map(|c| c.0.clone());
    let verified = if secret.len() > 1024 {
        false
    } else {
        web::block(move || super::password::verify(&secret, stored.as_deref()))
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("secret check: {e}")))?
    };

    match client {
        Some((_, scopes, true, organisation)) if verified => {
            let granted = match params.get("scope") {
                None => scopes.clone(),
                Some(asked) => {
                    let asked: Vec<String> = asked.split_whitespace().map(str::to_owned).collect();
                    if asked.is_empty()
                        || asked
                            .iter()
                            .any(|s| !scopes.contains(s) || !SCOPES.contains(&s.as_str()))
                    {
                        return Err(oauth_error(
                            StatusCode::BAD_REQUEST,
                            ErrorCode::InvalidScope,
                            "Ask only for scopes this client has.",
                        )
                        .with_extra("allowedScopes", scopes));
                    }
                    asked
                }
            };
            let scope = granted.join(" ");
            let token = state.tokens.issue_client(client_id, &scope)?;
            let ctx = meta.0.clone();
            conn.transaction(async |conn| {
                diesel::delete(login_failures::table.find(&key))
                    .execute(conn)
                    .await?;
                AuditEvent::anonymous(&ctx, "login", "client")
                    .client(client_id, &organisation)
                    .detail(json!({"scope": scope}))
                    .record(conn)
                    .await?;
                Ok::<_, ApiError>(())
            })
            .await?;
            Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(ClientToken {
                    access_token: token,
                    token_type: "Bearer".into(),
                    expires_in: state.tokens.ttl_seconds,
                    scope,
                }))
        }
        other => {
            let ctx = meta.0.clone();
            let state2 = state.clone();
            conn.transaction(async |conn| {
                count_failure(conn, &key, &state2).await?;
                let mut event = AuditEvent::anonymous(&ctx, "login_failed", "client").denied();
                event = match &other {
                    Some((_, _, active, organisation)) => {
                        event.client(client_id, organisation).detail(
                            json!({"reason": if *active { "wrong_secret" } else { "disabled" }}),
                        )
                    }
                    None => {
                        event.detail(json!({"reason": "unknown_client", "clientId": client_id}))
                    }
                };
                event.record(conn).await?;
                Ok::<_, ApiError>(())
            })
            .await?;
            Err(invalid_client())
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/token").route(web::post().to(issue_token)));
}
