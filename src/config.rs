//! Layered configuration: embedded `config/default.toml`, then
//! `config/{GEZINSREGIE_ENV}.toml`, then `GEZINSREGIE__SECTION__KEY` variables
//! and `DATABASE_URL`. Secrets are resolved here too, so a production server
//! without them never gets as far as binding a port.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;

const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Which environment file applies; also decides whether secrets may be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Production,
}

impl Environment {
    fn from_env() -> anyhow::Result<Self> {
        match std::env::var("GEZINSREGIE_ENV").as_deref() {
            Err(_) | Ok("local") | Ok("") => Ok(Self::Local),
            Ok("production") => Ok(Self::Production),
            Ok(other) => bail!("GEZINSREGIE_ENV must be `local` or `production`, not `{other}`"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub care: CareSettings,
    #[serde(default)]
    pub signals: SignalSettings,
    #[serde(default)]
    pub notifications: NotificationSettings,
    #[serde(default)]
    pub referrals: ReferralSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub secrets: SecretSettings,
    #[serde(default)]
    pub audit_attempts: AuditAttemptSettings,
    pub exports: ExportSettings,
    #[serde(skip, default = "default_env")]
    pub environment: Environment,
}

fn default_env() -> Environment {
    Environment::Local
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Reverse proxies (IP addresses or CIDR networks) whose
    /// `X-Forwarded-For` names the client; from any other peer the header
    /// is ignored (issue 15 item 10, see [`crate::http::client_addr`]).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    #[serde(default)]
    pub workers: usize,
    /// Whether `host` came from `config/{GEZINSREGIE_ENV}.toml` or
    /// `GEZINSREGIE__SERVER__HOST` rather than the embedded default: a
    /// production server binds only where it was told to.
    #[serde(skip)]
    pub host_configured: bool,
    #[serde(default)]
    pub limits: ServerLimits,
}

/// What one client may hold of the server (issue 15 item 2): time to send
/// a request, connections in all, connections per peer.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerLimits {
    /// Time for the headers of a connection's first request (actix
    /// `client_request_timeout`); later requests on a kept-alive connection
    /// are bounded by `keep_alive_seconds` until their first byte.
    pub header_timeout_ms: u64,
    /// Time for a request body to arrive completely, counted from the end
    /// of its headers; after it 408 `request_timeout` and the connection
    /// is closed.
    pub body_timeout_ms: u64,
    /// An idle kept-alive connection is closed after this.
    pub keep_alive_seconds: u64,
    /// Open connections in all (split over the workers); further ones wait
    /// in the listen backlog. Keep it under the open-file limit.
    pub max_connections: usize,
    /// Open connections per TCP peer address (not X-Forwarded-For); one
    /// more is closed at once. 0: no limit. Behind a reverse proxy every
    /// connection comes from the proxy: raise it to the proxy's pool or
    /// set 0 and limit at the proxy.
    pub max_connections_per_peer: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout_ms: 5000,
            body_timeout_ms: 10_000,
            keep_alive_seconds: 5,
            max_connections: 4096,
            max_connections_per_peer: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    #[serde(default)]
    pub url: Option<String>,
    pub pool_size: usize,
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub access_token_ttl_seconds: i64,
    pub session_ttl_hours: i64,
    pub lockout_threshold: i32,
    pub lockout_window_minutes: i64,
    pub lockout_minutes: i64,
    /// Password (or client secret) checks that run at once; 0: half the
    /// cores (1 to 8). See `auth::service::limits` (issue 15 item 5).
    #[serde(default)]
    pub login_concurrent_checks: usize,
    /// Logins that may wait for a check; beyond them 503 at once.
    #[serde(default = "default_login_queue_length")]
    pub login_queue_length: usize,
    /// Longest wait in the login queue before 503.
    #[serde(default = "default_login_queue_wait_ms")]
    pub login_queue_wait_ms: u64,
    /// Login and token attempts one client address may make at once...
    #[serde(default = "default_login_per_address_burst")]
    pub login_per_address_burst: u32,
    /// ...and per minute after that; beyond them 429.
    #[serde(default = "default_login_per_address_per_minute")]
    pub login_per_address_per_minute: u32,
    /// How long a 429 of the per-address limit is held back, so a flood
    /// from one address slows to the pace of its answers.
    #[serde(default = "default_login_refusal_delay_ms")]
    pub login_refusal_delay_ms: u64,
}

fn default_login_refusal_delay_ms() -> u64 {
    1000
}

fn default_login_queue_length() -> usize {
    32
}

fn default_login_queue_wait_ms() -> u64 {
    2000
}

fn default_login_per_address_burst() -> u32 {
    20
}

fn default_login_per_address_per_minute() -> u32 {
    30
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CareSettings {
    /// Care-form catalogue of the region; the embedded Holland Rijnland
    /// catalogue (`config/care-forms/holland-rijnland.toml`) when unset.
    #[serde(default)]
    pub catalogue_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SignalSettings {
    #[serde(flatten)]
    pub thresholds: crate::domain::signals::Thresholds,
    /// How often the server refreshes the time-based signals (long_wait,
    /// intake_without_director, yo_yo leaving its window); 0 disables it.
    pub refresh_interval_seconds: u64,
}

impl Default for SignalSettings {
    fn default() -> Self {
        Self {
            thresholds: Default::default(),
            refresh_interval_seconds: 300,
        }
    }
}

/// Delivery of referral status notifications from the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotificationSettings {
    /// Run the delivery worker in this server (every server may: workers
    /// claim notifications with a lease, so none is sent twice at once).
    pub enabled: bool,
    /// How often the worker looks for due notifications when not woken.
    pub poll_interval_ms: u64,
    /// Wait after the first failed attempt; doubled after every further one.
    pub backoff_base_ms: u64,
    /// Longest wait between attempts.
    pub backoff_max_seconds: u64,
    /// Attempts before a notification is given up (status `failed`).
    pub max_attempts: i32,
    /// Time the receiver has to answer.
    pub timeout_seconds: u64,
    /// How long a claimed notification is reserved for its worker; after
    /// that (a crashed worker) another may retry it.
    pub lease_seconds: u64,
    /// Notifications claimed per round.
    pub batch_size: i64,
    /// Callbacks may reach loopback, private and link-local addresses
    /// (local development and tests); false in production, where only
    /// public addresses and `allowed_private_networks` are reached.
    pub allow_private_addresses: bool,
    /// Networks (CIDR, or one address) callbacks may reach although they
    /// are not public, e.g. a receiver in the operator's own network.
    pub allowed_private_networks: Vec<String>,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 1000,
            backoff_base_ms: 5000,
            backoff_max_seconds: 3600,
            max_attempts: 12,
            timeout_seconds: 10,
            lease_seconds: 60,
            batch_size: 16,
            allow_private_addresses: false,
            allowed_private_networks: Vec::new(),
        }
    }
}

/// Referral intake from machine clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ReferralSettings {
    /// Referrals one client may submit in any hour; more are answered 429
    /// `too_many_requests` with `Retry-After`. Bounds how fast a client can
    /// probe which children are known to youth care (issue 15 item 9).
    pub per_client_per_hour: u32,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        Self {
            per_client_per_hour: 60,
        }
    }
}

