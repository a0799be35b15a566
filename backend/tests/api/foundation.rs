//! The foundation: migrations, start-up, readiness, shutdown, error shapes, the memory guard, the embedded
//! default.

use std::{os::unix::fs::PermissionsExt, time::Duration};

use fermata::postgres::{self, Durability, EmbeddedPostgres};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::{
    fixtures::{self, Format, Tags},
    support::{TestApp, client, config, empty_database, error_code, eventually},
};

async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db.query_one(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_again_are_a_no_op() {
    let url = empty_database().await;
    let db = postgres::connect(&url, 2).await.unwrap();
    let first = postgres::migrate(&db).await.unwrap();
    assert!(first >= 1, "the first run applies the migrations");
    assert_eq!(postgres::migrate(&db).await.unwrap(), 0, "a second run changes nothing");
    for table in [
        "users",
        "sessions",
        "artists",
        "albums",
        "songs",
        "playlists",
        "playlist_entries",
        "plays",
        "favourites",
        "jobs",
    ] {
        let sql = format!("SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'");
        assert_eq!(count(&db, &sql).await, 1, "table {table} exists");
    }
    // The folding function behind accent-insensitive search works.
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), "SELECT fermata_fold('Dvořák')".to_owned()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "dvorak");
}

/// The last two migrations go down (sonic analysis, then search in memory: back to search in the database, its
/// vocabulary and query function replayed from the migrations that defined them) and up again, with a song in the
/// catalogue, its sonic analysis, a radio and a queued backfill.
#[tokio::test]
async fn the_last_migrations_go_down_and_up_again() {
    use sea_orm_migration::MigratorTrait;
    let url = empty_database().await;
    let db = postgres::connect(&url, 2).await.unwrap();
    postgres::migrate(&db).await.unwrap();
    db.execute_unprepared(
        "INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Antonín Dvořák');
         INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), 'Symphonies', id FROM artists;
         INSERT INTO songs (id, title, artist_id, album_id, duration_ms, codec, size_bytes, content_hash, storage, path,
                            search_text)
           SELECT gen_random_uuid(), 'Largo', artist_id, id, 1000, 'mp3', 1, repeat('a', 64), 'media', 'a.mp3',
                  'Largo Antonín Dvořák Symphonies' FROM albums",
    )
    .await
    .unwrap();
    db.execute_unprepared(
        "INSERT INTO users (id, username, email, password_hash) VALUES (gen_random_uuid(), 'ear', 'ear@example.com', 'x');
         UPDATE songs SET bpm = 120, musical_key = 19, sonic = decode(repeat('01', 28), 'hex'), sonic_version = 1;
         INSERT INTO radio_sessions (id, user_id, seed, origin, target, served)
           SELECT gen_random_uuid(), users.id, '{}', sonic, sonic, ARRAY[songs.id] FROM users, songs;
         INSERT INTO jobs (id, kind) VALUES (gen_random_uuid(), 'backfill');",
    )
    .await
    .unwrap();
    // 000017: songs' own covers go.
    db.execute_unprepared("UPDATE songs SET cover_path = 'media:covers/aa/x.jpg'").await.unwrap();
    fermata::migration::Migrator::down(&db, Some(1)).await.unwrap();
    let own =
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'songs' AND column_name = 'cover_path'";
    assert_eq!(count(&db, own).await, 0);
    // 000016: the index's change time and its triggers go.
    let changed = "SELECT count(*) FROM library_changes WHERE changed_at > now() - interval '1 hour'";
    assert_eq!(count(&db, changed).await, 1);
    fermata::migration::Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM pg_tables WHERE tablename = 'library_changes'").await, 0);
    db.execute_unprepared("INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Without a trigger')")
        .await
        .unwrap();
    fermata::migration::Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'sonic'").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM jobs WHERE kind = 'backfill'").await, 0);
    // The search index's update trigger is back as migration 000014 made it.
    db.execute_unprepared("UPDATE songs SET title = 'Largo!'").await.unwrap();
    fermata::migration::Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM search_words WHERE word = 'dvorak'").await, 1, "the vocabulary");
    let expanded = "SELECT count(*) FROM songs WHERE search_vector @@ fermata_search_query('dvork larg')";
    assert_eq!(count(&db, expanded).await, 1, "the query function, typo and prefix");
    assert_eq!(count(&db, "SELECT count(*) FROM pg_proc WHERE proname = 'fermata_catalog_changed'").await, 0);
    assert_eq!(postgres::migrate(&db).await.unwrap(), 4, "up again");
    assert_eq!(count(&db, own).await, 1);
    assert_eq!(count(&db, changed).await, 1, "one row again");
    assert_eq!(count(&db, "SELECT count(*) FROM pg_tables WHERE tablename = 'search_words'").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM jobs WHERE kind = 'backfill'").await, 1, "a backfill for the song");
}

