//! What the administration endpoints do, each in one transaction. Admins
//! manage municipalities, teams, providers, users and clients; everyone
//! else may list what they work with (their municipality, its teams, the
//! providers).

use super::approvals::require_approval;
use super::model::*;
use super::queries;
use crate::admin::queries::{count_registered, provider_exists, team_in_municipality};
use crate::audit::AuditEvent;
use crate::auth::principal::Bearer;
use crate::auth::Principal;
use crate::auth::{password, password_policy, policy};
use crate::crypto::SecretBox;
use crate::domain::roles::ApprovalReason;
use crate::domain::{ClientId, MunicipalityCode, NotificationId, ProviderId, Role, TeamId, UserId};
use crate::error::{checked, validate, ApiError, ApiResult, ErrorCode, InvalidParam};
use crate::http::pagination::{finish, PageRequest};
use crate::notifications::address::AddressPolicy;
use crate::state::AppState;
use crate::tx::Tx;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

// ---------------------------------------------------------------- Municipalities

/// Registers a municipality (admins).
#[tracing::instrument(skip_all, fields(municipality = tracing::field::Empty))]
pub async fn create_municipality(
    app: &AppState,
    bearer: &Bearer,
    input: NewMunicipality,
) -> ApiResult<Municipality> {
    app.transaction(async |tx| {
        // A refusal is recorded with the code the caller named.
        let (_, event) = as_admin(tx, bearer, "create", "municipality", &input.code).await?;
        let spec = input.parse()?;
        let code = spec.code.as_str();
        tracing::Span::current().record("municipality", code);
        let created = queries::insert_municipality(tx.conn, code, &spec.name).await?;
        event.municipality(code).record(tx.conn).await?;
        Ok(created)
    })
    .await
}

/// A page of municipalities: all of them for admins, the ones they work
/// for (home and served) for everyone else.
#[tracing::instrument(skip_all)]
pub async fn list_municipalities(
    app: &AppState,
    bearer: &Bearer,
    query: PageParams,
) -> ApiResult<MunicipalityPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let page = PageRequest::<String>::parse(query.limit, query.cursor.as_deref())?;
        let visible = (me.role != Role::Admin).then(|| {
            let mut own = me.served_municipalities.clone();
            own.extend(me.municipality_code.clone());
            own
        });
        let rows = queries::list_municipalities(
            tx.conn,
            visible.as_deref(),
            page.after.as_deref(),
            page.fetch(),
        )
        .await?;
        let (items, next_cursor) = finish(rows, page.limit, |m| m.code.clone());
        Ok(MunicipalityPage { items, next_cursor })
    })
    .await
}

// ---------------------------------------------------------------- Teams

/// Registers a team (admins).
#[tracing::instrument(skip_all)]
pub async fn create_team(app: &AppState, bearer: &Bearer, input: NewTeam) -> ApiResult<Team> {
    let id = TeamId::new();
    app.transaction(async |tx| {
        let (_, event) = as_admin(tx, bearer, "create", "team", id).await?;
        let spec = input.parse()?;
        let municipality = spec.municipality.as_str();
        if !queries::municipality_exists(tx.conn, municipality).await? {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownMunicipality,
                "No municipality has this code.",
            ));
        }
        let team = queries::insert_team(tx.conn, id, municipality, &spec.name).await?;
        event.municipality(municipality).record(tx.conn).await?;
        Ok(team)
    })
    .await
}

/// A page of teams: all of them for admins, their own municipality's for
/// everyone else.
#[tracing::instrument(skip_all)]
pub async fn list_teams(app: &AppState, bearer: &Bearer, query: TeamQuery) -> ApiResult<TeamPage> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        let page = PageRequest::<TeamId>::parse(query.limit, query.cursor.as_deref())?;
        validate(&query)?;
        let asked = query
            .municipality_code
            .as_deref()
            .map(MunicipalityCode::parse)
            .transpose();
        let asked = checked(asked)?;
        let rows = if me.role == Role::Admin {
            let code = asked.as_ref().map(MunicipalityCode::as_str);
            queries::list_teams(tx.conn, code, page.after, page.fetch()).await?
        } else {
            // Someone of one municipality asking for another's sees none.
            match (&me.municipality_code, &asked) {
                (Some(own), Some(asked)) if own != asked.as_str() => Vec::new(),
                (Some(own), _) => {
                    queries::list_teams(tx.conn, Some(own), page.after, page.fetch()).await?
                }
                (None, _) => Vec::new(),
            }
        };
        let (items, next_cursor) = finish(rows, page.limit, |t| t.id);
        Ok(TeamPage { items, next_cursor })
    })
    .await
}

