//! Municipalities: the tenants, by CBS code.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditEvent;
use crate::auth::{enforce, policy, Principal};
use crate::db::schema::municipalities;
use crate::domain::{text, MunicipalityCode, Role};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{finish, PageRequest};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMunicipality {
    /// 4-digit CBS code.
    #[schema(example = "0546", pattern = "^[0-9]{4}$")]
    pub code: String,
    #[schema(example = "Leiden", min_length = 1, max_length = 200)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = municipalities)]
#[serde(rename_all = "camelCase")]
pub struct Municipality {
    pub code: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

crate::page_type!(MunicipalityPage, Municipality, "A page of municipalities.");

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Register a municipality.
#[utoipa::path(post, path = "/municipalities", tag = "Administration", operation_id = "createMunicipality",
    request_body = NewMunicipality,
    responses(
        (status = 201, description = "Created", body = Municipality),
        (status = 409, description = "Code already registered", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_municipality(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    body: ApiJson<NewMunicipality>,
) -> ApiResult<HttpResponse> {
    let event = AuditEvent::by(&principal, "create", "municipality", &body.0.code);
    enforce(
        &state,
        policy::admin(&principal),
        "municipality",
        event.clone(),
    )
    .await?;
    let mut v = Invalid::new();
    let code = v.check("code", MunicipalityCode::parse(&body.0.code));
    let name = v.check("name", text::required(&body.0.name, 200));
    let (code, name) = v.finish((code, name))?;
    let mut conn = state.db().await?;
    let created = conn
        .transaction(async |conn| {
            let m: Municipality = diesel::insert_into(municipalities::table)
                .values((
                    municipalities::code.eq(code.as_str()),
                    municipalities::name.eq(&name),
                ))
                .returning(Municipality::as_returning())
                .get_result(conn)
                .await?;
            event.municipality(code.as_str()).record(conn).await?;
            Ok::<_, ApiError>(m)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/municipalities/{}", created.code)))
        .json(created))
}

/// List municipalities (admins: all; others: their own).
#[utoipa::path(get, path = "/municipalities", tag = "Administration", operation_id = "listMunicipalities",
    params(PageParams),
    responses((status = 200, description = "A page of municipalities", body = MunicipalityPage)))]
pub async fn list_municipalities(
    state: web::Data<Arc<AppState>>,
    principal: Principal,
    query: ApiQuery<PageParams>,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::<String>::parse(query.0.limit, query.0.cursor.as_deref())?;
    let mut conn = state.db().await?;
    let mut q = municipalities::table
        .select(Municipality::as_select())
        .order(municipalities::code)
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(municipalities::code.gt(after.clone()));
    }
    if principal.role != Role::Admin {
        let mut visible: Vec<String> = principal.served_municipalities.clone();
        visible.extend(principal.municipality_code.clone());
        q = q.filter(municipalities::code.eq_any(visible));
    }
    let rows = q.load(&mut conn).await?;
    let (items, next_cursor) = finish(rows, page.limit, |m| m.code.clone());
    Ok(HttpResponse::Ok().json(MunicipalityPage { items, next_cursor }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/municipalities")
            .route(web::post().to(create_municipality))
            .route(web::get().to(list_municipalities)),
    );
}
