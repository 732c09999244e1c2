//! Reads and writes of providers.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Provider, ProviderChange};
use crate::db::schema::providers;
use crate::domain::{AgbCode, ProviderId};

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
