//! Transcoding with the real ffmpeg on real files: every source codec to every target format, the cache, the
//! shared process, a client going away, the limits, offsets, broken sources.

use std::{path::Path, process::Command, time::Duration};

use reqwest::{StatusCode, header};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    fixtures::{self, Format},
    support::{TestApp, client, error_code, eventually, scalar},
};

/// What ffprobe and a decode say about a file: codec, bit rate (bit/s), and the duration of the decoded audio
/// (after the encoder delay and padding the file's headers declare are dropped, as a gapless player does).
#[derive(Debug)]
struct Probed {
    codec: String,
    bitrate: f64,
    seconds: f64,
}

fn probe(path: &Path) -> Probed {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,sample_rate:format=bit_rate",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let codec = json["streams"][0]["codec_name"].as_str().unwrap_or_default().to_owned();
    let rate: f64 = json["streams"][0]["sample_rate"].as_str().unwrap_or("0").parse().unwrap();
    let bitrate: f64 = json["format"]["bit_rate"].as_str().unwrap_or("0").parse().unwrap();
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-"])
        .output()
        .unwrap();
    assert!(decoded.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&decoded.stderr));
    Probed { codec, bitrate, seconds: decoded.stdout.len() as f64 / 2.0 / rate }
}

fn stream_url(app: &TestApp, id: Uuid, query: &str) -> String {
    app.url(&format!("/api/music/songs/{id}/stream?{query}"))
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = client().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// The finished file of a rendition in the app's cache, once it is there.
async fn cached_file(app: &TestApp, hash: &str, bitrate: u32, extension: &str) -> std::path::PathBuf {
    let path = app.data_dir.path().join(format!("media/transcodes/{}/{hash}-{bitrate}.{extension}", &hash[..2]));
    let found = path.clone();
    eventually("the finished transcode in the cache", Duration::from_secs(60), || {
        let found = found.clone();
        async move { found.is_file() }
    })
    .await;
    path
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The app's running ffmpeg processes: tests share one process, so they are told apart by their working
/// directory (the app's own transcode temp folder).
fn ffmpeg_children(app: &TestApp) -> usize {
    let temp = app.data_dir.path().join("media/transcodes/tmp").canonicalize().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|c| c.trim() == "ffmpeg"))
        .filter(|entry| std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == temp))
        .count()
}

#[tokio::test]
async fn every_source_codec_transcodes_to_every_format() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let c = app.listener("transcoder").await;
    let seconds = 3.0;
    let targets = [("opus", "opus", "opus"), ("mp3", "mp3", "mp3"), ("aac", "aac", "m4a")];
    let mut checked = 0;
    for (i, source) in Format::ALL.into_iter().enumerate() {
        let path = fixtures::noise(dir.path(), &format!("source{i}"), source, seconds);
        let hash = fermata::library::hash_file(&path).unwrap();
        let id = app.add_song(&path).await;
        for (format, codec, extension) in targets {
            // Under every lossy source's rate (192k), so a source already in the format is transcoded too.
            let bitrate = 96;
            let live =
                c.get(stream_url(&app, id, &format!("format={format}&max_bitrate={bitrate}"))).send().await.unwrap();
            let ctx = format!("{source:?} → {format} at {bitrate}k");
            assert_eq!(live.status(), StatusCode::OK, "{ctx}");
            assert!(live.content_length().is_none(), "{ctx}: a transcode being made has no length yet");
            let live_type = live.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
            let live_bytes = live.bytes().await.unwrap();
            let live_copy = write(dir.path(), &format!("live-{i}-{format}"), &live_bytes);
            let live_probe = probe(&live_copy);
            assert_eq!(live_probe.codec, codec, "{ctx}: {live_type}");

            let finished = probe(&cached_file(&app, &hash, bitrate, extension).await);
            assert_eq!(finished.codec, codec, "{ctx}");
            let kbps = finished.bitrate / 1000.0;
            assert!((f64::from(bitrate) * 0.75..f64::from(bitrate) * 1.25).contains(&kbps), "{ctx}: {kbps} kbit/s");
            // Gapless: the finished file decodes to the source's length (Opus pre-skip, LAME's header, MP4's
            // edit list), within 50 ms.
            assert!((finished.seconds - f64::from(seconds)).abs() < 0.05, "{ctx}: {} s", finished.seconds);
            checked += 1;
        }
        // The stored file goes out as it is whenever it already fits.
        let raw = c.get(stream_url(&app, id, "max_bitrate=10000&format=raw")).send().await.unwrap();
        assert_eq!(raw.bytes().await.unwrap(), std::fs::read(&path).unwrap(), "{source:?} raw");
    }
    assert_eq!(checked, Format::ALL.len() * 3);
    let started = metric(&app, "transcodes_started_total").await;
    assert_eq!(started, checked as f64, "one ffmpeg per rendition");
}

