//! Test harness: one throw-away PostgreSQL cluster per test run (on /dev/shm
//! when there is one), a migrated template database, and for every test a
//! fresh database cloned from it and a server on a free port.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel::sql_types::{Bool, Bytea, Int8, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use gezinsregie::admin::model::UserSpec;
use gezinsregie::admin::service::insert_user;
use gezinsregie::audit::AuditEvent;
use gezinsregie::auth::queries::{insert_refresh_token, insert_session, login_account};
use gezinsregie::auth::tokens::{hash_token, random_token, TokenIssuer};
use gezinsregie::config::{AuthSettings, Keys, Settings};
use gezinsregie::db::cluster::{ClusterOptions, LocalCluster};
use gezinsregie::domain::{MunicipalityCode, Role, SessionId};
use gezinsregie::http::request_context::RequestContext;
use gezinsregie::startup::Application;
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard, OnceCell};
use uuid::Uuid;

pub const PASSWORD: &str = "test-password-123";
const TEMPLATE: &str = "gz_template";

struct Cluster {
    cluster: LocalCluster,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();
static CREATE_DB: Mutex<()> = Mutex::const_new(());
static PASSWORD_HASH: OnceLock<String> = OnceLock::new();

fn cluster_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("gezinsregie-test-{}", std::process::id()))
}

async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_init(|| async {
            let cluster = LocalCluster::start(
                &cluster_dir(),
                &ClusterOptions {
                    ephemeral: true,
                    max_connections: 800,
                },
            )
            .await
            .expect("starting the test PostgreSQL cluster");
            cluster
                .remove_when_process_exits(std::process::id())
                .expect("cluster watchdog");
            cluster
                .ensure_database(TEMPLATE)
                .await
                .expect("template database");
            gezinsregie::db::run_migrations(&cluster.url(TEMPLATE))
                .await
                .expect("migrating the template");
            // As `gezinsregie serve` does at its start: the database keeps
            // the fingerprints of the keys its data is written with, so a
            // server process started on a test database finds its own.
            let mut conn = AsyncPgConnection::establish(&cluster.url(TEMPLATE))
                .await
                .expect("connect to the template");
            gezinsregie::crypto::keys::check_against(&mut conn, &purpose_keys())
                .await
                .expect("key fingerprints");
            drop(conn);
            // Tests write audit events through the library too.
            gezinsregie::audit::chain::install(&purpose_keys()).expect("audit key");
            Cluster { cluster }
        })
        .await
}

/// The test secrets as a server process or a command reads them.
pub fn secrets_env() -> Vec<(&'static str, String)> {
    let keys = test_keys();
    vec![
        ("GEZINSREGIE__SECRETS__JWT_KEY", B64.encode(keys.jwt)),
        (
            "GEZINSREGIE__SECRETS__BSN_ENCRYPTION_KEY",
            B64.encode(keys.bsn_encryption),
        ),
        (
            "GEZINSREGIE__SECRETS__BSN_HASH_KEY",
            B64.encode(keys.bsn_hash),
        ),
    ]
}

/// The purpose keys the test server derives from [`test_keys`].
pub fn purpose_keys() -> gezinsregie::crypto::keys::PurposeKeys {
    gezinsregie::crypto::keys::PurposeKeys::derive(&test_keys())
}

pub fn test_keys() -> Keys {
    // Fixed, so every test server and binary shares them, but not of a weak
    // shape: production refuses repeated bytes (issue 15 item 10).
    let key = |label: &str| -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(label.as_bytes()).into()
    };
    Keys {
        jwt: key("gezinsregie test jwt_key"),
        bsn_encryption: key("gezinsregie test bsn_encryption_key"),
        bsn_hash: key("gezinsregie test bsn_hash_key"),
    }
}

fn password_hash() -> &'static str {
    PASSWORD_HASH.get_or_init(|| gezinsregie::auth::password::hash(PASSWORD).expect("hash"))
}

