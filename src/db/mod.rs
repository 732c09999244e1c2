//! Database access: the connection pool, embedded migrations, the private
//! local PostgreSQL cluster used when no database is configured, and the
//! invariant checks over the stored data.

pub mod cluster;
pub mod invariants;
pub mod schema;
pub mod sql;
pub mod types;

use std::time::Duration;

use anyhow::Context;
use deadpool::managed::Metrics;
use diesel::QueryableByName;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

/// A pooled connection used within this long is handed out again without a
/// test query; one idle for longer is tested first.
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Builds the pool. Connections are opened lazily; `wait` bounds how long a
/// request queues for one before it is answered 503.
///
/// Checking every connection with `SELECT 1` at each checkout (diesel-async's
/// default) cost a request one round trip per checkout, four for a plan view
/// (the session, the plan's family, the family's facts, the transaction):
/// a quarter of its statements (without them plan-view throughput rose by a
/// fifth: 9,340 to 11,143 requests in 10 s at concurrency 8). A
/// connection PostgreSQL closed is known to be broken without a query: its
/// connection task sees the socket close (the outage test in
/// tests/api/faults.rs restarts the database under load; a restart under an
/// idle server, tried with the test query switched off, cost no request
/// either). So the test query is kept only for connections idle longer than
/// [`VERIFY_AFTER_IDLE`]: those a firewall or a network fault may have cut
/// without closing.
pub fn build_pool(url: &str, size: usize, wait: Duration) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(wait))
        .create_timeout(Some(wait))
        .recycle_timeout(Some(wait))
        .pre_recycle(Hook::async_fn(
            |conn: &mut AsyncPgConnection, metrics: &Metrics| {
                let idle = metrics.last_used() > VERIFY_AFTER_IDLE;
                Box::pin(async move {
                    if idle {
                        // A failed test drops the connection; the pool opens
                        // another (or answers 503 when it cannot).
                        sql::cached("SELECT 1")
                            .execute(conn)
                            .await
                            .map_err(|e| HookError::Message(e.to_string().into()))?;
                    }
                    Ok(())
                })
            },
        ))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

thread_local! {
    /// The pool of the HTTP worker running on this thread, if it has one.
    static WORKER_POOL: std::cell::RefCell<Option<DbPool>> = const { std::cell::RefCell::new(None) };
}

/// Gives the current thread (an HTTP worker) a pool of its own, which
/// [`crate::state::AppState::db`] then hands out on this thread.
///
/// Why: a pooled connection's socket is driven by a task on the runtime of
/// the thread that opened it, and each actix worker is a runtime of its own.
/// With one pool shared by all workers, a request on one worker often got a
/// connection opened on another (or by a background task on the main
/// thread), so every round trip woke a second thread and back: under
/// plan-view load the server spent more time in the scheduler than in its
/// own code. A pool per worker keeps a request and its connection on one
/// thread. Background tasks keep using the shared pool.
pub fn install_worker_pool(pool: DbPool) {
    WORKER_POOL.with(|slot| *slot.borrow_mut() = Some(pool));
}

/// The current thread's worker pool (see [`install_worker_pool`]).
pub fn worker_pool() -> Option<DbPool> {
    WORKER_POOL.with(|slot| slot.borrow().clone())
}

/// Runs pending migrations. Diesel's migration harness is synchronous, so it
/// runs on the blocking pool over a wrapped async connection.
pub async fn run_migrations(url: &str) -> anyhow::Result<Vec<String>> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .context("connecting to the database to migrate it")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migrating the database: {e}"))?;
        Ok(applied.iter().map(|v| v.to_string()).collect())
    })
    .await
    .context("migration task")?
}

/// The newest migration version embedded in this binary.
pub fn latest_migration_version() -> Option<String> {
    use diesel::migration::MigrationSource;
    let migrations: Vec<Box<dyn diesel::migration::Migration<diesel::pg::Pg>>> =
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).ok()?;
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .max()
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    version: Option<String>,
}

/// True when the database answers and has every embedded migration.
pub async fn is_ready(conn: &mut AsyncPgConnection) -> bool {
    let row: Result<Version, _> =
        diesel::sql_query("SELECT max(version)::text AS version FROM __diesel_schema_migrations")
            .get_result(conn)
            .await;
    match (row, latest_migration_version()) {
        (
            Ok(Version {
                version: Some(have),
            }),
            Some(want),
        ) => have >= want,
        _ => false,
    }
}

/// Opens one connection outside the pool (CLI commands, readiness at start).
pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .context("connecting to the database")
}
