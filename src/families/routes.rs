//! Family endpoints: register, search, read, change, members.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use actix_web::{web, HttpResponse};
use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use super::access_legacy::{authorize, authorize_read};
use super::model::*;
use super::queries::{load_family, plan_summaries, FactsOf, MemberRow};
use crate::admin::teams::queries::team_in_municipality;
use crate::admin::teams::service::unknown_team;
use crate::audit::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::crypto::BsnVault;
use crate::db::schema::{families, family_members};
use crate::db::sql::cached;
use crate::domain::{text, Bsn, MemberRole, Role};
use crate::error::ErrorCode;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::access_reason::AccessReason;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

type State = web::Data<Arc<AppState>>;

/// Inserts one member; a child whose BSN is active in another family is
/// refused (the partial unique index decides under concurrency, this check
/// only names the field).
pub async fn insert_member(
    conn: &mut AsyncPgConnection,
    vault: &BsnVault,
    family_id: Uuid,
    spec: &MemberSpec,
    field: &str,
) -> ApiResult<Uuid> {
    let (ciphertext, hash) = match &spec.bsn {
        Some(bsn) => (Some(vault.encrypt(bsn)?), Some(vault.hash(bsn))),
        None => (None, None),
    };
    if let (Some(hash), MemberRole::Child) = (&hash, spec.role) {
        ensure_child_not_elsewhere(conn, hash, family_id, field).await?;
    }
    let id = Uuid::now_v7();
    diesel::insert_into(family_members::table)
        .values((
            family_members::id.eq(id),
            family_members::family_id.eq(family_id),
            family_members::role.eq(spec.role.as_str()),
            family_members::given_name.eq(&spec.given_name),
            family_members::family_name.eq(&spec.family_name),
            family_members::birth_date.eq(spec.birth_date),
            family_members::bsn_ciphertext.eq(ciphertext),
            family_members::bsn_hash.eq(hash),
        ))
        .execute(conn)
        .await
        .map_err(|e| name_bsn_field(e.into(), field))?;
    Ok(id)
}

/// 409 naming `field` when a child with this BSN hash is an active member
/// of a family other than `family_id`.
async fn ensure_child_not_elsewhere(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    family_id: Uuid,
    field: &str,
) -> ApiResult<()> {
    let elsewhere: i64 = family_members::table
        .filter(family_members::bsn_hash.eq(hash))
        .filter(family_members::role.eq(MemberRole::Child.as_str()))
        .filter(family_members::ended_on.is_null())
        .filter(family_members::family_id.ne(family_id))
        .count()
        .get_result(conn)
        .await?;
    if elsewhere > 0 {
        return Err(bsn_conflict(field));
    }
    Ok(())
}

fn bsn_conflict(field: &str) -> ApiError {
    ApiError::conflict(
        ErrorCode::BsnInOtherFamily,
        "A child with this BSN is already an active member of another family.",
    )
    .with_extra("field", field)
}

fn name_bsn_field(err: ApiError, field: &str) -> ApiError {
    if matches!(
        err.code,
        ErrorCode::BsnInOtherFamily | ErrorCode::MemberAlreadyInFamily
    ) {
        err.with_extra("field", field)
    } else {
        err
    }
}

