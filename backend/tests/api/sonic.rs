//! Listening by sound (#22) end to end: files with known tempo, key and timbre made by the fixture tool, analysed
//! by the real worker, then asked about through the API: song views, similar songs, radio, the songs listing's
//! filters, the admin's corrections and the backfill.

use std::{collections::HashSet, path::Path, time::Duration};

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    fixtures::{self, Format},
    support::{TestApp, error_code, eventually, read_until, scalar},
};

const ANALYSIS: Duration = Duration::from_secs(60);

/// Adds `path` to the library and queues its analysis, as an upload does.
async fn added(app: &TestApp, path: &Path) -> Uuid {
    let id = app.add_song(path).await;
    fermata_core::jobs::enqueue_analysis(&app.db, &[id.into()]).await.unwrap();
    id
}

/// [`added`], then waits until the analysis has measured it.
async fn analysed(app: &TestApp, path: &Path) -> Uuid {
    let id = added(app, path).await;
    wait_analysed(app, &[id]).await;
    id
}

async fn wait_analysed(app: &TestApp, ids: &[Uuid]) {
    let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    let sql = format!("SELECT count(*) FROM songs WHERE id IN ({list}) AND sonic_version IS NOT NULL");
    eventually("the sonic analysis", ANALYSIS, || async { scalar::<i64>(&app.db, &sql).await == ids.len() as i64 })
        .await;
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.json().await.unwrap()
}

async fn similar(app: &TestApp, client: &reqwest::Client, id: Uuid, query: &str) -> Vec<Uuid> {
    let found = get(client, app.url(&format!("/api/music/songs/{id}/similar?{query}"))).await;
    found.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().parse().unwrap()).collect()
}

/// Three families sharing an instrument and a tempo, three songs each (different notes): soft sine plucks at 90
/// BPM, a gated sawtooth at 128, noise hits (drums) at 174. Returns (family, song id) in order.
async fn families(app: &TestApp, dir: &Path) -> Vec<(usize, Uuid)> {
    let mut paths = Vec::new();
    for (family, bpm) in [(0usize, 90.0f32), (1, 128.0), (2, 174.0)] {
        let period = 60.0 / bpm;
        for (song, hz) in [220.0f32, 262.0, 330.0].into_iter().enumerate() {
            let since = format!("mod(t\\,{period})");
            let expression = match family {
                0 => format!("0.5*sin(2*PI*{hz}*t)*exp(-{since}*4)"),
                1 => format!("0.4*(2*mod({hz}*t\\,1)-1)*lt({since}\\,{})", period / 2.0),
                _ => format!("0.5*(2*random({song})-1)*exp(-{since}*25)"),
            };
            let name = format!("family-{family}-song-{song}");
            // The first two songs of a family share an album.
            let album = format!("album-{family}-{}", usize::from(song >= 2));
            paths.push((family, fixtures::signal_on(dir, &name, &album, Format::Flac, 12.0, &expression)));
        }
    }
    let mut songs = Vec::new();
    for (family, path) in paths {
        songs.push((family, added(app, &path).await));
    }
    wait_analysed(app, &songs.iter().map(|(_, id)| *id).collect::<Vec<_>>()).await;
    songs
}

#[tokio::test]
async fn tempo_and_key_of_known_signals_show_in_the_song() {
    let app = TestApp::spawn().await;
    let listener = app.listener("ears").await;
    let dir = tempfile::tempdir().unwrap();
    // Opus and WavPack are decoded by ffmpeg (symphonia has no decoder for them), the rest by symphonia.
    let formats = [
        (90.0, Format::Mp3),
        (120.0, Format::Flac),
        (128.0, Format::Vorbis),
        (174.0, Format::Mp3),
        (128.0, Format::Opus),
        (90.0, Format::WavPack),
    ];
    for (bpm, format) in formats {
        let name = format!("click-{bpm}-{format:?}");
        let id = analysed(&app, &fixtures::clicks(dir.path(), &name, format, bpm, 15.0)).await;
        let song = get(&listener, app.url(&format!("/api/music/songs/{id}"))).await;
        let measured = song["bpm"].as_f64().unwrap_or_else(|| panic!("{format:?}: {song}"));
        assert!((measured - f64::from(bpm)).abs() <= 1.0, "{bpm} BPM ({format:?}) measured {measured}");
    }
    // I-IV-V-I in major, i-iv-V-i in harmonic minor; MIDI 60 is middle C.
    let progressions: [(&str, &[&[i32]], &str, Format); 4] = [
        ("C major", &[&[48, 64, 67, 72], &[53, 65, 69, 72], &[55, 62, 67, 71], &[48, 64, 67, 72]], "8B", Format::Flac),
        ("A minor", &[&[45, 60, 64, 69], &[50, 62, 65, 69], &[52, 59, 64, 68], &[45, 60, 64, 69]], "8A", Format::Mp3),
        ("F# major", &[&[54, 61, 66, 70], &[59, 63, 66, 71], &[49, 61, 65, 68], &[54, 61, 66, 70]], "2B", Format::Flac),
        ("Eb minor", &[&[51, 58, 63, 66], &[56, 59, 63, 68], &[46, 58, 62, 65], &[51, 58, 63, 66]], "2A", Format::Mp3),
    ];
    for (key, progression, camelot, format) in progressions {
        let path = fixtures::chords(dir.path(), &key.replace(' ', "-"), format, progression, 16.0);
        let id = analysed(&app, &path).await;
        let song = get(&listener, app.url(&format!("/api/music/songs/{id}"))).await;
        assert_eq!(song["key"], key, "{song}");
        assert_eq!(song["camelot"], camelot);
    }
}

