//! A private PostgreSQL cluster run from the machine's own PostgreSQL
//! binaries, so that `cargo run` and the tests need no database set up by
//! hand. `initdb` refuses to run as root, so when this process is root the
//! PostgreSQL programs run as the `postgres` system user.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, bail, Context};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::process::Command;

const SUPERUSER: &str = "gezinsregie";

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Throw-away data (tests): no fsync, no full-page writes.
    pub ephemeral: bool,
    pub max_connections: u32,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            ephemeral: false,
            max_connections: 100,
        }
    }
}

/// How to stop PostgreSQL (`pg_ctl -m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Sessions are ended and open transactions roll back; a clean shutdown.
    Fast,
    /// Every PostgreSQL process quits at once; the next start recovers from
    /// the write-ahead log, as after a crash.
    Immediate,
}

/// A running local cluster.
#[derive(Debug)]
pub struct LocalCluster {
    bin_dir: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
    password: String,
    as_postgres_user: bool,
    /// The cluster was already running (left by a crash, or another command
    /// of ours is using it) rather than started by this process.
    pub adopted: bool,
}

/// Finds `initdb`, `pg_ctl` and `postgres`: on PATH, then the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    find_bin_dir_in(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
}

fn find_bin_dir_in(path: Option<std::ffi::OsString>, lib_root: &Path) -> anyhow::Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(path) = path {
        for dir in std::env::split_paths(&path) {
            let pg_ctl = dir.join("pg_ctl");
            if pg_ctl.is_file() {
                let real = std::fs::canonicalize(&pg_ctl).unwrap_or(pg_ctl);
                if let Some(parent) = real.parent().filter(|p| has_all(p)) {
                    return Ok(parent.to_path_buf());
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(lib_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "PostgreSQL server programs (initdb, pg_ctl, postgres) were not found on PATH or in \
             /usr/lib/postgresql/*/bin. Install them with `apt-get install postgresql` \
             (Debian/Ubuntu; `dnf install postgresql-server` on Fedora, `brew install postgresql@16` \
             on macOS), or set DATABASE_URL to use an existing database."
        )
    })
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

async fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let id = |flag: &'static str| async move {
        let out = Command::new("id").args([flag, "postgres"]).output().await?;
        if !out.status.success() {
            bail!(
                "running as root, the local PostgreSQL must run as the `postgres` user, which does \
                 not exist; install the `postgresql` package or run as an ordinary user"
            );
        }
        Ok::<u32, anyhow::Error>(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok((id("-u").await?, id("-g").await?))
}

impl LocalCluster {
    fn command(&self, program: &str) -> Command {
        let exe = self.bin_dir.join(program);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Starts (initialising when new) the cluster in `dir`. A cluster left
    /// running by a crashed server is adopted; a stale `postmaster.pid` is
    /// removed.
    pub async fn start(dir: &Path, options: &ClusterOptions) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        let as_postgres_user = running_as_root();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)?;
        let password = load_or_create_password(&dir.join("postgres.password"))?;
        let mut data_dir = dir.join("postgres");
        if as_postgres_user {
            let (uid, gid) = postgres_ids().await?;
            data_dir = reachable_by_postgres(&dir, &data_dir, uid, gid).await?;
        }
        let mut cluster = Self {
            bin_dir,
            data_dir,
            port: 0,
            password,
            as_postgres_user,
            adopted: false,
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.initdb().await?;
        }
        if let Some(port) = cluster.adopt_running()? {
            tracing::info!(port, "adopting the local PostgreSQL left running earlier");
            cluster.port = port;
            cluster.adopted = true;
        } else {
            cluster.port = free_port()?;
            cluster.pg_ctl_start(options).await?;
        }
        cluster.ensure_database(SUPERUSER).await?;
        Ok(cluster)
    }

    async fn initdb(&self) -> anyhow::Result<()> {
        tracing::info!(dir = %self.data_dir.display(), "initialising a local PostgreSQL cluster");
        let pwfile = std::env::temp_dir().join(format!("gezinsregie-pw-{}", uuid::Uuid::new_v4()));
        crate::config::write_private_file(&pwfile, self.password.as_bytes())?;
        if self.as_postgres_user {
            let (uid, gid) = postgres_ids().await?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
        }
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .await
            .context("running initdb")?;
        let _ = std::fs::remove_file(&pwfile);
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Port of a postmaster still running on this data dir, after removing a
    /// `postmaster.pid` whose process is gone.
    fn adopt_running(&self) -> anyhow::Result<Option<u16>> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let Ok(text) = std::fs::read_to_string(&pid_file) else {
            return Ok(None);
        };
        let mut lines = text.lines();
        let pid = lines.next().and_then(|l| l.trim().parse::<u32>().ok());
        let port = lines.nth(2).and_then(|l| l.trim().parse::<u16>().ok());
        let alive = pid.is_some_and(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmd| String::from_utf8_lossy(&cmd).contains("postgres"))
                .unwrap_or(false)
        });
        match (alive, port) {
            (true, Some(port)) => Ok(Some(port)),
            _ => {
                tracing::warn!("removing stale postmaster.pid left by a crash");
                std::fs::remove_file(&pid_file).context("removing stale postmaster.pid")?;
                Ok(None)
            }
        }
    }

    async fn pg_ctl_start(&self, options: &ClusterOptions) -> anyhow::Result<()> {
        let mut server_opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections={}",
            self.port, options.max_connections
        );
        if options.ephemeral {
            server_opts.push_str(
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB",
            );
        }
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(self.data_dir.join("server.log"))
            .args(["-w", "-t", "120", "-o", &server_opts, "start"])
            // Own process group: Ctrl-C reaches this server, which then stops
            // PostgreSQL itself after draining requests.
            .process_group(0)
            .stdout(Stdio::null());
        let out = cmd.output().await.context("running pg_ctl start")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "starting PostgreSQL failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// URL of a database in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Creates a database when it does not exist yet.
    pub async fn ensure_database(&self, name: &str) -> anyhow::Result<()> {
        let mut conn = AsyncPgConnection::establish(&self.url("postgres")).await?;
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let row: Exists = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists",
        )
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(&mut conn)
        .await?;
        if !row.exists {
            diesel::sql_query(format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// Stops the cluster (fast shutdown: open transactions roll back).
    pub async fn stop(&self) -> anyhow::Result<()> {
        self.stop_with(StopMode::Fast).await
    }

    /// Stops the cluster and waits until it is down.
    pub async fn stop_with(&self, mode: StopMode) -> anyhow::Result<()> {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", mode, "-w", "stop"])
            .output()
            .await?;
        if !out.status.success() {
            bail!("pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Starts a stopped cluster again on the port it had, so clients that
    /// hold its URL (a server in `DATABASE_URL` mode) find it again.
    pub async fn start_again(&self, options: &ClusterOptions) -> anyhow::Result<()> {
        self.pg_ctl_start(options).await
    }

    /// Stops the cluster and removes its files once `watched_pid` exits, even
    /// if that process is killed: for the test suite's throw-away cluster.
    pub fn remove_when_process_exits(&self, watched_pid: u32) -> anyhow::Result<()> {
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let stop = if self.as_postgres_user {
            format!(
                "runuser -u postgres -- {} -D '{}' -m immediate -w stop",
                pg_ctl.display(),
                self.data_dir.display()
            )
        } else {
            format!(
                "{} -D '{}' -m immediate -w stop",
                pg_ctl.display(),
                self.data_dir.display()
            )
        };
        let root = self
            .data_dir
            .parent()
            .unwrap_or(&self.data_dir)
            .to_path_buf();
        let script = format!(
            "while kill -0 {watched_pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{}'",
            root.display()
        );
        std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting the cluster watchdog")?;
        Ok(())
    }
}

/// The cluster directory must be reachable by the `postgres` user; when the
/// data folder sits under a private directory (say /root) the cluster goes
/// to /var/tmp instead, keyed by the data folder's path.
async fn reachable_by_postgres(
    dir: &Path,
    preferred: &Path,
    uid: u32,
    gid: u32,
) -> anyhow::Result<PathBuf> {
    let try_dir = |path: PathBuf| async move {
        std::fs::create_dir_all(&path)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let ok = Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-w"])
            .arg(&path)
            .status()
            .await?
            .success();
        Ok::<(bool, PathBuf), anyhow::Error>((ok, path))
    };
    let (ok, path) = try_dir(preferred.to_path_buf()).await?;
    if ok {
        return Ok(path);
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(dir.to_string_lossy().as_bytes());
    let key: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let fallback = PathBuf::from(format!("/var/tmp/gezinsregie-{key}/postgres"));
    if let Some(parent) = fallback.parent() {
        std::fs::create_dir_all(parent)?;
    }
    tracing::warn!(
        wanted = %preferred.display(),
        using = %fallback.display(),
        "the postgres user cannot reach the data folder; keeping the cluster elsewhere"
    );
    let (ok, path) = try_dir(fallback).await?;
    if !ok {
        bail!("the postgres user cannot write {}", path.display());
    }
    Ok(path)
}

fn load_or_create_password(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let text = text.trim().to_owned();
        if !text.is_empty() {
            return Ok(text);
        }
    }
    let password = crate::auth::tokens::random_token();
    crate::config::write_private_file(path, password.as_bytes())?;
    Ok(password)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_name_the_package_to_install() {
        let err = find_bin_dir_in(None, Path::new("/nonexistent/postgresql")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("apt-get install postgresql"), "{text}");
        assert!(text.contains("DATABASE_URL"), "{text}");
    }

    #[test]
    fn the_newest_installed_version_is_chosen() {
        let root = std::env::temp_dir().join(format!("gz-pg-{}", uuid::Uuid::new_v4().simple()));
        for version in ["14", "16", "9"] {
            let bin = root.join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for program in ["initdb", "pg_ctl", "postgres"] {
                std::fs::write(bin.join(program), "").unwrap();
            }
        }
        let found = find_bin_dir_in(None, &root).unwrap();
        assert_eq!(found, root.join("16").join("bin"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