/// 422 for a team that does not belong to the municipality.
pub fn unknown_team() -> ApiError {
    ApiError::unprocessable(
        ErrorCode::UnknownTeam,
        "The team does not exist in this municipality.",
    )
}

// ---------------------------------------------------------------- Providers

/// Registers a provider (admins).
#[tracing::instrument(skip_all, fields(provider_id = tracing::field::Empty))]
pub async fn create_provider(
    app: &AppState,
    bearer: &Bearer,
    input: NewProvider,
) -> ApiResult<Provider> {
    let id = ProviderId::new();
    tracing::Span::current().record("provider_id", tracing::field::display(id));
    app.transaction(async |tx| {
        let (_, event) = as_admin(tx, bearer, "create", "provider", id).await?;
        let spec = input.parse()?;
        let provider = queries::insert_provider(tx.conn, id, &spec.name, &spec.agb_code).await?;
        event
            .detail(json!({"agbCode": spec.agb_code.as_str()}))
            .record(tx.conn)
            .await?;
        Ok(provider)
    })
    .await
}

/// A page of providers (every logged-in user).
#[tracing::instrument(skip_all)]
pub async fn list_providers(
    app: &AppState,
    bearer: &Bearer,
    query: ProviderQuery,
) -> ApiResult<ProviderPage> {
    app.transaction(async |tx| {
        tx.user(bearer).await?;
        let page = PageRequest::<ProviderId>::parse(query.limit, query.cursor.as_deref())?;
        let agb_code = query.agb_code()?;
        let rows =
            queries::list_providers(tx.conn, agb_code.as_ref(), page.after, page.fetch()).await?;
        let (items, next_cursor) = finish(rows, page.limit, |p| p.id);
        Ok(ProviderPage { items, next_cursor })
    })
    .await
}

/// One provider (every logged-in user).
#[tracing::instrument(skip_all, fields(provider_id = %id))]
pub async fn get_provider(app: &AppState, bearer: &Bearer, id: ProviderId) -> ApiResult<Provider> {
    app.transaction(async |tx| {
        tx.user(bearer).await?;
        queries::provider(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Provider"))
    })
    .await
}

/// Changes a provider's name, AGB code or whether it takes new
/// involvements (admins).
#[tracing::instrument(skip_all, fields(provider_id = %id))]
pub async fn update_provider(
    app: &AppState,
    bearer: &Bearer,
    id: ProviderId,
    input: ProviderUpdate,
) -> ApiResult<Provider> {
    app.transaction(async |tx| {
        let (_, event) = as_admin(tx, bearer, "update", "provider", id).await?;
        let change = input.parse()?;
        let provider = queries::update_provider(tx.conn, id, &change)
            .await?
            .ok_or_else(|| ApiError::not_found("Provider"))?;
        event
            .detail(json!({"changed": change.changed()}))
            .record(tx.conn)
            .await?;
        Ok(provider)
    })
    .await
}

// ---------------------------------------------------------------- Users

/// Creates an account (admins).
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn create_user(app: &AppState, bearer: &Bearer, input: NewUser) -> ApiResult<User> {
    app.transaction(async |tx| {
        let (me, _) = as_admin(tx, bearer, "create", "user", "new").await?;
        let spec = input.parse()?;
        let hash = password::hash_off_worker(spec.password.clone()).await?;
        let id = UserId::from_uuid(insert_user(tx.conn, &spec, &hash).await?);
        tracing::Span::current().record("user_id", tracing::field::display(id));
        let municipality = spec.municipality.as_ref().map(MunicipalityCode::as_str);
        let approval = require_approval(
            tx,
            &me,
            id,
            spec.role,
            municipality,
            ApprovalReason::Created,
        )
        .await?;
        let user = queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))?;
        AuditEvent::by(&me, "create", "user", id)
            .detail(json!({"role": spec.role.as_str(), "approvalId": approval}))
            .record(tx.conn)
            .await?;
        Ok(user)
    })
    .await
}

