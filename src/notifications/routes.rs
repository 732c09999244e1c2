//! `GET /v1/clients/{id}/notifications`: what was sent to a client and
//! what its receiver answered, for admins tracing a failing integration.

use actix_web::{web, HttpResponse};

use super::model::{NotificationPage, NotificationQuery};
use super::service;
use crate::auth::principal::Bearer;
use crate::domain::ClientId;
use crate::error::ApiResult;
use crate::http::extract::ApiQuery;
use crate::state::App;

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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/clients/{id}/notifications").route(web::get().to(list_notifications)),
    );
}