#[tokio::test]
async fn a_silent_file_is_analysed_without_a_sound() {
    let app = TestApp::spawn().await;
    let listener = app.listener("hush").await;
    let dir = tempfile::tempdir().unwrap();
    let silent = analysed(&app, &fixtures::signal(dir.path(), "silence", Format::Flac, 5.0, "0")).await;
    let song = get(&listener, app.url(&format!("/api/music/songs/{silent}"))).await;
    assert_eq!(song["bpm"], Value::Null);
    assert_eq!(song["key"], Value::Null);
    let (status, error) =
        error_code(listener.get(app.url(&format!("/api/music/songs/{silent}/similar"))).send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::CONFLICT, Some("not_analysed")));
}

/// Files made to cost the analysis far more than their size (#41): a 32 KB FLAC at 1 Hz (it took a replica from
/// 46 to 548 MB and was retried five times) and a 34 KB FLAC of 45 minutes' silence at 44.1 kHz (20 s of CPU).
/// Each is refused after one try: analysed without peaks or a sound, its job done on the first attempt.
#[tokio::test]
async fn files_claiming_more_audio_than_they_hold_are_refused_after_one_try() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let one_hz = fixtures::silent_flac(dir.path(), "one-hertz", 1, 100_000_000);
    let long = fixtures::silent_flac(dir.path(), "long-silence", 44_100, 45 * 60);
    for path in [&one_hz, &long] {
        assert!(std::fs::metadata(path).unwrap().len() < 40_000, "{path:?} is a small file");
    }
    let ids = [added(&app, &one_hz).await, added(&app, &long).await];
    wait_analysed(&app, &ids).await;
    let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    let measured: i64 = scalar(
        &app.db,
        &format!("SELECT count(*) FROM songs WHERE id IN ({list}) AND (peaks IS NOT NULL OR sonic IS NOT NULL OR analysed_at IS NULL)"),
    )
    .await;
    assert_eq!(measured, 0, "refused: marked as tried, nothing measured");
    let jobs = "SELECT count(*) FROM jobs WHERE kind = 'analyse' AND (status <> 'done' OR attempts <> 1)";
    eventually("both analysis jobs done on their first try", ANALYSIS, || async {
        scalar::<i64>(&app.db, "SELECT count(*) FROM jobs WHERE kind = 'analyse' AND status = 'done'").await == 2
    })
    .await;
    assert_eq!(scalar::<i64>(&app.db, jobs).await, 0);
    // A real song still gets measured beside them.
    let song = analysed(&app, &fixtures::clicks(dir.path(), "fine", Format::Flac, 120.0, 8.0)).await;
    let peaks: i64 =
        scalar(&app.db, &format!("SELECT count(*) FROM songs WHERE id = '{song}' AND peaks IS NOT NULL")).await;
    assert_eq!(peaks, 1);
}

