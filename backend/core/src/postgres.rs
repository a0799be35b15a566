//! PostgreSQL: the connection pool, migrations under an advisory lock, and the private cluster that
//! `fermata serve` starts when no DATABASE_URL is given (also used by the test harness).

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;

/// Arbitrary but fixed: every replica asks for the same lock, so only one migrates at a time.
const MIGRATION_LOCK_KEY: i64 = 0x0066_6572_6d61_7461; // "fermata"

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // Connections older than this are replaced, so a restarted database is picked up cleanly.
        .max_lifetime(Duration::from_secs(30 * 60))
        .idle_timeout(Duration::from_secs(5 * 60))
        .sqlx_logging(false);
    Database::connect(options).await.context("cannot connect to PostgreSQL (DATABASE_URL)")
}

/// Applies pending migrations. Replicas starting together serialise on a transaction-scoped advisory lock;
/// the first applies the migrations and the others find nothing left to do. PostgreSQL DDL is
/// transactional, so a failed migration leaves the schema as it was.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")).await?;
    let pending = Migrator::get_pending_migrations(&txn).await?.len();
    if pending > 0 {
        Migrator::up(&txn, None).await.context("migration failed")?;
    }
    txn.commit().await?;
    if pending > 0 {
        tracing::info!(applied = pending, "database migrations applied");
    } else {
        tracing::debug!("database schema up to date");
    }
    Ok(pending)
}

/// A private PostgreSQL cluster run from the server binaries installed on this machine, listening only on a
/// unix socket inside its own data directory.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    run_as: Option<nix::unistd::User>,
    /// False when the cluster was already running (another `fermata` command started it): leave it be.
    owned: bool,
}

/// What the private cluster is for: the server (durable) or tests (fsync off, fast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    Throwaway,
}

pub const EMBEDDED_DATABASE: &str = "fermata";
const EMBEDDED_USER: &str = "fermata";

impl EmbeddedPostgres {
    /// Finds the server binaries: first on PATH, then the newest /usr/lib/postgresql/*/bin.
    pub fn find_binaries() -> anyhow::Result<PathBuf> {
        let has_all = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file());
        if let Some(path) = std::env::var_os("PATH")
            && let Some(dir) = std::env::split_paths(&path).find(|d| has_all(d))
        {
            return Ok(dir);
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                has_all(&bin).then_some((version, bin))
            })
            .collect();
        versions.sort();
        match versions.pop() {
            Some((_, bin)) => Ok(bin),
            None => bail!(
                "no DATABASE_URL is set and no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found \
                 on PATH or under /usr/lib/postgresql/*/bin. Either install them (Debian/Ubuntu: \
                 `apt-get install postgresql`; macOS: `brew install postgresql`) or point DATABASE_URL at a \
                 PostgreSQL server, e.g. DATABASE_URL=postgres://fermata:secret@localhost/fermata"
            ),
        }
    }

    /// Initialises the cluster if needed and starts it. Returns once it accepts connections.
    pub fn start(data_dir: &Path, durability: Durability) -> anyhow::Result<Self> {
        let bin_dir = Self::find_binaries()?;
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize().with_context(|| format!("cannot resolve {}", data_dir.display()))?;
        // The socket lives in the data directory; unix socket paths are limited to 107 bytes.
        if data_dir.join(".s.PGSQL.5432").as_os_str().len() > 107 {
            bail!(
                "the private database directory {} is too deep for a unix socket path; set DATA_DIR to a shorter path",
                data_dir.display()
            );
        }
        let run_as = Self::unprivileged_user()?;
        if let Some(user) = &run_as {
            std::os::unix::fs::chown(&data_dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .with_context(|| format!("cannot hand {} to user {}", data_dir.display(), user.name))?;
        }
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))?;
        let mut cluster = Self { bin_dir, data_dir, run_as, owned: true };

        if !cluster.data_dir.join("PG_VERSION").exists() {
            tracing::info!(dir = %cluster.data_dir.display(), "initialising a private PostgreSQL cluster");
            let mut initdb = cluster.command("initdb");
            initdb.arg("-D").arg(&cluster.data_dir).args([
                "-U",
                EMBEDDED_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]);
            if durability == Durability::Throwaway {
                initdb.arg("--no-sync");
            }
            run(initdb, "initdb")?;
        }

        let mut status = cluster.command("pg_ctl");
        status.arg("-D").arg(&cluster.data_dir).arg("status").stdout(Stdio::null()).stderr(Stdio::null());
        if status.status().is_ok_and(|s| s.success()) {
            tracing::info!(dir = %cluster.data_dir.display(), "using the private PostgreSQL cluster already running");
            cluster.owned = false;
            return Ok(cluster);
        }

        let mut options = format!(
            "-c listen_addresses='' -k '{}' -c unix_socket_permissions=0700 -c max_connections=200",
            cluster.data_dir.display()
        );
        if durability == Durability::Throwaway {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let mut pg_ctl = cluster.command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&cluster.data_dir)
            .arg("-l")
            .arg(cluster.data_dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(pg_ctl, "pg_ctl start")?;
        tracing::info!(
            dir = %cluster.data_dir.display(),
            bin = %cluster.bin_dir.display(),
            "private PostgreSQL cluster started (unix socket only); set DATABASE_URL to use another server"
        );
        Ok(cluster)
    }

    /// initdb and postgres refuse to run as root: when we are root, run them as the `postgres` system user.
    fn unprivileged_user() -> anyhow::Result<Option<nix::unistd::User>> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        match nix::unistd::User::from_name("postgres")? {
            Some(user) => Ok(Some(user)),
            None => bail!(
                "running as root, and PostgreSQL will not run as root: create an unprivileged `postgres` user \
                 (e.g. `useradd --system postgres`), run Fermata as a normal user, or set DATABASE_URL"
            ),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.stdin(Stdio::null()).env("LC_ALL", "C.UTF-8");
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw()).env("HOME", &user.dir);
        }
        cmd
    }

    /// A URL for the given database over the cluster's unix socket.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{EMBEDDED_USER}@localhost/{database}?host={}", self.data_dir.display())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Creates the named database when it does not exist yet.
    pub async fn ensure_database(&self, name: &str) -> anyhow::Result<()> {
        let admin = connect(&self.url("postgres"), 1).await?;
        let exists = admin
            .query_one(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT 1 FROM pg_database WHERE datname = $1",
                [name.into()],
            ))
            .await?
            .is_some();
        if !exists {
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
        }
        admin.close().await?;
        Ok(())
    }

    /// Stops the cluster (fast mode: open sessions are ended, data is safe).
    fn stop(&self) -> anyhow::Result<()> {
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl.arg("-D").arg(&self.data_dir).args(["-m", "fast", "-w", "stop"]);
        run(pg_ctl, "pg_ctl stop")?;
        tracing::info!(dir = %self.data_dir.display(), "private PostgreSQL cluster stopped");
        Ok(())
    }
}

/// Dropping the handle stops a cluster this process started.
impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if self.owned
            && let Err(e) = self.stop()
        {
            tracing::error!("cannot stop the private PostgreSQL cluster: {e:#}");
        }
    }
}

fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let output = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
