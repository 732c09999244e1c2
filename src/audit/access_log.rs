//! A family's access log: who looked at or changed its file (NEN 7513, and
//! the family's right of access under AVG art. 15). It names organisations
//! and roles, never the staff members themselves: the family learns which
//! team, provider or GI touched its data, and the municipality keeps its
//! employees' names out of the answer to a subject access request.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Bool, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AuditEvent;
use crate::auth::policy::{self, Denial};
use crate::auth::{enforce, Principal};
use crate::error::{ApiError, ApiResult};
use crate::families::queries::{family_facts, FactsOf};
use crate::http::extract::ApiQuery;
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

/// Shown for GI workers: the system does not model GI organisations yet,
/// and the family needs to know the kind of organisation, not the person.
const GI_ORGANISATION: &str = "Gecertificeerde instelling";
/// Shown for the server's own work (the periodic signal refresh).
const SYSTEM_ORGANISATION: &str = "Gezinsregie (systeem)";
/// Shown for functional administrators.
const ADMIN_ORGANISATION: &str = "Functioneel beheer";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// One access to the family's data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogEntry {
    pub occurred_at: DateTime<Utc>,
    /// Team or municipality for municipal staff, the provider for provider
    /// staff, the GI for GI workers, the referring organisation for systems.
    #[schema(example = "JGT Leiden Noord")]
    pub organisation: String,
    /// Role of the actor at the time, e.g. `jgt_worker`, `provider_user`, `client`.
    pub role: String,
    /// `read`, `search`, `create`, `update`, `close`, `access_denied`, ...
    pub action: String,
    /// `family`, `plan`, `member`, `involvement`, `referral`, ...
    pub resource_type: String,
    /// The access was made by breaking the glass.
    pub emergency_access: bool,
    /// `success`, `denied` or `error`.
    pub outcome: String,
}

crate::page_type!(
    AccessLogPage,
    AccessLogEntry,
    "A page of the family's access log, newest first."
);

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Int8)]
    seq: i64,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    actor_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    actor_role: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    organisation: Option<String>,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    resource_type: String,
    #[diesel(sql_type = Bool)]
    emergency_access: bool,
    #[diesel(sql_type = Text)]
    outcome: String,
}

/// The organisation an event is shown under. The actor's current team,
/// municipality or provider (the trail records the role at the time).
fn organisation(row: &Row) -> String {
    if let Some(name) = &row.organisation {
        return name.clone();
    }
    match (row.actor_type.as_str(), row.actor_role.as_deref()) {
        ("system", _) => SYSTEM_ORGANISATION,
        (_, Some("gi_worker")) => GI_ORGANISATION,
        (_, Some("admin")) => ADMIN_ORGANISATION,
        _ => "Onbekend",
    }
    .to_owned()
}

/// Who accessed this family's data, newest first (the family's right of access).
///
/// For the team lead and the auditor of the family's municipality and the
/// family's current director. Entries name organisations and roles, not
/// people. Reading the log is itself logged.
#[utoipa::path(get, path = "/families/{id}/access-log", tag = "Families", operation_id = "getFamilyAccessLog",
    params(("id" = Uuid, Path, description = "Family id"), AccessLogQuery),
    responses((status = 200, description = "A page of accesses, newest first", body = AccessLogPage)))]
pub async fn get_access_log(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    query: ApiQuery<AccessLogQuery>,
) -> ApiResult<HttpResponse> {
    let family_id = id.into_inner();
    let q = query.0;
    let event = AuditEvent::by(&principal, "read", "access_log", family_id);
    // Admins never see family data: refused before anything is looked up.
    enforce(
        &state,
        policy::family_data_role(&principal),
        "family",
        event.clone(),
    )
    .await?;
    let page = PageRequest::<i64>::parse(q.limit, q.cursor.as_deref())?;
    let facts = {
        let mut conn = state.db().await?;
        family_facts(&mut conn, FactsOf::Family(family_id.into())).await?
    };
    let Some(facts) = facts else {
        return Err(Denial::Hidden.into_error("family"));
    };
    let event = event
        .family(family_id)
        .municipality(facts.municipality_code.clone());
    enforce(
        &state,
        policy::read_access_log(&principal, &facts),
        "family",
        event.clone(),
    )
    .await?;
    let mut conn = state.db().await?;
    let page_out = conn
        .transaction(async |conn| {
            // Audited first, so the log also shows this very reading of it.
            event.record(conn).await?;
            let rows: Vec<Row> = diesel::sql_query(
                "SELECT e.seq, e.occurred_at, e.actor_type, e.actor_role, e.action,
                        e.resource_type, e.emergency_access, e.outcome,
                        CASE
                          WHEN e.actor_type = 'client' THEN e.on_behalf_of
                          WHEN u.role = 'provider_user' THEN p.name
                          WHEN u.role IN ('team_lead', 'jgt_worker') THEN COALESCE(t.name, 'Gemeente ' || m.name)
                          WHEN u.role = 'auditor' THEN 'Gemeente ' || m.name
                        END AS organisation
                 FROM audit_events e
                 LEFT JOIN users u ON e.actor_type = 'user' AND u.id = e.actor_id
                 LEFT JOIN teams t ON t.id = u.team_id
                 LEFT JOIN municipalities m ON m.code = u.municipality_code
                 LEFT JOIN providers p ON p.id = u.provider_id
                 WHERE e.family_id = $1
                   AND ($2::int8 IS NULL OR e.seq < $2)
                 ORDER BY e.seq DESC
                 LIMIT $3",
            )
            .bind::<SqlUuid, _>(family_id)
            .bind::<Nullable<Int8>, _>(page.after)
            .bind::<Int8, _>(page.fetch())
            .load(conn)
            .await?;
            let (rows, next_cursor) = finish(rows, page.limit, |r| r.seq);
            let items = rows
                .iter()
                .map(|r| AccessLogEntry {
                    occurred_at: r.occurred_at,
                    organisation: organisation(r),
                    role: r
                        .actor_role
                        .clone()
                        .unwrap_or_else(|| r.actor_type.clone()),
                    action: r.action.clone(),
                    resource_type: r.resource_type.clone(),
                    emergency_access: r.emergency_access,
                    outcome: r.outcome.clone(),
                })
                .collect();
            Ok::<_, ApiError>(AccessLogPage { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page_out))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/families/{id}/access-log").route(web::get().to(get_access_log)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(actor_type: &str, role: Option<&str>, organisation: Option<&str>) -> Row {
        Row {
            seq: 1,
            occurred_at: Utc::now(),
            actor_type: actor_type.into(),
            actor_role: role.map(str::to_owned),
            organisation: organisation.map(str::to_owned),
            action: "read".into(),
            resource_type: "family".into(),
            emergency_access: false,
            outcome: "success".into(),
        }
    }

    #[test]
    fn organisations_without_a_name_in_the_database_get_a_label_not_a_person() {
        assert_eq!(
            organisation(&row("user", Some("jgt_worker"), Some("JGT Noord"))),
            "JGT Noord"
        );
        assert_eq!(
            organisation(&row("user", Some("gi_worker"), None)),
            GI_ORGANISATION
        );
        assert_eq!(
            organisation(&row("system", None, None)),
            SYSTEM_ORGANISATION
        );
        assert_eq!(
            organisation(&row("user", Some("admin"), None)),
            ADMIN_ORGANISATION
        );
    }
}
