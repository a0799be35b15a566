//! Media on S3-compatible object storage (MEDIA_STORE=s3) against a real S3 server: s3s-fs (crates.io), started
//! once per test process with an access key, so every request's SigV4 signature is checked. The same upload,
//! stream, range, cover, thumbnail, transcode and delete checks run against the media volume and the bucket.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use fermata::config::Config;
use fermata_core::objects::{ObjectError, ObjectStorage};
use reqwest::{StatusCode, header, multipart};
use serde_json::Value;

use crate::{
    cluster,
    fixtures::{self, Format, Tags},
    support::{self, TestApp, eventually, scalar},
};

const ACCESS_KEY: &str = "fermata-test";
const SECRET_KEY: &str = "fermata-test-secret-key";

/// The S3 server of this test process.
struct S3Server {
    endpoint: String,
    root: PathBuf,
}

/// s3s-fs: S3S_FS, or `s3s-fs` on PATH (`.ci/run` installs it). A watchdog stops it once this process exits.
fn s3_server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let binary = std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
        let root = tempfile::Builder::new().prefix("fermata-s3").tempdir().unwrap().keep();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // Ended by the watchdog below, once this process has exited.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (cargo install s3s-fs --features binary): {e}"));
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill {child}; rm -rf '{root}'",
            pid = std::process::id(),
            child = child.id(),
            root = root.display()
        );
        // Deliberately never waited for: it must outlive this process.
        #[allow(clippy::zombie_processes)]
        let _watchdog = Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).spawn().expect("watchdog");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        S3Server { endpoint: format!("http://127.0.0.1:{port}"), root }
    })
}

/// A bucket of its own for one test.
struct Bucket {
    name: String,
    dir: PathBuf,
}

fn bucket() -> Bucket {
    let server = s3_server();
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    // s3s-fs keeps a bucket as a folder of its root.
    let dir = server.root.join(&name);
    std::fs::create_dir(&dir).unwrap();
    Bucket { name, dir }
}

/// Where the media of a test app lives.
enum Store {
    Volume,
    Bucket(Bucket),
}

impl Store {
    fn flags(&self, endpoint: &str, secret: &str) -> (Vec<String>, Option<String>) {
        match self {
            Self::Volume => (Vec::new(), None),
            Self::Bucket(bucket) => (
                vec![
                    "--media-store=s3".into(),
                    format!("--s3-endpoint={endpoint}"),
                    format!("--s3-bucket={}", bucket.name),
                    format!("--s3-access-key-id={ACCESS_KEY}"),
                ],
                Some(secret.to_owned()),
            ),
        }
    }

    /// The stored file of `key` (relative to the media root or to the bucket's prefix), if it is there.
    fn file(&self, app: &TestApp, key: &str) -> PathBuf {
        match self {
            Self::Volume => app.data_dir.path().join("media").join(key),
            Self::Bucket(bucket) => bucket.dir.join("fermata").join(key),
        }
    }
}

/// An app on `database_url` (a fresh one when None) with its media in `store`, reached at `endpoint` with
/// `secret` (the real ones unless a test breaks them).
async fn app_with(store: &Store, database_url: Option<&str>, endpoint: &str, secret: &str, extra: &[&str]) -> TestApp {
    let database_url = match database_url {
        Some(url) => url.to_owned(),
        None => support::fresh_database().await,
    };
    let (mut flags, secret) = store.flags(endpoint, secret);
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut config: Config = support::config(&database_url, dir.path(), &flags);
    config.s3_secret_access_key = secret.map(Into::into);
    TestApp::spawn_config(config).await
}

async fn app(store: &Store) -> TestApp {
    app_with(store, None, &s3_server().endpoint, SECRET_KEY, &[]).await
}