/// Streaming exports (issue 15 item 6): each holds a PostgreSQL connection
/// of its own while it streams.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ExportSettings {
    /// Exports streaming at once on this server; beyond it 503.
    pub max_concurrent: usize,
    /// Exports one user may stream at once; beyond it 429.
    pub per_user: usize,
    /// Seconds an export may wait for its client to read before it is cut
    /// and its connection closed.
    pub idle_seconds: u64,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            max_concurrent: 8,
            per_user: 2,
            idle_seconds: 30,
        }
    }
}

/// Retention periods (`gezinsregie retention run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Years a dossier is kept after its family's last plan closed (Jeugdwet
    /// art. 7.3.8: 20), after which it is anonymised.
    pub dossier_years: u32,
    /// Years audit events are kept at least. The trail is append-only, so
    /// retention never deletes them; it reports how many are older.
    pub audit_years: u32,
    /// Families anonymised per transaction.
    pub batch_size: i64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            dossier_years: 20,
            audit_years: 5,
            batch_size: 500,
        }
    }
}

/// Unauthenticated attempts on personal data, audited in aggregate
/// ([`crate::audit::attempts`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuditAttemptSettings {
    /// Seconds between flushes: each client address and endpoint seen in
    /// an interval becomes one audit event (at least 1).
    pub flush_seconds: u64,
    /// Distinct (address, endpoint) keys counted per interval; attempts of
    /// further keys are counted into one overflow event.
    pub max_keys: usize,
}