/// A fresh database cloned from the migrated template.
pub async fn fresh_database() -> String {
    let c = cluster().await;
    let name = format!("t_{}", Uuid::new_v4().simple());
    let _guard = CREATE_DB.lock().await;
    let mut conn = AsyncPgConnection::establish(&c.cluster.url("postgres"))
        .await
        .expect("connect");
    diesel::sql_query(format!("CREATE DATABASE \"{name}\" TEMPLATE {TEMPLATE}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    c.cluster.url(&name)
}

pub fn test_settings(db_url: &str) -> Settings {
    let mut settings = Settings::load_from(Path::new("config")).expect("settings");
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = Some(db_url.to_owned());
    settings.database.pool_size = 12;
    // Notifications: look often and back off briefly, so delivery tests
    // take seconds, not minutes.
    settings.notifications.poll_interval_ms = 100;
    settings.notifications.backoff_base_ms = 400;
    settings
}

pub struct TestApp {
    /// `http://127.0.0.1:port`
    pub address: String,
    pub db_url: String,
    pub client: reqwest::Client,
    /// The auth settings the server runs with: [`TestApp::session`] opens
    /// sessions and signs tokens the way that server does.
    pub auth: AuthSettings,
    /// The connection the fixture helpers share (municipalities, teams,
    /// users, sessions): a world would otherwise open two dozen
    /// connections one after the other. Opened on first use.
    pub fixtures: Mutex<Option<AsyncPgConnection>>,
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub username: String,
    pub password: String,
}

/// A server on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server on a fresh database, with adjusted settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db_url = fresh_database().await;
    let mut settings = test_settings(&db_url);
    adjust(&mut settings);
    let pool = gezinsregie::db::build_pool(
        &db_url,
        settings.database.pool_size,
        Duration::from_secs(10),
    )
    .expect("pool");
    let app = Application::build(&settings, &test_keys(), pool).expect("application");
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db_url,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
        auth: settings.auth.clone(),
        fixtures: Mutex::default(),
    }
}

/// How often [`wait_until`] looks.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds or `within` has passed; returns whether
/// it held. For waiting on something another task or process does (a
/// delivery, a log line, a sealer): the test waits as long as that takes
/// and no longer, and the caller's own assertions then say what was wrong.
pub async fn wait_until(within: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// [`wait_until`], failing the test when `condition` does not hold in time.
pub async fn eventually(what: &str, within: Duration, condition: impl AsyncFnMut() -> bool) {
    assert!(
        wait_until(within, condition).await,
        "timed out after {within:?} waiting for {what}"
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Int8)]
    n: i64,
}

#[derive(QueryableByName)]
struct Bytes {
    #[diesel(sql_type = Bytea)]
    bytes: Vec<u8>,
}

/// One audit event, as stored.
#[derive(Debug, QueryableByName)]
pub struct AuditRow {
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub actor_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub actor_type: String,
    #[diesel(sql_type = Text)]
    pub resource_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub resource_id: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub family_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub municipality_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub request_id: Option<String>,
    #[diesel(sql_type = Bool)]
    pub emergency_access: bool,
    #[diesel(sql_type = Jsonb)]
    pub detail: Value,
}

/// The columns of [`AuditRow`].
pub const AUDIT_ROW_COLUMNS: &str = "action, actor_id, actor_type, resource_type, resource_id, \
     family_id, outcome, municipality_code, request_id, emergency_access, detail";

