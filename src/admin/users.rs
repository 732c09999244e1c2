//! User accounts. Passwords are hashed with argon2id on the blocking pool and
//! never returned; disabling a user ends its sessions at their next request.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::admin::teams::queries::team_in_municipality;
use crate::admin::teams::service::unknown_team;
use crate::audit::AuditEvent;
use crate::auth::{enforce, password, policy, Principal};
use crate::db::schema::{
    auth_sessions, municipalities, providers, user_served_municipalities, users,
};
use crate::domain::{text, DomainError, MunicipalityCode, Role};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewUser {
    #[schema(example = "anna.devries", pattern = "^[A-Za-z0-9._@-]{3,100}$")]
    pub username: String,
    #[schema(example = "Anna de Vries", min_length = 1, max_length = 200)]
    pub display_name: String,
    pub role: Role,
    /// Required for every role except admin.
    #[schema(example = "0546")]
    pub municipality_code: Option<String>,
    /// Required for jgt_worker; optional for team_lead.
    pub team_id: Option<Uuid>,
    /// Required for provider_user, refused for other roles.
    pub provider_id: Option<Uuid>,
    /// For gi_worker: further municipalities its GI serves.
    pub served_municipality_codes: Option<Vec<String>>,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserUpdate {
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// `false` disables the account and ends its sessions.
    pub active: Option<bool>,
    pub team_id: Option<Uuid>,
    /// Sets a new password (12 to 128 characters).
    #[schema(min_length = 12, max_length = 128)]
    pub password: Option<String>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    role: String,
    municipality_code: Option<String>,
    team_id: Option<Uuid>,
    provider_id: Option<Uuid>,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A user account (never with its password).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality_code: Option<String>,
    pub team_id: Option<Uuid>,
    pub served_municipality_codes: Vec<String>,
    /// Provider of a provider_user.
    pub provider_id: Option<Uuid>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::page_type!(UserPage, User, "A page of users.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub role: Option<Role>,
    #[param(pattern = "^[0-9]{4}$")]
    pub municipality_code: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

fn username(input: &str) -> Result<String, DomainError> {
    let name = input.trim().to_lowercase();
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !(3..=100).contains(&name.len()) || !ok_chars {
        return Err(DomainError::new(
            ErrorCode::InvalidUsername,
            "3 to 100 characters: letters, digits and . _ - @",
        ));
    }
    Ok(name)
}

async fn load_users(conn: &mut AsyncPgConnection, rows: Vec<UserRow>) -> ApiResult<Vec<User>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let served: Vec<(Uuid, String)> = user_served_municipalities::table
        .filter(user_served_municipalities::user_id.eq_any(&ids))
        .select((
            user_served_municipalities::user_id,
            user_served_municipalities::municipality_code,
        ))
        .order(user_served_municipalities::municipality_code)
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            let role = Role::parse(&r.role)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role {}", r.role)))?;
            Ok(User {
                served_municipality_codes: served
                    .iter()
                    .filter(|(id, _)| *id == r.id)
                    .map(|(_, code)| code.clone())
                    .collect(),
                id: r.id,
                username: r.username,
                display_name: r.display_name,
                role,
                municipality_code: r.municipality_code,
                team_id: r.team_id,
                provider_id: r.provider_id,
                active: r.active,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

async fn load_user(conn: &mut AsyncPgConnection, id: Uuid) -> ApiResult<User> {
    let row: UserRow = users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found("User"))?;
    load_users(conn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("User"))
}

async fn hash_on_blocking_pool(password: String) -> ApiResult<String> {
    web::block(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing task: {e}")))?
        .map_err(ApiError::internal)
}

/// Validated input of a new account.
pub struct UserSpec {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub municipality: Option<MunicipalityCode>,
    pub team_id: Option<Uuid>,
    pub served: Vec<MunicipalityCode>,
    /// Provider of a provider_user; none for other roles.
    pub provider_id: Option<Uuid>,
    pub password: String,
}

impl NewUser {
    pub fn parse(self) -> ApiResult<UserSpec> {
        let mut v = Invalid::new();
        let name = v.check("username", username(&self.username));
        let display = v.check("displayName", text::required(&self.display_name, 200));
        let municipality = match (&self.municipality_code, self.role.needs_municipality()) {
            (Some(code), _) => v
                .check("municipalityCode", MunicipalityCode::parse(code))
                .map(Some),
            (None, true) => {
                v.push(
                    "municipalityCode",
                    ErrorCode::Required,
                    "Required for this role.",
                );
                None
            }
            (None, false) => Some(None),
        };
        if self.role == Role::JgtWorker && self.team_id.is_none() {
            v.push(
                "teamId",
                ErrorCode::Required,
                "A JGT worker belongs to a team.",
            );
        }
        if self.role == Role::ProviderUser && self.provider_id.is_none() {
            v.push(
                "providerId",
                ErrorCode::Required,
                "A provider user belongs to a provider.",
            );
        }
        if self.role != Role::ProviderUser && self.provider_id.is_some() {
            v.push(
                "providerId",
                ErrorCode::NotAllowed,
                "Only provider users belong to a provider.",
            );
        }
        let served_input = self.served_municipality_codes.unwrap_or_default();
        if self.role != Role::GiWorker && !served_input.is_empty() {
            v.push(
                "servedMunicipalityCodes",
                ErrorCode::NotAllowed,
                "Only GI workers serve further municipalities.",
            );
        }
        let mut served = Vec::new();
        for (i, code) in served_input.iter().enumerate() {
            if let Some(c) = v.check(
                &format!("servedMunicipalityCodes[{i}]"),
                MunicipalityCode::parse(code),
            ) {
                served.push(c);
            }
        }
        let pw = v.check(
            "password",
            password::check_policy(&self.password).map(|_| self.password.clone()),
        );
        let (username, display_name, municipality, password) =
            v.finish((name, display, municipality, pw))?;
        Ok(UserSpec {
            username,
            display_name,
            role: self.role,
            municipality,
            team_id: self.team_id,
            served,
            provider_id: self.provider_id,
            password,
        })
    }
}

/// Inserts a validated account (shared by the API, the CLI and demo data).
pub async fn insert_user(
    conn: &mut AsyncPgConnection,
    spec: &UserSpec,
    password_hash: &str,
) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    let municipality = spec.municipality.as_ref().map(|m| m.as_str().to_owned());
    if let Some(code) = &municipality {
        let mut wanted = vec![code.clone()];
        wanted.extend(spec.served.iter().map(|m| m.as_str().to_owned()));
        wanted.sort();
        wanted.dedup();
        let found: i64 = municipalities::table
            .filter(municipalities::code.eq_any(&wanted))
            .count()
            .get_result(conn)
            .await?;
        if found != wanted.len() as i64 {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownMunicipality,
                "A municipality code does not exist.",
            ));
        }
    }
    if let Some(team_id) = spec.team_id {
        if !team_in_municipality(conn, team_id.into(), municipality.as_deref()).await? {
            return Err(unknown_team());
        }
    }
    if let Some(provider_id) = spec.provider_id {
        let found: i64 = providers::table
            .find(provider_id)
            .count()
            .get_result(conn)
            .await?;
        if found == 0 {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownProvider,
                "The provider does not exist.",
            ));
        }
    }
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::username.eq(&spec.username),
            users::display_name.eq(&spec.display_name),
            users::role.eq(spec.role.as_str()),
            users::municipality_code.eq(&municipality),
            users::team_id.eq(spec.team_id),
            users::provider_id.eq(spec.provider_id),
            users::password_hash.eq(password_hash),
        ))
        .execute(conn)
        .await?;
    for code in &spec.served {
        if Some(code.as_str()) != municipality.as_deref() {
            diesel::insert_into(user_served_municipalities::table)
                .values((
                    user_served_municipalities::user_id.eq(id),
                    user_served_municipalities::municipality_code.eq(code.as_str()),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
    }
    Ok(id)
}

/// Create a user account.
#[utoipa::path(post, path = "/users", tag = "Administration", operation_id = "createUser",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 409, description = "Username taken", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown municipality, team or provider", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    body: ApiJson<NewUser>,
) -> ApiResult<HttpResponse> {
    let event = AuditEvent::by(&principal, "create", "user", "new");
    enforce(&state, policy::admin(&principal), "user", event.clone()).await?;
    let spec = body.0.parse()?;
    let hash = hash_on_blocking_pool(spec.password.clone()).await?;
    let mut conn = state.db().await?;
    let user = conn
        .transaction(async |conn| {
            let id = insert_user(conn, &spec, &hash).await?;
            let user = load_user(conn, id).await?;
            AuditEvent::by(&principal, "create", "user", id)
                .detail(json!({"role": spec.role.as_str()}))
                .record(conn)
                .await?;
            Ok::<_, ApiError>(user)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/users/{}", user.id)))
        .json(user))
}

/// List user accounts.
#[utoipa::path(get, path = "/users", tag = "Administration", operation_id = "listUsers",
    params(UserQuery),
    responses((status = 200, description = "A page of users", body = UserPage)))]