#[tokio::test]
async fn a_fitting_file_is_passed_through() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let c = app.listener("passer").await;
    // A 192k MP3 under a 256k ceiling, asked as mp3 or in no format: the stored bytes, with ranges.
    let path = fixtures::noise(dir.path(), "fits", Format::Mp3, 2.0);
    let id = app.add_song(&path).await;
    for query in
        ["max_bitrate=256", "format=mp3&max_bitrate=256", "format=mp3", "max_bitrate=0", "format=raw&max_bitrate=32"]
    {
        let response = c.get(stream_url(&app, id, query)).header(header::RANGE, "bytes=0-9").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{query}");
        assert_eq!(response.bytes().await.unwrap(), std::fs::read(&path).unwrap()[..10], "{query}");
    }
    assert_eq!(metric(&app, "transcodes_started_total").await, 0.0);
    // A ceiling under it without a format: Opus, the web's default.
    let response = c.get(stream_url(&app, id, "max_bitrate=32")).send().await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "audio/ogg; codecs=opus");
}

#[tokio::test]
async fn finished_transcodes_are_files_with_ranges() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let c = app.listener("ranger").await;
    let path = fixtures::noise(dir.path(), "ranged", Format::Flac, 4.0);
    let hash = fermata::library::hash_file(&path).unwrap();
    let id = app.add_song(&path).await;
    let url = stream_url(&app, id, "format=mp3&max_bitrate=128");
    let first = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    let cached = cached_file(&app, &hash, 128, "mp3").await;
    let on_disk = std::fs::read(&cached).unwrap();
    // The MP3 written while it ran has the same frames; the finished file has its LAME header filled in.
    assert_eq!(first.len(), on_disk.len());

    let whole = c.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()[header::CONTENT_TYPE], "audio/mpeg");
    assert_eq!(whole.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(whole.content_length(), Some(on_disk.len() as u64));
    let etag = whole.headers()[header::ETAG].clone();
    assert_eq!(whole.bytes().await.unwrap(), on_disk);

    let part = c.get(&url).header(header::RANGE, "bytes=100-199").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[header::CONTENT_RANGE], format!("bytes 100-199/{}", on_disk.len()));
    assert_eq!(part.bytes().await.unwrap(), on_disk[100..200]);
    let suffix = c.get(&url).header(header::RANGE, "bytes=-10").send().await.unwrap();
    assert_eq!(suffix.bytes().await.unwrap(), on_disk[on_disk.len() - 10..]);
    let unsatisfiable = c.get(&url).header(header::RANGE, format!("bytes={}-", on_disk.len())).send().await.unwrap();
    assert_eq!(unsatisfiable.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let not_modified = c.get(&url).header(header::IF_NONE_MATCH, etag.clone()).send().await.unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    // Another bitrate is another file with another tag.
    let other = c.get(stream_url(&app, id, "format=mp3&max_bitrate=96")).send().await.unwrap();
    assert!(other.headers().get(header::ETAG).is_none_or(|t| *t != etag));
    other.bytes().await.unwrap();

    assert_eq!(metric(&app, "transcodes_started_total").await, 2.0, "the cache served the repeats");
    let indexed: i64 = scalar(&app.db, "SELECT count(*) FROM transcodes").await;
    assert_eq!(indexed, 2);
    let size: i64 =
        scalar(&app.db, &format!("SELECT size_bytes FROM transcodes WHERE path LIKE '%{hash}-128.mp3'")).await;
    assert_eq!(size, on_disk.len() as i64);
}

