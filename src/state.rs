//! Shared application state handed to every handler.

use std::sync::Arc;

use crate::auth::tokens::TokenIssuer;
use crate::care::catalogue::Catalogue;
use crate::config::{AuthSettings, Keys, Settings, SignalSettings};
use crate::crypto::BsnVault;
use crate::db::{DbConn, DbPool};
use crate::error::ApiError;

pub struct AppState {
    pub pool: DbPool,
    pub tokens: TokenIssuer,
    pub vault: BsnVault,
    pub auth: AuthSettings,
    /// The region's care forms.
    pub catalogue: Catalogue,
    pub signals: SignalSettings,
}

impl AppState {
    pub fn new(settings: &Settings, keys: &Keys, pool: DbPool) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool,
            tokens: TokenIssuer::new(
                &keys.jwt,
                &settings.auth.issuer,
                settings.auth.access_token_ttl_seconds,
            ),
            vault: BsnVault::new(&keys.bsn_encryption, &keys.bsn_hash)?,
            auth: settings.auth.clone(),
            catalogue: Catalogue::load(settings.care.catalogue_file.as_deref())?,
            signals: settings.signals.clone(),
        }))
    }

    /// A pooled connection, or 503 when the database cannot give one in time.
    pub async fn db(&self) -> Result<DbConn, ApiError> {
        Ok(self.pool.get().await?)
    }
}