/// Register a family with its members.
#[utoipa::path(post, path = "/families", tag = "Families", operation_id = "createFamily",
    request_body = NewFamily,
    responses(
        (status = 201, description = "Registered", body = Family),
        (status = 409, description = "A child's BSN is active in another family (`bsn_in_other_family`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The team does not belong to the municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_family(
    state: State,
    principal: Principal,
    body: ApiJson<NewFamily>,
) -> ApiResult<HttpResponse> {
    let family_id = Uuid::now_v7();
    let event = AuditEvent::by(&principal, "create", "family", family_id).family(family_id);
    enforce(
        &state,
        policy::case_role(&principal),
        "family",
        event.clone(),
    )
    .await?;
    let spec = body.0.parse(Utc::now().date_naive())?;
    let event = event.municipality(spec.municipality.as_str());
    enforce(
        &state,
        policy::create_family(&principal, spec.municipality.as_str(), spec.team_id.into()),
        "family",
        event.clone(),
    )
    .await?;
    let mut conn = state.db().await?;
    let family = conn
        .transaction(async |conn| {
            if !team_in_municipality(conn, spec.team_id.into(), Some(spec.municipality.as_str()))
                .await?
            {
                return Err(unknown_team());
            }
            diesel::insert_into(families::table)
                .values((
                    families::id.eq(family_id),
                    families::municipality_code.eq(spec.municipality.as_str()),
                    families::team_id.eq(spec.team_id),
                    families::name.eq(&spec.name),
                ))
                .execute(conn)
                .await?;
            for (i, member) in spec.members.iter().enumerate() {
                insert_member(
                    conn,
                    &state.vault,
                    family_id,
                    member,
                    &format!("members[{i}].bsn"),
                )
                .await?;
            }
            event
                .detail(json!({"members": spec.members.len()}))
                .record(conn)
                .await?;
            load_family(conn, &state.vault, family_id).await
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/families/{family_id}")))
        .json(family))
}

#[derive(QueryableByName)]
struct ListRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    municipality_code: String,
    #[diesel(sql_type = SqlUuid)]
    team_id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Which conditions a family search uses: its reach (1 municipality-wide,
/// 2 own team or directed, 3 directed only) and the filters given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ListShape {
    scope: i32,
    signal: bool,
    signal_municipality: bool,
    name: bool,
    team: bool,
    director: bool,
    bsn: bool,
    after: bool,
}

impl ListShape {
    /// The statement with only the conditions in use. Its parameters are
    /// always the same twelve (an unused one is simply not referenced).
    fn sql(self) -> String {
        // Without a signal the families table drives the query; with one,
        // the signal index (municipality, code, family) does, walked in
        // family order, so the first page stays as cheap with a million
        // families as with ten.
        //
        // The director of the family's open plan is joined only when a
        // condition needs it (a team lead's page without a director filter
        // does not).
        let director = self.scope != 1 || self.director;
        let mut sql = String::from("SELECT f.id, f.municipality_code, f.team_id, f.name");
        let order = if self.signal {
            sql.push_str("\n FROM plan_signals s JOIN families f ON f.id = s.family_id");
            if director {
                sql.push_str(
                    "\n LEFT JOIN director_assignments d
                     ON d.plan_id = s.plan_id AND d.ended_at IS NULL",
                );
            }
            sql.push_str("\n WHERE s.code = $11");
            "s.family_id"
        } else {
            sql.push_str("\n FROM families f");
            if director {
                sql.push_str(
                    "\n LEFT JOIN plans p ON p.family_id = f.id AND p.status <> 'closed'
                     LEFT JOIN director_assignments d
                     ON d.plan_id = p.id AND d.ended_at IS NULL",
                );
            }
            sql.push_str("\n WHERE TRUE");
            "f.id"
        };
        let mut and = |used: bool, condition: &str| {
            if used {
                sql.push_str("\n AND ");
                sql.push_str(condition);
            }
        };
        and(self.signal_municipality, "s.municipality_code = $12");
        and(self.scope == 1, "f.municipality_code = $2");
        and(self.scope == 2, "(f.team_id = $3 OR d.user_id = $4)");
        and(self.scope == 3, "d.user_id = $4");
        and(self.name, "f.name ILIKE $5");
        and(self.team, "f.team_id = $6");
        and(self.director, "d.user_id = $7");
        and(
            self.bsn,
            "EXISTS (SELECT 1 FROM family_members m
                     WHERE m.family_id = f.id AND m.bsn_hash = $8 AND m.ended_on IS NULL)",
        );
        and(self.after, &format!("{order} > $9"));
        sql.push_str(&format!("\n ORDER BY {order} LIMIT $10"));
        sql
    }
}

/// The search statement of a shape, built once per process. One statement
/// per shape, rather than one with `$n IS NULL OR ...` for every filter,
/// lets PostgreSQL keep a plan per shape instead of planning the catch-all
/// anew at every search (most of a list page's database time). There are at
/// most 3 × 2⁷ shapes, so the texts kept are bounded.
fn list_statement(shape: ListShape) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashMap<ListShape, &'static str>>> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    texts
        .entry(shape)
        .or_insert_with(|| Box::leak(shape.sql().into_boxed_str()))
}

/// Search families within your reach.
///
/// Team leads search their municipality, JGT workers their team and the
/// families they direct, GI workers the families they direct.
#[utoipa::path(get, path = "/families", tag = "Families", operation_id = "listFamilies",
    params(FamilyQuery),
    responses((status = 200, description = "A page of families", body = FamilyPage)))]
