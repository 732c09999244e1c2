//! Machine clients: GP, youth-doctor and GI systems that submit referrals.
//! Admins register them; the client secret (for the token endpoint) and the
//! callback secret (for checking notification signatures) are shown once,
//! at creation. The client secret is kept only as an argon2id hash; the
//! callback secret must be used again to sign, so it is kept sealed.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::auth::client::SCOPES;
use crate::auth::{enforce, policy, Principal};
use crate::crypto::SecretBox;
use crate::db::schema::{client_municipalities, clients, municipalities};
use crate::domain::referrals::ReferrerType;
use crate::domain::{text, AgbCode, DomainError, MunicipalityCode};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewClient {
    #[schema(
        example = "Huisartsenpraktijk De Vliet HIS",
        min_length = 1,
        max_length = 200
    )]
    pub name: String,
    /// iJw referrer type (COD327) the client refers as: 01, 02, 03, 04, 05, 06 or 08.
    #[schema(example = "02")]
    pub referrer_type: String,
    /// AGB code the client refers as; only for referrer types 02 to 05.
    #[schema(example = "01234567", pattern = "^[0-9]{8}$")]
    pub agb_code: Option<String>,
    #[schema(
        example = "Huisartsenpraktijk De Vliet",
        min_length = 1,
        max_length = 200
    )]
    pub organisation_name: String,
    /// Municipalities the client may refer families to.
    #[schema(min_items = 1, example = json!(["0546"]))]
    pub municipality_codes: Vec<String>,
    /// `referrals:write` (submit) and/or `referrals:read` (read status).
    #[schema(min_items = 1, example = json!(["referrals:write", "referrals:read"]))]
    pub scopes: Vec<String>,
    /// HTTPS URL that receives signed status notifications (plain HTTP only on loopback).
    #[schema(
        example = "https://his.example.nl/gezinsregie/notifications",
        max_length = 2000
    )]
    pub callback_url: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientUpdate {
    /// False refuses new tokens and ends the use of issued ones at once.
    pub active: Option<bool>,
    #[schema(max_length = 2000)]
    pub callback_url: Option<String>,
    #[schema(min_items = 1)]
    pub municipality_codes: Option<Vec<String>>,
    #[schema(min_items = 1)]
    pub scopes: Option<Vec<String>>,
}

/// A registered client (never its secrets).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: Uuid,
    pub name: String,
    pub referrer_type: String,
    pub agb_code: Option<String>,
    pub organisation_name: String,
    pub municipality_codes: Vec<String>,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new client with its secrets, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: Client,
    /// The OAuth client_id (equal to `id`).
    pub client_id: Uuid,
    /// The OAuth client secret; only its hash is kept, so store it now.
    pub client_secret: String,
    /// Key for checking notification signatures (Standard Webhooks
    /// `whsec_` format); store it now.
    pub callback_secret: String,
}