/// Inserts a validated account in the caller's transaction, after checking
/// that its municipalities, team and provider exist (422 when one does
/// not). Shared by the API, the CLI and the demo data.
pub async fn insert_user(
    conn: &mut AsyncPgConnection,
    spec: &UserSpec,
    password_hash: &str,
) -> ApiResult<Uuid> {
    let id = UserId::new();
    let municipality = spec.municipality.as_ref().map(MunicipalityCode::as_str);
    if let Some(code) = municipality {
        let mut wanted = vec![code.to_owned()];
        wanted.extend(spec.served.iter().map(|m| m.as_str().to_owned()));
        wanted.sort();
        wanted.dedup();
        if count_registered(conn, &wanted).await? != wanted.len() as i64 {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownMunicipality,
                "A municipality code does not exist.",
            ));
        }
    }
    if let Some(team_id) = spec.team_id {
        if !team_in_municipality(conn, team_id.into(), municipality).await? {
            return Err(unknown_team());
        }
    }
    if let Some(provider_id) = spec.provider_id {
        if !provider_exists(conn, provider_id.into()).await? {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownProvider,
                "The provider does not exist.",
            ));
        }
    }
    queries::insert_user(conn, id, spec, password_hash).await?;
    for code in &spec.served {
        // The home municipality is served anyway.
        if Some(code.as_str()) != municipality {
            queries::add_served(conn, id, code.as_str()).await?;
        }
    }
    Ok(id.uuid())
}

/// A page of accounts (admins).
#[tracing::instrument(skip_all)]
pub async fn list_users(app: &AppState, bearer: &Bearer, query: UserQuery) -> ApiResult<UserPage> {
    app.transaction(async |tx| {
        as_admin(tx, bearer, "search", "user", "list").await?;
        let page = PageRequest::<UserId>::parse(query.limit, query.cursor.as_deref())?;
        let municipality = query.municipality()?;
        let rows = queries::list_users(
            tx.conn,
            query.role,
            municipality.as_ref().map(MunicipalityCode::as_str),
            page.after,
            page.fetch(),
        )
        .await?;
        let (rows, next_cursor) = finish(rows, page.limit, |u| u.id);
        let items = queries::accounts(tx.conn, rows).await?;
        Ok(UserPage { items, next_cursor })
    })
    .await
}

/// One account (admins).
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn get_user(app: &AppState, bearer: &Bearer, id: UserId) -> ApiResult<User> {
    app.transaction(async |tx| {
        as_admin(tx, bearer, "read", "user", id).await?;
        queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))
    })
    .await
}

/// Changes an account (admins); disabling it or setting a new password
/// ends its sessions.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn update_user(
    app: &AppState,
    bearer: &Bearer,
    id: UserId,
    input: UserUpdate,
) -> ApiResult<User> {
    app.transaction(async |tx| {
        let (me, event) = as_admin(tx, bearer, "update", "user", id).await?;
        let change = input.parse()?;
        let current = queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))?;
        if let Some(team_id) = change.team_id {
            let municipality = current.municipality_code.as_deref();
            if !team_in_municipality(tx.conn, team_id, municipality).await? {
                return Err(unknown_team());
            }
        }
        let hash = match &change.password {
            Some(new) => {
                password_policy::enforce("password", new, &current.username)?;
                Some(password::hash_off_worker(new.clone()).await?)
            }
            None => None,
        };
        queries::update_user(tx.conn, id, &change, hash.as_deref()).await?;
        if change.ends_sessions() {
            queries::revoke_sessions(tx.conn, id).await?;
        }
        let approval = match hash {
            Some(_) => {
                let municipality = current.municipality_code.as_deref();
                let reset = ApprovalReason::PasswordReset;
                require_approval(tx, &me, id, current.role, municipality, reset).await?
            }
            None => None,
        };
        event
            .detail(json!({"changed": change.changed(), "approvalId": approval}))
            .record(tx.conn)
            .await?;
        queries::user(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("User"))
    })
    .await
}

