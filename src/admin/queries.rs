//! Reads and writes of municipalities, teams, providers, users and
//! machine clients.

use super::model::*;
use crate::db::schema::{
    account_approvals, auth_sessions, client_municipalities, clients, municipalities,
    notification_attempts, notifications, providers, teams, user_served_municipalities, users,
};
use crate::domain::roles::{ApprovalReason, ApprovalStatus};
use crate::domain::{
    AccountApprovalId, AgbCode, ClientId, NotificationId, ProviderId, Role, TeamId, UserId,
};
use crate::notifications::DeliveryStatus;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

// ---------------------------------------------------------------- Municipalities

pub async fn insert_municipality(
    conn: &mut AsyncPgConnection,
    code: &str,
    name: &str,
) -> QueryResult<Municipality> {
    diesel::insert_into(municipalities::table)
        .values((municipalities::code.eq(code), municipalities::name.eq(name)))
        .returning(Municipality::as_returning())
        .get_result(conn)
        .await
}

/// A page of municipalities after `after`; only those of `visible` when
/// given.
pub async fn list_municipalities(
    conn: &mut AsyncPgConnection,
    visible: Option<&[String]>,
    after: Option<&str>,
    fetch: i64,
) -> QueryResult<Vec<Municipality>> {
    let mut q = municipalities::table
        .select(Municipality::as_select())
        .order(municipalities::code)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(municipalities::code.gt(after.to_owned()));
    }
    if let Some(visible) = visible {
        q = q.filter(municipalities::code.eq_any(visible.to_vec()));
    }
    q.load(conn).await
}

/// Whether a municipality with this code is registered.
pub async fn exists(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(municipalities::table.find(code)))
        .get_result(conn)
        .await
}

/// How many of `codes` (without repeats) are registered.
pub async fn count_registered(conn: &mut AsyncPgConnection, codes: &[String]) -> QueryResult<i64> {
    municipalities::table
        .filter(municipalities::code.eq_any(codes))
        .count()
        .get_result(conn)
        .await
}

// ---------------------------------------------------------------- Teams

/// Whether a municipality with this code is registered.
pub async fn municipality_exists(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(municipalities::table.find(code)))
        .get_result(conn)
        .await
}

pub async fn insert_team(
    conn: &mut AsyncPgConnection,
    id: TeamId,
    municipality: &str,
    name: &str,
) -> QueryResult<Team> {
    diesel::insert_into(teams::table)
        .values((
            teams::id.eq(id),
            teams::municipality_code.eq(municipality),
            teams::name.eq(name),
        ))
        .returning(Team::as_returning())
        .get_result(conn)
        .await
}

/// A page of teams after `after`, of `municipality` when given.
pub async fn list_teams(
    conn: &mut AsyncPgConnection,
    municipality: Option<&str>,
    after: Option<TeamId>,
    fetch: i64,
) -> QueryResult<Vec<Team>> {
    let mut q = teams::table
        .select(Team::as_select())
        .order(teams::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(teams::id.gt(after));
    }
    if let Some(code) = municipality {
        q = q.filter(teams::municipality_code.eq(code));
    }
    q.load(conn).await
}

/// Whether `team_id` is a team of `municipality` (so a record naming both
/// cannot name another municipality's team).
pub async fn team_in_municipality(
    conn: &mut AsyncPgConnection,
    team_id: TeamId,
    municipality: Option<&str>,
) -> QueryResult<bool> {
    let found: Option<String> = teams::table
        .find(team_id)
        .select(teams::municipality_code)
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some() && found.as_deref() == municipality)
}

// ---------------------------------------------------------------- Providers

pub async fn insert_provider(
    conn: &mut AsyncPgConnection,
    id: ProviderId,
    name: &str,
    agb_code: &AgbCode,
) -> QueryResult<Provider> {
    diesel::insert_into(providers::table)
        .values((
            providers::id.eq(id),
            providers::name.eq(name),
            providers::agb_code.eq(agb_code.as_str()),
        ))
        .returning(Provider::as_returning())
        .get_result(conn)
        .await
}

/// A page of providers after `after`; only the one with `agb_code` when
/// given.
pub async fn list_providers(
    conn: &mut AsyncPgConnection,
    agb_code: Option<&AgbCode>,
    after: Option<ProviderId>,
    fetch: i64,
) -> QueryResult<Vec<Provider>> {
    let mut q = providers::table
        .select(Provider::as_select())
        .order(providers::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(providers::id.gt(after));
    }
    if let Some(agb) = agb_code {
        q = q.filter(providers::agb_code.eq(agb.as_str().to_owned()));
    }
    q.load(conn).await
}

