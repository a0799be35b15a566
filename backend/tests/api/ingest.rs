//! Ingest: uploads and their refusals, duplicates, edits, deletion, the library scan, jobs, analysis and
//! events across instances.

use std::{path::Path, time::Duration};

use reqwest::{StatusCode, multipart};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    fixtures::{self, Format, Tags},
    support::{TestApp, client, error_code, eventually, scalar},
};

fn form(files: &[(&str, Vec<u8>)]) -> multipart::Form {
    files.iter().fold(multipart::Form::new(), |form, (name, bytes)| {
        form.part("file", multipart::Part::bytes(bytes.clone()).file_name((*name).to_owned()))
    })
}

async fn upload(app: &TestApp, c: &reqwest::Client, files: &[(&str, Vec<u8>)]) -> (StatusCode, Value) {
    let response = c.post(app.url("/api/music/songs")).multipart(form(files)).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&app.db, sql).await
}

fn temp_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir.path().join("media/tmp")).map_or(0, |d| d.count())
}

fn audio(dir: &Path, name: &str, format: Format, title: &str, hz: u32) -> Vec<u8> {
    std::fs::read(fixtures::make(dir, name, format, &Tags::song(title, "Uploader", "Uploads"), 1.0, hz, true)).unwrap()
}

#[tokio::test]
async fn an_image_bomb_embedded_in_an_upload_is_dropped_and_the_song_imports() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("bomber").await;
    let dir = tempfile::tempdir().unwrap();
    let path = fixtures::make(dir.path(), "bomb", Format::Mp3, &Tags::song("Bomb", "Blast", "Crater"), 1.0, 480, false);
    // 15000×8000 in well under a megabyte: 480 MB once decoded.
    fixtures::huge_png(&dir.path().join("bomb.png"), 15000, 8000);
    let bomb = std::fs::read(dir.path().join("bomb.png")).unwrap();
    assert!(bomb.len() < 1024 * 1024, "a small file: {} bytes", bomb.len());
    fixtures::embed_cover(&path, bomb);
    let (status, song) = upload(&app, &admin, &[("bomb.mp3", std::fs::read(&path).unwrap())]).await;
    assert_eq!(status, StatusCode::CREATED, "{song}");
    assert_eq!(song["title"], "Bomb");
    assert!(song["cover_url"].is_null(), "no cover from the bomb: {song}");
    assert_eq!(count(&app, "SELECT count(*) FROM albums WHERE cover_path IS NOT NULL").await, 0);
    let kept = std::fs::read_dir(app.data_dir.path().join("media/covers")).map_or(0, |d| d.count());
    assert_eq!(kept, 0, "nothing of the bomb kept on the media volume");
}