impl Default for AuditAttemptSettings {
    fn default() -> Self {
        Self {
            flush_seconds: 60,
            max_keys: 1000,
        }
    }
}

/// Base64-encoded 32-byte keys. Debug is redacted so settings can be logged.
#[derive(Clone, Default, Deserialize)]
pub struct SecretSettings {
    pub jwt_key: Option<String>,
    pub bsn_encryption_key: Option<String>,
    pub bsn_hash_key: Option<String>,
    /// Keys being rotated out (base64, 32 bytes each; a list, comma-separated
    /// in the environment). With a previous `jwt_key` here, tokens it signed
    /// are accepted for one access-token lifetime after the rotation; a
    /// previous `bsn_hash_key` keeps the audit trail of its key epoch
    /// verifiable (keep it as long as that trail is kept).
    #[serde(default)]
    pub jwt_previous_keys: Vec<String>,
    #[serde(default)]
    pub bsn_encryption_previous_keys: Vec<String>,
    #[serde(default)]
    pub bsn_hash_previous_keys: Vec<String>,
    /// Bearer token a Prometheus scrape of `/metrics` must send; unset:
    /// `/metrics` is open (local only; production requires it).
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSettings { .. }")
    }
}

/// Decoded key material. Never printed.
#[derive(Clone)]
pub struct Keys {
    pub jwt: [u8; 32],
    pub bsn_encryption: [u8; 32],
    pub bsn_hash: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }")
    }
}

/// The secrets are zeroed when the last copy is dropped; what the server
/// uses are the purpose keys derived from them (`crypto::keys`).
impl Drop for Keys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.jwt.zeroize();
        self.bsn_encryption.zeroize();
        self.bsn_hash.zeroize();
    }
}

/// Keys being rotated out, per secret. Never printed; zeroed when dropped.
#[derive(Clone, Default)]
pub struct PreviousKeys {
    pub jwt: Vec<[u8; 32]>,
    pub bsn_encryption: Vec<[u8; 32]>,
    pub bsn_hash: Vec<[u8; 32]>,
}

impl std::fmt::Debug for PreviousKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreviousKeys { .. }")
    }
}

impl Drop for PreviousKeys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for key in self
            .jwt
            .iter_mut()
            .chain(&mut self.bsn_encryption)
            .chain(&mut self.bsn_hash)
        {
            key.zeroize();
        }
    }
}
/// Shortest metrics token production accepts: a guessable one protects nothing.
pub const MIN_METRICS_TOKEN_CHARS: usize = 32;

impl Settings {
    /// The metrics token, when one is set (blank counts as unset).
    pub fn metrics_token(&self) -> Option<&str> {
        self.secrets
            .metrics_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Reads the configuration layers from `config_dir` (falling back to the
    /// embedded defaults) and the process environment.
    pub fn load() -> anyhow::Result<Self> {
        let config_dir = std::env::var_os("GEZINSREGIE_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&config_dir)
    }

    pub fn load_from(config_dir: &Path) -> anyhow::Result<Self> {
        let environment = Environment::from_env()?;
        let env_file = config_dir.join(format!("{}.toml", environment.as_str()));
        let env_vars = || {
            config::Environment::with_prefix("GEZINSREGIE")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("server.cors_origins")
                .with_list_parse_key("server.trusted_proxies")
                .with_list_parse_key("secrets.jwt_previous_keys")
                .with_list_parse_key("secrets.bsn_encryption_previous_keys")
                .with_list_parse_key("secrets.bsn_hash_previous_keys")
                .with_list_parse_key("notifications.allowed_private_networks")
                .try_parsing(true)
        };
        let built = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from(env_file.clone()).required(false))
            .add_source(env_vars())
            .build()
            .context("reading configuration")?;
        // The same layers without the embedded defaults: what the operator
        // set, as opposed to what the program assumed.
        let explicit = config::Config::builder()
            .add_source(config::File::from(env_file).required(false))
            .add_source(env_vars())
            .build()
            .context("reading configuration")?;
        let mut settings: Settings = built
            .try_deserialize()
            .context("configuration is invalid")?;
        settings.environment = environment;
        settings.server.host_configured = explicit.get_string("server.host").is_ok();
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                settings.database.url = Some(url);
            }
        }
        Ok(settings)
    }

