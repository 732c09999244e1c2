//! Shared application state handed to every handler.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::tokens::TokenIssuer;
use crate::care::catalogue::Catalogue;
use crate::config::{AuthSettings, NotificationSettings, Settings, SignalSettings};
use crate::crypto::keys::PurposeKeys;
use crate::crypto::{BsnVault, SecretBox};
use crate::db::{DbConn, DbPool};
use crate::error::ApiError;

/// The application state as handlers extract it.
pub type App = actix_web::web::Data<Arc<AppState>>;

pub struct AppState {
    pub pool: DbPool,
    pub tokens: TokenIssuer,
    pub vault: BsnVault,
    /// Seals clients' notification signing secrets.
    pub callback_secrets: SecretBox,
    pub auth: AuthSettings,
    /// The region's care forms.
    pub catalogue: Catalogue,
    pub signals: SignalSettings,
    pub notifications: NotificationSettings,
    /// Referral intake limits.
    pub referrals: crate::config::ReferralSettings,
    /// Wakes this server's delivery worker when a request wrote to the outbox.
    pub outbox_wakeup: Arc<Notify>,
    /// Where the pool connects; exports open a connection of their own so
    /// they can stream with `COPY` without holding a pooled one.
    pub database_url: Option<String>,
    /// This server's own metrics, served on `/metrics` with actix's.
    pub metrics: Metrics,
    /// Unauthenticated attempts on personal data, counted until audited.
    pub attempts: crate::audit::attempts::UnauthenticatedAttempts,
    /// The login queue and per-address login limits (issue 15 item 5).
    pub login_gate: crate::auth::service::limits::LoginGate,
    /// Bounds on streaming exports (issue 15 item 6).
    pub exports: crate::audit::export::ExportGate,
    pub export_idle: std::time::Duration,
    /// Peers whose `X-Forwarded-For` is believed (issue 15 item 10).
    pub trusted_proxies: crate::http::client_addr::TrustedProxies,
}

/// The server's own Prometheus metrics, in the registry `/metrics` serves.
pub struct Metrics {
    pub registry: prometheus::Registry,
    /// Pool checkouts per request, by method and route: 1 for every request
    /// that uses the database (see [`crate::tx`]).
    pub checkouts: prometheus::HistogramVec,
}

impl Metrics {
    fn new() -> anyhow::Result<Self> {
        let registry = prometheus::Registry::new();
        let checkouts = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new(
                "gezinsregie_db_checkouts_per_request",
                "Connections a request checked out of the pool",
            )
            .buckets(vec![0.0, 1.0, 2.0, 3.0]),
            &["method", "endpoint"],
        )?;
        registry.register(Box::new(checkouts.clone()))?;
        Ok(Self {
            registry,
            checkouts,
        })
    }
}

impl AppState {
    pub fn new(settings: &Settings, keys: &PurposeKeys, pool: DbPool) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool,
            tokens: TokenIssuer::from_settings(keys, &settings.auth),
            vault: BsnVault::new(&keys.bsn_encryption, &keys.bsn_hash)?,
            callback_secrets: SecretBox::new(&keys.callback_secrets),
            auth: settings.auth.clone(),
            catalogue: Catalogue::load(settings.care.catalogue_file.as_deref())?,
            signals: settings.signals.clone(),
            notifications: settings.notifications.clone(),
            referrals: settings.referrals.clone(),
            outbox_wakeup: Arc::new(Notify::new()),
            database_url: settings.database.url.clone(),
            metrics: Metrics::new()?,
            attempts: crate::audit::attempts::UnauthenticatedAttempts::new(
                &settings.audit_attempts,
            ),
            login_gate: crate::auth::service::limits::LoginGate::new(&settings.auth),
            exports: crate::audit::export::ExportGate::new(
                settings.exports.max_concurrent,
                settings.exports.per_user,
            ),
            export_idle: std::time::Duration::from_secs(settings.exports.idle_seconds),
            trusted_proxies: crate::http::client_addr::TrustedProxies::parse(
                &settings.server.trusted_proxies,
            )?,
        }))
    }

    /// A pooled connection, or 503 when the database cannot give one in time.
    /// On an HTTP worker it comes from the worker's own pool
    /// ([`crate::db::install_worker_pool`]), elsewhere from the shared one.
    pub async fn db(&self) -> Result<DbConn, ApiError> {
        crate::http::request_context::count_checkout();
        match crate::db::worker_pool() {
            Some(pool) => Ok(pool.get().await?),
            None => Ok(self.pool.get().await?),
        }
    }
}