// ---------------------------------------------------------------- Machine clients

/// Registers a client (admins) with a fresh secret and callback secret,
/// both in the answer only.
#[tracing::instrument(skip_all, fields(client_id = tracing::field::Empty))]
pub async fn create_client(
    app: &AppState,
    bearer: &Bearer,
    input: NewClient,
) -> ApiResult<CreatedClient> {
    let id = ClientId::new();
    tracing::Span::current().record("client_id", tracing::field::display(id));
    app.transaction(async |tx| {
        let (me, event) = as_admin(tx, bearer, "create", "client", id).await?;
        let spec = input.parse()?;
        check_callback(tx.app, spec.callback_url.as_deref()).await?;
        let secret = crate::auth::tokens::random_token();
        let hashed = password::hash_off_worker(secret.clone()).await?;
        let sealer = &tx.app.callback_secrets;
        let (client, callback_secret) =
            insert_client(tx.conn, sealer, id, &spec, &hashed, Some(me.user_id)).await?;
        event
            .detail(json!({
                "referrerType": spec.referrer_type.code(),
                "municipalityCodes": spec.municipality_codes,
                "scopes": spec.scopes,
                "callback": spec.callback_url.is_some(),
            }))
            .record(tx.conn)
            .await?;
        Ok(CreatedClient {
            client,
            client_id: id,
            client_secret: secret,
            callback_secret,
        })
    })
    .await
}