pub async fn list_families(
    state: State,
    principal: Principal,
    query: ApiQuery<FamilyQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let event = AuditEvent::by(&principal, "search", "family", "search");
    enforce(
        &state,
        policy::case_role(&principal),
        "family",
        event.clone(),
    )
    .await?;
    let page = PageRequest::<Uuid>::parse(q.limit, q.cursor.as_deref())?;
    let mut v = Invalid::new();
    let bsn = v.check_opt("bsn", q.bsn.as_deref(), Bsn::parse);
    let name = v.check("name", text::optional(q.name.as_deref(), 200));
    let (bsn, name) = v.finish((bsn, name))?;
    let bsn_hash = bsn.as_ref().map(|b| state.vault.hash(b));

    // Reach of the caller: 1 municipality-wide, 2 own team or directed, 3 directed only.
    let (scope, scope_municipality, scope_team) = match principal.role {
        Role::TeamLead => (1, principal.municipality_code.clone(), None),
        Role::JgtWorker => (2, principal.municipality_code.clone(), principal.team_id),
        _ => (3, None, None),
    };
    // Team leads and JGT workers search their own municipality; the signal
    // index is entered with it.
    let signal_municipality = match (scope, q.signal) {
        (1 | 2, Some(_)) => scope_municipality.clone(),
        _ => None,
    };
    let statement = list_statement(ListShape {
        scope,
        signal: q.signal.is_some(),
        signal_municipality: signal_municipality.is_some(),
        name: name.is_some(),
        team: q.team_id.is_some(),
        director: q.director_id.is_some(),
        bsn: bsn_hash.is_some(),
        after: page.after.is_some(),
    });
    let mut conn = state.db().await?;
    let rows: Vec<ListRow> = cached(statement)
        .bind::<diesel::sql_types::Int4, _>(scope)
        .bind::<Nullable<Text>, _>(scope_municipality)
        .bind::<Nullable<SqlUuid>, _>(scope_team)
        .bind::<SqlUuid, _>(principal.user_id)
        .bind::<Nullable<Text>, _>(name.as_deref().map(like_pattern))
        .bind::<Nullable<SqlUuid>, _>(q.team_id)
        .bind::<Nullable<SqlUuid>, _>(q.director_id)
        .bind::<Nullable<Bytea>, _>(bsn_hash)
        .bind::<Nullable<SqlUuid>, _>(page.after)
        .bind::<diesel::sql_types::Int8, _>(page.fetch())
        .bind::<Nullable<Text>, _>(q.signal.map(|s| s.as_str()))
        .bind::<Nullable<Text>, _>(signal_municipality)
        .load(&mut conn)
        .await?;
    let (rows, next_cursor) = finish(rows, page.limit, |r| r.id);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut summaries = plan_summaries(&mut conn, &ids).await?;
    let items: Vec<FamilySummary> = rows
        .into_iter()
        .map(|r| {
            let current_plan = summaries
                .iter()
                .position(|(f, _)| *f == r.id)
                .map(|i| summaries.swap_remove(i).1);
            FamilySummary {
                id: r.id,
                municipality_code: r.municipality_code,
                team_id: r.team_id,
                name: r.name,
                current_plan,
            }
        })
        .collect();
    // The search itself is audited: which filters (never their values) and
    // which families were shown.
    let filters: Vec<&str> = [
        q.name.as_ref().map(|_| "name"),
        q.bsn.as_ref().map(|_| "bsn"),
        q.team_id.as_ref().map(|_| "teamId"),
        q.director_id.as_ref().map(|_| "directorId"),
        q.signal.as_ref().map(|_| "signal"),
    ]
    .into_iter()
    .flatten()
    .collect();
    event
        .detail(json!({"filters": filters, "resultCount": items.len(), "familyIds": ids}))
        .record(&conn)
        .await?;
    Ok(HttpResponse::Ok().json(FamilyPage { items, next_cursor }))
}

/// Read a family with its members (BSNs included) and current plan.
///
/// A JGT or GI worker may open a family of its municipality outside its
/// normal reach by stating why in `X-Access-Reason` (emergency access).
#[utoipa::path(get, path = "/families/{id}", tag = "Families", operation_id = "getFamily",
    params(("id" = Uuid, Path, description = "Family id"), AccessReason),
    responses((status = 200, description = "The family", body = Family)))]
pub async fn get_family(
    state: State,
    principal: Principal,
    reason: AccessReason,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "read", "family", id);
    let grant = authorize_read(
        &state,
        &principal,
        FactsOf::Family(id.into()),
        &reason,
        event.clone(),
        "family",
    )
    .await?;
    let mut conn = state.db().await?;
    let family = conn
        .transaction(async |conn| {
            let family = load_family(conn, &state.vault, id).await?;
            grant.stamp(event).record(conn).await?;
            Ok::<_, ApiError>(family)
        })
        .await?;
    Ok(HttpResponse::Ok().json(family))
}