pub async fn list_users(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    query: ApiQuery<UserQuery>,
) -> ApiResult<HttpResponse> {
    let event = AuditEvent::by(&principal, "search", "user", "list");
    enforce(&state, policy::admin(&principal), "user", event).await?;
    let page = PageRequest::<Uuid>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let mut v = Invalid::new();
    let code = v.check_opt(
        "municipalityCode",
        query.0.municipality_code.as_deref(),
        MunicipalityCode::parse,
    );
    let (code,) = v.finish((code,))?;
    let mut conn = state.db().await?;
    let mut q = users::table
        .select(UserRow::as_select())
        .order(users::id)
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(users::id.gt(after));
    }
    if let Some(role) = query.0.role {
        q = q.filter(users::role.eq(role.as_str()));
    }
    if let Some(code) = &code {
        q = q.filter(users::municipality_code.eq(code.as_str()));
    }
    let rows = q.load(&mut conn).await?;
    let (rows, next_cursor) = finish(rows, page.limit, |u| u.id);
    let items = load_users(&mut conn, rows).await?;
    Ok(HttpResponse::Ok().json(UserPage { items, next_cursor }))
}

/// Get a user account.
#[utoipa::path(get, path = "/users/{id}", tag = "Administration", operation_id = "getUser",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User)))]
pub async fn get_user(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "read", "user", id);
    enforce(&state, policy::admin(&principal), "user", event).await?;
    let mut conn = state.db().await?;
    let user = load_user(&mut conn, id).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Change a user account; `active: false` disables it.
