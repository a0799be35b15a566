//! The test harness: a PostgreSQL server (DATABASE_URL when set, otherwise a throwaway cluster from the local
//! server binaries), a migrated template database, and a fresh clone of it for every test.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use fermata::{
    config::Config,
    postgres::{self, Durability, EmbeddedPostgres},
    startup::Application,
};
use reqwest::{StatusCode, header::HeaderMap};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use url::Url;
use uuid::Uuid;

/// The server every test database lives on.
struct Server {
    /// A URL with the database part replaced per use.
    base: Url,
}

impl Server {
    fn url(&self, database: &str) -> String {
        let mut url = self.base.clone();
        url.set_path(&format!("/{database}"));
        url.to_string()
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) => Server { base: Url::parse(&url).expect("DATABASE_URL is a URL") },
        Err(_) => start_throwaway_cluster(),
    })
}

/// A cluster in a temp dir for this test process, fsync off. A watchdog process stops it and removes the
/// directory once this process has exited (Rust's test harness has no global teardown).
fn start_throwaway_cluster() -> Server {
    let dir = tempfile::Builder::new().prefix("fermata-test-pg").tempdir().expect("temp dir").keep();
    // The cluster runs as the `postgres` user when we are root, and it must reach its directory.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = dir.join("data");
    let cluster = EmbeddedPostgres::start(&data, Durability::Throwaway).expect("start a throwaway PostgreSQL");
    let url = cluster.url("postgres");
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         kill -QUIT $(head -n1 '{data}/postmaster.pid') 2>/dev/null; sleep 2; rm -rf '{dir}'",
        pid = std::process::id(),
        data = cluster.data_dir().display(),
        dir = dir.display()
    );
    // Deliberately never waited for: it must outlive this process.
    #[allow(clippy::zombie_processes)]
    let _watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the cluster watchdog");
    // The watchdog owns the cluster's end now.
    std::mem::forget(cluster);
    Server { base: Url::parse(&url).expect("cluster url") }
}

async fn admin_connection() -> DatabaseConnection {
    postgres::connect(&server().url("postgres"), 2).await.expect("connect to the test server")
}

/// The migrated template, made once per server and schema version; every test database is cloned from it.
async fn template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            use sea_orm_migration::MigratorTrait;
            let names: Vec<String> =
                fermata::migration::Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
            let tag = format!("{:x}", fnv1a(&names.join(",")));
            let name = format!("fermata_template_{tag}");
            let admin = admin_connection().await;
            // Several test processes may share one server (DATABASE_URL): build the template once.
            admin.execute_unprepared("SELECT pg_advisory_lock(4242)").await.unwrap();
            let exists = admin
                .query_one(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
                ))
                .await
                .unwrap()
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{building}\"")).await.unwrap();
                admin.execute_unprepared(&format!("CREATE DATABASE \"{building}\"")).await.unwrap();
                let db = postgres::connect(&server().url(&building), 1).await.unwrap();
                postgres::migrate(&db).await.unwrap();
                db.close().await.unwrap();
                admin.execute_unprepared(&format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\"")).await.unwrap();
            }
            admin.execute_unprepared("SELECT pg_advisory_unlock(4242)").await.unwrap();
            admin.close().await.unwrap();
            name
        })
        .await
}

/// A stable fingerprint of the migration list (FNV-1a; only needs to change when migrations change).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A fresh database cloned from the migrated template. Returns its URL.
pub async fn fresh_database() -> String {
    let template = template().await;
    let name = format!("test_{}", Uuid::new_v4().simple());
    let admin = admin_connection().await;
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")).await.unwrap();
    admin.close().await.unwrap();
    server().url(&name)
}

/// An empty database, not migrated.
pub async fn empty_database() -> String {
    let name = format!("test_{}", Uuid::new_v4().simple());
    let admin = admin_connection().await;
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    admin.close().await.unwrap();
    server().url(&name)
}