/// Change a family's name or team.
#[utoipa::path(patch, path = "/families/{id}", tag = "Families", operation_id = "updateFamily",
    params(("id" = Uuid, Path, description = "Family id")),
    request_body = FamilyUpdate,
    responses(
        (status = 200, description = "The changed family", body = Family),
        (status = 422, description = "The team does not belong to the family's municipality", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_family(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<FamilyUpdate>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let update = body.0;
    let event = AuditEvent::by(&principal, "update", "family", id);
    let facts = authorize(&state, &principal, id, policy::write_family, event.clone()).await?;
    let event = event
        .family(id)
        .municipality(facts.municipality_code.clone());
    if update.team_id.is_some_and(|t| t != facts.team_id.uuid()) {
        let decision = if principal.role == Role::TeamLead {
            Ok(())
        } else {
            Err(policy::Denial::Forbidden)
        };
        enforce(&state, decision, "family", event.clone()).await?;
    }
    let mut v = Invalid::new();
    let name = v.check("name", text::replacement(update.name.as_deref(), 200));
    let (name,) = v.finish((name,))?;
    let mut conn = state.db().await?;
    let family = conn
        .transaction(async |conn| {
            if let Some(team_id) = update.team_id {
                if !team_in_municipality(
                    conn,
                    team_id.into(),
                    Some(facts.municipality_code.as_str()),
                )
                .await?
                {
                    return Err(unknown_team());
                }
            }
            diesel::update(families::table.find(id))
                .set((
                    name.as_ref().map(|n| families::name.eq(n)),
                    update.team_id.map(|t| families::team_id.eq(t)),
                    families::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            let changed: Vec<&str> = [
                name.as_ref().map(|_| "name"),
                update.team_id.map(|_| "teamId"),
            ]
            .into_iter()
            .flatten()
            .collect();
            event
                .detail(json!({"changed": changed}))
                .record(conn)
                .await?;
            load_family(conn, &state.vault, id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(family))
}

/// Add a member to a family.
#[utoipa::path(post, path = "/families/{id}/members", tag = "Families", operation_id = "addMember",
    params(("id" = Uuid, Path, description = "Family id")),
    request_body = NewMember,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 409, description = "BSN already active in another family or this one", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_member(
    state: State,
    principal: Principal,
    id: web::Path<Uuid>,
    body: ApiJson<NewMember>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let event = AuditEvent::by(&principal, "create", "member", id);
    let facts = authorize(&state, &principal, id, policy::write_family, event.clone()).await?;
    let spec = body.0.parse(Utc::now().date_naive())?;
    let mut conn = state.db().await?;
    let member = conn
        .transaction(async |conn| {
            let member_id = insert_member(conn, &state.vault, id, &spec, "bsn").await?;
            diesel::update(families::table.find(id))
                .set(families::updated_at.eq(diesel::dsl::now))
                .execute(conn)
                .await?;
            AuditEvent::by(&principal, "create", "member", member_id)
                .family(id)
                .municipality(facts.municipality_code.clone())
                .record(conn)
                .await?;
            let row: MemberRow = family_members::table
                .find(member_id)
                .select(MemberRow::as_select())
                .first(conn)
                .await?;
            row.into_member(&state.vault)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/v1/families/{id}/members/{}", member.id),
        ))
        .json(member))
}

/// Change a member; `endedOn` ends the membership.
#[utoipa::path(patch, path = "/families/{id}/members/{memberId}", tag = "Families", operation_id = "updateMember",
    params(("id" = Uuid, Path, description = "Family id"), ("memberId" = Uuid, Path, description = "Member id")),
    request_body = MemberUpdate,
    responses(
        (status = 200, description = "The changed member", body = Member),
        (status = 409, description = "BSN already active in another family", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_member(
    state: State,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<MemberUpdate>,
) -> ApiResult<HttpResponse> {
    let (id, member_id) = path.into_inner();
    let update = body.0;
    let event = AuditEvent::by(&principal, "update", "member", member_id);
    let facts = authorize(&state, &principal, id, policy::write_family, event.clone()).await?;
    let today = Utc::now().date_naive();
    let mut v = Invalid::new();
    let given = v.check(
        "givenName",
        text::replacement(update.given_name.as_deref(), 200),
    );
    let family_name = v.check(
        "familyName",
        text::replacement(update.family_name.as_deref(), 200),
    );
    let bsn = v.check_opt("bsn", update.bsn.as_deref(), Bsn::parse);
    let born = v.check_opt("birthDate", update.birth_date, |d| {
        super::model::birth_date(d, today)
    });
    if update.ended_on.is_some_and(|d| d > today) {
        v.push(
            "endedOn",
            ErrorCode::InFuture,
            "A membership can only be ended today or in the past.",
        );
    }
    let (given, family_name, bsn, born) = v.finish((given, family_name, bsn, born))?;
    let mut conn = state.db().await?;
    let member = conn
        .transaction(async |conn| {
            let current: MemberRow = family_members::table
                .find(member_id)
                .filter(family_members::family_id.eq(id))
                .select(MemberRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| ApiError::not_found("Member"))?;
            if let Some(ended) = update.ended_on {
                if ended < current.started_on {
                    return Err(ApiError::invalid_field(
                        "endedOn",
                        ErrorCode::BeforeStart,
                        "A membership cannot end before it started.",
                    ));
                }
            }
            if let Some(bsn) = &bsn {
                let hash = state.vault.hash(bsn);
                if current.role == "child"
                    && current.ended_on.is_none()
                    && update.ended_on.is_none()
                {
                    ensure_child_not_elsewhere(conn, &hash, id, "bsn").await?;
                }
                diesel::update(family_members::table.find(member_id))
                    .set((
                        family_members::bsn_ciphertext.eq(state.vault.encrypt(bsn)?),
                        family_members::bsn_hash.eq(hash),
                    ))
                    .execute(conn)
                    .await
                    .map_err(|e| name_bsn_field(e.into(), "bsn"))?;
            }
            diesel::update(family_members::table.find(member_id))
                .set((
                    given.as_ref().map(|g| family_members::given_name.eq(g)),
                    family_name
                        .as_ref()
                        .map(|f| family_members::family_name.eq(f)),
                    born.map(|d| family_members::birth_date.eq(d)),
                    update.ended_on.map(|d| family_members::ended_on.eq(d)),
                    family_members::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            let changed: Vec<&str> = [
                given.as_ref().map(|_| "givenName"),
                family_name.as_ref().map(|_| "familyName"),
                born.map(|_| "birthDate"),
                bsn.as_ref().map(|_| "bsn"),
                update.ended_on.map(|_| "endedOn"),
            ]
            .into_iter()
            .flatten()
            .collect();
            event
                .family(id)
                .municipality(facts.municipality_code.clone())
                .detail(json!({"changed": changed}))
                .record(conn)
                .await?;
            let row: MemberRow = family_members::table
                .find(member_id)
                .select(MemberRow::as_select())
                .first(conn)
                .await?;
            row.into_member(&state.vault)
        })
        .await?;
    Ok(HttpResponse::Ok().json(member))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/families")
            .route(web::post().to(create_family))
            .route(web::get().to(list_families)),
    )
    .service(
        web::resource("/families/{id}")
            .route(web::get().to(get_family))
            .route(web::patch().to(update_family)),
    )
    .service(web::resource("/families/{id}/members").route(web::post().to(add_member)))
    .service(
        web::resource("/families/{id}/members/{memberId}").route(web::patch().to(update_member)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(scope: i32) -> ListShape {
        ListShape {
            scope,
            signal: false,
            signal_municipality: false,
            name: false,
            team: false,
            director: false,
            bsn: false,
            after: false,
        }
    }

    #[test]
    fn a_search_statement_holds_only_the_conditions_in_use() {
        let lead_by_signal = ListShape {
            signal: true,
            signal_municipality: true,
            ..shape(1)
        }
        .sql();
        assert!(lead_by_signal.contains("FROM plan_signals s"));
        assert!(lead_by_signal.contains("s.municipality_code = $12"));
        assert!(lead_by_signal.contains("f.municipality_code = $2"));
        assert!(lead_by_signal.ends_with("ORDER BY s.family_id LIMIT $10"));
        // A team lead's page needs no director: not joined, no filter on it.
        assert!(!lead_by_signal.contains("director_assignments"));
        for unused in ["$3", "$5", "$6", "$7", "$8", "$9"] {
            assert!(
                !lead_by_signal.contains(unused),
                "{unused} in {lead_by_signal}"
            );
        }

        let worker = shape(2).sql();
        assert!(worker.contains("FROM families f"));
        assert!(worker.contains("director_assignments d"));
        assert!(worker.contains("(f.team_id = $3 OR d.user_id = $4)"));
        assert!(!worker.contains("$2"));

        let filtered = ListShape {
            name: true,
            bsn: true,
            director: true,
            after: true,
            ..shape(1)
        }
        .sql();
        for used in [
            "f.name ILIKE $5",
            "m.bsn_hash = $8",
            "d.user_id = $7",
            "f.id > $9",
        ] {
            assert!(filtered.contains(used), "{used} missing from {filtered}");
        }
    }

    #[test]
    fn each_shape_is_built_once() {
        let a = list_statement(shape(3));
        let b = list_statement(shape(3));
        assert!(std::ptr::eq(a, b));
        assert_ne!(list_statement(shape(2)), a);
    }
}
