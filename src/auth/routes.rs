//! Auth endpoints: login, token refresh with rotation and reuse detection,
//! logout, `/me`, and `POST /v1/oauth/token` (client credentials by HTTP
//! Basic or in the form, never both; errors are problem+json that also
//! carry RFC 6749's `error` member).

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::model::{
    invalid_client, invalid_request, not_a_form, ClientGrant, ClientToken, LoginRequest, Me,
    RefreshRequest, TokenPair, TokenRequest,
};
use super::principal::{Bearer, RequestMeta};
use super::service::{oauth, session};
use crate::error::ApiResult;
use crate::http::extract::ApiJson;
use crate::state::App;

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
        (status = 403, description = "Right password, but the account waits for a team lead's approval (`account_pending_approval`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Locked after repeated failures; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn login(
    app: App,
    meta: RequestMeta,
    body: ApiJson<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let pair = session::login(&app, &meta.0, body.0).await?;
    Ok(HttpResponse::Ok().json(pair))
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
    app: App,
    meta: RequestMeta,
    body: ApiJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let pair = session::refresh(&app, &meta.0, body.0).await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// Log out: revoke the session of the access token.
#[utoipa::path(
    post, path = "/auth/logout", tag = "Auth", operation_id = "logout",
    responses((status = 204, description = "Session revoked")),
    security(("bearer" = []))
)]
pub async fn logout(app: App, bearer: Bearer) -> ApiResult<HttpResponse> {
    session::logout(&app, &bearer).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The logged-in user.
#[utoipa::path(
    get, path = "/me", tag = "Auth", operation_id = "getMe",
    responses((status = 200, description = "The logged-in user", body = Me)),
    security(("bearer" = []))
)]
pub async fn me(app: App, bearer: Bearer) -> ApiResult<HttpResponse> {
    let me = session::me(&app, &bearer).await?;
    Ok(HttpResponse::Ok().json(me))
}

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
    app: App,
    meta: RequestMeta,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let grant = client_grant(&req, &body)?;
    let token = oauth::issue_client_token(&app, &meta.0, grant).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(token))
}

/// The grant a token request makes, read from its form and its
/// `Authorization` header: the request's shape, answered before anything
/// is looked up.
fn client_grant(req: &HttpRequest, body: &[u8]) -> ApiResult<ClientGrant> {
    let params = parse_form(req, body)?;
    ClientGrant::check_grant_type(&params)?;
    let basic = basic_credentials(req)?;
    ClientGrant::from_form(params, basic)
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
        return Err(not_a_form());
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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/me").route(web::get().to(me)))
        .service(web::resource("/oauth/token").route(web::post().to(issue_token)));
}