#[tokio::test]
async fn similar_songs_come_from_the_same_family_first() {
    let app = TestApp::spawn().await;
    let listener = app.listener("digger").await;
    let dir = tempfile::tempdir().unwrap();
    let songs = families(&app, dir.path()).await;
    let family_of = |id: &Uuid| songs.iter().find(|(_, s)| s == id).map(|(f, _)| *f).unwrap();
    // Every song's two nearest are its own family's other two songs.
    for (family, id) in &songs {
        let found = similar(&app, &listener, *id, "limit=8").await;
        assert_eq!(found.len(), 8, "every other song, and never the song itself");
        assert!(!found.contains(id));
        let nearest: Vec<usize> = found.iter().take(2).map(family_of).collect();
        assert_eq!(nearest, [*family, *family], "song {id} of family {family}: {found:?}");
    }
    // Limits, and leaving out the song's album (the first two songs of each family share one).
    let (_, first) = songs[0];
    assert_eq!(similar(&app, &listener, first, "limit=3").await.len(), 3);
    let other_albums = similar(&app, &listener, first, "limit=8&other_albums=true").await;
    assert_eq!(other_albums.len(), 7);
    assert!(!other_albums.contains(&songs[1].1));
    // The same answer from every replica: a second one started on the same database builds its own copy.
    let other = TestApp::spawn_on(&app.database_url, &[]).await;
    let elsewhere = crate::support::client();
    other.login(&elsewhere, "digger", "listener-password").await;
    for (_, id) in &songs {
        assert_eq!(similar(&app, &listener, *id, "limit=8").await, similar(&other, &elsewhere, *id, "limit=8").await);
    }

    for (query, status) in [("limit=0", 422), ("limit=101", 422), ("limit=x", 422), ("other_albums=maybe", 422)] {
        let response =
            listener.get(app.url(&format!("/api/music/songs/{first}/similar?{query}"))).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{query}");
    }
    let unknown = listener.get(app.url(&format!("/api/music/songs/{}/similar", Uuid::now_v7()))).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let anonymous = crate::support::client().get(app.url(&format!("/api/music/songs/{first}/similar"))).send().await;
    assert_eq!(anonymous.unwrap().status(), StatusCode::UNAUTHORIZED);
}