#[utoipa::path(patch, path = "/users/{id}", tag = "Administration", operation_id = "updateUser",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "The changed user", body = User),
        (status = 422, description = "Unknown team", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_user(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<UserUpdate>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "update", "user", id);
    enforce(&state, policy::admin(&principal), "user", event.clone()).await?;
    let update = body.0;
    let mut v = Invalid::new();
    let display = v.check(
        "displayName",
        text::replacement(update.display_name.as_deref(), 200),
    );
    let pw = v.check(
        "password",
        match &update.password {
            Some(p) => password::check_policy(p).map(|_| Some(p.clone())),
            None => Ok(None),
        },
    );
    let (display, pw) = v.finish((display, pw))?;
    let hash = match pw {
        Some(p) => Some(hash_on_blocking_pool(p).await?),
        None => None,
    };
    let mut conn = state.db().await?;
    let user = conn
        .transaction(async |conn| {
            let current = load_user(conn, id).await?;
            if let Some(team_id) = update.team_id {
                if !team_in_municipality(conn, team_id.into(), current.municipality_code.as_deref())
                    .await?
                {
                    return Err(unknown_team());
                }
            }
            diesel::update(users::table.find(id))
                .set((
                    display.as_ref().map(|d| users::display_name.eq(d)),
                    update.active.map(|a| users::active.eq(a)),
                    update.team_id.map(|t| users::team_id.eq(t)),
                    hash.as_ref().map(|h| users::password_hash.eq(h)),
                    users::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            if update.active == Some(false) || hash.is_some() {
                diesel::update(auth_sessions::table)
                    .filter(auth_sessions::user_id.eq(id))
                    .filter(auth_sessions::revoked_at.is_null())
                    .set((
                        auth_sessions::revoked_at.eq(diesel::dsl::now),
                        auth_sessions::revoked_reason.eq("user_disabled"),
                    ))
                    .execute(conn)
                    .await?;
            }
            let changed: Vec<&str> = [
                display.as_ref().map(|_| "displayName"),
                update.active.map(|_| "active"),
                update.team_id.map(|_| "teamId"),
                hash.as_ref().map(|_| "password"),
            ]
            .into_iter()
            .flatten()
            .collect();
            event
                .detail(json!({"changed": changed}))
                .record(conn)
                .await?;
            load_user(conn, id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::post().to(create_user))
            .route(web::get().to(list_users)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(get_user))
            .route(web::patch().to(update_user)),
    );
}
