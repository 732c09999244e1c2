//! Reads and writes of machine clients.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Client, ClientChange, ClientRow, ClientSpec};
use crate::db::schema::{client_municipalities, clients};
use crate::domain::{ClientId, UserId};

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
