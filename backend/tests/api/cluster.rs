//! The compose topology, natively: one PostgreSQL, three `fermata serve` processes (own ports, one shared media
//! folder, MEDIA_DELIVERY=x-accel) and a real nginx in front, configured from nginx/native.conf.template with
//! the same shared locations the containers include.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use fermata::postgres::{Durability, EmbeddedPostgres};
use futures::future::join_all;
use reqwest::{StatusCode, header};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::{
    fixtures::{self, Format, Tags},
    support::{self, ADMIN_PASSWORD, client, error_code, eventually, scalar},
};

/// MAX_UPLOAD_BYTES of the replicas and of nginx (`scripts/nginx-config` fills it into nginx's templates).
const UPLOAD_LIMIT: usize = 4 * 1024 * 1024;

struct Replica {
    port: u16,
    child: Child,
}

struct Cluster {
    dir: tempfile::TempDir,
    postgres: Option<EmbeddedPostgres>,
    db: DatabaseConnection,
    replicas: Vec<Replica>,
    /// Held for its Drop: nginx stops with the cluster.
    _nginx: Nginx,
    nginx_port: u16,
}

/// A port that was free a moment ago (the processes bind it themselves).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_postgres(dir: &Path) -> EmbeddedPostgres {
    EmbeddedPostgres::start(&dir.join("pg"), Durability::Throwaway).expect("PostgreSQL starts")
}

impl Cluster {
    /// Starts PostgreSQL with an empty database, `replicas` backends at once, and nginx in front of them.
    async fn start(replicas: usize) -> Self {
        let dir = tempfile::Builder::new().prefix("fermata-cluster").tempdir().unwrap();
        // PostgreSQL runs as `postgres` and nginx's workers as `nobody` when we are root: both must get in.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pg_dir = dir.path().to_owned();
        let postgres = tokio::task::spawn_blocking(move || start_postgres(&pg_dir)).await.unwrap();
        postgres.ensure_database("fermata").await.unwrap();
        let database_url = postgres.url("fermata");
        let media = dir.path().join("media");
        std::fs::create_dir_all(dir.path().join("library")).unwrap();
        let frontend = dir.path().join("frontend");
        std::fs::create_dir_all(&frontend).unwrap();
        std::fs::write(frontend.join("index.html"), "<!doctype html><title>Fermata</title>").unwrap();

        let nginx_port = free_port();
        let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
        // All replicas start together on the empty database: the advisory lock must make them migrate once.
        let mut started = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            started
                .push(Replica { port, child: spawn_backend(dir.path(), i, port, nginx_port, &database_url, &media) });
        }
        for replica in &started {
            wait_until_ready(replica.port).await;
        }
        let nginx = spawn_nginx(dir.path(), nginx_port, &ports, &media, &frontend).await;
        let db = fermata::postgres::connect(&database_url, 4).await.unwrap();
        Self { dir, postgres: Some(postgres), db, replicas: started, _nginx: nginx, nginx_port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nginx_port)
    }

    fn replica_url(&self, replica: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.replicas[replica].port)
    }

    /// An admin signed in through nginx; returns the client and its session cookie.
    async fn admin(&self, username: &str) -> (reqwest::Client, String) {
        support::create_admin(&self.db, username).await;
        let client = client();
        let response = client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = support::set_cookie(response.headers(), "fermata_session").split(';').next().unwrap().to_owned();
        (client, cookie)
    }
}

/// A running nginx, stopped when dropped: SIGTERM, so its master stops the workers (SIGKILL, what a dropped
/// `Child` with kill_on_drop sends, ends the master alone and leaves the worker and cache manager behind holding
/// the port and the test's output pipe), then reaped.
pub(crate) struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        match i32::try_from(self.0.id()) {
            Ok(pid) => {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            }
            Err(_) => {
                let _ = self.0.kill();
            }
        }
        // The master exits once its workers have; a minute at most (then it is killed).
        for _ in 0..1200 {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // nginx stops in its own Drop; the replicas get SIGKILL (tokio's kill_on_drop); PostgreSQL stops in
        // EmbeddedPostgres's Drop.
        for replica in &mut self.replicas {
            let _ = replica.child.start_kill();
        }
        if let Some(postgres) = self.postgres.take() {
            drop(postgres);
        }
    }
}

