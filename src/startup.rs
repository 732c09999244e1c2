//! Building and running the HTTP server. `Application::build` binds the port
//! (0 in tests, for a free one) before serving, so callers know the address.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{http::header, web, App, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{Keys, Settings};
use crate::crypto::keys::PurposeKeys;
use crate::db::DbPool;
use crate::http::limits::{self, PeerLimit};
use crate::http::{
    extract, get_served_elsewhere, metrics_token, problemize, request_context, security_headers,
};
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::telemetry::RequestSpan;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `settings.server.host:port` and prepares the server on `pool`.
    pub fn build(settings: &Settings, keys: &Keys, pool: DbPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        let keys = PurposeKeys::derive(keys);
        crate::audit::chain::install(&keys)?;
        let state = AppState::new(settings, &keys, pool)?;
        crate::audit::chain::spawn(state.clone());
        crate::care::refresh::spawn(state.clone());
        crate::audit::attempts::spawn(state.clone());
        crate::notifications::worker::spawn(state.clone())?;
        let server = run(listener, state, settings)?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until stopped (Ctrl-C or SIGTERM drain open requests first).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-access-reason"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("api-version"),
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-client-request-id"),
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

fn run(listener: TcpListener, state: Arc<AppState>, settings: &Settings) -> anyhow::Result<Server> {
    let metrics = PrometheusMetricsBuilder::new("gezinsregie")
        .registry(state.metrics.registry.clone())
        .endpoint("/metrics")
        // Paths no resource matches share one label: otherwise every probed
        // path (scanner, fuzzer, typo) is a new time series held forever.
        .mask_unmatched_patterns("UNKNOWN")
        .build()
        .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
    let origins = settings.server.cors_origins.clone();
    let state = web::Data::new(state);
    let openapi = ApiDoc::openapi();
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    // The request connections are split among the workers (see
    // db::install_worker_pool); at least two each, so one slow request does
    // not hold up every other request of its worker.
    let per_worker = settings.database.pool_size.div_ceil(workers).max(2);
    let wait = Duration::from_secs(settings.database.acquire_timeout_seconds);
    let database_url = settings.database.url.clone();
    let limits = settings.server.limits.clone();
    let body_timeout = Duration::from_millis(limits.body_timeout_ms);
    let peers = PeerLimit::new(limits.max_connections_per_peer);
    let metrics_token: Option<Arc<str>> = settings.metrics_token().map(Arc::from);
    limits::warn_if_fd_limit_low(limits.max_connections, settings.database.pool_size);
    let server = HttpServer::new(move || {
        // Runs on each worker's own thread.
        if let Some(url) = &database_url {
            match crate::db::build_pool(url, per_worker, wait) {
                Ok(pool) => crate::db::install_worker_pool(pool),
                Err(e) => tracing::warn!(error = %e, "no worker pool; using the shared one"),
            }
        }
        App::new()
            .app_data(state.clone())
            .app_data(web::PathConfig::default().error_handler(extract::path_error))
            .wrap(from_fn(move |req, next| {
                limits::body_deadline(req, next, body_timeout)
            }))
            .wrap(from_fn(crate::audit::failures::middleware))
            .wrap(ErrorHandlers::new().default_handler(problemize))
            .wrap(cors(&origins))
            .wrap(metrics.clone())
            .wrap(from_fn({
                let token = metrics_token.clone();
                move |req, next| metrics_token::middleware(req, next, token.clone())
            }))
            .wrap(TracingLogger::<RequestSpan>::new())
            .wrap(from_fn(request_context::middleware))
            .wrap(from_fn(security_headers::middleware))
            .configure(crate::health::routes)
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .url("/v1/openapi.json", openapi.clone())
                    // No badge image from validator.swagger.io: the page
                    // loads nothing from elsewhere (security_headers::DOCS_CSP).
                    .config(utoipa_swagger_ui::Config::default().validator_url("none")),
            )
            .service(get_served_elsewhere("/docs/{_:.*}"))
            .service(get_served_elsewhere("/v1/openapi.json"))
            .service(get_served_elsewhere("/metrics"))
            .service(web::redirect("/docs", "/docs/"))
            .service(web::scope("/v1").configure(api_routes))
    })
    .on_connect(move |conn, data| peers.on_connect(conn, data))
    .client_request_timeout(Duration::from_millis(limits.header_timeout_ms))
    .keep_alive(Duration::from_secs(limits.keep_alive_seconds))
    .max_connections(limits::per_worker(limits.max_connections, workers))
    .listen(listener)?
    .shutdown_timeout(10);
    Ok(server.workers(workers).run())
}

/// Every `/v1` route; the OpenAPI document lists the same handlers.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    crate::auth::routes::routes(cfg);
    crate::admin::routes::routes(cfg);
    crate::families::routes::routes(cfg);
    crate::plans::routes::routes(cfg);
    crate::care::routes::routes(cfg);
    crate::referrals::routes::routes(cfg);
    crate::audit::routes::routes(cfg);
    crate::reports::routes::routes(cfg);
}