async fn upload(app: &TestApp, c: &reqwest::Client, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let form = multipart::Form::new().part("file", multipart::Part::bytes(bytes).file_name(name.to_owned()));
    let response = c.post(app.url("/api/music/songs")).multipart(form).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn path_of(app: &TestApp, id: &str) -> String {
    scalar(&app.db, &format!("SELECT path FROM songs WHERE id = '{id}'")).await
}

/// Uploads (one PUT and multipart), ranges, validators, covers, thumbnails, a transcode and a delete: what a
/// listener and an admin do, checked byte for byte.
async fn round_trip(store: Store) {
    let app = app(&store).await;
    let admin = app.admin_client("keeper").await;
    let dir = tempfile::tempdir().unwrap();
    let small = std::fs::read(fixtures::make(
        dir.path(),
        "small",
        Format::Mp3,
        &Tags::song("Small", "Band", "Record"),
        2.0,
        440,
        true,
    ))
    .unwrap();
    // 300 s of the fixtures' 8 kHz stereo WAV: 9.6 MB, two parts of a multipart upload.
    let large = std::fs::read(fixtures::noise(dir.path(), "large", Format::Wav, 300.0)).unwrap();
    assert!(large.len() > fermata_core::media::PART_SIZE, "large enough for a multipart upload");

    let (status, small_song) = upload(&app, &admin, "small.mp3", small.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{small_song}");
    let (status, large_song) = upload(&app, &admin, "large.wav", large.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{large_song}");
    let small_id = small_song["id"].as_str().unwrap().to_owned();
    let large_id = large_song["id"].as_str().unwrap().to_owned();
    let large_key = path_of(&app, &large_id).await;
    assert_eq!(std::fs::read(store.file(&app, &large_key)).unwrap(), large, "stored whole, where the store keeps it");
    if matches!(store, Store::Bucket(_)) {
        assert!(!app.data_dir.path().join("media").join(&large_key).exists(), "nothing on the replica's disk");
        let in_flight: i64 = scalar(&app.db, "SELECT count(*) FROM object_uploads").await;
        assert_eq!(in_flight, 0, "a finished multipart upload is no longer recorded");
    }
    // The analysis of a song in the bucket reads a temp copy, removed once analysed.
    let temp = app.data_dir.path().join("media/tmp");
    eventually("no temp file left once analysed", Duration::from_secs(60), || async {
        std::fs::read_dir(&temp).unwrap().count() == 0
            && scalar::<i64>(&app.db, "SELECT count(*) FROM songs WHERE loudness_lufs IS NULL").await == 0
    })
    .await;

    let c = app.listener("hearer").await;
    let stream = |id: &str| app.url(&format!("/api/music/songs/{id}/stream"));
    let whole = c.get(stream(&large_id)).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(whole.headers()[header::ACCEPT_RANGES], "bytes");
    let etag = whole.headers()[header::ETAG].to_str().unwrap().to_owned();
    let modified = whole.headers()[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    assert_eq!(whole.bytes().await.unwrap(), large);

    let len = large.len();
    let cases = [
        ("bytes=0-65535", 0, 65_535),
        ("bytes=8000000-8999999", 8_000_000, 8_999_999),
        ("bytes=-1000", len - 1000, len - 1),
        (&*format!("bytes={}-", len - 10), len - 10, len - 1),
        (&*format!("bytes=100-{}", len * 2), 100, len - 1),
    ];
    for (range, start, end) in cases {
        let part = c.get(stream(&large_id)).header(header::RANGE, range).send().await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(part.headers()[header::CONTENT_RANGE], format!("bytes {start}-{end}/{len}"), "{range}");
        assert_eq!(part.bytes().await.unwrap(), large[start..=end], "{range}");
    }
    let beyond = c.get(stream(&large_id)).header(header::RANGE, format!("bytes={len}-")).send().await.unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.headers()[header::CONTENT_RANGE], format!("bytes */{len}"));
    let held = c.get(stream(&large_id)).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(held.status(), StatusCode::NOT_MODIFIED);
    let if_range = c
        .get(stream(&large_id))
        .header(header::RANGE, "bytes=0-9")
        .header(header::IF_RANGE, &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(if_range.status(), StatusCode::PARTIAL_CONTENT, "If-Range with the exact Last-Modified");
    let stale = c
        .get(stream(&large_id))
        .header(header::RANGE, "bytes=0-9")
        .header(header::IF_RANGE, "\"another\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK, "a failed If-Range sends the whole file");
    assert_eq!(stale.bytes().await.unwrap().len(), len);
    assert_eq!(c.get(stream(&small_id)).send().await.unwrap().bytes().await.unwrap(), small);

    // Cover art from the tags, kept in the store, and a thumbnail made once and kept there too.
    let cover = c.get(app.url(&format!("/api/music/songs/{small_id}/cover"))).send().await.unwrap();
    assert_eq!(cover.status(), StatusCode::OK);
    assert_eq!(cover.headers()[header::CONTENT_TYPE], "image/png");
    let image = image::load_from_memory(&cover.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (400, 400));
    let thumb_url = app.url(&format!("/api/music/songs/{small_id}/cover?size=64"));
    let thumb = c.get(&thumb_url).send().await.unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);
    let small_image = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((small_image.width(), small_image.height()), (64, 64));
    let thumbs = store.file(&app, "covers/thumbs");
    assert_eq!(std::fs::read_dir(&thumbs).unwrap().count(), 1, "one thumbnail kept in {}", thumbs.display());
    assert_eq!(c.get(&thumb_url).send().await.unwrap().status(), StatusCode::OK);

    // A transcode reads its source from the store and keeps the finished rendition there.
    let opus = c.get(format!("{}?format=opus&max_bitrate=96", stream(&large_id))).send().await.unwrap();
    assert_eq!(opus.status(), StatusCode::OK);
    assert_eq!(opus.headers()[header::CONTENT_TYPE], "audio/ogg; codecs=opus");
    let made = opus.bytes().await.unwrap();
    assert!(made.starts_with(b"OggS"), "an Ogg stream");
    eventually("the finished transcode to be kept", Duration::from_secs(60), || async {
        scalar::<i64>(&app.db, "SELECT count(*) FROM transcodes").await == 1
    })
    .await;
    let rendition: String = scalar(&app.db, "SELECT path FROM transcodes").await;
    assert!(store.file(&app, &rendition).is_file(), "the rendition is in the store");
    let cached = c
        .get(format!("{}?format=opus&max_bitrate=96", stream(&large_id)))
        .header(header::RANGE, "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::PARTIAL_CONTENT, "served from the cache, with ranges");
    assert_eq!(&cached.bytes().await.unwrap()[..], b"OggS");

    // Deleting the song removes its stored file; the other song still streams.
    let deleted = admin.delete(app.url(&format!("/api/music/songs/{large_id}"))).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!store.file(&app, &large_key).exists(), "the deleted song's file is gone");
    assert_eq!(c.get(stream(&large_id)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(c.get(stream(&small_id)).send().await.unwrap().status(), StatusCode::OK);

    // Refused uploads leave nothing behind in either store.
    let (status, _) = upload(&app, &admin, "noise.mp3", vec![7u8; 20_000]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let songs: i64 = scalar(&app.db, "SELECT count(*) FROM songs").await;
    assert_eq!(songs, 1);
}

#[tokio::test]
async fn the_media_volume_round_trip() {
    round_trip(Store::Volume).await;
}

#[tokio::test]
async fn the_object_store_round_trip() {
    round_trip(Store::Bucket(bucket())).await;
}

/// The adapter on the test bucket, as the app builds it.
fn adapter(bucket: &Bucket) -> fermata::s3::S3Store {
    fermata::s3::S3Store::new(&fermata::s3::Settings {
        endpoint: Some(s3_server().endpoint.clone()),
        region: "us-east-1".into(),
        bucket: bucket.name.clone(),
        prefix: "fermata".into(),
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
        virtual_hosted: false,
    })
    .unwrap()
}

/// A replica that died mid-upload leaves a multipart upload behind: a replica starting later aborts it, and the
/// parts sent are gone.
#[tokio::test]
async fn multipart_uploads_left_by_a_dead_replica_are_aborted() {
    let bucket = bucket();
    let store = Store::Bucket(bucket);
    let Store::Bucket(bucket) = &store else { unreachable!() };
    let s3 = adapter(bucket);
    let database_url = support::fresh_database().await;
    let db = fermata::postgres::connect(&database_url, 2).await.unwrap();
    fermata::postgres::migrate(&db).await.unwrap();
    // What the dead replica did: started an upload, recorded it, sent one part, and never finished.
    let key = "ab/cd/abcd-dead.flac";
    let upload = s3.create_multipart(key, "audio/flac").await.unwrap();
    s3.put_part(key, &upload, 0, vec![1u8; 5 * 1024 * 1024].into()).await.unwrap();
    let sql = format!(
        "INSERT INTO object_uploads (upload_id, object_key, started_at) VALUES ('{upload}', '{key}', now() - interval '2 hours')"
    );
    sea_orm::ConnectionTrait::execute_unprepared(&db, &sql).await.unwrap();
    // One started a minute ago is another replica's upload in progress: left alone.
    let live = s3.create_multipart("ab/cd/abcd-live.flac", "audio/flac").await.unwrap();
    let sql = format!(
        "INSERT INTO object_uploads (upload_id, object_key, started_at) VALUES ('{live}', 'ab/cd/abcd-live.flac', now() - interval '1 minute')"
    );
    sea_orm::ConnectionTrait::execute_unprepared(&db, &sql).await.unwrap();

    let app = app_with(&store, Some(&database_url), &s3_server().endpoint, SECRET_KEY, &[]).await;
    eventually("the stale upload to be aborted", Duration::from_secs(60), || async {
        scalar::<i64>(&app.db, &format!("SELECT count(*) FROM object_uploads WHERE upload_id = '{upload}'")).await == 0
    })
    .await;
    let refused = s3.put_part(key, &upload, 1, vec![2u8; 1024].into()).await;
    assert!(refused.is_err(), "the aborted upload takes no more parts");
    let completed = s3.complete_multipart(key, &upload, Vec::new()).await;
    assert!(completed.is_err(), "and cannot be completed");
    assert!(matches!(s3.head(key).await, Err(ObjectError::NotFound)), "no object was made");
    let live_rows: i64 =
        scalar(&app.db, &format!("SELECT count(*) FROM object_uploads WHERE upload_id = '{live}'")).await;
    assert_eq!(live_rows, 1, "an upload in progress is not touched");
    s3.put_part("ab/cd/abcd-live.flac", &live, 0, vec![3u8; 1024].into()).await.expect("still open");
}

/// A replica that cannot reach the store, or whose requests the store refuses (a wrong secret: the signature
/// is checked), answers 503 with Retry-After and loses nothing; with the link back, it serves again.
#[tokio::test]
async fn an_unreachable_or_refusing_store_is_a_clean_503() {
    let store = Store::Bucket(bucket());
    let good = app(&store).await;
    let admin = good.admin_client("keeper").await;
    let dir = tempfile::tempdir().unwrap();
    let song = std::fs::read(fixtures::make(
        dir.path(),
        "kept",
        Format::Flac,
        &Tags::song("Kept", "Band", "Record"),
        1.0,
        500,
        true,
    ))
    .unwrap();
    let (status, view) = upload(&good, &admin, "kept.flac", song.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = view["id"].as_str().unwrap().to_owned();

    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let unreachable = app_with(&store, Some(&good.database_url), &closed, SECRET_KEY, &[]).await;
    let refused = app_with(&store, Some(&good.database_url), &s3_server().endpoint, "not-the-secret", &[]).await;
    for replica in [&unreachable, &refused] {
        let c = replica.listener(&format!("l{}", replica.address.rsplit(':').next().unwrap())).await;
        let response = c.get(replica.url(&format!("/api/music/songs/{id}/stream"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(!body.to_string().contains("127.0.0.1"), "no internals leak: {body}");
        let cover = c.get(replica.url(&format!("/api/music/songs/{id}/cover"))).send().await.unwrap();
        assert_eq!(cover.status(), StatusCode::SERVICE_UNAVAILABLE);
        let admin = replica.admin_client(&format!("a{}", replica.address.rsplit(':').next().unwrap())).await;
        let other = std::fs::read(fixtures::make(
            dir.path(),
            "other",
            Format::Flac,
            &Tags::song("Other", "Band", "Record"),
            1.0,
            510,
            false,
        ))
        .unwrap();
        let (status, body) = upload(replica, &admin, "other.flac", other).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let temp: Vec<_> = std::fs::read_dir(replica.data_dir.path().join("media/tmp")).unwrap().collect();
        assert!(temp.is_empty(), "the refused upload left nothing: {temp:?}");
    }
    let songs: i64 = scalar(&good.db, "SELECT count(*) FROM songs").await;
    assert_eq!(songs, 1, "no song without its file");
    // The store was never the problem: the first replica still serves the song whole.
    let c = good.listener("still").await;
    let bytes = c.get(good.url(&format!("/api/music/songs/{id}/stream"))).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes, song);
}

/// nginx in front (MEDIA_DELIVERY=x-accel): the backend authorises with a presigned URL and nginx fetches the
/// bytes from the store, ranges and all; the client's cookie never reaches the store.
#[tokio::test]
async fn nginx_streams_from_the_store_with_a_presigned_url() {
    let store = Store::Bucket(bucket());
    let app = app_with(&store, None, &s3_server().endpoint, SECRET_KEY, &["--media-delivery=x-accel"]).await;
    let admin = app.admin_client("keeper").await;
    let dir = tempfile::tempdir().unwrap();
    let song = std::fs::read(fixtures::noise(dir.path(), "through", Format::Flac, 5.0)).unwrap();
    let (status, view) = upload(&app, &admin, "through.flac", song.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = view["id"].as_str().unwrap().to_owned();

    let work = tempfile::Builder::new().prefix("fermata-nginx-s3").tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let frontend = work.path().join("frontend");
    std::fs::create_dir_all(&frontend).unwrap();
    std::fs::create_dir_all(work.path().join("library")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let backend = app.address.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let _nginx = cluster::spawn_nginx(work.path(), port, &[backend], &work.path().join("media"), &frontend).await;

    let c = support::client();
    let login = c
        .post(format!("http://127.0.0.1:{port}/api/auth/login"))
        .json(&serde_json::json!({"username": "keeper", "password": support::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let url = format!("http://127.0.0.1:{port}/api/music/songs/{id}/stream");
    let whole = c.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()[header::CONTENT_TYPE], "audio/flac");
    assert!(!whole.headers().contains_key("x-amz-request-id"), "the store's headers stay inside");
    assert_eq!(whole.bytes().await.unwrap(), song);
    let len = song.len();
    for (range, start, end) in [("bytes=0-65535", 0, 65_535), ("bytes=-100", len - 100, len - 1)] {
        let part = c.get(&url).header(header::RANGE, range).send().await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(part.headers()[header::CONTENT_RANGE], format!("bytes {start}-{end}/{len}"));
        assert_eq!(part.bytes().await.unwrap(), song[start..=end]);
    }
    let beyond = c.get(&url).header(header::RANGE, format!("bytes={len}-")).send().await.unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // Signed out: nginx asks the backend, which refuses; no presigned URL is made.
    let anonymous = support::client().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let key = path_of(&app, &id).await;
    assert!(!app.data_dir.path().join("media").join(&key).exists(), "the bytes came from the bucket");
}

/// `fermata storage migrate` with the bucket settings of `bucket` and the app's MEDIA_DIR.
fn storage_migrate(app: &TestApp, bucket: &Bucket, media_dir: &std::path::Path, to: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fermata"))
        .args(["storage", "migrate", "--to", to])
        .env("DATABASE_URL", &app.database_url)
        .env("MEDIA_DIR", media_dir)
        .env("S3_ENDPOINT", &s3_server().endpoint)
        .env("S3_BUCKET", &bucket.name)
        .env("S3_ACCESS_KEY_ID", ACCESS_KEY)
        .env("S3_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("LOG_FORMAT", "text")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), without_colours(&log))
}

/// The log as plain text (the text format colours field names).
fn without_colours(log: &str) -> String {
    let mut plain = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            let _ = chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

/// A library on the media volume moves to the bucket and back: every upload and cover copied and checked, a
/// stopped or damaged move finished by running it again, and the servers switched over with no database change.
#[tokio::test]
async fn a_library_moves_to_object_storage_and_back() {
    let volume = Store::Volume;
    let app = app(&volume).await;
    let admin = app.admin_client("mover").await;
    let dir = tempfile::tempdir().unwrap();
    let mut uploaded = Vec::new();
    for (i, format) in [Format::Flac, Format::Mp3, Format::Wav].into_iter().enumerate() {
        let name = format!("song{i}");
        let tags = Tags::song(&name, "Mover", "Boxes");
        let bytes = std::fs::read(fixtures::make(dir.path(), &name, format, &tags, 1.0, 600 + i as u32, true)).unwrap();
        let (status, view) = upload(&app, &admin, &format!("{name}.{}", format.extension()), bytes.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        uploaded.push((view["id"].as_str().unwrap().to_owned(), bytes));
    }
    let covers: i64 =
        scalar(&app.db, "SELECT count(DISTINCT cover_path) FROM albums WHERE cover_path LIKE 'media:%'").await;
    assert_eq!(covers, 1, "one album cover");
    let bucket = bucket();
    let media = app.data_dir.path().join("media");

    let (ok, log) = storage_migrate(&app, &bucket, &media, "s3");
    assert!(ok, "{log}");
    assert!(log.contains("copied=4"), "three songs and a cover: {log}");
    let in_bucket = Store::Bucket(Bucket { name: bucket.name.clone(), dir: bucket.dir.clone() });
    for (id, bytes) in &uploaded {
        let key = path_of(&app, id).await;
        assert_eq!(&std::fs::read(in_bucket.file(&app, &key)).unwrap(), bytes, "{key} copied whole");
    }

    // Damage the bucket as a stopped move would leave it: one object missing, one cut short. Run again.
    let first = path_of(&app, &uploaded[0].0).await;
    let second = path_of(&app, &uploaded[1].0).await;
    std::fs::remove_file(in_bucket.file(&app, &first)).unwrap();
    std::fs::write(in_bucket.file(&app, &second), &uploaded[1].1[..100]).unwrap();
    let (ok, log) = storage_migrate(&app, &bucket, &media, "s3");
    assert!(ok, "{log}");
    assert!(log.contains("copied=2") && log.contains("already_there=2"), "only what was wrong is copied: {log}");
    assert_eq!(std::fs::read(in_bucket.file(&app, &second)).unwrap(), uploaded[1].1);

    // A replica on the bucket serves the same database: songs, ranges and the cover.
    let s3_app = app_with(&in_bucket, Some(&app.database_url), &s3_server().endpoint, SECRET_KEY, &[]).await;
    let c = s3_app.listener("after-the-move").await;
    for (id, bytes) in &uploaded {
        let got = c.get(s3_app.url(&format!("/api/music/songs/{id}/stream"))).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(&got.bytes().await.unwrap(), bytes);
        let cover = c.get(s3_app.url(&format!("/api/music/songs/{id}/cover"))).send().await.unwrap();
        assert_eq!(cover.status(), StatusCode::OK);
    }

    // And back, into an empty media folder.
    let back = tempfile::tempdir().unwrap();
    let (ok, log) = storage_migrate(&app, &bucket, back.path(), "fs");
    assert!(ok, "{log}");
    assert!(log.contains("copied=4"), "{log}");
    for (id, bytes) in &uploaded {
        let key = path_of(&app, id).await;
        assert_eq!(&std::fs::read(back.path().join(&key)).unwrap(), bytes);
    }

    // A database naming a file the source lacks: the move says so and fails, having copied the rest.
    std::fs::remove_file(media.join(&first)).unwrap();
    let other = bucket_named("moved-again");
    let (ok, log) = storage_migrate(&app, &other, &media, "s3");
    assert!(!ok, "a missing source file fails the move");
    assert!(log.contains("copied=3") && log.contains("missing_from_source=1"), "{log}");
}

/// A bucket with a readable name, for a test that needs a second one.
fn bucket_named(hint: &str) -> Bucket {
    let server = s3_server();
    let name = format!("{hint}-{}", uuid::Uuid::new_v4().simple());
    let dir = server.root.join(&name);
    std::fs::create_dir(&dir).unwrap();
    Bucket { name, dir }
}
