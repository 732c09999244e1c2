//! Administration endpoints: municipalities, teams, providers, user
//! accounts and machine clients (with the notifications sent to them).

use super::model::*;
use super::{approvals, service};
use crate::auth::principal::Bearer;
use crate::domain::{AccountApprovalId, ClientId, ProviderId, UserId};
use crate::error::ApiResult;
use crate::http::created;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::App;
use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::{web, HttpResponse};

// ---------------------------------------------------------------- Municipalities

/// Register a municipality.
#[utoipa::path(post, path = "/municipalities", tag = "Administration", operation_id = "createMunicipality",
    request_body = NewMunicipality,
    responses(
        (status = 201, description = "Created", body = Municipality),
        (status = 409, description = "Code already registered", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_municipality(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewMunicipality>,
) -> ApiResult<HttpResponse> {
    let created_one = service::create_municipality(&app, &bearer, body.0).await?;
    Ok(created(
        format!("/v1/municipalities/{}", created_one.code),
        &created_one,
    ))
}

/// List municipalities (admins: all; others: their own).
#[utoipa::path(get, path = "/municipalities", tag = "Administration", operation_id = "listMunicipalities",
    params(PageParams),
    responses((status = 200, description = "A page of municipalities", body = MunicipalityPage)))]
pub async fn list_municipalities(
    app: App,
    bearer: Bearer,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let page = service::list_municipalities(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

// ---------------------------------------------------------------- Teams

/// Register a team.
#[utoipa::path(post, path = "/teams", tag = "Administration", operation_id = "createTeam",
    request_body = NewTeam,
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 409, description = "Name already used in this municipality", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_team(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewTeam>,
) -> ApiResult<HttpResponse> {
    let team = service::create_team(&app, &bearer, body.0).await?;
    Ok(created(format!("/v1/teams/{}", team.id), &team))
}

/// List teams (admins: all; others: of their own municipality).
#[utoipa::path(get, path = "/teams", tag = "Administration", operation_id = "listTeams",
    params(TeamQuery),
    responses((status = 200, description = "A page of teams", body = TeamPage)))]
pub async fn list_teams(
    app: App,
    bearer: Bearer,
    query: ApiQuery<TeamQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_teams(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

// ---------------------------------------------------------------- Providers

/// Register a provider.
#[utoipa::path(post, path = "/providers", tag = "Administration", operation_id = "createProvider",
    request_body = NewProvider,
    responses(
        (status = 201, description = "Created", body = Provider),
        (status = 409, description = "AGB code already registered (`agb_code_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_provider(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewProvider>,
) -> ApiResult<HttpResponse> {
    let provider = service::create_provider(&app, &bearer, body.0).await?;
    Ok(created(format!("/v1/providers/{}", provider.id), &provider))
}

/// List providers.
#[utoipa::path(get, path = "/providers", tag = "Administration", operation_id = "listProviders",
    params(ProviderQuery),
    responses((status = 200, description = "A page of providers", body = ProviderPage)))]
pub async fn list_providers(
    app: App,
    bearer: Bearer,
    query: ApiQuery<ProviderQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_providers(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a provider.
#[utoipa::path(get, path = "/providers/{id}", tag = "Administration", operation_id = "getProvider",
    params(("id" = Uuid, Path, description = "Provider id")),
    responses((status = 200, description = "The provider", body = Provider)))]
pub async fn get_provider(
    app: App,
    bearer: Bearer,
    id: web::Path<ProviderId>,
) -> ApiResult<HttpResponse> {
    let provider = service::get_provider(&app, &bearer, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(provider))
}

/// Change a provider's name, AGB code or whether it takes new involvements.
#[utoipa::path(patch, path = "/providers/{id}", tag = "Administration", operation_id = "updateProvider",
    params(("id" = Uuid, Path, description = "Provider id")),
    request_body = ProviderUpdate,
    responses(
        (status = 200, description = "The changed provider", body = Provider),
        (status = 409, description = "AGB code already registered (`agb_code_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_provider(
    app: App,
    bearer: Bearer,
    id: web::Path<ProviderId>,
    body: ApiJson<ProviderUpdate>,
) -> ApiResult<HttpResponse> {
    let provider = service::update_provider(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(provider))
}

// ---------------------------------------------------------------- Users

/// Create a user account.
#[utoipa::path(post, path = "/users", tag = "Administration", operation_id = "createUser",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 409, description = "Username taken", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown municipality, team or provider; a password the policy refuses (`weak_password`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewUser>,
) -> ApiResult<HttpResponse> {
    let user = service::create_user(&app, &bearer, body.0).await?;
    Ok(created(format!("/v1/users/{}", user.id), &user))
}

/// List user accounts.
#[utoipa::path(get, path = "/users", tag = "Administration", operation_id = "listUsers",
    params(UserQuery),
    responses((status = 200, description = "A page of users", body = UserPage)))]