#[tokio::test]
async fn three_instances_starting_together_on_an_empty_database_migrate_once() {
    let url = empty_database().await;
    let (a, b, c) =
        tokio::join!(TestApp::spawn_on(&url, &[]), TestApp::spawn_on(&url, &[]), TestApp::spawn_on(&url, &[]));
    for app in [&a, &b, &c] {
        let response = app.client.get(app.url("/ready")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let applied = count(&a.db, "SELECT count(*) FROM seaql_migrations").await;
    let expected = {
        use sea_orm_migration::MigratorTrait;
        fermata::migration::Migrator::migrations().len() as i64
    };
    assert_eq!(applied, expected, "each migration recorded exactly once");
}

/// A cluster of the test's own (so it can be stopped and started again): returns its starter.
fn private_cluster(dir: &std::path::Path) -> impl Fn() -> EmbeddedPostgres + Clone + Send + 'static {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.join("pg");
    move || EmbeddedPostgres::start(&data, Durability::Throwaway).unwrap()
}

#[tokio::test]
async fn ready_is_503_while_the_database_is_down_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let start = private_cluster(dir.path());
    let cluster = tokio::task::spawn_blocking(start.clone()).await.unwrap();
    cluster.ensure_database("fermata").await.unwrap();
    let app = TestApp::spawn_on(&cluster.url("fermata"), &[]).await;
    assert_eq!(app.client.get(app.url("/ready")).send().await.unwrap().status(), StatusCode::OK);

    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let (_, error) = error_code(response).await;
    assert_eq!(error["code"], "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), StatusCode::OK);

    let cluster = tokio::task::spawn_blocking(start).await.unwrap();
    eventually("ready again without restarting the app", Duration::from_secs(60), || async {
        app.client.get(app.url("/ready")).send().await.unwrap().status() == StatusCode::OK
    })
    .await;
    app.shutdown().await.unwrap();
    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_lets_a_slow_request_in_flight_finish() {
    let app = TestApp::spawn().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let request =
        app.client.post(app.url("/api/users/register")).header("content-type", "application/json").body(body).send();
    let in_flight = tokio::spawn(request);
    tx.send(Ok(br#"{"username": "slowpoke", "#.to_vec())).await.unwrap();
    // The client has taken the first chunk to send (its headers went before it).
    eventually("the request to be on its way", Duration::from_secs(60), || async {
        tx.capacity() == tx.max_capacity()
    })
    .await;

    // Shut down while the request body is still arriving.
    let address = app.address.clone();
    let shutdown = tokio::spawn(app.shutdown());
    // Not a wait for something to happen: shutdown must still be waiting half a second on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!shutdown.is_finished(), "shutdown waits for the request in flight");
    tx.send(Ok(br#""email": "slow@example.com", "password": "slow-but-steady"}"#.to_vec())).await.unwrap();
    drop(tx);

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    shutdown.await.unwrap().unwrap();
    // New connections are refused once stopped.
    assert!(client().get(format!("{address}/health")).send().await.is_err());
}

#[tokio::test]
async fn every_error_has_the_documented_shape() {
    let app = TestApp::spawn().await;
    let c = &app.client;

    let (status, error) = error_code(c.get(app.url("/api/no/such/route")).send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    let (status, error) = error_code(c.delete(app.url("/api/auth/login")).send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));

    let malformed =
        c.post(app.url("/api/users/register")).header("content-type", "application/json").body("{\"username\": ");
    let (status, error) = error_code(malformed.send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));

    let invalid = json!({"username": "x", "email": "not-an-email", "password": "short"});
    let (status, error) = error_code(app.post_json(c, "/api/users/register", &invalid).await).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")));
    for field in ["username", "email", "password"] {
        assert!(error["fields"][field].as_array().is_some_and(|p| !p.is_empty()), "{field} named: {error}");
    }

    let huge = json!({"username": "a".repeat(2 * 1024 * 1024), "email": "a@b.c", "password": "whatever-long"});
    let (status, error) = error_code(app.post_json(c, "/api/users/register", &huge).await).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));

    let wrong_type = c.post(app.url("/api/users/register")).header("content-type", "text/plain").body("hello");
    let (status, _) = error_code(wrong_type.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // An internal failure: the database loses a table under the app. The client gets a generic 500 with
    // the request id to quote, and nothing of the cause.
    app.db.execute_unprepared("DROP TABLE users CASCADE").await.unwrap();
    let response = c
        .post(app.url("/api/auth/login"))
        .header("x-request-id", "trace-me-123")
        .json(&json!({"username": "someone", "password": "something"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123", "the request id is echoed");
    let (status, error) = error_code(response).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal_error")));
    let text = error.to_string().to_lowercase();
    assert!(!text.contains("relation") && !text.contains("users") && !text.contains("sql"), "no internals: {text}");
}

#[tokio::test]
async fn request_ids_are_generated_when_absent() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a generated uuid: {id}");
}

#[tokio::test]
async fn metrics_expose_requests_by_route_template_pool_and_rss() {
    let app = TestApp::spawn().await;
    app.client.get(app.url("/health")).send().await.unwrap();
    app.client.get(app.url("/api/admin/users/00000000-0000-0000-0000-000000000001")).send().await.unwrap();
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{method="GET",route="/health",status="200"}"#), "{text}");
    assert!(text.contains(r#"route="/api/admin/users/{id}""#), "labelled by template, not by id: {text}");
    assert!(text.contains("http_request_duration_seconds_bucket"), "a latency histogram");
    assert!(text.contains("db_pool_connections"));
    let rss_line = text.lines().find(|l| l.starts_with("process_resident_memory_bytes")).expect("rss metric");
    let rss: f64 = rss_line.split_whitespace().last().unwrap().parse().unwrap();
    assert!(rss > 1_000_000.0, "a plausible RSS: {rss}");
}

#[tokio::test]
async fn half_sent_requests_are_closed_by_the_backend_itself() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let connect = |first: &'static [u8]| {
        let address = address.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            stream.write_all(first).await.unwrap();
            stream
        }
    };
    // Headers never finished, and a body that stops after a few bytes.
    let mut slow_headers = Vec::new();
    for _ in 0..20 {
        slow_headers.push(connect(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await);
    }
    let stalled_body = connect(
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"us",
    )
    .await;
    let started = std::time::Instant::now();
    let closed = |mut stream: tokio::net::TcpStream, within: Duration| async move {
        let mut rest = Vec::new();
        tokio::time::timeout(within, stream.read_to_end(&mut rest))
            .await
            .expect("the backend closes the connection")
            .ok();
        String::from_utf8_lossy(&rest).into_owned()
    };
    for stream in slow_headers {
        closed(stream, Duration::from_secs(15)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(9), "not before the header timeout: {:?}", started.elapsed());
    let answer = closed(stalled_body, Duration::from_secs(30)).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "a stalled body ends with a 4xx or a close: {answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // The server still serves.
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), StatusCode::OK);
}

#[test]
fn the_configuration_never_prints_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config("postgres://fermata:s3cret-db-pw@db:5432/fermata", dir.path(), &[]);
    config.admin_password = Some(secrecy::SecretString::from("hunter2-admin-pw"));
    let printed = format!("{config:?} {config:#?}");
    assert!(!printed.contains("s3cret-db-pw") && !printed.contains("hunter2-admin-pw"), "{printed}");
    assert!(printed.contains("bind"), "the rest is still there: {printed}");
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    let send = |i: usize| {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        app.client.request(method, app.url(&format!("/api/nothing/{i}"))).send()
    };
    for i in 0..50 {
        send(i).await.unwrap();
    }
    let metrics = || async { app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    let first = metrics().await;
    assert!(!first.contains("MADEUP"), "no series per made-up method");
    assert!(first.contains(r#"method="other",route="unmatched""#), "{first}");
    for i in 50..500 {
        send(i).await.unwrap();
    }
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    let after = metrics().await;
    // Other tests in this process add their own series; made-up methods add none.
    assert!(series(&after) <= series(&first) + 200, "{} series, then {}", series(&first), series(&after));
    assert!(!after.contains("MADEUP"));
}

#[tokio::test]
async fn the_memory_guard_refuses_heavy_work_past_the_soft_limit() {
    // 1 MiB: certainly exceeded by any process. Uploads and scans are refused; everything else goes on.
    let music = tempfile::tempdir().unwrap();
    let music_dir = format!("--music-dir={}", music.path().display());
    let app = TestApp::spawn_with(&["--memory-soft-limit-mb=1", &music_dir]).await;
    let admin = app.admin_client("guarded").await;
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(vec![1; 16]).file_name("a.mp3"));
    let upload = admin.post(app.url("/api/music/songs")).multipart(form).send().await.unwrap();
    let scan = admin.post(app.url("/api/admin/scan")).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let song = app
        .add_song(&fixtures::make(dir.path(), "guarded", Format::Flac, &Tags::song("G", "A", "B"), 1.0, 440, false))
        .await;
    let transcode = admin.get(app.url(&format!("/api/music/songs/{song}/stream?format=mp3"))).send().await.unwrap();
    let stored = admin.get(app.url(&format!("/api/music/songs/{song}/stream"))).send().await.unwrap();
    assert_eq!(stored.status(), StatusCode::OK, "the stored file is not heavy work");
    for refused in [upload, scan, transcode] {
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", refused.url());
        assert!(refused.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        let (_, error) = error_code(refused).await;
        assert_eq!(error["code"], "unavailable");
    }
    assert_eq!(admin.get(app.url("/api/music/songs")).send().await.unwrap().status(), StatusCode::OK);
    // A generous limit admits the same work.
    let roomy = TestApp::spawn_with(&["--memory-soft-limit-mb=65536", &music_dir]).await;
    let admin = roomy.admin_client("roomy").await;
    assert_eq!(admin.post(roomy.url("/api/admin/scan")).send().await.unwrap().status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_naming_the_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .arg("migrate")
        .env("MEDIA_DELIVERY", "carrier-pigeon")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MEDIA_DELIVERY"), "names the variable: {stderr}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .arg("migrate")
        .env("BIND", "everywhere")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BIND"));
}

#[tokio::test]
async fn the_embedded_default_starts_its_own_database_in_an_empty_dir_and_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", dir.path())
        .env("BIND", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/ready");
    eventually("the embedded default to become ready", Duration::from_secs(60), || async {
        client().get(&url).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(dir.path().join("postgres/PG_VERSION").exists(), "the cluster lives under DATA_DIR/postgres");

    // The healthcheck command agrees.
    let health = tokio::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .arg("healthcheck")
        .env("BIND", format!("0.0.0.0:{port}"))
        .status()
        .await
        .unwrap();
    assert!(health.success());

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id().unwrap() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit 0 after SIGTERM");
    assert!(!dir.path().join("postgres/postmaster.pid").exists(), "the private cluster was stopped");
    let closed = tokio::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .arg("healthcheck")
        .env("BIND", format!("0.0.0.0:{port}"))
        .status()
        .await
        .unwrap();
    assert!(!closed.success(), "healthcheck fails when nothing answers");
}

#[tokio::test]
async fn config_helper_matches_the_documented_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = config("postgres://x@localhost/db", dir.path(), &[]);
    assert_eq!(config.media_dir(), dir.path().join("media"));
    assert_eq!(config.session_idle_days, 14);
    assert_eq!(config.session_lifetime_days, 30);
    assert!(!config.secure_cookies());
}

#[tokio::test]
async fn a_saturated_database_pool_is_a_503_with_retry_after_not_a_500() {
    let app = TestApp::spawn_with(&["--db-max-connections=1"]).await;
    // Hold the only connection.
    let txn = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
    let body = json!({"username": "patient", "email": "patient@example.com", "password": "waiting-in-line"});
    let response = app.post_json(&app.client, "/api/users/register", &body).await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, error) = error_code(response).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));
    drop(txn);
    assert_eq!(app.post_json(&app.client, "/api/users/register", &body).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn events_flow_again_after_the_database_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let start = private_cluster(dir.path());
    let cluster = tokio::task::spawn_blocking(start.clone()).await.unwrap();
    cluster.ensure_database("fermata").await.unwrap();
    let app = TestApp::spawn_on(&cluster.url("fermata"), &[]).await;
    let admin = app.admin_client("restarter").await;
    let mut events = admin.get(app.url("/api/events")).send().await.unwrap();

    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    let cluster = tokio::task::spawn_blocking(start).await.unwrap();

    // Publish until the replica's LISTEN connection is back and the event comes through the same SSE stream.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains("event: test.ping") {
        assert!(tokio::time::Instant::now() < deadline, "no event after the restart: {seen}");
        fermata::events::publish(&app.db, "test.ping", fermata::events::Audience::All, json!({"n": 1})).await;
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_millis(500), events.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    app.shutdown().await.unwrap();
    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
}

#[tokio::test]
async fn the_backend_serves_the_web_player_with_client_routes_and_cache_rules() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("index.html"), "<!doctype html><title>Fermata</title>").unwrap();
    std::fs::write(dist.path().join("assets/main-ABC123.js"), "export {};").unwrap();
    let app = TestApp::spawn_with(&[&format!("--frontend-dir={}", dist.path().display())]).await;

    for path in ["/", "/albums/3f1c", "/playlists"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        assert!(response.text().await.unwrap().contains("<title>Fermata</title>"), "{path} is the page");
    }
    let asset = app.client.get(app.url("/assets/main-ABC123.js")).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(asset.text().await.unwrap(), "export {};");
    assert_eq!(app.client.get(app.url("/assets/gone-XYZ.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // API paths never fall back to the page.
    let (status, error) = error_code(app.client.get(app.url("/api/no/such/route")).send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.headers()["content-type"], "application/json");
}