impl TestApp {
    /// Full URL of an API path (`/families` -> `http://.../v1/families`).
    pub fn api(&self, path: &str) -> String {
        format!("{}/v1{}", self.address, path)
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db_url)
            .await
            .expect("connect to test database")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let row: Count = diesel::sql_query(sql)
            .get_result(&mut self.conn().await)
            .await
            .expect("count query");
        row.n
    }

    pub async fn raw_bytes(&self, sql: &str) -> Vec<Vec<u8>> {
        let rows: Vec<Bytes> = diesel::sql_query(sql)
            .load(&mut self.conn().await)
            .await
            .expect("bytes query");
        rows.into_iter().map(|r| r.bytes).collect()
    }

    pub async fn execute(&self, sql: &str) {
        diesel::sql_query(sql)
            .execute(&mut self.conn().await)
            .await
            .expect("statement");
    }

    /// Audit events with this action, oldest first.
    pub async fn audit_events(&self, action: &str) -> Vec<AuditRow> {
        diesel::sql_query(format!(
            "SELECT {AUDIT_ROW_COLUMNS} FROM audit_events WHERE action = $1 ORDER BY seq"
        ))
        .bind::<Text, _>(action)
        .load(&mut self.conn().await)
        .await
        .expect("audit query")
    }

    /// The fixture helpers' shared connection (see [`TestApp::fixtures`]);
    /// a new one when there is none yet or the last one broke.
    async fn fixture_conn(&self) -> MutexGuard<'_, Option<AsyncPgConnection>> {
        let mut conn = self.fixtures.lock().await;
        if conn.as_mut().is_none_or(|c| c.is_broken()) {
            *conn = Some(self.conn().await);
        }
        conn
    }

    /// A statement on the fixture connection.
    async fn fixture(&self, sql: &str) {
        let mut conn = self.fixture_conn().await;
        diesel::sql_query(sql)
            .execute(conn.as_mut().expect("fixture connection"))
            .await
            .expect("statement");
    }

    pub async fn municipality(&self, code: &str, name: &str) {
        self.fixture(&format!(
            "INSERT INTO municipalities (code, name) VALUES ('{code}', '{name}')"
        ))
        .await;
    }

    pub async fn team(&self, municipality: &str, name: &str) -> Uuid {
        let id = Uuid::now_v7();
        self.fixture(&format!("INSERT INTO teams (id, municipality_code, name) VALUES ('{id}', '{municipality}', '{name}')")).await;
        id
    }

    /// A user of `role`; the password is [`PASSWORD`].
    pub async fn user_with(
        &self,
        role: Role,
        municipality: Option<&str>,
        team: Option<Uuid>,
        served: &[&str],
    ) -> TestUser {
        self.user_full(role, municipality, team, served, None).await
    }

    /// A provider user of `provider` in `municipality`.
    pub async fn provider_user(&self, municipality: &str, provider: Uuid) -> TestUser {
        self.user_full(
            Role::ProviderUser,
            Some(municipality),
            None,
            &[],
            Some(provider),
        )
        .await
    }

    async fn user_full(
        &self,
        role: Role,
        municipality: Option<&str>,
        team: Option<Uuid>,
        served: &[&str],
        provider_id: Option<Uuid>,
    ) -> TestUser {
        let username = format!(
            "{}.{}",
            role.as_str().replace('_', ""),
            &Uuid::new_v4().simple().to_string()[..10]
        );
        let spec = UserSpec {
            username: username.clone(),
            display_name: format!("Test {}", role.as_str()),
            role,
            municipality: municipality.map(|m| MunicipalityCode::parse(m).expect("code")),
            team_id: team,
            served: served
                .iter()
                .map(|m| MunicipalityCode::parse(m).expect("code"))
                .collect(),
            provider_id,
            password: PASSWORD.into(),
        };
        let mut conn = self.fixture_conn().await;
        let conn = conn.as_mut().expect("fixture connection");
        let hash = password_hash().to_owned();
        let id = conn
            .transaction(async |c| insert_user(c, &spec, &hash).await)
            .await
            .expect("insert user");
        TestUser {
            id,
            username,
            password: PASSWORD.into(),
        }
    }

    pub async fn user(
        &self,
        role: Role,
        municipality: Option<&str>,
        team: Option<Uuid>,
    ) -> TestUser {
        self.user_with(role, municipality, team, &[]).await
    }

    /// A session of `user` as a successful `POST /v1/auth/login` leaves it,
    /// without the request and its password check: the `auth_sessions` row,
    /// a refresh token (its hash stored) and the `login` audit event, in one
    /// transaction as the server writes them, and an access token signed by
    /// the issuer the server builds from the same keys and settings
    /// ([`TokenIssuer::from_settings`]). Returns the access token.
    ///
    /// For every test that is not about logging in: a real login costs an
    /// argon2 hash of CPU time, and the suite needs about a thousand
    /// sessions. Tests of login, refresh, lockout, logout, password changes
    /// and OAuth use [`TestApp::login`].
    pub async fn session(&self, user: &TestUser) -> String {
        self.session_pair(user).await["accessToken"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// [`TestApp::session`], returning the whole token pair as the login
    /// answers it.
    pub async fn session_pair(&self, user: &TestUser) -> Value {
        let mut conn = self.fixture_conn().await;
        let conn = conn.as_mut().expect("fixture connection");
        let account = login_account(conn, &user.username.to_lowercase())
            .await
            .expect("account query")
            .filter(|a| a.active)
            .unwrap_or_else(|| panic!("login of {} failed: no active account", user.username));
        let session = SessionId::new();
        let refresh = random_token();
        let expires_at = chrono::Utc::now() + chrono::Duration::hours(self.auth.session_ttl_hours);
        let ctx = RequestContext {
            request_id: Uuid::new_v4().to_string(),
            client_request_id: None,
            path: "/v1/auth/login".into(),
            ip: Some("127.0.0.1".into()),
        };
        conn.transaction(async |c| {
            insert_session(c, session, account.id, expires_at).await?;
            insert_refresh_token(c, &hash_token(&refresh), session).await?;
            AuditEvent::anonymous(&ctx, "login", "session")
                .user(
                    account.id.uuid(),
                    account.role.as_str(),
                    account.municipality_code.clone(),
                )
                .record(c)
                .await
        })
        .await
        .expect("session rows");
        let issuer = TokenIssuer::from_settings(&purpose_keys(), &self.auth);
        let access = issuer
            .issue(account.id.uuid(), session.uuid(), account.role.as_str())
            .expect("signing the access token");
        serde_json::json!({
            "accessToken": access,
            "refreshToken": refresh,
            "tokenType": "Bearer",
            "expiresIn": issuer.ttl_seconds,
        })
    }

    /// Logs in through the API and returns the access token.
    pub async fn login(&self, user: &TestUser) -> String {
        self.login_pair(user).await["accessToken"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Logs in through the API and returns the whole token pair.
    pub async fn login_pair(&self, user: &TestUser) -> Value {
        let res = self
            .client
            .post(self.api("/auth/login"))
            .json(&serde_json::json!({"username": user.username, "password": user.password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), 200, "login of {} failed", user.username);
        res.json().await.expect("token pair")
    }

    /// The real binary as a second server process on the same database.
    pub async fn spawn_server_process(&self) -> ServerProcess {
        self.server_process(None, &[]).await
    }

    /// A server process with extra `GEZINSREGIE__...` settings.
    pub async fn spawn_server_process_with(&self, env: &[(&str, &str)]) -> ServerProcess {
        self.server_process(None, env).await
    }

    /// A second server process in production log format, its stdout in a file.
    pub async fn spawn_logging_server_process(&self) -> (ServerProcess, PathBuf) {
        let path =
            std::env::temp_dir().join(format!("gezinsregie-log-{}.jsonl", Uuid::new_v4().simple()));
        (self.server_process(Some(&path), &[]).await, path)
    }

    async fn server_process(&self, log: Option<&Path>, env: &[(&str, &str)]) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let data_dir =
            std::env::temp_dir().join(format!("gezinsregie-proc-{}", Uuid::new_v4().simple()));
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gezinsregie"));
        command.envs(env.iter().copied());
        let child = command
            .arg("serve")
            .env("DATABASE_URL", &self.db_url)
            .env("GEZINSREGIE__SERVER__HOST", "127.0.0.1")
            .env("GEZINSREGIE__SERVER__PORT", port.to_string())
            .env("GEZINSREGIE__SERVER__WORKERS", "2")
            .env("GEZINSREGIE__DATA_DIR", &data_dir)
            .envs(secrets_env())
            .env(
                "GEZINSREGIE__LOG__FORMAT",
                if log.is_some() { "json" } else { "pretty" },
            )
            .env(
                "GEZINSREGIE__LOG__FILTER",
                if log.is_some() { "info" } else { "warn" },
            )
            .stdout(match log {
                Some(path) => {
                    std::process::Stdio::from(std::fs::File::create(path).expect("log file"))
                }
                None => std::process::Stdio::null(),
            })
            .kill_on_drop(true)
            .spawn()
            .expect("starting the server binary");
        let address = format!("http://127.0.0.1:{port}");
        eventually(
            "the second server process to be ready",
            Duration::from_secs(60),
            async || {
                self.client
                    .get(format!("{address}/health/ready"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            },
        )
        .await;
        ServerProcess {
            address,
            child,
            data_dir,
        }
    }
}

/// A server process; killed when dropped.
pub struct ServerProcess {
    pub address: String,
    child: tokio::process::Child,
    data_dir: PathBuf,
}

impl ServerProcess {
    /// Kills the process with SIGKILL, as a crash would (no draining, no
    /// shutdown hooks), and waits until it is gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("killing the server process");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The response's Content-Type, empty when absent.
pub fn content_type(res: &reqwest::Response) -> String {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