#[tokio::test]
async fn the_cache_evicts_the_least_recently_used() {
    // Room for about two 4-second MP3s at 128k (~64 KB each).
    let app = TestApp::spawn_with(&["--transcode-cache-bytes=150000"]).await;
    let dir = tempfile::tempdir().unwrap();
    let c = app.listener("evicter").await;
    let mut songs = Vec::new();
    for i in 0..3 {
        let path = fixtures::noise(dir.path(), &format!("evict{i}"), Format::Flac, 4.0);
        songs.push((app.add_song(&path).await, fermata::library::hash_file(&path).unwrap()));
    }
    let fetch = |id: Uuid| {
        let (c, url) = (c.clone(), stream_url(&app, id, "format=mp3&max_bitrate=128"));
        async move { c.get(url).send().await.unwrap().bytes().await.unwrap() }
    };
    fetch(songs[0].0).await;
    let first = cached_file(&app, &songs[0].1, 128, "mp3").await;
    fetch(songs[1].0).await;
    cached_file(&app, &songs[1].1, 128, "mp3").await;
    // The first is used again (its last use is written at most once a minute per replica, so the row is aged
    // here to stand for that minute passing).
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        "UPDATE transcodes SET used_at = used_at - interval '1 hour'",
    )
    .await
    .unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!("UPDATE transcodes SET used_at = now() WHERE path LIKE '%{}-128.mp3'", songs[0].1),
    )
    .await
    .unwrap();
    fetch(songs[2].0).await;
    cached_file(&app, &songs[2].1, 128, "mp3").await;
    let second = app.data_dir.path().join(format!("media/transcodes/{}/{}-128.mp3", &songs[1].1[..2], songs[1].1));
    eventually("the least recently used file evicted", Duration::from_secs(60), || {
        let second = second.clone();
        async move { !second.exists() }
    })
    .await;
    assert!(first.exists(), "the recently used file stays");
    let total: i64 = scalar(&app.db, "SELECT sum(size_bytes)::bigint FROM transcodes").await;
    assert!(total <= 150_000, "{total}");
}

/// A source long enough that its transcode is still running while the test looks (30 minutes of a quiet 8 kHz
/// tone: a small file, many seconds of Opus encoding).
fn long_source(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("long.flac");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=8000:duration=1800"])
        .args(["-c:a", "flac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

#[tokio::test]
async fn identical_requests_share_one_ffmpeg() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let path = fixtures::noise(dir.path(), "shared", Format::Flac, 20.0);
    let id = app.add_song(&path).await;
    let mut listeners = Vec::new();
    for i in 0..4 {
        listeners.push(app.listener(&format!("sharer{i}")).await);
    }
    let url = stream_url(&app, id, "format=opus&max_bitrate=160");
    let bodies = futures::future::join_all(listeners.iter().map(|c| {
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(url).send().await.unwrap().bytes().await.unwrap() }
    }))
    .await;
    assert!(bodies.iter().all(|b| !b.is_empty() && *b == bodies[0]), "every listener got the same stream");
    assert_eq!(metric(&app, "transcodes_started_total").await, 1.0, "one ffmpeg for four listeners");
    assert_eq!(metric(&app, "transcodes_joined_total").await, 3.0);
}

#[tokio::test]
async fn a_client_that_goes_away_stops_its_ffmpeg() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let id = app.add_song(&long_source(dir.path())).await;
    let c = app.listener("leaver").await;
    let mut response = c.get(stream_url(&app, id, "format=opus&max_bitrate=96")).send().await.unwrap();
    assert!(!response.chunk().await.unwrap().unwrap().is_empty());
    assert_eq!(ffmpeg_children(&app), 1, "the transcode is running");
    drop(response);
    eventually("ffmpeg killed once its listener left", Duration::from_secs(60), || async {
        ffmpeg_children(&app) == 0
    })
    .await;
    assert_eq!(metric(&app, "transcode_processes").await, 0.0);
    let temp = app.data_dir.path().join("media/transcodes/tmp");
    eventually("its temp file removed", Duration::from_secs(60), || {
        let temp = temp.clone();
        async move { std::fs::read_dir(&temp).unwrap().count() == 0 }
    })
    .await;
    let kept: i64 = scalar(&app.db, "SELECT count(*) FROM transcodes").await;
    assert_eq!(kept, 0, "an abandoned transcode is not kept");
}