    /// Decodes the secrets; in local mode missing ones are generated once and
    /// kept in `data_dir/secrets.toml`, in production they are required.
    pub fn resolve_keys(&self) -> anyhow::Result<Keys> {
        let from_settings = (
            decode_key("jwt_key", self.secrets.jwt_key.as_deref())?,
            decode_key(
                "bsn_encryption_key",
                self.secrets.bsn_encryption_key.as_deref(),
            )?,
            decode_key("bsn_hash_key", self.secrets.bsn_hash_key.as_deref())?,
        );
        if let (Some(jwt), Some(enc), Some(hash)) = from_settings {
            if self.environment == Environment::Production {
                crate::crypto::keys::refuse_weak(&[
                    ("jwt_key", &jwt),
                    ("bsn_encryption_key", &enc),
                    ("bsn_hash_key", &hash),
                ])?;
            }
            return Ok(Keys {
                jwt,
                bsn_encryption: enc,
                bsn_hash: hash,
            });
        }
        if self.environment == Environment::Production {
            bail!(
                "production mode needs GEZINSREGIE__SECRETS__JWT_KEY, \
                 GEZINSREGIE__SECRETS__BSN_ENCRYPTION_KEY and GEZINSREGIE__SECRETS__BSN_HASH_KEY \
                 (32 random bytes each, base64); refusing to start without them"
            );
        }
        let stored = self.local_secrets()?;
        Ok(Keys {
            jwt: from_settings.0.unwrap_or(stored.jwt),
            bsn_encryption: from_settings.1.unwrap_or(stored.bsn_encryption),
            bsn_hash: from_settings.2.unwrap_or(stored.bsn_hash),
        })
    }

    /// The previous keys of a rotation (`secrets.*_previous_keys`); in
    /// production each is held to the same standard as a current key.
    pub fn previous_keys(&self) -> anyhow::Result<PreviousKeys> {
        let decode = |name: &str, values: &[String]| -> anyhow::Result<Vec<[u8; 32]>> {
            let mut keys = Vec::new();
            for value in values {
                if let Some(key) = decode_key(name, Some(value))? {
                    if self.environment == Environment::Production {
                        crate::crypto::keys::refuse_weak(&[(name, &key)])?;
                    }
                    keys.push(key);
                }
            }
            Ok(keys)
        };
        let s = &self.secrets;
        Ok(PreviousKeys {
            jwt: decode("jwt_previous_keys", &s.jwt_previous_keys)?,
            bsn_encryption: decode(
                "bsn_encryption_previous_keys",
                &s.bsn_encryption_previous_keys,
            )?,
            bsn_hash: decode("bsn_hash_previous_keys", &s.bsn_hash_previous_keys)?,
        })
    }

    fn local_secrets(&self) -> anyhow::Result<Keys> {
        #[derive(Deserialize, serde::Serialize)]
        struct Stored {
            jwt_key: String,
            bsn_encryption_key: String,
            bsn_hash_key: String,
        }
        let path = self.data_dir.join("secrets.toml");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let stored: Stored =
                toml_from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
            let get = |name: &str, v: &str| -> anyhow::Result<[u8; 32]> {
                decode_key(name, Some(v))?.context("empty key")
            };
            return Ok(Keys {
                jwt: get("jwt_key", &stored.jwt_key)?,
                bsn_encryption: get("bsn_encryption_key", &stored.bsn_encryption_key)?,
                bsn_hash: get("bsn_hash_key", &stored.bsn_hash_key)?,
            });
        }
        let keys = Keys {
            jwt: crate::auth::tokens::random_bytes(),
            bsn_encryption: crate::auth::tokens::random_bytes(),
            bsn_hash: crate::auth::tokens::random_bytes(),
        };
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let text = format!(
            "# Generated local secrets. Losing them makes stored BSNs unreadable.\n\
             jwt_key = \"{}\"\nbsn_encryption_key = \"{}\"\nbsn_hash_key = \"{}\"\n",
            B64.encode(keys.jwt),
            B64.encode(keys.bsn_encryption),
            B64.encode(keys.bsn_hash)
        );
        write_private_file(&path, text.as_bytes())?;
        Ok(keys)
    }
}

pub(crate) fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    let cfg = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()?;
    Ok(cfg.try_deserialize()?)
}

fn decode_key(name: &str, value: Option<&str>) -> anyhow::Result<Option<[u8; 32]>> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let bytes = B64
        .decode(value.trim())
        .with_context(|| format!("secret {name} is not valid base64"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("secret {name} must be exactly 32 bytes"))?;
    Ok(Some(key))
}

/// Writes a file readable only by its owner.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}