/// A configuration as `fermata serve` would parse it, on port 0, with these extra flags.
pub fn config(database_url: &str, data_dir: &Path, extra: &[&str]) -> Config {
    #[derive(clap::Parser)]
    #[command(args_override_self = true)]
    struct Args {
        #[command(flatten)]
        config: Config,
    }
    let mut args = vec![
        "fermata".to_owned(),
        format!("--database-url={database_url}"),
        format!("--data-dir={}", data_dir.display()),
        "--bind=127.0.0.1:0".to_owned(),
        "--public-url=http://localhost:8080".to_owned(),
        // Tests sign in far more often than people do; the rate-limit tests set their own limits.
        "--rate-limit-auth-burst=1000".to_owned(),
        "--rate-limit-api-burst=1000000".to_owned(),
        // Every test app shares this process's RSS; the guard has its own test.
        "--memory-soft-limit-mb=0".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let mut config = <Args as clap::Parser>::try_parse_from(args).expect("test config parses").config;
    config.subsonic_credential_key = Some(SUBSONIC_KEY.into());
    config
}

/// SUBSONIC_CREDENTIAL_KEY of the test apps (32 bytes, base64).
pub const SUBSONIC_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=";

/// A running application and a client for it (with its own cookie jar).
pub struct TestApp {
    pub address: String,
    pub db: DatabaseConnection,
    pub database_url: String,
    pub client: reqwest::Client,
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub data_dir: tempfile::TempDir,
}

/// The Set-Cookie header (whole, with its attributes) that sets the cookie `name`.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> String {
    let prefix = format!("{name}=");
    let found = headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&prefix));
    found.unwrap_or_else(|| panic!("no {name} cookie in {headers:?}")).to_owned()
}

pub fn client() -> reqwest::Client {
    fermata::s3::install_tls_provider();
    reqwest::Client::builder().cookie_store(true).build().unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[&str]) -> Self {
        Self::spawn_on(&fresh_database().await, extra).await
    }

    /// Another instance on an existing database (a second replica).
    pub async fn spawn_on(database_url: &str, extra: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let config = config(database_url, data_dir.path(), extra);
        Self::start(config, data_dir).await
    }

    /// An instance with a configuration made by the test (its database and data folder as given there).
    pub async fn spawn_config(config: Config) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: data_dir.path().to_owned(), ..config };
        Self::start(config, data_dir).await
    }

    async fn start(config: Config, data_dir: tempfile::TempDir) -> Self {
        let database_url = config
            .database_url
            .as_ref()
            .map(|u| secrecy::ExposeSecret::expose_secret(u).to_owned())
            .unwrap_or_default();
        let app = Application::build(config).await.expect("application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let server = tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
        Self { address, db, database_url, client: client(), stop, server: Some(server), data_dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Triggers graceful shutdown and waits for the server to finish.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.server.take().expect("running").await?
    }

    pub async fn post_json(&self, client: &reqwest::Client, path: &str, body: &Value) -> reqwest::Response {
        client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn register(&self, username: &str, password: &str) -> Value {
        let body = json!({"username": username, "email": format!("{username}@example.com"), "password": password});
        let response = self.post_json(&self.client, "/api/users/register", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {username}");
        response.json().await.unwrap()
    }

    /// Signs `client` in; panics unless it works.
    pub async fn login(&self, client: &reqwest::Client, username: &str, password: &str) -> HeaderMap {
        let response =
            self.post_json(client, "/api/auth/login", &json!({"username": username, "password": password})).await;
        assert_eq!(response.status(), StatusCode::OK, "login {username}");
        response.headers().clone()
    }

    /// Creates an admin directly in the database and returns a client signed in as them.
    pub async fn admin_client(&self, username: &str) -> reqwest::Client {
        create_admin(&self.db, username).await;
        let client = client();
        self.login(&client, username, ADMIN_PASSWORD).await;
        client
    }
}

pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// An admin account written straight into the database (with a real argon2 hash of [`ADMIN_PASSWORD`]).
pub async fn create_admin(db: &DatabaseConnection, username: &str) {
    let passwords = fermata::accounts::password::Passwords::new().unwrap();
    fermata_core::accounts::create(
        db,
        fermata_core::accounts::NewUser {
            username: username.to_owned(),
            email: format!("{username}@example.com"),
            display_name: None,
            password_hash: passwords.hash(ADMIN_PASSWORD.into()).await.unwrap(),
            role: fermata_core::accounts::Role::Admin,
        },
    )
    .await
    .unwrap();
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The first column of the first row of `sql` (a count, an id, a path).
pub async fn scalar<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: &str) -> T {
    let statement = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql.to_owned());
    db.query_one(statement).await.unwrap().expect("a row").try_get_by_index(0).unwrap()
}

/// The error code of an API error body.
pub async fn error_code(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body: Value = response.json().await.expect("error body is JSON");
    assert!(body["error"]["message"].is_string(), "error shape: {body}");
    (status, body["error"].clone())
}

impl TestApp {
    /// The app's media store (uploads land under DATA_DIR/media).
    pub fn media(&self) -> fermata::media::MediaStore {
        fermata::media::MediaStore::new(self.data_dir.path().join("media"), None).unwrap()
    }

    /// Adds a file to the library the way an upload does once its bytes are on disk; returns the song id.
    pub async fn add_song(&self, path: &Path) -> Uuid {
        match fermata::library::import_copy(&self.db, &self.media(), path, None).await.expect("import") {
            fermata::library::Imported::Added(id) | fermata::library::Imported::Duplicate(id) => id.0,
        }
    }

    /// A signed-in listener client, registered through the API.
    pub async fn listener(&self, username: &str) -> reqwest::Client {
        self.register(username, "listener-password").await;
        let client = client();
        self.login(&client, username, "listener-password").await;
        client
    }

    /// Sessions for many users at once (see [`bulk_sessions`]).
    pub async fn bulk_sessions(&self, count: usize) -> Vec<String> {
        bulk_sessions(&self.db, count).await
    }

    /// A session for `user` signed in and last seen at these Unix times, written through the real store.
    pub async fn session_cookie(&self, user: Uuid, signed_in_at: i64, last_seen: i64) -> String {
        session_cookie(&self.db, user, signed_in_at, last_seen).await
    }
}

/// Sessions for many users at once, written through the real session store (signing in a thousand users
/// through argon2 would take a minute). Returns a cookie header value per user.
pub async fn bulk_sessions(db: &DatabaseConnection, count: usize) -> Vec<String> {
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "INSERT INTO users (id, username, email, password_hash) SELECT gen_random_uuid(), 'bulk' || i, \
                 'bulk' || i || '@example.com', 'not-a-hash' FROM generate_series(1, {count}) i RETURNING id"
            ),
        ))
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut cookies = Vec::with_capacity(count);
    for row in rows {
        cookies.push(session_cookie(db, row.try_get("", "id").unwrap(), now, now).await);
    }
    cookies
}