/// Upload edge cases the review found: a part without a file name, more files than a request may carry, other
/// parts and endless part headers.
#[tokio::test]
async fn uploads_say_what_they_imported_and_bound_every_part() {
    let app = TestApp::spawn_with(&["--max-upload-bytes=20000000"]).await;
    let admin = app.admin_client("bulk-uploader").await;
    let dir = tempfile::tempdir().unwrap();
    // No file name: the title is not the temp file's.
    let untagged = Tags { title: None, artist: None, ..Tags::song("", "", "") };
    let bare = std::fs::read(fixtures::make(dir.path(), "bare", Format::Wav, &untagged, 0.3, 700, false)).unwrap();
    let form = multipart::Form::new().part("file", multipart::Part::bytes(bare));
    let response = admin.post(app.url("/api/music/songs")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let song: Value = response.json().await.unwrap();
    assert_eq!(song["title"], "Untitled", "{song}");

    // 51 files: the first 50 are imported and listed, the 51st is refused with the reason.
    let files: Vec<(String, Vec<u8>)> = (0..51u32)
        .map(|i| {
            let name = format!("bulk{i}");
            let path = fixtures::make(
                dir.path(),
                &name,
                Format::Wav,
                &Tags::song(&name, "Bulk", "Bulk"),
                0.05,
                800 + 7 * i,
                false,
            );
            (format!("{name}.wav"), std::fs::read(path).unwrap())
        })
        .collect();
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (status, body) = upload(&app, &admin, &named).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 51);
    assert!(results[..50].iter().all(|r| r["status"] == 201), "{body}");
    assert_eq!(
        (results[50]["status"].as_u64(), results[50]["error"]["code"].as_str()),
        (Some(422), Some("too_many_files"))
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM songs WHERE album_id IN (SELECT id FROM albums WHERE title = 'Bulk')").await,
        50
    );

    // Parts other than `file` are refused, not skipped unread and uncounted.
    let form = multipart::Form::new()
        .text("note", "x".repeat(1000))
        .part("file", multipart::Part::bytes(files[0].1.clone()).file_name("n.wav"));
    let (status, error) =
        error_code(admin.post(app.url("/api/music/songs")).multipart(form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["message"].as_str().unwrap_or_default().contains("note")
            || error["fields"]["file"][0].as_str().unwrap().contains("note"),
        "{error}"
    );

    // A part whose headers never end is cut off (the process does not buffer megabytes of them).
    let boundary = "fermata-boundary";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nX-Pad: ")
            .into_bytes();
    body.extend(std::iter::repeat_n(b'a', 8 * 1024 * 1024));
    let response = admin
        .post(app.url("/api/music/songs"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(temp_files(&app), 0, "no temp file left");
}

#[tokio::test]
async fn uploads_are_stored_content_addressed_and_read() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("uploader").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = audio(dir.path(), "one", Format::Flac, "First Upload", 300);
    let (status, song) = upload(&app, &admin, &[("../../etc/passwd.flac", bytes.clone())]).await;
    assert_eq!(status, StatusCode::CREATED, "{song}");
    assert_eq!(
        (song["title"].as_str(), song["artist"]["name"].as_str(), song["codec"].as_str()),
        (Some("First Upload"), Some("Uploader"), Some("flac"))
    );
    let hash = fermata::library::hash_file(&fixtures::make(
        dir.path(),
        "one",
        Format::Flac,
        &Tags::song("First Upload", "Uploader", "Uploads"),
        1.0,
        300,
        true,
    ))
    .unwrap();
    let stored = app.data_dir.path().join(format!("media/{}/{}/{hash}.flac", &hash[..2], &hash[2..4]));
    assert_eq!(std::fs::read(&stored).unwrap(), bytes, "the user's file name never became a path");
    assert_eq!(temp_files(&app), 0);
    assert!(song["cover_url"].is_string(), "embedded art kept");
    // It streams.
    let streamed = admin.get(app.url(song["stream_url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(streamed.bytes().await.unwrap().len(), bytes.len());

    // Several files at once: a result per file.
    let other = audio(dir.path(), "two", Format::Vorbis, "Second", 310);
    let (status, body) =
        upload(&app, &admin, &[("two.ogg", other), ("again.flac", bytes), ("notes.txt", b"hello".to_vec())]).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<_> = body["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 409, 415]);
    assert_eq!(body["results"][1]["song"]["id"], song["id"], "the duplicate names the existing song");
    assert_eq!(body["results"][2]["file"], "notes.txt");
    assert_eq!(count(&app, "SELECT count(*) FROM songs").await, 2);
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let app = TestApp::spawn_with(&["--max-upload-bytes=200000"]).await;
    let admin = app.admin_client("gatekeeper").await;
    let dir = tempfile::tempdir().unwrap();
    let flac = audio(dir.path(), "real", Format::Flac, "Real", 320);
    let png = std::fs::read(fixtures::cover_image()).unwrap();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("empty.mp3", Vec::new(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("text.mp3", b"this is not music at all, just words".repeat(20), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("truncated.flac", flac[..60].to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("picture.mp3", png, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("huge.wav", vec![0u8; 300_000], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (name, bytes, expected) in cases {
        let (status, body) = upload(&app, &admin, &[(name, bytes)]).await;
        assert_eq!(status, expected, "{name}: {body}");
        assert!(body["error"]["message"].is_string(), "a reason for {name}: {body}");
    }
    // The limit bounds a request, as nginx's client_max_body_size does in front: two files each under it but
    // over it together are refused as a whole before anything is read.
    let halves = [("a.flac", flac.clone()), ("b.wav", vec![0u8; 150_000]), ("c.wav", vec![0u8; 150_000])];
    let (status, body) = upload(&app, &admin, &halves).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    assert!(body["error"]["message"].as_str().unwrap().contains("200000 bytes"), "{body}");
    let not_multipart = admin.post(app.url("/api/music/songs")).json(&json!({"file": "x"})).send().await.unwrap();
    assert_eq!(not_multipart.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let no_file = admin
        .post(app.url("/api/music/songs"))
        .multipart(multipart::Form::new().text("other", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_file.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let listener = app.listener("not_admin").await;
    let (status, _) = upload(&app, &listener, &[("real.flac", flac)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    assert_eq!(count(&app, "SELECT count(*) FROM songs").await, 0);
    assert_eq!(temp_files(&app), 0, "no temp file left");
    let stored: Vec<_> = walkdir::WalkDir::new(app.data_dir.path().join("media"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && !e.path().to_string_lossy().contains("/covers/"))
        .collect();
    assert!(stored.is_empty(), "nothing stored: {stored:?}");
}

#[tokio::test]
async fn a_body_without_a_length_is_counted_across_its_files() {
    let app = TestApp::spawn_with(&["--max-upload-bytes=200000"]).await;
    let admin = app.admin_client("chunky").await;
    let dir = tempfile::tempdir().unwrap();
    let flac = audio(dir.path(), "first", Format::Flac, "Fits", 340);
    // Each file fits on its own (the FLAC is a few KiB, the second 195,000 bytes); together they do not.
    assert!((5_000..100_000).contains(&flac.len()), "the fixture's size: {}", flac.len());
    // Hand-made multipart sent in chunks, so there is no Content-Length to refuse up front.
    let boundary = "fermata-test-boundary";
    let part = |name: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n")
    };
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(part("fits.flac").into_bytes()),
        Ok(flac),
        Ok(format!("\r\n{}", part("overflows.wav")).into_bytes()),
        Ok(vec![0u8; 195_000]),
        Ok(format!("\r\n--{boundary}--\r\n").into_bytes()),
    ];
    let response = admin
        .post(app.url("/api/music/songs"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let statuses: Vec<_> = body["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 413], "{body}");
    assert_eq!(body["results"][1]["file"], "overflows.wav");
    assert_eq!(count(&app, "SELECT count(*) FROM songs").await, 1);
    assert_eq!(temp_files(&app), 0, "the refused file left no temp file");
}

#[tokio::test]
async fn the_same_file_twice_at_the_same_moment_is_one_song() {
    let app = TestApp::spawn().await;
    let first = app.admin_client("twin_a").await;
    let second = app.admin_client("twin_b").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = audio(dir.path(), "twin", Format::Mp3, "Twin", 330);
    let (files_a, files_b) = ([("a.mp3", bytes.clone())], [("b.mp3", bytes.clone())]);
    let (a, b) = tokio::join!(upload(&app, &first, &files_a), upload(&app, &second, &files_b));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(count(&app, "SELECT count(*) FROM songs").await, 1);
    let (status, body) = upload(&app, &first, &[("c.mp3", bytes)]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["song"]["title"], "Twin", "409 carries the existing song");
}

#[tokio::test]
async fn edits_are_versioned_and_move_songs_between_albums() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("editor").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, song) = upload(&app, &admin, &[("e.wav", audio(dir.path(), "e", Format::Wav, "Draft", 340))]).await;
    let url = app.url(&format!("/api/music/songs/{}", song["id"].as_str().unwrap()));
    let version = song["version"].as_i64().unwrap();
    let edited: Value = admin.patch(&url).json(&json!({"version": version, "title": "Final", "artist": "New Artist", "album": "New Album", "year": 2020, "track": 5, "genre": "Ambient"}))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (edited["title"].as_str(), edited["artist"]["name"].as_str(), edited["album"]["name"].as_str()),
        (Some("Final"), Some("New Artist"), Some("New Album"))
    );
    assert_eq!(
        (edited["year"].as_i64(), edited["track"].as_i64(), edited["version"].as_i64()),
        (Some(2020), Some(5), Some(version + 1))
    );
    assert_eq!(count(&app, "SELECT count(*) FROM albums WHERE title = 'Uploads'").await, 0, "the emptied album went");
    assert_eq!(count(&app, "SELECT count(*) FROM artists WHERE name = 'Uploader'").await, 0, "the emptied artist went");

    let stale = admin.patch(&url).json(&json!({"version": version, "title": "Lost update"})).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["song"]["title"], "Final", "the conflict shows what is there now");
    for bad in [
        json!({"title": "no version"}),
        json!({"version": version + 1, "title": ""}),
        json!({"version": version + 1, "year": 12345}),
        json!({"version": version + 1, "colour": "red"}),
    ] {
        assert_eq!(
            admin.patch(&url).json(&bad).send().await.unwrap().status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    let listener = app.listener("vandal").await;
    assert_eq!(
        listener.patch(&url).json(&json!({"version": version + 1, "title": "x"})).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn deleting_a_song_cleans_up_everything_it_touched() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("cleaner").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, song) = upload(&app, &admin, &[("d.mp3", audio(dir.path(), "d", Format::Mp3, "Doomed", 350))]).await;
    let id = song["id"].as_str().unwrap();
    let listener = app.listener("fan_of_doomed").await;
    listener.put(app.url(&format!("/api/music/songs/{id}/favourite"))).send().await.unwrap();
    listener.post(app.url(&format!("/api/music/{id}/play"))).send().await.unwrap();
    let playlist: Value = listener
        .post(app.url("/api/playlists"))
        .json(&json!({"name": "p"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listener
        .post(app.url(&format!("/api/playlists/{}/entries", playlist["id"].as_str().unwrap())))
        .json(&json!({"song_ids": [id]}))
        .send()
        .await
        .unwrap();

    assert_eq!(
        admin.delete(app.url(&format!("/api/music/songs/{id}"))).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    for table in ["songs", "favourites", "plays", "playlist_entries", "albums", "artists"] {
        assert_eq!(count(&app, &format!("SELECT count(*) FROM {table}")).await, 0, "{table}");
    }
    let audio_left = walkdir::WalkDir::new(app.data_dir.path().join("media"))
        .into_iter()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "mp3"))
        .count();
    assert_eq!(audio_left, 0, "the file went too");
    assert_eq!(
        admin.delete(app.url(&format!("/api/music/songs/{id}"))).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn analysis_fills_in_peaks_and_loudness() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("analyst").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, song) = upload(&app, &admin, &[("a.flac", audio(dir.path(), "a", Format::Flac, "Analysed", 440))]).await;
    let peaks_url = app.url(&format!("/api/music/songs/{}/peaks", song["id"].as_str().unwrap()));
    eventually("analysis", Duration::from_secs(60), || async {
        admin.get(&peaks_url).send().await.unwrap().status() == StatusCode::OK
    })
    .await;
    let peaks: Value = admin.get(&peaks_url).send().await.unwrap().json().await.unwrap();
    let values = peaks["peaks"].as_array().unwrap();
    assert!(values.len() >= 10 && values.len() <= 800);
    // ffmpeg's sine source plays at 1/8 of full scale: a steady tone has steady peaks near 32 of 255.
    assert!(values.iter().all(|v| (20..=50).contains(&v.as_u64().unwrap())), "{values:?}");
    let lufs = peaks["loudness_lufs"].as_f64().unwrap();
    assert!((-30.0..0.0).contains(&lufs), "{lufs}");
    let jobs: Value = admin.get(app.url("/api/admin/jobs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jobs["recent"][0]["kind"], "analyse");
    assert_eq!(jobs["recent"][0]["status"], "done");
}

#[tokio::test]
async fn a_job_held_by_a_dead_replica_is_taken_up_again() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let path =
        fixtures::make(dir.path(), "orphan", Format::Wav, &Tags::song("Orphan", "Job", "Queue"), 1.0, 450, false);
    let song = app.add_song(&path).await;
    // A job claimed by a replica that died: running, lease expired.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO jobs (id, kind, payload, status, attempts, locked_by, lease_until) VALUES \
         ('{}', 'analyse', '{{\"song_id\": \"{song}\"}}', 'running', 1, 'dead-replica', now() - interval '1 minute')",
            Uuid::now_v7()
        ))
        .await
        .unwrap();
    eventually("the orphaned job", Duration::from_secs(60), || async {
        count(&app, "SELECT count(*) FROM jobs WHERE status = 'done' AND locked_by <> 'dead-replica' AND attempts = 2")
            .await
            == 1
    })
    .await;
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM songs WHERE id = '{song}' AND analysed_at IS NOT NULL")).await,
        1
    );
}

#[tokio::test]
async fn an_event_raised_on_one_instance_reaches_a_client_of_another() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.database_url, &[]).await;
    let admin = a.admin_client("broadcaster").await;
    let listener_of_b = client();
    b.login(&listener_of_b, "broadcaster", "admin-password-1").await;
    let mut events = listener_of_b.get(b.url("/api/events")).send().await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    assert_eq!(events.headers()["x-accel-buffering"], "no");
    // The stream subscribed before it answered: nothing published from here on is missed.

    let dir = tempfile::tempdir().unwrap();
    let (status, _) = upload(&a, &admin, &[("e.mp3", audio(dir.path(), "e", Format::Mp3, "Evented", 460))]).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: upload.done") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "received: {seen}");

    // A slow upload reports its progress while it streams.
    let wav = audio(dir.path(), "slow", Format::Wav, "Slow", 470);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let request = admin
        .post(a.url("/api/music/songs"))
        .header("content-type", "multipart/form-data; boundary=SLOW")
        .body(body)
        .send();
    let in_flight = tokio::spawn(request);
    let (first, second) = wav.split_at(wav.len() / 2);
    let mut head = b"--SLOW\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.wav\"\r\n\r\n".to_vec();
    head.extend_from_slice(first);
    tx.send(Ok(head)).await.unwrap();
    // Progress is reported at most every 250 ms while bytes arrive; the second half comes after that.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut tail = second.to_vec();
    tail.extend_from_slice(b"\r\n--SLOW--\r\n");
    tx.send(Ok(tail)).await.unwrap();
    drop(tx);
    assert_eq!(in_flight.await.unwrap().unwrap().status(), StatusCode::CREATED);
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: upload.progress") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "progress received: {seen}");
    assert!(seen.contains("\"task\":\"upload\""), "{seen}");

    // Listeners do not see admin events.
    let plain = b.listener("plain_listener").await;
    let response = plain.get(b.url("/api/events")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(client().get(b.url("/api/events")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

fn library_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("Artist A/Album One")).unwrap();
    std::fs::create_dir_all(root.join("Artist B/Album Two/CD1")).unwrap();
    for (i, format) in Format::ALL.into_iter().enumerate() {
        let folder = if i % 2 == 0 { "Artist A/Album One" } else { "Artist B/Album Two/CD1" };
        let (artist, album) = if i % 2 == 0 { ("Artist A", "Album One") } else { ("Artist B", "Album Two") };
        let tags = Tags::song("placeholder", artist, album);
        let title = format!("Track {i}");
        fixtures::make(
            &root.join(folder),
            &format!("{i:02} - {title}"),
            format,
            &Tags { title: Some(&title), ..tags },
            0.5,
            700 + i as u32,
            false,
        );
    }
    // Made here too: run alone, no fixture with an embedded cover would have made it yet.
    std::fs::copy(fixtures::cover_image(), root.join("Artist A/Album One/Folder.PNG")).unwrap();
    std::fs::write(root.join("Artist A/Album One/.DS_Store"), b"junk").unwrap();
    std::fs::write(root.join("Artist A/Album One/._01 - Track 0.mp3"), b"resource fork").unwrap();
    std::fs::write(root.join("Artist B/Album Two/info.nfo"), b"notes").unwrap();
    std::fs::write(root.join("Artist B/Album Two/fake.mp3"), b"not audio, just a name").unwrap();
    std::os::unix::fs::symlink(root, root.join("Artist B/loop")).unwrap();
    let bad_name = std::ffi::OsStr::from_bytes_safe(b"Artist B/caf\xe9.mp3");
    std::fs::write(root.join(bad_name), b"latin-1 name").unwrap();
    dir
}

trait FromBytesSafe {
    fn from_bytes_safe(bytes: &[u8]) -> &std::ffi::OsStr;
}

impl FromBytesSafe for std::ffi::OsStr {
    fn from_bytes_safe(bytes: &[u8]) -> &std::ffi::OsStr {
        std::os::unix::ffi::OsStrExt::from_bytes(bytes)
    }
}

/// Runs a scan through the API and waits for it: its report.
async fn scan_now(app: &TestApp, admin: &reqwest::Client) -> Value {
    let started = admin.post(app.url("/api/admin/scan")).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    eventually("the scan", Duration::from_secs(60), || async {
        let status: Value = admin.get(app.url("/api/admin/scan")).send().await.unwrap().json().await.unwrap();
        status["job"]["status"] == "done"
    })
    .await;
    let status: Value = admin.get(app.url("/api/admin/scan")).send().await.unwrap().json().await.unwrap();
    status["job"]["progress"].clone()
}

#[tokio::test]
async fn the_scan_indexes_changes_and_removes_and_reports_what_it_skipped() {
    let library = library_dir();
    let root = library.path().to_str().unwrap().to_owned();
    let app = TestApp::spawn_with(&[&format!("--music-dir={root}")]).await;
    let admin = app.admin_client("scanner").await;
    let run_scan = || scan_now(&app, &admin);
    let report = run_scan().await;
    assert_eq!(report["added"], Format::ALL.len(), "every decodable file: {report}");
    let reasons: Vec<String> =
        report["skipped"].as_array().unwrap().iter().map(|s| format!("{}: {}", s["path"], s["reason"])).collect();
    for expected in [".DS_Store", "._01", "info.nfo", "fake.mp3", "loop", "UTF-8"] {
        assert!(reasons.iter().any(|r| r.contains(expected)), "{expected} reported: {reasons:?}");
    }
    assert!(report["files_per_second"].as_f64().unwrap() > 0.0);
    let album_one =
        count(&app, "SELECT count(*) FROM albums WHERE title = 'Album One' AND cover_path LIKE 'library:%Folder.PNG'")
            .await;
    assert_eq!(album_one, 1, "the folder image became the album cover");
    let songs: Value =
        admin.get(app.url("/api/music/songs?album=Album%20One")).send().await.unwrap().json().await.unwrap();
    let song_id = songs["items"][0]["id"].as_str().unwrap().to_owned();
    let cover = admin.get(app.url(&format!("/api/music/songs/{song_id}/cover"))).send().await.unwrap();
    assert_eq!(cover.status(), StatusCode::OK);
    let stream = admin.get(app.url(&format!("/api/music/songs/{song_id}/stream"))).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK, "indexed files stream from MUSIC_DIR");

    // A play and a favourite survive a tag change of the file; a removed file leaves the library.
    admin.put(app.url(&format!("/api/music/songs/{song_id}/favourite"))).send().await.unwrap();
    let title = songs["items"][0]["title"].as_str().unwrap().to_owned();
    let changed_path = walkdir::WalkDir::new(&root)
        .into_iter()
        .flatten()
        .find(|e| {
            let name = e.file_name().to_string_lossy();
            name.contains(&title) && !name.starts_with("._")
        })
        .unwrap()
        .path()
        .to_owned();
    let format = Format::ALL.into_iter().find(|f| changed_path.extension().unwrap() == f.extension()).unwrap();
    let scanned_mtime = std::fs::metadata(&changed_path).unwrap().modified().unwrap();
    let stem = changed_path.file_stem().unwrap().to_str().unwrap().to_owned();
    fixtures::make(
        changed_path.parent().unwrap(),
        &stem,
        format,
        &Tags::song("Renamed Track", "Artist A", "Album One"),
        0.6,
        999,
        false,
    );
    // A changed file is one whose size or mtime moved; set the mtime rather than wait for the clock to tick.
    let file = std::fs::File::options().write(true).open(&changed_path).unwrap();
    file.set_modified(scanned_mtime + Duration::from_secs(1)).unwrap();
    let removed = walkdir::WalkDir::new(&root)
        .into_iter()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("Track 1"))
        .unwrap()
        .path()
        .to_owned();
    std::fs::remove_file(&removed).unwrap();

    let report = run_scan().await;
    assert_eq!(
        (
            report["added"].as_u64(),
            report["updated"].as_u64(),
            report["removed"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(0), Some(1), Some(1), Some(Format::ALL.len() as u64 - 2)),
        "{report}"
    );
    let song: Value =
        admin.get(app.url(&format!("/api/music/songs/{song_id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((song["title"].as_str(), song["favourite"].as_bool()), (Some("Renamed Track"), Some(true)));
    assert_eq!(count(&app, "SELECT count(*) FROM songs").await, Format::ALL.len() as i64 - 1);

    // Nothing changed: everything skipped as unchanged.
    let report = run_scan().await;
    assert_eq!(
        (report["unchanged"].as_u64(), report["added"].as_u64(), report["updated"].as_u64()),
        (Some(Format::ALL.len() as u64 - 1), Some(0), Some(0))
    );
}

#[tokio::test]
async fn the_same_audio_at_two_paths_is_two_songs_and_a_moved_file_keeps_its_song() {
    let library = tempfile::tempdir().unwrap();
    let root = library.path();
    for folder in ["Album", "Compilation", "Moved"] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    let tags = |title| Tags::song(title, "Artist", "Album");
    let shared = fixtures::make(&root.join("Album"), "01 - Shared", Format::Mp3, &tags("Shared"), 0.5, 440, false);
    let copy = root.join("Compilation/07 - Shared.mp3");
    std::fs::copy(&shared, &copy).unwrap();
    let wanderer =
        fixtures::make(&root.join("Album"), "02 - Wanderer", Format::Flac, &tags("Wanderer"), 0.5, 660, false);
    let app = TestApp::spawn_with(&[&format!("--music-dir={}", root.display())]).await;
    let admin = app.admin_client("copies").await;

    // A folder is the listener's truth: the copy on the compilation is a song of its own, and both stream.
    let report = scan_now(&app, &admin).await;
    assert_eq!((report["added"].as_u64(), report["skipped_count"].as_u64()), (Some(3), Some(0)), "{report}");
    let shared_ids: Vec<String> =
        admin.get(app.url("/api/music/songs?q=Shared")).send().await.unwrap().json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(shared_ids.len(), 2, "both paths are songs");
    let bytes = std::fs::read(&shared).unwrap();
    for id in &shared_ids {
        let stream = admin.get(app.url(&format!("/api/music/songs/{id}/stream"))).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        assert_eq!(stream.bytes().await.unwrap(), bytes);
    }

    // A file moved to another folder is the same song: its play and favourite stay. A copy removed goes,
    // and its twin stays.
    let songs: Value = admin.get(app.url("/api/music/songs?q=Wanderer")).send().await.unwrap().json().await.unwrap();
    let id = songs["items"][0]["id"].as_str().unwrap().to_owned();
    admin.put(app.url(&format!("/api/music/songs/{id}/favourite"))).send().await.unwrap();
    let played = admin.post(app.url(&format!("/api/music/{id}/play"))).send().await.unwrap();
    assert_eq!(played.status(), StatusCode::OK);
    eventually("the analysis", Duration::from_secs(60), || async {
        count(&app, &format!("SELECT count(*) FROM songs WHERE id = '{id}' AND analysed_at IS NOT NULL")).await == 1
    })
    .await;
    std::fs::rename(&wanderer, root.join("Moved/Wanderer (moved).flac")).unwrap();
    std::fs::remove_file(&copy).unwrap();
    let report = scan_now(&app, &admin).await;
    assert_eq!(
        (report["added"].as_u64(), report["moved"].as_u64(), report["removed"].as_u64(), report["unchanged"].as_u64()),
        (Some(0), Some(1), Some(1), Some(1)),
        "{report}"
    );
    let song: Value = admin.get(app.url(&format!("/api/music/songs/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((song["favourite"].as_bool(), song["play_count"].as_i64()), (Some(true), Some(1)), "{song}");
    let path = count(
        &app,
        &format!(
            "SELECT count(*) FROM songs WHERE id = '{id}' AND path = 'Moved/Wanderer (moved).flac'
                  AND analysed_at IS NOT NULL"
        ),
    )
    .await;
    assert_eq!(path, 1, "the song follows its file and keeps its analysis (the same audio)");
    let stream = admin.get(app.url(&format!("/api/music/songs/{id}/stream"))).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK, "the moved song streams from its new path");
    assert_eq!(count(&app, "SELECT count(*) FROM songs").await, 2);
    assert_eq!(count(&app, "SELECT count(*) FROM songs WHERE title = 'Shared'").await, 1, "the twin stays");
}

#[tokio::test]
async fn names_equal_but_for_case_are_one_artist_and_album_and_a_cover_anywhere_in_the_scan_reaches_it() {
    // Written in one statement per batch: the spellings of a batch, and an album's folder image found on a
    // later song than its first, must come out as one artist and one album with its cover.
    let library = tempfile::tempdir().unwrap();
    let root = library.path();
    let spellings = [("A", "The Band", "Live"), ("B", "THE BAND", "LIVE"), ("C", "the band", "live")];
    for (folder, artist, album) in spellings {
        std::fs::create_dir_all(root.join(folder)).unwrap();
        let title = format!("Song {folder}");
        let tags = Tags { album_artist: Some(artist), ..Tags::song(&title, artist, album) };
        fixtures::make(&root.join(folder), &title, Format::Mp3, &tags, 0.3, 500, false);
    }
    std::fs::copy(fixtures::cover_image(), root.join("C/cover.png")).unwrap();
    // A folder of junk: reported in full count, its list kept short.
    std::fs::create_dir_all(root.join("junk")).unwrap();
    for i in 0..1005 {
        std::fs::write(root.join(format!("junk/{i}.nfo")), b"notes").unwrap();
    }
    let app = TestApp::spawn_with(&[&format!("--music-dir={}", root.display())]).await;
    let admin = app.admin_client("spellings").await;
    let report = scan_now(&app, &admin).await;
    assert_eq!(report["added"], 3, "{}", report["added"]);
    assert_eq!(report["skipped_count"], 1005);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 1000, "the first thousand reasons");
    assert_eq!(count(&app, "SELECT count(*) FROM artists").await, 1, "one artist");
    let albums = count(&app, "SELECT count(*) FROM albums WHERE cover_path = 'library:C/cover.png'").await;
    assert_eq!((count(&app, "SELECT count(*) FROM albums").await, albums), (1, 1), "one album, with the cover");
    let rescan = scan_now(&app, &admin).await;
    assert_eq!((rescan["unchanged"].as_u64(), rescan["updated"].as_u64()), (Some(3), Some(0)), "{rescan}");
}

/// What real clients found (#41): art embedded in scanned files never became a cover. Now an album whose folder
/// has no image takes its files' picture; a song whose picture differs keeps its own (Subsonic's `coverArt`
/// names the song); a picture over the image limits is refused as an upload's would be; a rescan takes nothing
/// twice.
#[tokio::test]
async fn pictures_embedded_in_scanned_files_become_covers() {
    let library = tempfile::tempdir().unwrap();
    let root = library.path();
    let pictures = tempfile::tempdir().unwrap();
    let other = fixtures::picture(pictures.path(), "other", "testsrc2=size=300x300");
    let huge = fixtures::picture(pictures.path(), "huge", "color=red:size=9000x16");
    std::fs::create_dir_all(root.join("Pictured")).unwrap();
    let tags = |title| Tags::song(title, "Painter", "Pictured");
    for (name, format, picture) in [
        ("one", Format::Mp3, Some(fixtures::cover_image())),
        ("two", Format::Mp3, Some(fixtures::cover_image())),
        ("three", Format::Flac, Some(other.clone())),
        ("four", Format::Mp3, Some(huge.clone())),
        ("five", Format::Mp3, None),
    ] {
        fixtures::make_with_picture(&root.join("Pictured"), name, format, &tags(name), 0.3, 500, picture.as_deref());
    }
    let app = TestApp::spawn_with(&[&format!("--music-dir={}", root.display())]).await;
    let admin = app.admin_client("curator").await;
    assert_eq!(scan_now(&app, &admin).await["added"], 5);
    let song = |title: &str| {
        let sql = format!("SELECT id FROM songs WHERE title = '{title}'");
        let db = app.db.clone();
        async move { scalar::<Uuid>(&db, &sql).await }
    };
    let album: Uuid = scalar(&app.db, "SELECT id FROM albums WHERE title = 'Pictured'").await;
    let album_cover: Option<String> = scalar(&app.db, "SELECT cover_path FROM albums WHERE title = 'Pictured'").await;
    assert!(album_cover.as_deref().is_some_and(|c| c.starts_with("media:covers/")), "{album_cover:?}");
    assert_eq!(count(&app, "SELECT count(DISTINCT cover_path) FROM songs").await, 2, "two pictures, each stored once");
    let refused =
        "SELECT count(*) FROM songs WHERE title IN ('four', 'five') AND (cover_path IS NOT NULL OR has_embedded_cover)";
    assert_eq!(count(&app, refused).await, 0, "a 9000x16 picture is refused like an upload's");

    // The web player: the album's cover, and each song's own.
    let listener = app.listener("looker").await;
    let image = |path: String| {
        let (listener, url) = (listener.clone(), app.url(&path));
        async move {
            let response = listener.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.bytes().await.unwrap()
        }
    };
    assert!(!image(format!("/api/music/albums/{album}/cover")).await.is_empty());
    let (one, three) = (song("one").await, song("three").await);
    assert_ne!(
        image(format!("/api/music/songs/{one}/cover")).await,
        image(format!("/api/music/songs/{three}/cover")).await
    );
    // Subsonic: the album has coverArt; a song names its own picture only where it differs from the album's.
    let key = crate::subsonic::credential(&app, &listener, "Phone").await;
    let answer = crate::subsonic::rest(&app, &key, "getAlbum", &format!("id=al-{album}")).await;
    assert_eq!(answer["album"]["coverArt"], format!("al-{album}"), "{answer}");
    let arts: std::collections::HashMap<String, Value> = answer["album"]["song"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["title"].as_str().unwrap().to_owned(), s["coverArt"].clone()))
        .collect();
    let album_is_flacs =
        album_cover == scalar::<Option<String>>(&app.db, "SELECT cover_path FROM songs WHERE title = 'three'").await;
    let (own, shared) = if album_is_flacs { (one, three) } else { (three, one) };
    assert_eq!(arts[if album_is_flacs { "one" } else { "three" }], own.to_string(), "{arts:?}");
    assert_eq!(arts[if album_is_flacs { "three" } else { "one" }], format!("al-{album}"), "{arts:?} ({shared})");
    assert_eq!(arts["five"], format!("al-{album}"), "no picture: the album's");

    // A rescan takes nothing again.
    let covers = || {
        std::fs::read_dir(app.data_dir.path().join("media/covers"))
            .unwrap()
            .flatten()
            .map(|d| std::fs::read_dir(d.path()).unwrap().count())
            .sum::<usize>()
    };
    let before = covers();
    assert_eq!(scan_now(&app, &admin).await["unchanged"], 5);
    assert_eq!(covers(), before);
}

#[tokio::test]
async fn one_scan_at_a_time() {
    let library = library_dir();
    let root = library.path().to_str().unwrap().to_owned();
    let app = TestApp::spawn_with(&[&format!("--music-dir={root}")]).await;
    let admin = app.admin_client("impatient").await;
    // Another replica (here: the CLI's slot) is scanning.
    let slot = fermata_core::jobs::claim_scan_slot(&app.db, "other-replica").await.unwrap();
    let refused = admin.post(app.url("/api/admin/scan")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(fermata_core::jobs::claim_scan_slot(&app.db, "cli").await.is_err());
    fermata_core::jobs::release_scan_slot(&app.db, slot, None).await.unwrap();
    assert_eq!(admin.post(app.url("/api/admin/scan")).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let no_dir = TestApp::spawn().await;
    let admin = no_dir.admin_client("no_library").await;
    assert_eq!(
        admin.post(no_dir.url("/api/admin/scan")).send().await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn an_upload_cut_short_by_a_crash_leaves_no_row_and_no_file() {
    use std::os::unix::fs::PermissionsExt;
    let database_url = crate::support::fresh_database().await;
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .arg("serve")
        .env("DATABASE_URL", &database_url)
        .env("DATA_DIR", data.path())
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("FERMATA_ADMIN_USERNAME", "crasher")
        .env("FERMATA_ADMIN_PASSWORD", "crash-password")
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    eventually("the server", Duration::from_secs(60), || async {
        c.get(format!("{base}/ready")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let login = c
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "crasher", "password": "crash-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);

    // Half a file, then the server dies mid-upload.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let request = c
        .post(format!("{base}/api/music/songs"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(body)
        .send();
    let in_flight = tokio::spawn(request);
    tx.send(Ok(b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n\r\n".to_vec()))
        .await
        .unwrap();
    tx.send(Ok(vec![7u8; 256 * 1024])).await.unwrap();
    let tmp = data.path().join("media/tmp");
    eventually("the temp file", Duration::from_secs(60), || async {
        std::fs::read_dir(&tmp).map_or(0, |d| d.count()) > 0
    })
    .await;
    server.kill().await.unwrap();
    drop(tx);
    let _ = in_flight.await;

    // Restarted on the same volume and database: the temp file is gone, no row exists.
    let config = crate::support::config(&database_url, data.path(), &[]);
    let app = fermata::startup::Application::build(config).await.unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    let row = app
        .db()
        .query_one(Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT count(*) FROM songs".to_owned()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 0);
}