fn spawn_backend(dir: &Path, i: usize, port: u16, nginx_port: u16, database_url: &str, media: &Path) -> Child {
    let log = std::fs::File::create(dir.join(format!("backend-{i}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_fermata"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", dir.join(format!("replica-{i}")))
        .env("MEDIA_DIR", media)
        .env("MEDIA_DELIVERY", "x-accel")
        .env("MUSIC_DIR", dir.join("library"))
        .env("MAX_UPLOAD_BYTES", UPLOAD_LIMIT.to_string())
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("PUBLIC_URL", format!("http://127.0.0.1:{nginx_port}"))
        .env("DB_MAX_CONNECTIONS", "20")
        .env("RATE_LIMIT_API_BURST", "1000000")
        .env("RATE_LIMIT_AUTH_BURST", "1000")
        .env("SUBSONIC_CREDENTIAL_KEY", support::SUBSONIC_KEY)
        .env("SHUTDOWN_TIMEOUT_SECS", "2")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fermata serve")
}

async fn wait_until_ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/ready");
    eventually(&format!("the replica on port {port} to be ready"), Duration::from_secs(60), || async {
        client().get(&url).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
}

/// nginx from the same template `scripts/check-nginx` checks, with an upstream of the replicas.
pub(crate) async fn spawn_nginx(dir: &Path, port: u16, backends: &[u16], media: &Path, frontend: &Path) -> Nginx {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let work = dir.join("nginx");
    // A failed upstream is out for 10 s; the kill test relies on nginx retrying GETs elsewhere meanwhile.
    let upstreams: String =
        backends.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=10s; ")).collect();
    let status = std::process::Command::new(repo.join("scripts/nginx-config"))
        .env("MAX_UPLOAD_BYTES", UPLOAD_LIMIT.to_string())
        .arg(&work)
        .arg(port.to_string())
        .arg(media)
        .arg(dir.join("library"))
        .arg(frontend)
        .arg(upstreams)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/nginx-config failed");
    let conf = work.join("nginx.conf");
    let child = Nginx(
        std::process::Command::new(nginx_binary())
            .arg("-p")
            .arg(&work)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .expect("nginx is installed (apt-get install nginx-light)"),
    );
    let url = format!("http://127.0.0.1:{port}/health");
    let log = work.join("error.log");
    let up = tokio::time::timeout(Duration::from_secs(60), async {
        while !client().get(&url).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(up.is_ok(), "nginx did not come up: {}", std::fs::read_to_string(log).unwrap_or_default());
    child
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nginx"))
}

/// Requests to `route` (a route template) one replica has answered, from its Prometheus metrics; `method`
/// narrows them down.
async fn replica_requests(cluster: &Cluster, replica: usize, method: Option<&str>, route: &str) -> f64 {
    let labels = [method.map(|m| format!("method=\"{m}\"")), Some(format!("route=\"{route}\""))];
    let text = client().get(cluster.replica_url(replica, "/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("http_requests_total{") && labels.iter().flatten().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Requests to `route` all replicas have answered.
async fn requests(cluster: &Cluster, method: &str, route: &str) -> f64 {
    let counts = join_all((0..cluster.replicas.len()).map(|r| replica_requests(cluster, r, Some(method), route)));
    counts.await.into_iter().sum()
}

async fn stream_requests(cluster: &Cluster) -> f64 {
    requests(cluster, "GET", "/api/music/songs/{id}/stream").await
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    scalar(db, sql).await
}

/// Reads an SSE response until an event of `kind` arrives (or 20 s pass).
/// Waits until each of `replicas` finds the song `id` by searching `q`: every replica's search index follows a
/// write made through any of them.
async fn searchable_on(cluster: &Cluster, replicas: std::ops::Range<usize>, cookie: &str, q: &str, id: &str) {
    for replica in replicas {
        let url = cluster.replica_url(replica, &format!("/api/search?q={q}"));
        eventually(&format!("replica {replica} to find {q:?}"), Duration::from_secs(60), || async {
            let response = client().get(&url).header(header::COOKIE, cookie).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let found: Value = response.json().await.unwrap();
            found["songs"].as_array().unwrap().iter().any(|song| song["id"] == id)
        })
        .await;
    }
}

async fn wait_for_event(events: &mut reqwest::Response, kind: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(&format!("event: {kind}")) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no {kind} event ({other:?}); saw: {seen}"),
        }
    }
    seen
}

#[tokio::test]
async fn three_replicas_behind_nginx_share_sessions_media_events_and_play_counts() {
    let cluster = Cluster::start(3).await;
    let migrations = {
        use sea_orm_migration::MigratorTrait;
        fermata::migration::Migrator::migrations().len() as i64
    };
    assert_eq!(count(&cluster.db, "SELECT count(*) FROM seaql_migrations").await, migrations, "migrated once");

    // A session made through nginx is honoured by every replica.
    let (admin, cookie) = cluster.admin("conductor").await;
    for replica in 0..3 {
        let response = client()
            .get(cluster.replica_url(replica, "/api/auth/me"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "replica {replica} knows the session");
        assert_eq!(response.json::<Value>().await.unwrap()["username"], "conductor");
    }

    // Every replica's SSE client hears the upload, wherever nginx sends it.
    let mut streams = Vec::new();
    for replica in 0..3 {
        let response = client()
            .get(cluster.replica_url(replica, "/api/events"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        streams.push(response);
    }

    // An upload streamed through nginx; then its bytes come back through nginx's X-Accel location.
    let files = tempfile::tempdir().unwrap();
    let path =
        fixtures::make(files.path(), "aria", Format::Flac, &Tags::song("Aria", "Bach", "Goldberg"), 3.0, 440, false);
    let bytes = std::fs::read(&path).unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes.clone()).file_name("aria.flac"));
    let response = admin.post(cluster.url("/api/music/songs")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let song: Value = response.json().await.unwrap();
    let id = song["id"].as_str().unwrap().to_owned();
    for events in &mut streams {
        let seen = wait_for_event(events, "upload.done").await;
        assert!(seen.contains(&id), "the event names the song: {seen}");
    }
    // Whichever replica took the upload, every replica's in-memory search finds it (with a typo, too).
    searchable_on(&cluster, 0..3, &cookie, "goldberg", &id).await;
    searchable_on(&cluster, 0..3, &cookie, "goldbreg%20ari", &id).await;

    // Bodies over the limits are refused by nginx in the API's shape, before a replica reads a byte of them.
    let (uploads, creates) =
        (requests(&cluster, "POST", "/api/music/songs").await, requests(&cluster, "POST", "/api/playlists").await);
    assert!(uploads >= 1.0, "the replicas' metrics count uploads");
    let huge = reqwest::multipart::Part::bytes(vec![0u8; UPLOAD_LIMIT]).file_name("huge.flac");
    let response =
        admin.post(cluster.url("/api/music/songs")).multipart(reqwest::multipart::Form::new().part("file", huge));
    let (status, error) = error_code(response.send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    let said = error["message"].as_str().unwrap();
    assert!(said.contains(&format!("at most {UPLOAD_LIMIT} bytes")), "nginx names the limit: {said}");
    let long_name = serde_json::json!({"name": "x".repeat(1024 * 1024)});
    let response = admin.post(cluster.url("/api/playlists")).json(&long_name).send().await.unwrap();
    let (status, error) = error_code(response).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    assert_eq!(error["message"], "the request body may be at most 1024 KiB", "the backend's words");
    assert_eq!(requests(&cluster, "POST", "/api/music/songs").await, uploads, "no replica saw the upload");
    assert_eq!(requests(&cluster, "POST", "/api/playlists").await, creates, "no replica saw the playlist");

    let stream = cluster.url(&format!("/api/music/songs/{id}/stream"));
    let response = admin.get(&stream).header(header::RANGE, "bytes=100-1123").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let total = bytes.len();
    assert_eq!(response.headers()[header::CONTENT_RANGE], format!("bytes 100-1123/{total}").as_str());
    assert_eq!(response.headers()[header::CONTENT_TYPE], "audio/flac");
    assert!(!response.headers().contains_key("x-accel-redirect"), "nginx consumed the redirect");
    assert_eq!(response.bytes().await.unwrap(), &bytes[100..1124]);
    let response = admin.get(&stream).header(header::RANGE, "bytes=-10").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.unwrap(), &bytes[total - 10..]);
    let response = admin.get(&stream).header(header::RANGE, format!("bytes={total}-")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let response = admin.get(&stream).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), bytes);
    // The backend itself only authorises: it answers with the internal location and no body.
    let direct = client().get(cluster.replica_url(0, &format!("/api/music/songs/{id}/stream")));
    let response = direct.header(header::COOKIE, &cookie).header("x-fermata-accel", "1").send().await.unwrap();
    assert_eq!(response.headers()["x-accel-redirect"].to_str().unwrap(), format!("/internal/media/{id}.flac"));
    assert!(response.bytes().await.unwrap().is_empty());
    // Asked without nginx's mark, a replica sends the bytes itself: a redirect never reaches a client.
    let direct = client().get(cluster.replica_url(0, &format!("/api/music/songs/{id}/stream")));
    let response = direct.header(header::COOKIE, &cookie).send().await.unwrap();
    assert!(!response.headers().contains_key("x-accel-redirect"));
    assert_eq!(response.bytes().await.unwrap(), bytes);
    // The internal location is not reachable from outside, and a stream without a session is refused.
    let outside = client().get(cluster.url(&format!("/internal/media/{}", "x"))).send().await.unwrap();
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    let (status, _) = error_code(client().get(&stream).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Errors come from the backend, in the API's shape, through nginx's authorisation step.
    let unknown = cluster.url(&format!("/api/music/songs/{}/stream", uuid::Uuid::new_v4()));
    let (status, error) = error_code(admin.get(&unknown).send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _) =
        error_code(admin.get(cluster.url("/api/music/songs/not-a-uuid/stream")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // HEAD answers the headers of the file.
    let head = admin.head(&stream).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], total.to_string().as_str());
    // nginx remembers an authorisation for a few seconds: a playback's range requests reach one backend once.
    let before = stream_requests(&cluster).await;
    assert!(before >= 1.0, "the replicas' metrics count stream requests");
    for start in [0, 2048, 4096] {
        let response =
            admin.get(&stream).header(header::RANGE, format!("bytes={start}-{}", start + 99)).send().await.unwrap();
        assert_eq!(response.bytes().await.unwrap(), &bytes[start..start + 100]);
    }
    assert!(
        stream_requests(&cluster).await - before <= 1.0,
        "ranges after the first are authorised from nginx's cache"
    );

    // 300 listeners play the song at once, a third through each replica: every play counted.
    let listeners = support::bulk_sessions(&cluster.db, 300).await;
    let plays = listeners.iter().enumerate().map(|(i, cookie)| {
        let url = cluster.replica_url(i % 3, &format!("/api/music/{id}/play"));
        async move { client().post(url).header(header::COOKIE, cookie).send().await.unwrap().status() }
    });
    let statuses = join_all(plays).await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    let song: Value =
        admin.get(cluster.url(&format!("/api/music/songs/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(song["play_count"], 300);
    assert_eq!(count(&cluster.db, "SELECT count(*) FROM plays").await, 300);

    // Client-side routes fall back to the page.
    let page = client().get(cluster.url("/albums/some-album")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<title>Fermata</title>"));
}

#[tokio::test]
async fn a_killed_replica_and_a_database_restart_cost_no_failed_reads() {
    let mut cluster = Cluster::start(3).await;
    let (reader, cookie) = cluster.admin("steady").await;

    // Steady read load through nginx from several clients while one replica is killed outright.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..6 {
        let (reader, url, stop, done) = (reader.clone(), cluster.url("/api/music/songs"), stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match reader.get(&url).send().await {
                    Ok(r) if r.status() == StatusCode::OK => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(r.status().to_string()),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            failures
        }));
    }
    eventually("reads to flow", Duration::from_secs(60), || async { done.load(Ordering::Relaxed) >= 50 }).await;
    let before = done.load(Ordering::Relaxed);
    cluster.replicas[0].child.kill().await.unwrap();
    // Not a wait for something to happen: the window in which every read must succeed while nginx keeps
    // trying the dead replica (its fail_timeout is 1 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = join_all(workers).await.into_iter().flat_map(|r| r.unwrap()).collect();
    let after = done.load(Ordering::Relaxed);
    assert!(failures.is_empty(), "failed reads after the kill: {failures:?}");
    assert!(after > before + 50, "reads kept flowing: {before} before the kill, {after} in all");

    // PostgreSQL stops and starts again under the same replicas; they recover without a restart.
    let postgres = cluster.postgres.take().unwrap();
    tokio::task::spawn_blocking(move || drop(postgres)).await.unwrap();
    let response = reader.get(cluster.url("/api/music/songs")).send().await.unwrap();
    assert!(response.status().is_server_error(), "the database is down: {}", response.status());
    let pg_dir = cluster.dir.path().to_owned();
    cluster.postgres = Some(tokio::task::spawn_blocking(move || start_postgres(&pg_dir)).await.unwrap());
    eventually("recovery after the restart", Duration::from_secs(60), || async {
        reader.get(cluster.url("/api/auth/me")).send().await.unwrap().status() == StatusCode::OK
    })
    .await;
    // Both surviving replicas answer from the database again, and the session survived the restart.
    for replica in 1..3 {
        eventually(&format!("replica {replica} to recover"), Duration::from_secs(60), || async {
            client().get(cluster.replica_url(replica, "/ready")).send().await.unwrap().status() == StatusCode::OK
        })
        .await;
    }
    for _ in 0..20 {
        assert_eq!(reader.get(cluster.url("/api/music/songs")).send().await.unwrap().status(), StatusCode::OK);
    }
    // The replicas listen for catalogue changes again: a song uploaded after the restart is searchable on both.
    let files = tempfile::tempdir().unwrap();
    let path = fixtures::make(
        files.path(),
        "after",
        Format::Mp3,
        &Tags::song("Afterglow", "Restarted", "Again"),
        1.0,
        330,
        false,
    );
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(std::fs::read(&path).unwrap()).file_name("after.mp3"));
    let response = reader.post(cluster.url("/api/music/songs")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let song: Value = response.json().await.unwrap();
    searchable_on(&cluster, 1..3, &cookie, "afterglow", song["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn nginx_serves_the_player_and_the_api_as_production_does() {
    let cluster = Cluster::start(2).await;
    let (admin, cookie) = cluster.admin("usher").await;
    let frontend = cluster.dir.path().join("frontend");
    std::fs::create_dir_all(frontend.join("assets")).unwrap();
    let script = "export const greeting = 'hello';\n".repeat(100);
    std::fs::write(frontend.join("assets/app-3f2a9c1b.js"), &script).unwrap();
    let header_of = |r: &reqwest::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());

    // Hashed assets are cached for good and gzipped; the page is revalidated; client-side routes get the page.
    let asset = client()
        .get(cluster.url("/assets/app-3f2a9c1b.js"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(header_of(&asset, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"));
    assert_eq!(header_of(&asset, "content-encoding").as_deref(), Some("gzip"));
    let zipped = asset.bytes().await.unwrap();
    assert!(zipped.len() < script.len() / 10, "gzipped: {} of {} bytes", zipped.len(), script.len());
    for path in ["/", "/index.html", "/albums/0190c0de-0000-7000-8000-000000000000", "/playlists"] {
        let page = client().get(cluster.url(path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&page, "cache-control").as_deref(), Some("no-cache"), "{path} is revalidated");
        assert!(page.text().await.unwrap().contains("<title>Fermata</title>"), "{path} is the page");
    }

    // Security headers on everything, errors included (`always`); no HSTS over plain HTTP.
    for (path, status) in
        [("/", 200), ("/assets/app-3f2a9c1b.js", 200), ("/assets/missing.js", 404), ("/api/nothing-here", 404)]
    {
        let response = client().get(cluster.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let csp = header_of(&response, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{path}: {csp}");
        assert_eq!(header_of(&response, "x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert!(header_of(&response, "referrer-policy").is_some(), "{path}");
        assert_eq!(header_of(&response, "strict-transport-security"), None, "{path}");
    }

    // nginx's request id reaches the backend (it answers with it) and the access log, which keeps the path
    // but not the query string (search terms stay out of logs).
    let response = admin.get(cluster.url("/api/music/songs?q=private-words")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = header_of(&response, "x-request-id").unwrap();
    assert!(request_id.len() == 32 && request_id.chars().all(|c| c.is_ascii_hexdigit()), "nginx's id: {request_id}");
    let log_path = cluster.dir.path().join("nginx/access.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let line = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(&request_id)) {
            break line.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "no access log line for {request_id}: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(line.contains("\"GET /api/music/songs HTTP/1.1\" 200"), "{line}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("private-words"), "a query string reached the access log");

    // Server-Sent Events through nginx, one client on each replica (round robin), unbuffered: an upload through
    // nginx reaches both at once.
    let events_before: Vec<f64> = join_all((0..2).map(|r| replica_requests(&cluster, r, None, "/api/events"))).await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        let response = client().get(cluster.url("/api/events")).header(header::COOKIE, &cookie).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, "content-type").as_deref(), Some("text/event-stream"));
        streams.push(response);
    }
    let events_after: Vec<f64> = join_all((0..2).map(|r| replica_requests(&cluster, r, None, "/api/events"))).await;
    let spread: Vec<f64> = events_after.iter().zip(&events_before).map(|(a, b)| a - b).collect();
    assert_eq!(spread, [1.0, 1.0], "one event stream on each replica");
    let files = tempfile::tempdir().unwrap();
    let path =
        fixtures::make(files.path(), "hymn", Format::Mp3, &Tags::song("Hymn", "Choir", "Vespers"), 2.0, 500, false);
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(std::fs::read(&path).unwrap()).file_name("hymn.mp3"));
    let response = admin.post(cluster.url("/api/music/songs")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    for events in &mut streams {
        let seen = wait_for_event(events, "upload.done").await;
        assert!(seen.contains(&id), "{seen}");
    }
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/pid/status");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

async fn scan(cluster: &Cluster, admin: &reqwest::Client) -> Value {
    let started = admin.post(cluster.url("/api/admin/scan")).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    for _ in 0..600 {
        let status: Value = admin.get(cluster.url("/api/admin/scan")).send().await.unwrap().json().await.unwrap();
        if status["job"]["status"] == "done" {
            return status["job"]["progress"].clone();
        }
        assert_ne!(status["job"]["status"], "failed", "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the scan did not finish");
}

/// File names a real library holds, each a different song.
const REAL_WORLD_NAMES: [&str; 13] = [
    "01 with spaces",
    "Beyonc\u{e9} (NFC)",
    "Beyonce\u{301} (NFD)",
    "#1 hash",
    "what? why?",
    "100% pure",
    "rock & roll",
    "a+b=c",
    "it's \"quoted\"",
    "[live] (remaster) {x}",
    ".leading dot",
    "\u{65e5}\u{672c}\u{8a9e} \u{2014} emoji \u{1f3b5}",
    // Close to the 255-byte limit of a file name with the extension.
    "very long name xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

#[tokio::test]
async fn a_real_world_library_streams_through_nginx_and_nothing_outside_it_is_served() {
    let cluster = Cluster::start(2).await;
    let (admin, _) = cluster.admin("librarian").await;
    let library = cluster.dir.path().join("library");
    let outside = cluster.dir.path().join("outside");
    let album = library.join("Album: \"Names\" & Co");
    for dir in
        [&outside, &album, &library.join("Links"), &library.join("Bomb"), &library.join("Big"), &library.join("Inside")]
    {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut files = Vec::new();
    for (i, name) in REAL_WORLD_NAMES.iter().enumerate() {
        let tags = Tags::song(name, "Names", "Names");
        files.push(fixtures::make(&album, name, Format::Mp3, &tags, 0.4, 300 + 10 * i as u32, false));
    }
    // Hostile entries: links out of the folder (a file, a directory, a cover pointing at the process's
    // environment), and image bombs as a folder image and as embedded art.
    std::fs::write(outside.join("secret.txt"), "DATABASE_URL=postgres://secret").unwrap();
    let outside_song =
        fixtures::make(&outside, "outside", Format::Mp3, &Tags::song("Out", "Side", "Out"), 0.4, 990, false);
    std::os::unix::fs::symlink("/proc/self/environ", library.join("Links/cover.jpg")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), library.join("Links/folder.png")).unwrap();
    std::os::unix::fs::symlink(&outside_song, library.join("Links/escape.mp3")).unwrap();
    std::os::unix::fs::symlink(&outside, library.join("OutDir")).unwrap();
    fixtures::huge_png(&library.join("Bomb/cover.png"), 15000, 8000);
    let bomb_song =
        fixtures::make(&library.join("Bomb"), "bomb", Format::Mp3, &Tags::song("Bomb", "B", "Bomb"), 0.4, 980, false);
    let mut bomb_png = Vec::new();
    fixtures::huge_png(&outside.join("bomb.png"), 15000, 8000);
    bomb_png.extend(std::fs::read(outside.join("bomb.png")).unwrap());
    fixtures::embed_cover(&bomb_song, bomb_png);
    // Within the size a header may claim, but past what a decode may allocate.
    fixtures::huge_png(&library.join("Big/cover.png"), 8192, 8192);
    fixtures::make(&library.join("Big"), "big", Format::Mp3, &Tags::song("Big", "B", "Big"), 0.4, 970, false);

    // Replaced after the scan by a link to another song inside the folder (never streamed before, so no cache
    // in nginx holds it).
    let relinked = fixtures::make(
        &library.join("Inside"),
        "relink",
        Format::Mp3,
        &Tags::song("Relink", "R", "Inside"),
        0.4,
        960,
        false,
    );

    let report = scan(&cluster, &admin).await;
    let reasons: Vec<String> =
        report["skipped"].as_array().unwrap().iter().map(|s| format!("{}: {}", s["path"], s["reason"])).collect();
    assert_eq!(
        report["added"],
        REAL_WORLD_NAMES.len() + 3,
        "every real name, the bomb, the big and the inside song: {reasons:?}"
    );
    for (path, why) in [
        ("OutDir", "out of the library folder"),
        ("Links/escape.mp3", "out of the library folder"),
        ("Links/cover.jpg", "out of the library folder"),
        ("Links/folder.png", "out of the library folder"),
        ("Bomb/cover.png", "8192 pixels a side"),
    ] {
        assert!(reasons.iter().any(|r| r.contains(path) && r.contains(why)), "{path} refused ({why}): {reasons:?}");
    }
    assert_eq!(
        count(&cluster.db, "SELECT count(*) FROM songs WHERE path LIKE '%Out%' OR path LIKE 'Links/%'").await,
        0
    );
    assert_eq!(count(&cluster.db, "SELECT count(*) FROM albums WHERE title = 'Bomb' AND cover_path IS NULL").await, 1);

    // Every name streams through nginx, whole and in ranges, with the file's exact bytes.
    let songs: Value =
        admin.get(cluster.url("/api/music/songs?album=Names&limit=100")).send().await.unwrap().json().await.unwrap();
    let ids: std::collections::HashMap<String, String> = songs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["title"].as_str().unwrap().to_owned(), s["id"].as_str().unwrap().to_owned()))
        .collect();
    for (name, path) in REAL_WORLD_NAMES.iter().zip(&files) {
        let bytes = std::fs::read(path).unwrap();
        let id = ids.get(*name).unwrap_or_else(|| panic!("{name} indexed: {ids:?}"));
        let stream = cluster.url(&format!("/api/music/songs/{id}/stream"));
        let whole = admin.get(&stream).send().await.unwrap();
        assert_eq!(whole.status(), StatusCode::OK, "{name}");
        assert_eq!(whole.headers()[header::CONTENT_TYPE], "audio/mpeg", "{name}");
        assert_eq!(whole.bytes().await.unwrap(), bytes, "{name}");
        let part = admin.get(&stream).header(header::RANGE, "bytes=10-1033").send().await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{name}");
        assert_eq!(part.headers()[header::CONTENT_RANGE], format!("bytes 10-1033/{}", bytes.len()).as_str());
        assert_eq!(part.bytes().await.unwrap(), &bytes[10..1034], "{name}");
    }

    // A song swapped for a link after the scan: out of the folder it is refused (by the backend, and by nginx
    // for an authorisation it had remembered); to a file inside the folder it still plays.
    let swapped = &files[6];
    let id = &ids[REAL_WORLD_NAMES[6]];
    let original = std::fs::read(swapped).unwrap();
    std::fs::remove_file(swapped).unwrap();
    std::os::unix::fs::symlink(&outside_song, swapped).unwrap();
    // Within the 10 s nginx remembers an authorisation (and an open file), it may still send the song it had
    // open; never the file the link points at, because disable_symlinks refuses the link when it reopens.
    let response = admin.get(cluster.url(&format!("/api/music/songs/{id}/stream"))).send().await.unwrap();
    if response.status() == StatusCode::OK {
        assert_eq!(
            response.bytes().await.unwrap(),
            original,
            "a remembered authorisation does not follow the new link"
        );
    }
    let fresh = client().get(cluster.url(&format!("/api/music/songs/{id}/stream")));
    let (_, cookie) = cluster.admin("second-librarian").await;
    let (status, _) = error_code(fresh.header(header::COOKIE, &cookie).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the backend refuses the link out");
    for replica in 0..2 {
        let direct = client().get(cluster.replica_url(replica, &format!("/api/music/songs/{id}/stream")));
        let (status, _) = error_code(direct.header(header::COOKIE, &cookie).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "and so does a replica streaming itself");
    }
    let id = scalar::<String>(&cluster.db, "SELECT id::text FROM songs WHERE path = 'Inside/relink.mp3'").await;
    std::fs::remove_file(&relinked).unwrap();
    std::os::unix::fs::symlink(&files[0], &relinked).unwrap();
    let response = admin.get(cluster.url(&format!("/api/music/songs/{id}/stream"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), std::fs::read(&files[0]).unwrap(), "a link inside the folder plays");

    // The big cover: thumbnails at three sizes at once on every replica are refused (the decode's limit), the
    // failure is remembered, and no replica's memory grows past its production limit (128 MiB).
    let big: Value = admin.get(cluster.url("/api/music/albums?limit=100")).send().await.unwrap().json().await.unwrap();
    let big = big["items"].as_array().unwrap().iter().find(|a| a["title"] == "Big").expect("album Big").clone();
    let cover = big["cover_url"].as_str().expect("the big image is the album's cover").to_owned();
    let requests =
        [64, 128, 300, 64, 128, 300].map(|size| admin.get(cluster.url(&format!("{cover}?size={size}"))).send());
    for response in join_all(requests).await {
        assert_eq!(response.unwrap().status(), StatusCode::NOT_FOUND);
    }
    let markers = std::fs::read_dir(cluster.dir.path().join("media/covers/thumbs")).unwrap().count();
    assert_eq!(markers, 1, "one failure marker for the cover");
    for replica in &cluster.replicas {
        let peak = peak_rss(replica.child.id().unwrap());
        assert!(peak < 128 * 1024 * 1024, "replica peak RSS {} MiB", peak / 1024 / 1024);
    }
    // The original is streamed as it is (an image by content, within the header limits).
    let original = admin.get(cluster.url(&cover)).send().await.unwrap();
    assert_eq!(original.status(), StatusCode::OK);
    assert_eq!(original.headers()[header::CONTENT_TYPE], "image/png");
    let size = std::fs::metadata(library.join("Big/cover.png")).unwrap().len();
    assert_eq!(original.headers()[header::CONTENT_LENGTH], size.to_string().as_str());
}

/// The Subsonic client session (py-opensonic and py-sonic, every answer checked against the spec) through nginx
/// to three replicas: requests of one session land on different replicas, play counts stay exact.
#[tokio::test]
async fn subsonic_clients_work_through_nginx_and_three_replicas() {
    let cluster = Cluster::start(3).await;
    let (admin, _) = cluster.admin("subsonic-admin").await;
    let files = tempfile::tempdir().unwrap();
    let songs = [
        ("Real Opening", Format::Mp3, true),
        ("Real Middle", Format::Flac, false),
        ("Real Closing", Format::Vorbis, false),
    ];
    for (i, (title, format, cover)) in songs.into_iter().enumerate() {
        let tags = Tags { track: Some(["1", "2", "3"][i]), ..Tags::song(title, "Real Band", "Real Album") };
        let path = fixtures::make(files.path(), &format!("s{i}"), format, &tags, 1.5, 330 + 30 * i as u32, cover);
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(&path).unwrap())
                .file_name(format!("s{i}.{}", format.extension())),
        );
        let response = admin.post(cluster.url("/api/music/songs")).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let library = super::subsonic::seed_catalogue(&cluster.db, 1500).await;
    let before = replica_requests(&cluster, 0, None, "/rest/{method}").await
        + replica_requests(&cluster, 1, None, "/rest/{method}").await
        + replica_requests(&cluster, 2, None, "/rest/{method}").await;
    assert_eq!(before, 0.0);
    let listener = client();
    let registered = listener
        .post(cluster.url("/api/users/register"))
        .json(&serde_json::json!({"username": "roamer", "email": "roamer@example.com", "password": "roamer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let response = listener
        .post(cluster.url("/api/auth/login"))
        .json(&serde_json::json!({"username": "roamer", "password": "roamer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let secret = super::subsonic::credential_at(&listener, &cluster.url("/api/me/subsonic-credentials"), "Phone").await;
    super::subsonic::run_clients(&cluster.url(""), "roamer", &secret, library, false).await;
    for replica in 0..3 {
        let served = replica_requests(&cluster, replica, None, "/rest/{method}").await;
        assert!(served > 10.0, "replica {replica} answered {served} Subsonic requests");
    }
}