pub async fn provider(
    conn: &mut AsyncPgConnection,
    id: ProviderId,
) -> QueryResult<Option<Provider>> {
    providers::table
        .find(id)
        .select(Provider::as_select())
        .first(conn)
        .await
        .optional()
}

/// Whether a provider with this id is registered.
pub async fn provider_exists(conn: &mut AsyncPgConnection, id: ProviderId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(providers::table.find(id)))
        .get_result(conn)
        .await
}

/// Applies `change`; `None` when there is no such provider.
pub async fn update_provider(
    conn: &mut AsyncPgConnection,
    id: ProviderId,
    change: &ProviderChange,
) -> QueryResult<Option<Provider>> {
    diesel::update(providers::table.find(id))
        .set((
            change.name.as_ref().map(|n| providers::name.eq(n)),
            change
                .agb_code
                .as_ref()
                .map(|a| providers::agb_code.eq(a.as_str().to_owned())),
            change.active.map(|a| providers::active.eq(a)),
            providers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Provider::as_returning())
        .get_result(conn)
        .await
        .optional()
}

// ---------------------------------------------------------------- Users

/// Inserts an account whose references were checked.
pub async fn insert_user(
    conn: &mut AsyncPgConnection,
    id: UserId,
    spec: &UserSpec,
    password_hash: &str,
) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::username.eq(&spec.username),
            users::display_name.eq(&spec.display_name),
            users::role.eq(spec.role),
            users::municipality_code.eq(spec.municipality.as_ref().map(|m| m.as_str())),
            users::team_id.eq(spec.team_id),
            users::provider_id.eq(spec.provider_id),
            users::password_hash.eq(password_hash),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Records that `user` serves `municipality` besides its home one.
pub async fn add_served(
    conn: &mut AsyncPgConnection,
    user: UserId,
    municipality: &str,
) -> QueryResult<()> {
    diesel::insert_into(user_served_municipalities::table)
        .values((
            user_served_municipalities::user_id.eq(user),
            user_served_municipalities::municipality_code.eq(municipality),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// The accounts of `rows` (a page of [`list_users`]) with the
/// municipalities they serve.
pub async fn accounts(conn: &mut AsyncPgConnection, rows: Vec<UserRow>) -> QueryResult<Vec<User>> {
    let ids: Vec<UserId> = rows.iter().map(|r| r.id).collect();
    let served: Vec<(UserId, String)> = user_served_municipalities::table
        .filter(user_served_municipalities::user_id.eq_any(&ids))
        .select((
            user_served_municipalities::user_id,
            user_served_municipalities::municipality_code,
        ))
        .order(user_served_municipalities::municipality_code)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| User::of(r, &served)).collect())
}

pub async fn user(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    let row: Option<UserRow> = users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match row {
        Some(row) => Ok(accounts(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Rows of a page of accounts after `after`, of `role` and `municipality`
/// when given; [`accounts`] completes them.
pub async fn list_users(
    conn: &mut AsyncPgConnection,
    role: Option<Role>,
    municipality: Option<&str>,
    after: Option<UserId>,
    fetch: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut q = users::table
        .select(UserRow::as_select())
        .order(users::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(users::id.gt(after));
    }
    if let Some(role) = role {
        q = q.filter(users::role.eq(role));
    }
    if let Some(code) = municipality {
        q = q.filter(users::municipality_code.eq(code.to_owned()));
    }
    q.load(conn).await
}

/// Applies `change`, with the new password's hash when it sets one.
pub async fn update_user(
    conn: &mut AsyncPgConnection,
    id: UserId,
    change: &UserChange,
    password_hash: Option<&str>,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            change
                .display_name
                .as_ref()
                .map(|d| users::display_name.eq(d)),
            change.active.map(|a| users::active.eq(a)),
            change.team_id.map(|t| users::team_id.eq(t)),
            password_hash.map(|h| users::password_hash.eq(h)),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Ends every open session of `user`.
pub async fn revoke_sessions(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<()> {
    diesel::update(auth_sessions::table)
        .filter(auth_sessions::user_id.eq(user))
        .filter(auth_sessions::revoked_at.is_null())
        .set((
            auth_sessions::revoked_at.eq(diesel::dsl::now),
            auth_sessions::revoked_reason.eq("user_disabled"),
        ))
        .execute(conn)
        .await
        .map(drop)
}

// ---------------------------------------------------------------- Account approvals

/// Opens a request to approve `user` (of `municipality`) after an admin set
/// its credentials, superseding one still open, and makes the account
/// inert until it is approved.
pub async fn request_approval(
    conn: &mut AsyncPgConnection,
    user: UserId,
    municipality: &str,
    reason: ApprovalReason,
    requested_by: UserId,
) -> QueryResult<AccountApprovalId> {
    diesel::update(account_approvals::table)
        .filter(account_approvals::user_id.eq(user))
        .filter(account_approvals::status.eq(ApprovalStatus::Pending))
        .set((
            account_approvals::status.eq(ApprovalStatus::Superseded),
            account_approvals::decided_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    let id = AccountApprovalId::new();
    diesel::insert_into(account_approvals::table)
        .values((
            account_approvals::id.eq(id),
            account_approvals::user_id.eq(user),
            account_approvals::municipality_code.eq(municipality),
            account_approvals::reason.eq(reason),
            account_approvals::requested_by.eq(requested_by),
        ))
        .execute(conn)
        .await?;
    diesel::update(users::table.find(user))
        .set(users::approved.eq(false))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The columns of an [`AccountApproval`], its account joined.
type ApprovalColumns = (
    account_approvals::id,
    account_approvals::user_id,
    users::username,
    users::display_name,
    users::role,
    account_approvals::municipality_code,
    account_approvals::reason,
    account_approvals::status,
    account_approvals::requested_by,
    account_approvals::requested_at,
    account_approvals::decided_by,
    account_approvals::decided_at,
);

const APPROVAL_COLUMNS: ApprovalColumns = (
    account_approvals::id,
    account_approvals::user_id,
    users::username,
    users::display_name,
    users::role,
    account_approvals::municipality_code,
    account_approvals::reason,
    account_approvals::status,
    account_approvals::requested_by,
    account_approvals::requested_at,
    account_approvals::decided_by,
    account_approvals::decided_at,
);

/// A page of the approval requests of `municipality` after `after`, oldest
/// first, in `status` when given.
pub async fn list_approvals(
    conn: &mut AsyncPgConnection,
    municipality: &str,
    status: Option<ApprovalStatus>,
    after: Option<AccountApprovalId>,
    fetch: i64,
) -> QueryResult<Vec<AccountApproval>> {
    let mut q = account_approvals::table
        .inner_join(users::table.on(users::id.eq(account_approvals::user_id)))
        .filter(account_approvals::municipality_code.eq(municipality.to_owned()))
        .select(APPROVAL_COLUMNS)
        .order(account_approvals::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(account_approvals::id.gt(after));
    }
    if let Some(status) = status {
        q = q.filter(account_approvals::status.eq(status));
    }
    q.load(conn).await
}

/// One approval request, locked for its decision.
pub async fn lock_approval(
    conn: &mut AsyncPgConnection,
    id: AccountApprovalId,
) -> QueryResult<Option<AccountApproval>> {
    account_approvals::table
        .inner_join(users::table.on(users::id.eq(account_approvals::user_id)))
        .filter(account_approvals::id.eq(id))
        .select(APPROVAL_COLUMNS)
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Approves a pending request and makes its account usable.
pub async fn approve(
    conn: &mut AsyncPgConnection,
    id: AccountApprovalId,
    user: UserId,
    approver: UserId,
) -> QueryResult<()> {
    diesel::update(account_approvals::table.find(id))
        .set((
            account_approvals::status.eq(ApprovalStatus::Approved),
            account_approvals::decided_by.eq(approver),
            account_approvals::decided_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    diesel::update(users::table.find(user))
        .set(users::approved.eq(true))
        .execute(conn)
        .await
        .map(drop)
}

// ---------------------------------------------------------------- Machine clients

/// Inserts a client with its hashed secret and sealed callback secret.
pub async fn insert_client(
    conn: &mut AsyncPgConnection,
    id: ClientId,
    spec: &ClientSpec,
    secret_hash: &str,
    sealed_callback_secret: &[u8],
    created_by: Option<UserId>,
) -> QueryResult<()> {
    diesel::insert_into(clients::table)
        .values((
            clients::id.eq(id),
            clients::name.eq(&spec.name),
            clients::referrer_type.eq(spec.referrer_type),
            clients::agb_code.eq(spec.agb_code.as_ref().map(|a| a.as_str().to_owned())),
            clients::organisation_name.eq(&spec.organisation_name),
            clients::scopes.eq(&spec.scopes),
            clients::callback_url.eq(&spec.callback_url),
            clients::secret_hash.eq(secret_hash),
            clients::callback_secret.eq(sealed_callback_secret),
            clients::created_by.eq(created_by),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Replaces the municipalities of `client` by `codes` (all registered).
pub async fn replace_municipalities(
    conn: &mut AsyncPgConnection,
    client: ClientId,
    codes: &[String],
) -> QueryResult<()> {
    diesel::delete(
        client_municipalities::table.filter(client_municipalities::client_id.eq(client)),
    )
    .execute(conn)
    .await?;
    let rows: Vec<_> = codes
        .iter()
        .map(|c| {
            (
                client_municipalities::client_id.eq(client),
                client_municipalities::municipality_code.eq(c),
            )
        })
        .collect();
    diesel::insert_into(client_municipalities::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

/// The clients of `rows` with their municipalities.
async fn with_municipalities(
    conn: &mut AsyncPgConnection,
    rows: Vec<ClientRow>,
) -> QueryResult<Vec<Client>> {
    let ids: Vec<ClientId> = rows.iter().map(|r| r.id).collect();
    let served: Vec<(ClientId, String)> = client_municipalities::table
        .filter(client_municipalities::client_id.eq_any(&ids))
        .order((
            client_municipalities::client_id,
            client_municipalities::municipality_code,
        ))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| Client::of(r, &served)).collect())
}

/// A page of clients after `after`.
pub async fn list_clients(
    conn: &mut AsyncPgConnection,
    after: Option<ClientId>,
    fetch: i64,
) -> QueryResult<Vec<Client>> {
    let mut q = clients::table
        .select(ClientRow::as_select())
        .order(clients::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(clients::id.gt(after));
    }
    let rows = q.load(conn).await?;
    with_municipalities(conn, rows).await
}

pub async fn client(conn: &mut AsyncPgConnection, id: ClientId) -> QueryResult<Option<Client>> {
    let row: Option<ClientRow> = clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match row {
        Some(row) => Ok(with_municipalities(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Applies what `change` sets on the client's own row (its municipalities
/// are replaced apart); `false` when there is no such client.
pub async fn update_client(
    conn: &mut AsyncPgConnection,
    id: ClientId,
    change: &ClientChange,
) -> QueryResult<bool> {
    let found: Option<ClientId> = diesel::update(clients::table.find(id))
        .set((
            change.active.map(|a| clients::active.eq(a)),
            change
                .callback_url
                .as_ref()
                .map(|c| clients::callback_url.eq(c)),
            change.scopes.as_ref().map(|s| clients::scopes.eq(s)),
            clients::updated_at.eq(diesel::dsl::now),
        ))
        .returning(clients::id)
        .get_result(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

// ---------------------------------------------------------------- Notifications of a client

/// Whether a client with this id exists.
pub async fn client_exists(conn: &mut AsyncPgConnection, id: ClientId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(clients::table.find(id)))
        .get_result(conn)
        .await
}

/// A page of the notifications of `client` after `after`, oldest first, in
/// `status` when given.
pub async fn notifications_of(
    conn: &mut AsyncPgConnection,
    client: ClientId,
    status: Option<DeliveryStatus>,
    after: Option<NotificationId>,
    fetch: i64,
) -> QueryResult<Vec<NotificationRow>> {
    let mut q = notifications::table
        .filter(notifications::client_id.eq(client))
        .select(NotificationRow::as_select())
        .order(notifications::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(notifications::id.gt(after));
    }
    if let Some(status) = status {
        q = q.filter(notifications::status.eq(status));
    }
    q.load(conn).await
}

/// Every attempt of the notifications `ids`, by notification and attempt.
pub async fn attempts_of(
    conn: &mut AsyncPgConnection,
    ids: &[NotificationId],
) -> QueryResult<Vec<DeliveryAttempt>> {
    notification_attempts::table
        .filter(notification_attempts::notification_id.eq_any(ids))
        .order((
            notification_attempts::notification_id,
            notification_attempts::attempt,
        ))
        .select(DeliveryAttempt::as_select())
        .load(conn)
        .await
}