#[tokio::test]
async fn past_the_limits_a_transcode_waits() {
    let app = TestApp::spawn_with(&["--transcode-max-processes=2", "--transcode-max-per-user=1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let id = app.add_song(&long_source(dir.path())).await;
    let (alice, bob, carol) = (app.listener("alice").await, app.listener("bob").await, app.listener("carol").await);
    let mut held = alice.get(stream_url(&app, id, "format=opus&max_bitrate=96")).send().await.unwrap();
    held.chunk().await.unwrap();

    // Alice's one slot is taken: another rendition waits...
    let refused = alice.get(stream_url(&app, id, "format=mp3&max_bitrate=96")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers()[header::RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let (_, body) = error_code(refused).await;
    assert_eq!(body["code"], "busy");
    // ...but the same rendition joins the running one, and the stored file needs no slot.
    let mut joined = alice.get(stream_url(&app, id, "format=opus&max_bitrate=96")).send().await.unwrap();
    assert_eq!(joined.status(), StatusCode::OK);
    joined.chunk().await.unwrap();
    let raw = alice.get(stream_url(&app, id, "")).header(header::RANGE, "bytes=0-9").send().await.unwrap();
    assert_eq!(raw.status(), StatusCode::PARTIAL_CONTENT);

    // Bob takes the replica's second slot; Carol finds none.
    let mut bobs = bob.get(stream_url(&app, id, "format=aac&max_bitrate=96")).send().await.unwrap();
    assert_eq!(bobs.status(), StatusCode::OK);
    bobs.chunk().await.unwrap();
    let refused = carol.get(stream_url(&app, id, "format=mp3&max_bitrate=64")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let (_, body) = error_code(refused).await;
    assert!(body["message"].as_str().unwrap().contains("slots"), "{body}");
    // A Subsonic app is told in its protocol, in the format it asked for.
    let key = crate::subsonic::credential(&app, &carol, "Phone").await;
    let refused = client()
        .get(app.url(&format!("/rest/stream?f=json&c=t&v=1.16.1&apiKey={key}&id={id}&format=opus&maxBitRate=64")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["subsonic-response"]["status"], "failed", "{body}");

    // Slots come back when listeners leave.
    drop((held, joined, bobs));
    eventually("the slots given back", Duration::from_secs(60), || async { ffmpeg_children(&app) == 0 }).await;
    let mut carols = carol.get(stream_url(&app, id, "format=mp3&max_bitrate=64")).send().await.unwrap();
    assert_eq!(carols.status(), StatusCode::OK);
    carols.chunk().await.unwrap();
}

#[tokio::test]
async fn an_offset_starts_part_way_and_is_not_kept() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let c = app.listener("seeker").await;
    let path = fixtures::noise(dir.path(), "seek", Format::Flac, 10.0);
    let id = app.add_song(&path).await;
    for (format, codec) in [("opus", "opus"), ("mp3", "mp3"), ("aac", "aac")] {
        let response = c.get(stream_url(&app, id, &format!("format={format}&offset=6"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{format}");
        let bytes = response.bytes().await.unwrap();
        let probed = probe(&write(dir.path(), &format!("offset.{format}"), &bytes));
        assert_eq!(probed.codec, codec);
        assert!((probed.seconds - 4.0).abs() < 1.0, "{format}: {} s", probed.seconds);
    }
    let kept: i64 = scalar(&app.db, "SELECT count(*) FROM transcodes").await;
    assert_eq!(kept, 0, "a transcode from an offset is never kept");
    let past = c.get(stream_url(&app, id, "format=mp3&offset=10")).send().await.unwrap();
    let (status, body) = error_code(past).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("past the end"), "{body}");
}

#[tokio::test]
async fn bad_requests_and_broken_sources_say_why() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let c = app.listener("breaker").await;
    let path = fixtures::noise(dir.path(), "ok", Format::Flac, 1.0);
    let id = app.add_song(&path).await;
    for query in ["format=flac", "format=", "max_bitrate=-1", "max_bitrate=x", "offset=-5", "offset=100000"] {
        let (status, body) = error_code(c.get(stream_url(&app, id, query)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
    }
    let missing = c.get(stream_url(&app, Uuid::nil(), "format=mp3")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        client().get(stream_url(&app, id, "format=mp3")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // A FLAC whose header is fine (it was indexed) but whose audio is garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    let header = 8 * 1024;
    for (i, byte) in bytes[header..].iter_mut().enumerate() {
        *byte = (i * 7919 % 251) as u8;
    }
    let broken = write(dir.path(), "broken.flac", &bytes);
    let id = app.add_song(&broken).await;
    let (status, body) = error_code(c.get(stream_url(&app, id, "format=mp3")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("the song could not be transcoded"), "{message}");
    assert!(!message.contains(dir.path().to_str().unwrap()) && !message.contains("/media/"), "no paths: {message}");
    assert_eq!(metric(&app, "transcodes_failed_total").await, 1.0);
    assert_eq!(ffmpeg_children(&app), 0);
}

/// The review's finding (#41): with two slots and a per-user cap of two, one listener held both with two seeks it
/// never read, and everyone else got 429 for as long as it liked. Now a listener never takes every slot, and a
/// seek whose reader stalls is ended (`TRANSCODE_STALL_SECS`) with its slots given back.
#[tokio::test]
async fn one_listener_cannot_hold_every_slot_and_a_stalled_reader_lets_go() {
    let app =
        TestApp::spawn_with(&["--transcode-max-processes=2", "--transcode-max-per-user=2", "--transcode-stall-secs=1"])
            .await;
    let dir = tempfile::tempdir().unwrap();
    let id = app.add_song(&long_source(dir.path())).await;
    let (mallory, bob) = (app.listener("mallory").await, app.listener("bob").await);
    // Mallory's seek, never read past its first bytes: she holds one slot, and no second.
    let held = mallory.get(stream_url(&app, id, "format=mp3&offset=60")).send().await.unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    let second = mallory.get(stream_url(&app, id, "format=opus&offset=120")).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS, "a listener's share is one slot of two");
    // Bob still gets one.
    let mut bobs = bob.get(stream_url(&app, id, "format=aac&offset=30")).send().await.unwrap();
    assert_eq!(bobs.status(), StatusCode::OK);
    bobs.chunk().await.unwrap();
    drop(bobs);
    // Mallory's connection stays open, unread: her ffmpeg is ended and her slot given back.
    eventually("the stalled transcode ended", Duration::from_secs(60), || async { ffmpeg_children(&app) == 0 }).await;
    let again = mallory.get(stream_url(&app, id, "format=opus&offset=120")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK, "her slot is free again");
    drop(held);
}

/// A HEAD asks for headers (#41: one started an ffmpeg): the type a GET would answer, no transcode run, on the
/// web API and on Subsonic's `stream` alike.
#[tokio::test]
async fn a_head_starts_no_transcode() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let id = app.add_song(&long_source(dir.path())).await;
    let c = app.listener("header").await;
    let head = c.head(stream_url(&app, id, "format=opus&max_bitrate=96")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("audio/"), "{:?}", head.headers());
    let key = crate::subsonic::credential(&app, &c, "Phone").await;
    let url = app.url(&format!("/rest/stream?c=t&v=1.16.1&apiKey={key}&id={id}&format=mp3&maxBitRate=64"));
    assert_eq!(client().head(url).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(metric(&app, "transcodes_started_total").await, 0.0, "no ffmpeg for a HEAD");
    assert_eq!(ffmpeg_children(&app), 0);
}