pub async fn list_users(
    app: App,
    bearer: Bearer,
    query: ApiQuery<UserQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_users(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Get a user account.
#[utoipa::path(get, path = "/users/{id}", tag = "Administration", operation_id = "getUser",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User)))]
pub async fn get_user(app: App, bearer: Bearer, id: web::Path<UserId>) -> ApiResult<HttpResponse> {
    let user = service::get_user(&app, &bearer, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Change a user account; `active: false` disables it.
#[utoipa::path(patch, path = "/users/{id}", tag = "Administration", operation_id = "updateUser",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "The changed user", body = User),
        (status = 422, description = "Unknown team; a password the policy refuses (`weak_password`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_user(
    app: App,
    bearer: Bearer,
    id: web::Path<UserId>,
    body: ApiJson<UserUpdate>,
) -> ApiResult<HttpResponse> {
    let user = service::update_user(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(user))
}

// ---------------------------------------------------------------- Account approvals

/// Requests to approve accounts whose credentials an admin set (team leads
/// and auditors, of their own municipality).
#[utoipa::path(get, path = "/account-approvals", tag = "Administration", operation_id = "listAccountApprovals",
    params(AccountApprovalQuery),
    responses((status = 200, description = "A page of approval requests, oldest first", body = AccountApprovalPage)))]
pub async fn list_account_approvals(
    app: App,
    bearer: Bearer,
    query: ApiQuery<AccountApprovalQuery>,
) -> ApiResult<HttpResponse> {
    let page = approvals::list_account_approvals(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Approve an account an admin created or whose password an admin reset (a
/// team lead of its municipality, not for their own account); until then
/// it cannot log in.
#[utoipa::path(post, path = "/account-approvals/{id}/approve", tag = "Administration", operation_id = "approveAccount",
    params(("id" = Uuid, Path, description = "Approval request id")),
    responses(
        (status = 200, description = "Approved; the account can log in", body = AccountApproval),
        (status = 409, description = "Already approved or superseded (`approval_not_pending`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_account(
    app: App,
    bearer: Bearer,
    id: web::Path<AccountApprovalId>,
) -> ApiResult<HttpResponse> {
    let approval = approvals::approve_account(&app, &bearer, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(approval))
}

// ---------------------------------------------------------------- Machine clients

/// Register a machine client; its secrets are in this response only.
#[utoipa::path(post, path = "/clients", tag = "Administration", operation_id = "createClient",
    request_body = NewClient,
    responses(
        (status = 201, description = "Registered; store clientSecret and callbackSecret now", body = CreatedClient),
        (status = 409, description = "Name already in use (`client_name_taken`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A municipality is not registered (`unknown_municipality`), or the callback URL reaches a non-public address (`callback_url_not_allowed`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_client(
    app: App,
    bearer: Bearer,
    body: ApiJson<NewClient>,
) -> ApiResult<HttpResponse> {
    let registered = service::create_client(&app, &bearer, body.0).await?;
    let mut response = created(format!("/v1/clients/{}", registered.client_id), &registered);
    // The secrets must not linger in a cache.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// List machine clients.
#[utoipa::path(get, path = "/clients", tag = "Administration", operation_id = "listClients",
    params(ClientQuery),
    responses((status = 200, description = "A page of clients", body = ClientPage)))]
pub async fn list_clients(
    app: App,
    bearer: Bearer,
    query: ApiQuery<ClientQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_clients(&app, &bearer, query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a machine client.
#[utoipa::path(get, path = "/clients/{id}", tag = "Administration", operation_id = "getClient",
    params(("id" = Uuid, Path, description = "Client id")),
    responses((status = 200, description = "The client", body = Client)))]
pub async fn get_client(
    app: App,
    bearer: Bearer,
    id: web::Path<ClientId>,
) -> ApiResult<HttpResponse> {
    let client = service::get_client(&app, &bearer, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(client))
}

/// Disable a client, or change its callback URL, municipalities or scopes.
#[utoipa::path(patch, path = "/clients/{id}", tag = "Administration", operation_id = "updateClient",
    params(("id" = Uuid, Path, description = "Client id")),
    request_body = ClientUpdate,
    responses(
        (status = 200, description = "The changed client", body = Client),
        (status = 422, description = "A municipality is not registered (`unknown_municipality`), or the callback URL reaches a non-public address (`callback_url_not_allowed`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_client(
    app: App,
    bearer: Bearer,
    id: web::Path<ClientId>,
    body: ApiJson<ClientUpdate>,
) -> ApiResult<HttpResponse> {
    let client = service::update_client(&app, &bearer, id.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(client))
}

/// Notifications sent to a client, with every delivery attempt (admin).
#[utoipa::path(get, path = "/clients/{id}/notifications", tag = "Administration", operation_id = "listClientNotifications",
    params(("id" = Uuid, Path, description = "Client id"), NotificationQuery),
    responses((status = 200, description = "A page of notifications", body = NotificationPage)))]
pub async fn list_notifications(
    app: App,
    bearer: Bearer,
    id: web::Path<ClientId>,
    query: ApiQuery<NotificationQuery>,
) -> ApiResult<HttpResponse> {
    let page = service::list_notifications(&app, &bearer, id.into_inner(), query.0).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Every administration route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/municipalities")
            .route(web::post().to(create_municipality))
            .route(web::get().to(list_municipalities)),
    );
    cfg.service(
        web::resource("/teams")
            .route(web::post().to(create_team))
            .route(web::get().to(list_teams)),
    );
    cfg.service(
        web::resource("/providers")
            .route(web::post().to(create_provider))
            .route(web::get().to(list_providers)),
    )
    .service(
        web::resource("/providers/{id}")
            .route(web::get().to(get_provider))
            .route(web::patch().to(update_provider)),
    );
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
    cfg.service(web::resource("/account-approvals").route(web::get().to(list_account_approvals)))
        .service(
            web::resource("/account-approvals/{id}/approve").route(web::post().to(approve_account)),
        );
    cfg.service(
        web::resource("/clients")
            .route(web::post().to(create_client))
            .route(web::get().to(list_clients)),
    )
    .service(
        web::resource("/clients/{id}")
            .route(web::get().to(get_client))
            .route(web::patch().to(update_client)),
    )
    .service(web::resource("/clients/{id}/notifications").route(web::get().to(list_notifications)));
}