/// Inserts a client with the argon2id hash of its secret and a fresh,
/// sealed callback secret, in the caller's transaction (422 when one of its
/// municipalities is not registered). Returns the client and the callback
/// secret in clear (to show once). Shared by the API, the CLI and the demo.
pub async fn insert_client(
    conn: &mut AsyncPgConnection,
    sealer: &SecretBox,
    id: impl Into<ClientId>,
    spec: &ClientSpec,
    secret_hash: &str,
    created_by: Option<UserId>,
) -> ApiResult<(Client, String)> {
    let id = id.into();
    let callback_secret = new_callback_secret();
    let sealed = sealer.seal(callback_secret.as_bytes())?;
    queries::insert_client(conn, id, spec, secret_hash, &sealed, created_by).await?;
    set_municipalities(conn, id, &spec.municipality_codes).await?;
    let client = queries::client(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Client"))?;
    Ok((client, callback_secret))
}

/// Replaces the client's municipalities; 422 when one is not registered.
async fn set_municipalities(
    conn: &mut AsyncPgConnection,
    client: ClientId,
    codes: &[String],
) -> ApiResult<()> {
    if count_registered(conn, codes).await? != codes.len() as i64 {
        return Err(ApiError::unprocessable(
            ErrorCode::UnknownMunicipality,
            "A municipality in municipalityCodes is not registered.",
        )
        .with_extra("field", "municipalityCodes"));
    }
    Ok(queries::replace_municipalities(conn, client, codes).await?)
}

/// A fresh Standard Webhooks signing secret: `whsec_` + 32 random bytes.
fn new_callback_secret() -> String {
    format!("whsec_{}", B64.encode(crate::auth::tokens::random_bytes()))
}

/// A page of clients (admins).
#[tracing::instrument(skip_all)]
pub async fn list_clients(
    app: &AppState,
    bearer: &Bearer,
    query: ClientQuery,
) -> ApiResult<ClientPage> {
    app.transaction(async |tx| {
        as_admin(tx, bearer, "search", "client", "list").await?;
        let page = PageRequest::<ClientId>::parse(query.limit, query.cursor.as_deref())?;
        let rows = queries::list_clients(tx.conn, page.after, page.fetch()).await?;
        let (items, next_cursor) = finish(rows, page.limit, |c| c.id);
        Ok(ClientPage { items, next_cursor })
    })
    .await
}

/// One client (admins).
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn get_client(app: &AppState, bearer: &Bearer, id: ClientId) -> ApiResult<Client> {
    app.transaction(async |tx| {
        as_admin(tx, bearer, "read", "client", id).await?;
        queries::client(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Client"))
    })
    .await
}

/// Disables a client, or changes its callback URL, municipalities or
/// scopes (admins).
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn update_client(
    app: &AppState,
    bearer: &Bearer,
    id: ClientId,
    input: ClientUpdate,
) -> ApiResult<Client> {
    app.transaction(async |tx| {
        let (_, event) = as_admin(tx, bearer, "update", "client", id).await?;
        let change = input.parse()?;
        check_callback(tx.app, change.callback_url.as_deref()).await?;
        if !queries::update_client(tx.conn, id, &change).await? {
            return Err(ApiError::not_found("Client"));
        }
        if let Some(codes) = &change.municipality_codes {
            set_municipalities(tx.conn, id, codes).await?;
        }
        event
            .detail(json!({"changed": change.changed()}))
            .record(tx.conn)
            .await?;
        queries::client(tx.conn, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Client"))
    })
    .await
}

/// The notifications sent to a client, with every delivery attempt, for
/// admins tracing a failing integration.
#[tracing::instrument(skip_all, fields(client = %client_id))]
pub async fn list_notifications(
    app: &AppState,
    bearer: &Bearer,
    client_id: ClientId,
    query: NotificationQuery,
) -> ApiResult<NotificationPage> {
    app.transaction(async |tx| {
        let (me, event) = tx
            .user_doing(bearer, "read", "client_notifications", client_id)
            .await?;
        tx.enforce(policy::admin(&me), "client", event).await?;
        let page = PageRequest::<NotificationId>::parse(query.limit, query.cursor.as_deref())?;
        if !queries::client_exists(tx.conn, client_id).await? {
            return Err(ApiError::not_found("Client"));
        }
        let rows =
            queries::notifications_of(tx.conn, client_id, query.status, page.after, page.fetch())
                .await?;
        let ids: Vec<NotificationId> = rows.iter().map(|r| r.id).collect();
        let mut attempts = queries::attempts_of(tx.conn, &ids).await?;
        let items = rows
            .into_iter()
            .map(|r| Notification::of(r, &mut attempts))
            .collect();
        let (items, next_cursor) = finish(items, page.limit, |n: &Notification| n.id);
        Ok(NotificationPage { items, next_cursor })
    })
    .await
}

/// 422 `callback_url_not_allowed` for a callback URL that reaches an
/// address the notification settings do not allow (loopback, private,
/// link-local, ...; see `notifications::address`).
async fn check_callback(app: &AppState, url: Option<&str>) -> ApiResult<()> {
    let Some(url) = url else {
        return Ok(());
    };
    let policy = AddressPolicy::from_settings(&app.notifications).map_err(ApiError::internal)?;
    policy.check_url(url).await.map(drop).map_err(|refused| {
        let mut e = ApiError::unprocessable(
            ErrorCode::CallbackUrlNotAllowed,
            "The callback URL does not reach an allowed address; see invalidParams.",
        );
        e.invalid_params = vec![InvalidParam::new(
            "callbackUrl",
            ErrorCode::CallbackUrlNotAllowed,
            refused.0,
        )];
        e
    })
}

/// The admin behind `bearer` and the audit event of what it does
/// (`action` on `resource` `id`). Anyone else gets the refusal, audited as
/// `access_denied` with that event, in this transaction.
async fn as_admin(
    tx: &mut Tx<'_>,
    bearer: &Bearer,
    action: &'static str,
    resource: &'static str,
    id: impl ToString,
) -> ApiResult<(Principal, AuditEvent)> {
    let (me, event) = tx.user_doing(bearer, action, resource, id).await?;
    tx.enforce(policy::admin(&me), resource, event.clone())
        .await?;
    Ok((me, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_secrets_follow_standard_webhooks() {
        let s = new_callback_secret();
        let key = B64.decode(s.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(s, new_callback_secret());
    }
}