/// A session for `user` signed in and last seen at these Unix times, written through the real store.
pub async fn session_cookie(db: &DatabaseConnection, user: Uuid, signed_in_at: i64, last_seen: i64) -> String {
    use tower_sessions::{SessionStore, session::Record};
    let auth = serde_json::json!({"user_id": user, "epoch": 0, "signed_in_at": signed_in_at, "last_seen": last_seen});
    let mut record = Record {
        id: tower_sessions::session::Id::default(),
        data: [("auth".to_owned(), auth)].into_iter().collect(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(1),
    };
    // A store with its own (never listening, so never used) cache: the row is what the app reads.
    let store = fermata::accounts::session_store::CachedStore::new(db, Default::default());
    store.create(&mut record).await.unwrap();
    format!("fermata_session={}", record.id)
}

/// Polls `check` every 50 ms until it holds; panics naming `what` once `within` has passed. Tests wait for the
/// thing they need to have happened, never for a fixed time.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `request` as a well-behaved client would: after a 429 it waits the Retry-After the server gave (never
/// less than 100 ms) and asks again, for at most a minute. Returns the first answer that is not a 429, with the
/// longest Retry-After it was told. Rate limits are tested by what the server says, not by wall-clock windows a
/// loaded machine stretches.
pub async fn honouring_retry_after<F, Fut>(what: &str, mut request: F) -> (reqwest::Response, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut longest = Duration::ZERO;
    loop {
        let response = request().await;
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            return (response, longest);
        }
        let secs: u64 = response.headers()[reqwest::header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
        let wait = Duration::from_secs(secs).max(Duration::from_millis(100));
        longest = longest.max(Duration::from_secs(secs));
        assert!(Instant::now() + wait < deadline, "still refused after a minute waiting for {what}");
        tokio::time::sleep(wait).await;
    }
}

/// Sends `request` as raw bytes (for what an HTTP client library refuses to send) and returns the status code
/// of the answer.
pub async fn raw_status(app: &TestApp, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut head = vec![0; 12];
    stream.read_exact(&mut head).await.unwrap();
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.parse().ok()).unwrap_or_else(|| panic!("not HTTP: {text}"))
}

/// Reads an event stream until `needle` shows up (true), the stream ends (false), or `within` passes (panics).
pub async fn read_until(events: &mut reqwest::Response, needle: &str, within: Duration) -> (bool, String) {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, events.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains(needle) {
                    return (true, seen);
                }
            }
            Ok(Ok(None) | Err(_)) => return (false, seen),
            Err(_) => panic!("neither {needle:?} nor the end of the stream within {within:?}: {seen}"),
        }
    }
}
