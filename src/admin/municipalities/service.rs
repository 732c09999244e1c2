//! What the municipality endpoints do, each in one transaction.

use super::model::{Municipality, MunicipalityPage, NewMunicipality, PageParams};
use super::queries;
use crate::audit::AuditEvent;
use crate::auth::policy;
use crate::auth::principal::Bearer;
use crate::domain::Role;
use crate::error::ApiResult;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

/// Registers a municipality (admins).
#[tracing::instrument(skip_all, fields(municipality = tracing::field::Empty))]
pub async fn create_municipality(
    app: &AppState,
    bearer: &Bearer,
    input: NewMunicipality,
) -> ApiResult<Municipality> {
    app.transaction(async |tx| {
        let me = tx.user(bearer).await?;
        // A refusal is recorded with the code the caller named.
        let event = AuditEvent::by(&me, "create", "municipality", &input.code);
        tx.enforce(policy::admin(&me), "municipality", event.clone())
            .await?;
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
