//! Liveness and readiness for load balancers and orchestrators.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Serialize)]
pub struct HealthStatus {
    /// `ok` when healthy.
    pub status: String,
}

/// The process is up.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok".into(),
    })
}

/// The database is reachable and fully migrated.
pub async fn ready(state: web::Data<Arc<AppState>>) -> ApiResult<HttpResponse> {
    let mut conn = state.db().await?;
    if crate::db::is_ready(&mut conn).await {
        Ok(HttpResponse::Ok().json(HealthStatus {
            status: "ok".into(),
        }))
    } else {
        Err(ApiError::service_unavailable(
            "The database is not reachable or not migrated.",
        ))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health/live").route(web::get().to(live)))
        .service(web::resource("/health/ready").route(web::get().to(ready)));
}