async fn radio(app: &TestApp, client: &reqwest::Client, body: Value) -> (StatusCode, Value) {
    let response = client.post(app.url("/api/radio")).json(&body).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn next(app: &TestApp, client: &reqwest::Client, radio: &str, body: Value) -> (StatusCode, Value) {
    let response = client.post(app.url(&format!("/api/radio/{radio}/next"))).json(&body).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

fn ids(radio: &Value) -> Vec<String> {
    radio["songs"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn radio_keeps_going_near_its_seed_never_repeats_and_keeps_its_filters() {
    let app = TestApp::spawn().await;
    let listener = app.listener("tuner").await;
    let admin = app.admin_client("station").await;
    let dir = tempfile::tempdir().unwrap();
    let songs = families(&app, dir.path()).await;
    let (_, seed) = songs[0];

    let (status, first) = radio(&app, &listener, json!({"seed": {"song": seed}, "limit": 2})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["seed"], json!({"song": seed}));
    let mut heard: Vec<String> = ids(&first);
    // Closest first: the seed's own family.
    let family: HashSet<String> = songs[..3].iter().map(|(_, s)| s.to_string()).collect();
    assert!(heard.iter().all(|s| family.contains(s)), "{heard:?}");
    assert!(!heard.contains(&seed.to_string()), "the seed is playing already");

    // A song that was handed out is deleted: the radio goes on without it.
    let gone = heard[0].clone();
    assert_eq!(admin.delete(app.url(&format!("/api/music/songs/{gone}"))).send().await.unwrap().status(), 204);
    let played = json!({"played": [heard[1]], "skipped": [gone], "limit": 3});
    loop {
        let (status, more) = next(&app, &listener, &id, played.clone()).await;
        assert_eq!(status, StatusCode::OK, "{more}");
        let batch = ids(&more);
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 3);
        heard.extend(batch);
    }
    let unique: HashSet<&String> = heard.iter().collect();
    assert_eq!(unique.len(), heard.len(), "never twice: {heard:?}");
    // Every song but the seed was handed out (the deleted one before it went).
    assert_eq!(heard.len(), songs.len() - 1);

    // Tempo and key filters hold for every song handed out.
    let (status, fast) = radio(
        &app,
        &listener,
        json!({"seed": {"artist": first_artist(&app, seed).await}, "bpm_min": 120, "bpm_max": 140, "limit": 50}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{fast}");
    assert!(!fast["songs"].as_array().unwrap().is_empty());
    for song in fast["songs"].as_array().unwrap() {
        let bpm = song["bpm"].as_f64().unwrap();
        assert!((120.0..=140.0).contains(&bpm), "{song}");
    }
    let (status, none) = radio(&app, &listener, json!({"seed": {"song": seed}, "bpm_min": 300, "limit": 5})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(ids(&none).is_empty());

    // Someone else's radio is not theirs to go on with, or to end.
    let other = app.listener("neighbour").await;
    assert_eq!(next(&app, &other, &id, json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(other.delete(app.url(&format!("/api/radio/{id}"))).send().await.unwrap().status(), 404);
    assert_eq!(listener.delete(app.url(&format!("/api/radio/{id}"))).send().await.unwrap().status(), 204);
    assert_eq!(next(&app, &listener, &id, json!({})).await.0, StatusCode::NOT_FOUND);
}

async fn first_artist(app: &TestApp, song: Uuid) -> String {
    scalar::<Uuid>(&app.db, &format!("SELECT artist_id FROM songs WHERE id = '{song}'")).await.to_string()
}

#[tokio::test]
async fn radio_refuses_bad_seeds_and_keeps_ten_sessions_a_listener() {
    let app = TestApp::spawn().await;
    let listener = app.listener("picky").await;
    let dir = tempfile::tempdir().unwrap();
    let seed = analysed(&app, &fixtures::clicks(dir.path(), "seed", Format::Flac, 120.0, 8.0)).await;
    let other = analysed(&app, &fixtures::clicks(dir.path(), "other", Format::Flac, 90.0, 8.0)).await;
    let bad = [
        json!({"seed": {"song": seed, "artist": seed}}),
        json!({"seed": {"genre": "Jazz"}}),
        json!({"seed": {"song": "not-an-id"}}),
        json!({"seed": {"song": seed}, "bpm_min": 140, "bpm_max": 100}),
        json!({"seed": {"song": seed}, "key": "H minor"}),
        json!({"seed": {"song": seed}, "limit": 0}),
        json!({"seed": {"song": seed}, "limit": 51}),
        json!({"seed": {"song": seed}, "bpm_min": -5}),
        json!({"seed": {"song": seed}, "mood": "happy"}),
    ];
    for body in bad {
        let (status, answer) = radio(&app, &listener, body.clone()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{body}: {status} {answer}"
        );
    }
    for seed in
        [json!({"song": Uuid::now_v7()}), json!({"artist": Uuid::now_v7()}), json!({"playlist": Uuid::now_v7()})]
    {
        let (status, _) = radio(&app, &listener, json!({"seed": seed})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{seed}");
    }
    // Someone else's private playlist is not a seed.
    let owner = app.listener("owner").await;
    let playlist: Value = owner
        .post(app.url("/api/playlists"))
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, _) = radio(&app, &listener, json!({"seed": {"playlist": playlist["id"]}})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, first) = radio(&app, &listener, json!({"seed": {"song": seed}})).await;
    assert_eq!(ids(&first), [other.to_string()]);
    let first = first["id"].as_str().unwrap().to_owned();
    let big: Vec<String> = (0..101).map(|_| Uuid::now_v7().to_string()).collect();
    assert_eq!(next(&app, &listener, &first, json!({"played": big})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(next(&app, &listener, &first, json!({"limit": 0})).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(next(&app, &listener, &Uuid::now_v7().to_string(), json!({})).await.0, StatusCode::NOT_FOUND);
    // Feedback about songs the radio never handed out moves nothing and breaks nothing.
    let (status, more) = next(&app, &listener, &first, json!({"played": [Uuid::now_v7()], "skipped": [seed]})).await;
    assert_eq!(status, StatusCode::OK, "{more}");
    assert!(ids(&more).is_empty(), "everything there is was handed out: {more}");

    // Ten radios a listener: the eleventh ends the least recently used one.
    for _ in 0..10 {
        assert_eq!(radio(&app, &listener, json!({"seed": {"song": other}})).await.0, StatusCode::CREATED);
    }
    assert_eq!(scalar::<i64>(&app.db, "SELECT count(*) FROM radio_sessions").await, 10);
    assert_eq!(next(&app, &listener, &first, json!({})).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn songs_filter_by_tempo_and_key_and_admins_correct_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("editor").await;
    let listener = app.listener("browser").await;
    let dir = tempfile::tempdir().unwrap();
    let slow = analysed(&app, &fixtures::clicks(dir.path(), "slow", Format::Flac, 90.0, 10.0)).await;
    let fast = analysed(&app, &fixtures::clicks(dir.path(), "fast", Format::Flac, 174.0, 10.0)).await;
    let listed = |query: &'static str| {
        let (app, listener) = (&app, &listener);
        async move {
            let page = get(listener, app.url(&format!("/api/music/songs?{query}"))).await;
            page["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("bpm_min=80&bpm_max=100").await, [slow.to_string()]);
    assert_eq!(listed("bpm_min=150").await, [fast.to_string()]);
    assert!(listed("bpm_max=50").await.is_empty());
    for query in ["key=H", "key=13A", "bpm_min=-1", "bpm_max=abc"] {
        let response = listener.get(app.url(&format!("/api/music/songs?{query}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }

    // The admin corrects the tempo and names a key; both show, filter, and stay through another analysis.
    let song = get(&admin, app.url(&format!("/api/music/songs/{slow}"))).await;
    let edit = json!({"version": song["version"], "bpm": 180, "key": "D minor"});
    let response = admin.patch(app.url(&format!("/api/music/songs/{slow}"))).json(&edit).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(
        (edited["bpm"].as_f64(), edited["key"].as_str(), edited["camelot"].as_str()),
        (Some(180.0), Some("D minor"), Some("7A"))
    );
    let mut both = listed("bpm_min=170").await;
    both.sort();
    let mut expected = vec![slow.to_string(), fast.to_string()];
    expected.sort();
    assert_eq!(both, expected);
    assert_eq!(listed("key=Dm").await, [slow.to_string()]);
    assert_eq!(listed("key=7A").await, [slow.to_string()]);
    app.db.execute_unprepared(&format!("UPDATE songs SET sonic_version = NULL WHERE id = '{slow}'")).await.unwrap();
    fermata_core::jobs::enqueue_analysis(&app.db, &[slow.into()]).await.unwrap();
    wait_analysed(&app, &[slow]).await;
    let song = get(&admin, app.url(&format!("/api/music/songs/{slow}"))).await;
    assert_eq!((song["bpm"].as_f64(), song["key"].as_str()), (Some(180.0), Some("D minor")));

    // null gives the tempo back to the analysis.
    let edit = json!({"version": song["version"], "bpm": null});
    assert_eq!(
        admin.patch(app.url(&format!("/api/music/songs/{slow}"))).json(&edit).send().await.unwrap().status(),
        200
    );
    eventually("the measured tempo back", ANALYSIS, || async {
        let song = get(&admin, app.url(&format!("/api/music/songs/{slow}"))).await;
        song["bpm"].as_f64().is_some_and(|bpm| (bpm - 90.0).abs() <= 1.0) && song["key"] == "D minor"
    })
    .await;

    let version = get(&admin, app.url(&format!("/api/music/songs/{slow}"))).await["version"].clone();
    for bad in [json!({"bpm": 5}), json!({"bpm": 401}), json!({"key": "Q"}), json!({"bpm": "fast"})] {
        let mut body = bad.clone();
        body["version"] = version.clone();
        let response = admin.patch(app.url(&format!("/api/music/songs/{slow}"))).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let edit = json!({"version": version, "bpm": 100});
    let response = listener.patch(app.url(&format!("/api/music/songs/{slow}"))).json(&edit).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_backfill_analyses_the_songs_from_before_with_progress_to_admins() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("curator").await;
    let listener = app.listener("bystander").await;
    let dir = tempfile::tempdir().unwrap();
    let mut songs = Vec::new();
    for (i, bpm) in [96.0, 110.0, 135.0, 150.0].into_iter().enumerate() {
        songs.push(analysed(&app, &fixtures::clicks(dir.path(), &format!("old-{i}"), Format::Flac, bpm, 8.0)).await);
    }
    // A file damaged on disk since it was added: the backfill records it and goes on.
    let damaged = analysed(&app, &fixtures::clicks(dir.path(), "damaged", Format::Flac, 100.0, 8.0)).await;
    let path: String = scalar(&app.db, &format!("SELECT path FROM songs WHERE id = '{damaged}'")).await;
    std::fs::write(app.data_dir.path().join("media").join(&path), vec![0x5a; 4096]).unwrap();
    // As they were before sonic analysis existed.
    app.db
        .execute_unprepared("UPDATE songs SET sonic = NULL, sonic_version = NULL, bpm = NULL, musical_key = NULL")
        .await
        .unwrap();

    // One backfill at a time, across replicas.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO jobs (id, kind, run_at) VALUES ('{}', 'backfill', now() + interval '1 hour')",
            Uuid::now_v7()
        ))
        .await
        .unwrap();
    let (status, error) = error_code(admin.post(app.url("/api/admin/analysis")).send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::CONFLICT, Some("backfill_running")));
    app.db.execute_unprepared("DELETE FROM jobs WHERE kind = 'backfill'").await.unwrap();
    assert_eq!(listener.post(app.url("/api/admin/analysis")).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    let mut events = admin.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let response = admin.post(app.url("/api/admin/analysis")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let (found, seen) = read_until(&mut events, r#""done":5,"failed":1"#, Duration::from_secs(60)).await;
    assert!(found, "progress events: {seen}");
    assert!(seen.contains("event: analysis.progress"));
    wait_analysed(&app, &songs).await;
    wait_analysed(&app, &[damaged]).await;
    let song = get(&listener, app.url(&format!("/api/music/songs/{damaged}"))).await;
    assert_eq!(song["bpm"], Value::Null);
    assert_eq!(song["duration"], 8.0, "the rest of what is known stays");
    for id in songs {
        let song = get(&listener, app.url(&format!("/api/music/songs/{id}"))).await;
        assert!(song["bpm"].is_number(), "{song}");
    }
}

#[tokio::test]
async fn subsonic_clients_get_similar_songs_and_the_sonic_similarity_extension() {
    use crate::subsonic::{credential, error, ok, rest};
    let app = TestApp::spawn().await;
    let web = app.listener("phone-owner").await;
    let key = credential(&app, &web, "Phone").await;
    let dir = tempfile::tempdir().unwrap();
    let songs = families(&app, dir.path()).await;
    let family_of = |id: &str| songs.iter().find(|(_, s)| s.to_string() == id).map(|(f, _)| *f).unwrap();
    let (_, seed) = songs[3];

    let extensions = ok(&rest(&app, &key, "getOpenSubsonicExtensions", "").await).clone();
    assert!(extensions["openSubsonicExtensions"].as_array().unwrap().iter().any(|e| e["name"] == "sonicSimilarity"));

    for method in ["getSimilarSongs", "getSimilarSongs2"] {
        let answer = rest(&app, &key, method, &format!("id={seed}&count=2")).await;
        let list = if method == "getSimilarSongs" { "similarSongs" } else { "similarSongs2" };
        let found = ok(&answer)[list]["song"].as_array().unwrap().clone();
        assert_eq!(found.len(), 2, "{answer}");
        assert!(found.iter().all(|s| family_of(s["id"].as_str().unwrap()) == 1), "{answer}");
        assert!(found.iter().all(|s| (s["bpm"].as_i64().unwrap() - 128).abs() <= 1), "{answer}");
    }
    // From an album or an artist: the album's own songs are left out.
    let album: Uuid = scalar(&app.db, &format!("SELECT album_id FROM songs WHERE id = '{seed}'")).await;
    let answer = rest(&app, &key, "getSimilarSongs", &format!("id=al-{album}&count=50")).await;
    let found = ok(&answer)["similarSongs"]["song"].as_array().unwrap().clone();
    assert_eq!(found.len(), 7, "nine songs less the album's two: {answer}");

    let answer = rest(&app, &key, "getSonicSimilarTracks", &format!("id={seed}&count=8")).await;
    let matches = ok(&answer)["sonicMatch"].as_array().unwrap().clone();
    assert_eq!(matches.len(), 8);
    let scores: Vec<f64> = matches.iter().map(|m| m["similarity"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
    assert_eq!(family_of(matches[0]["entry"]["id"].as_str().unwrap()), 1);

    let (_, end) = songs[8];
    let answer = rest(&app, &key, "findSonicPath", &format!("startSongId={seed}&endSongId={end}&count=5")).await;
    let path: Vec<String> = ok(&answer)["sonicMatch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entry"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(path.len(), 5, "{answer}");
    assert_eq!((path[0].as_str(), path[4].as_str()), (seed.to_string().as_str(), end.to_string().as_str()));
    assert_eq!(path.iter().collect::<HashSet<_>>().len(), 5, "no song twice: {path:?}");

    assert_eq!(error(&rest(&app, &key, "getSimilarSongs", &format!("id={}", Uuid::now_v7())).await), 70);
    assert_eq!(error(&rest(&app, &key, "getSonicSimilarTracks", "id=nonsense").await), 70);
    let silent = analysed(&app, &fixtures::signal(dir.path(), "quiet", Format::Flac, 3.0, "0")).await;
    assert_eq!(error(&rest(&app, &key, "getSonicSimilarTracks", &format!("id={silent}")).await), 70);
    let answer = rest(&app, &key, "getSimilarSongs", &format!("id={silent}")).await;
    assert!(ok(&answer)["similarSongs"]["song"].as_array().is_none_or(Vec::is_empty), "{answer}");
}