crate::page_type!(ClientPage, Client, "A page of clients.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ClientQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A callback URL notifications may be sent to: absolute, HTTPS (plain
/// HTTP only to a loopback address, for local receivers), without
/// credentials or fragment, at most 2,000 characters.
pub fn callback_url(input: &str) -> Result<String, DomainError> {
    let invalid = |reason: &str| DomainError::new(ErrorCode::InvalidUrl, reason.to_owned());
    if input.len() > 2000 {
        return Err(DomainError::new(
            ErrorCode::TooLong,
            "At most 2000 characters.",
        ));
    }
    let url = url::Url::parse(input).map_err(|_| invalid("Give an absolute https:// URL."))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid("The URL needs a host.")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(invalid(
                "Use https:// (plain http only for a loopback address).",
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("Credentials do not belong in the URL."));
    }
    if url.fragment().is_some() {
        return Err(invalid("A fragment is never sent; leave it out."));
    }
    Ok(url.to_string())
}

/// Scopes, each known, without repeats.
fn scopes(input: &[String]) -> Result<Vec<String>, DomainError> {
    if input.is_empty() {
        return Err(DomainError::new(
            ErrorCode::Required,
            "Give at least one scope.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in input {
        if !SCOPES.contains(&s.as_str()) {
            return Err(DomainError::new(
                ErrorCode::UnknownScope,
                "Known scopes: referrals:write, referrals:read.",
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Municipality codes, each well-formed, without repeats.
fn municipality_codes(input: &[String]) -> Result<Vec<String>, DomainError> {
    if input.is_empty() {
        return Err(DomainError::new(
            ErrorCode::Required,
            "Give at least one municipality.",
        ));
    }
    if input.len() > 400 {
        return Err(DomainError::new(
            ErrorCode::TooMany,
            "At most 400 municipalities.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for code in input {
        let code = MunicipalityCode::parse(code)?.as_str().to_owned();
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

/// Replaces the client's municipalities; 422 when one is not registered.
async fn set_municipalities(
    conn: &mut AsyncPgConnection,
    client_id: Uuid,
    codes: &[String],
) -> ApiResult<()> {
    let known: i64 = municipalities::table
        .filter(municipalities::code.eq_any(codes))
        .count()
        .get_result(conn)
        .await?;
    if known != codes.len() as i64 {
        return Err(ApiError::unprocessable(
            ErrorCode::UnknownMunicipality,
            "A municipality in municipalityCodes is not registered.",
        )
        .with_extra("field", "municipalityCodes"));
    }
    diesel::delete(
        client_municipalities::table.filter(client_municipalities::client_id.eq(client_id)),
    )
    .execute(conn)
    .await?;
    let rows: Vec<_> = codes
        .iter()
        .map(|c| {
            (
                client_municipalities::client_id.eq(client_id),
                client_municipalities::municipality_code.eq(c),
            )
        })
        .collect();
    diesel::insert_into(client_municipalities::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

type ClientRow = (
    Uuid,
    String,
    String,
    Option<String>,
    String,
    Vec<String>,
    Option<String>,
    bool,
    DateTime<Utc>,
    DateTime<Utc>,
);

async fn load_clients(
    conn: &mut AsyncPgConnection,
    ids: Option<&[Uuid]>,
    after: Option<Uuid>,
    limit: i64,
) -> ApiResult<Vec<Client>> {
    let mut q = clients::table
        .select((
            clients::id,
            clients::name,
            clients::referrer_type,
            clients::agb_code,
            clients::organisation_name,
            clients::scopes,
            clients::callback_url,
            clients::active,
            clients::created_at,
            clients::updated_at,
        ))
        .order(clients::id)
        .limit(limit)
        .into_boxed();
    if let Some(ids) = ids {
        q = q.filter(clients::id.eq_any(ids.to_vec()));
    }
    if let Some(after) = after {
        q = q.filter(clients::id.gt(after));
    }
    let rows: Vec<ClientRow> = q.load(conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let served: Vec<(Uuid, String)> = client_municipalities::table
        .filter(client_municipalities::client_id.eq_any(&ids))
        .order((
            client_municipalities::client_id,
            client_municipalities::municipality_code,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Client {
            id: r.0,
            name: r.1,
            referrer_type: r.2,
            agb_code: r.3,
            organisation_name: r.4,
            municipality_codes: served
                .iter()
                .filter(|(c, _)| *c == r.0)
                .map(|(_, m)| m.clone())
                .collect(),
            scopes: r.5,
            callback_url: r.6,
            active: r.7,
            created_at: r.8,
            updated_at: r.9,
        })
        .collect())
}

async fn load_client(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<Client> {
    load_clients(conn, Some(&[id]), None, 1)
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("Client"))
}

/// A fresh Standard Webhooks signing secret: `whsec_` + 32 random bytes.
fn new_callback_secret() -> String {
    format!("whsec_{}", B64.encode(crate::auth::tokens::random_bytes()))
}

/// A validated new client.
pub struct ClientSpec {
    pub name: String,
    pub referrer_type: ReferrerType,
    pub agb_code: Option<AgbCode>,
    pub organisation_name: String,
    pub municipality_codes: Vec<String>,
    pub scopes: Vec<String>,
    pub callback_url: Option<String>,
}

impl NewClient {
    pub fn parse(&self) -> ApiResult<ClientSpec> {
        let mut v = Invalid::new();
        let name = v.check("name", text::required(&self.name, 200));
        let kind = v.check("referrerType", ReferrerType::parse(&self.referrer_type));
        let agb = v.check_opt("agbCode", self.agb_code.as_deref(), AgbCode::parse);
        if let (Some(kind), Some(Some(_))) = (kind, &agb) {
            if !kind.is_care_professional() {
                v.push(
                    "agbCode",
                    ErrorCode::NotAllowed,
                    "Only referrer types 02 to 05 carry an AGB code (iJw CD067).",
                );
            }
        }
        let organisation = v.check(
            "organisationName",
            text::required(&self.organisation_name, 200),
        );
        let served = v.check(
            "municipalityCodes",
            municipality_codes(&self.municipality_codes),
        );
        let scopes = v.check("scopes", scopes(&self.scopes));
        let callback = v.check_opt("callbackUrl", self.callback_url.as_deref(), callback_url);
        let (
            name,
            referrer_type,
            agb_code,
            organisation_name,
            municipality_codes,
            scopes,
            callback_url,
        ) = v.finish((name, kind, agb, organisation, served, scopes, callback))?;
        Ok(ClientSpec {
            name,
            referrer_type,
            agb_code,
            organisation_name,
            municipality_codes,
            scopes,
            callback_url,
        })
    }
}

/// Inserts a client with the argon2id hash of its secret and a fresh,
/// sealed callback secret, in the caller's transaction. Returns the client
/// and the callback secret in clear (to show once).
pub async fn insert_client(
    conn: &mut AsyncPgConnection,
    sealer: &SecretBox,
    id: Uuid,
    spec: &ClientSpec,
    secret_hash: &str,
    created_by: Option<Uuid>,
) -> ApiResult<(Client, String)> {
    let callback_secret = new_callback_secret();
    let sealed = sealer.seal(callback_secret.as_bytes())?;
    diesel::insert_into(clients::table)
        .values((
            clients::id.eq(id),
            clients::name.eq(&spec.name),
            clients::referrer_type.eq(spec.referrer_type.code()),
            clients::agb_code.eq(spec.agb_code.as_ref().map(|a| a.as_str().to_owned())),
            clients::organisation_name.eq(&spec.organisation_name),
            clients::scopes.eq(&spec.scopes),
            clients::callback_url.eq(&spec.callback_url),
            clients::secret_hash.eq(secret_hash),
            clients::callback_secret.eq(&sealed),
            clients::created_by.eq(created_by),
        ))
        .execute(conn)
        .await?;
    set_municipalities(conn, id, &spec.municipality_codes).await?;
    Ok((load_client(conn, id).await?, callback_secret))
}

/// Register a machine client; its secrets are in this response only.
#[utoipa::path(post, path = "/clients", tag = "Administration", operation_id = "createClient",
    request_body = NewClient,
    responses(
        (status = 201, description = "Registered; store clientSecret and callbackSecret now", body = CreatedClient),
        (status = 409, description = "Name already in use (`client_name_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A municipality is not registered (`unknown_municipality`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_client(
    state: State,
    principal: Principal,
    body: ApiJson<NewClient>,
) -> ApiResult<HttpResponse> {
    let id = Uuid::now_v7();
    let event = AuditEvent::by(&principal, "create", "client", id);
    enforce(&state, policy::admin(&principal), "client", event.clone()).await?;
    let spec = body.0.parse()?;
    let secret = crate::auth::tokens::random_token();
    let hashed = {
        let secret = secret.clone();
        web::block(move || crate::auth::password::hash(&secret))
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing secret: {e}")))??
    };
    let mut conn = state.db().await?;
    let (client, callback_secret) = conn
        .transaction(async |conn| {
            let created = insert_client(
                conn,
                &state.callback_secrets,
                id,
                &spec,
                &hashed,
                Some(principal.user_id.uuid()),
            )
            .await?;
            event
                .detail(json!({
                    "referrerType": spec.referrer_type.code(),
                    "municipalityCodes": spec.municipality_codes,
                    "scopes": spec.scopes,
                    "callback": spec.callback_url.is_some(),
                }))
                .record(conn)
                .await?;
            Ok::<_, ApiError>(created)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/clients/{id}")))
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedClient {
            client,
            client_id: id,
            client_secret: secret,
            callback_secret,
        }))
}

/// List machine clients.
#[utoipa::path(get, path = "/clients", tag = "Administration", operation_id = "listClients",
    params(ClientQuery),
    responses((status = 200, description = "A page of clients", body = ClientPage)))]
pub async fn list_clients(
    state: State,
    principal: Principal,
    query: ApiQuery<ClientQuery>,
) -> ApiResult<HttpResponse> {
    let event = AuditEvent::by(&principal, "search", "client", "list");
    enforce(&state, policy::admin(&principal), "client", event).await?;
    let page = PageRequest::<Uuid>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let mut conn = state.db().await?;
    let rows = load_clients(&mut conn, None, page.after, page.fetch()).await?;
    let (items, next_cursor) = finish(rows, page.limit, |c| c.id);
    Ok(HttpResponse::Ok().json(ClientPage { items, next_cursor }))
}

/// Read a machine client.
#[utoipa::path(get, path = "/clients/{id}", tag = "Administration", operation_id = "getClient",
    params(("id" = Uuid, Path, description = "Client id")),
    responses((status = 200, description = "The client", body = Client)))]
pub async fn get_client(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "read", "client", id);
    enforce(&state, policy::admin(&principal), "client", event).await?;
    let mut conn = state.db().await?;
    Ok(HttpResponse::Ok().json(load_client(&mut conn, id).await?))
}

/// Disable a client, or change its callback URL, municipalities or scopes.
#[utoipa::path(patch, path = "/clients/{id}", tag = "Administration", operation_id = "updateClient",
    params(("id" = Uuid, Path, description = "Client id")),
    request_body = ClientUpdate,
    responses(
        (status = 200, description = "The changed client", body = Client),
        (status = 422, description = "A municipality is not registered (`unknown_municipality`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_client(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<ClientUpdate>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "update", "client", id);
    enforce(&state, policy::admin(&principal), "client", event.clone()).await?;
    let update = body.0;
    let mut v = Invalid::new();
    let callback = v.check_opt("callbackUrl", update.callback_url.as_deref(), callback_url);
    let served = v.check_opt(
        "municipalityCodes",
        update.municipality_codes.as_deref(),
        municipality_codes,
    );
    let new_scopes = v.check_opt("scopes", update.scopes.as_deref(), scopes);
    let (callback, served, new_scopes) = v.finish((callback, served, new_scopes))?;
    let mut conn = state.db().await?;
    let client = conn
        .transaction(async |conn| {
            let found: Option<Uuid> = diesel::update(clients::table.find(id))
                .set((
                    update.active.map(|a| clients::active.eq(a)),
                    callback.as_ref().map(|c| clients::callback_url.eq(c)),
                    new_scopes.as_ref().map(|s| clients::scopes.eq(s)),
                    clients::updated_at.eq(diesel::dsl::now),
                ))
                .returning(clients::id)
                .get_result(conn)
                .await
                .optional()?;
            found.ok_or_else(|| ApiError::not_found("Client"))?;
            if let Some(served) = &served {
                set_municipalities(conn, id, served).await?;
            }
            let changed: Vec<&str> = [
                update.active.map(|_| "active"),
                callback.as_ref().map(|_| "callbackUrl"),
                served.as_ref().map(|_| "municipalityCodes"),
                new_scopes.as_ref().map(|_| "scopes"),
            ]
            .into_iter()
            .flatten()
            .collect();
            event
                .detail(json!({"changed": changed}))
                .record(conn)
                .await?;
            load_client(conn, id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(client))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/clients")
            .route(web::post().to(create_client))
            .route(web::get().to(list_clients)),
    )
    .service(
        web::resource("/clients/{id}")
            .route(web::get().to(get_client))
            .route(web::patch().to(update_client)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_are_https_or_loopback_http() {
        assert!(callback_url("https://his.example.nl/hook").is_ok());
        assert!(callback_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(callback_url("http://localhost/hook").is_ok());
        assert!(callback_url("http://[::1]:8000/").is_ok());
        for bad in [
            "http://his.example.nl/hook",
            "ftp://example.nl/",
            "/relative",
            "https://user:pw@example.nl/",
            "https://example.nl/#frag",
            "",
        ] {
            assert!(callback_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_must_be_known_and_are_deduplicated() {
        let s = |v: &[&str]| scopes(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["referrals:write", "referrals:write"]).unwrap(),
            ["referrals:write"]
        );
        assert!(s(&[]).is_err());
        assert!(s(&["admin"]).is_err());
    }

    #[test]
    fn callback_secrets_follow_standard_webhooks() {
        let s = new_callback_secret();
        let key = B64.decode(s.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(s, new_callback_secret());
    }
}
