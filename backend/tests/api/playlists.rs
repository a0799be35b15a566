//! Playlists: CRUD, validation, privacy, ordering under concurrency, M3U8 export and import.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    fixtures::{self, Format, Tags},
    support::TestApp,
};

async fn songs(app: &TestApp, n: usize) -> Vec<Uuid> {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let title = format!("Song {i}");
        let path = fixtures::make(
            dir.path(),
            &format!("s{i}"),
            Format::Wav,
            &Tags::song(&title, &format!("Artist {i}"), "Mixtape"),
            0.3,
            200 + 5 * i as u32,
            false,
        );
        ids.push(app.add_song(&path).await);
    }
    ids
}

async fn create(app: &TestApp, c: &reqwest::Client, body: Value) -> Value {
    let response = c.post(app.url("/api/playlists")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    response.json().await.unwrap()
}

/// The playlist at `path` (`/api/playlists/{id}`) with its first page of entries.
async fn read(c: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    c.get(app.url(path)).send().await.unwrap().json().await.unwrap()
}

/// A write's answer is the playlist's summary (never its entries); the playlist as it now is, read back.
async fn then_read(c: &reqwest::Client, app: &TestApp, base: &str, response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    let summary: Value = response.json().await.unwrap();
    assert!(summary.get("entries").is_none() && summary["song_count"].is_i64(), "a small answer: {summary}");
    read(c, app, base).await
}

fn order(detail: &Value) -> Vec<String> {
    detail["entries"].as_array().unwrap().iter().map(|e| e["song"]["id"].as_str().unwrap().to_owned()).collect()
}

fn positions_are_dense(detail: &Value) {
    let positions: Vec<i64> =
        detail["entries"].as_array().unwrap().iter().map(|e| e["position"].as_i64().unwrap()).collect();
    assert_eq!(positions, (0..positions.len() as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn create_read_update_delete_and_validation() {
    let app = TestApp::spawn().await;
    let c = app.listener("curator").await;
    let created = create(&app, &c, json!({"name": "  Sunday Morning  ", "description": "slow"})).await;
    assert_eq!(
        (created["name"].as_str(), created["public"].as_bool(), created["song_count"].as_i64()),
        (Some("Sunday Morning"), Some(false), Some(0))
    );
    let id = created["id"].as_str().unwrap();

    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "ok", "description": "d".repeat(2001)}), "description"),
    ] {
        let response = c.post(app.url("/api/playlists")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["fields"][field].is_array(), "{field}: {error}");
    }
    assert_eq!(create(&app, &c, json!({"name": "x".repeat(100)})).await["name"].as_str().unwrap().len(), 100);

    let patched: Value = c
        .patch(app.url(&format!("/api/playlists/{id}")))
        .json(&json!({"name": "Renamed", "public": true, "description": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((patched["name"].as_str(), patched["public"].as_bool()), (Some("Renamed"), Some(true)));
    assert!(patched["description"].is_null());
    let bad = c.patch(app.url(&format!("/api/playlists/{id}"))).json(&json!({"name": ""})).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let list: Value = c.get(app.url("/api/playlists")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let paged: Value = c.get(app.url("/api/playlists?limit=1")).send().await.unwrap().json().await.unwrap();
    let next = paged["next_cursor"].as_str().unwrap();
    let rest: Value =
        c.get(app.url(&format!("/api/playlists?limit=1&cursor={next}"))).send().await.unwrap().json().await.unwrap();
    assert_ne!(paged["items"][0]["id"], rest["items"][0]["id"]);

    assert_eq!(
        c.delete(app.url(&format!("/api/playlists/{id}"))).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.get(app.url(&format!("/api/playlists/{id}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn entries_add_remove_move_keep_order() {
    let app = TestApp::spawn().await;
    let ids = songs(&app, 5).await;
    let c = app.listener("orderly").await;
    let playlist = create(&app, &c, json!({"name": "Order"})).await;
    let base = format!("/api/playlists/{}", playlist["id"].as_str().unwrap());
    let add = |body: Value| c.post(app.url(&format!("{base}/entries"))).json(&body).send();
    let s = |i: usize| ids[i].to_string();

    let detail = then_read(&c, &app, &base, add(json!({"song_ids": [ids[0], ids[1], ids[2]]})).await.unwrap()).await;
    assert_eq!(order(&detail), [s(0), s(1), s(2)]);
    let detail =
        then_read(&c, &app, &base, add(json!({"song_ids": [ids[3], ids[0]], "position": 1})).await.unwrap()).await;
    assert_eq!(order(&detail), [s(0), s(3), s(0), s(1), s(2)], "inserted at 1, duplicates allowed");
    positions_are_dense(&detail);
    assert_eq!(detail["song_count"], 5);
    assert!(detail["duration"].as_f64().unwrap() > 1.0);

    for (body, field) in [
        (json!({"song_ids": []}), "song_ids"),
        (json!({"song_ids": [Uuid::nil()]}), "song_ids"),
        (json!({"song_ids": [ids[0]], "position": 6}), "position"),
    ] {
        let response = add(body.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["fields"][field].is_array(), "{error}");
    }
    assert_eq!(add(json!({"song_ids": ["not-a-uuid"]})).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);

    let entry = |d: &Value, i: usize| d["entries"][i]["id"].as_str().unwrap().to_owned();
    let response = c
        .post(app.url(&format!("{base}/entries/{}/move", entry(&detail, 4))))
        .json(&json!({"position": 0}))
        .send()
        .await
        .unwrap();
    let moved = then_read(&c, &app, &base, response).await;
    assert_eq!(order(&moved), [s(2), s(0), s(3), s(0), s(1)]);
    let response = c
        .post(app.url(&format!("{base}/entries/{}/move", entry(&moved, 0))))
        .json(&json!({"position": 3}))
        .send()
        .await
        .unwrap();
    let moved = then_read(&c, &app, &base, response).await;
    assert_eq!(order(&moved), [s(0), s(3), s(0), s(2), s(1)]);
    let out_of_range = c
        .post(app.url(&format!("{base}/entries/{}/move", entry(&moved, 0))))
        .json(&json!({"position": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(out_of_range.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let negative = c
        .post(app.url(&format!("{base}/entries/{}/move", entry(&moved, 0))))
        .json(&json!({"position": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(negative.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let removed = c.delete(app.url(&format!("{base}/entries/{}", entry(&moved, 1)))).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let detail: Value = c.get(app.url(&base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(order(&detail), [s(0), s(0), s(2), s(1)]);
    positions_are_dense(&detail);
    let gone = c.delete(app.url(&format!("{base}/entries/{}", Uuid::nil()))).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // Deleting a song removes its entries; what remains stays dense and movable.
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, &format!("DELETE FROM songs WHERE id = '{}'", ids[0]))
        .await
        .unwrap();
    let detail: Value = c.get(app.url(&base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(order(&detail), [s(2), s(1)]);
    positions_are_dense(&detail);
    let response = c
        .post(app.url(&format!("{base}/entries/{}/move", entry(&detail, 1))))
        .json(&json!({"position": 0}))
        .send()
        .await
        .unwrap();
    let moved = then_read(&c, &app, &base, response).await;
    assert_eq!(order(&moved), [s(1), s(2)]);
}

#[tokio::test]
async fn concurrent_adds_and_moves_lose_and_duplicate_nothing() {
    let app = TestApp::spawn().await;
    let ids = songs(&app, 4).await;
    let c = app.listener("racer").await;
    let playlist = create(&app, &c, json!({"name": "Race"})).await;
    let base = format!("/api/playlists/{}", playlist["id"].as_str().unwrap());
    let response = c.post(app.url(&format!("{base}/entries"))).json(&json!({"song_ids": ids})).send().await.unwrap();
    let seeded = then_read(&c, &app, &base, response).await;
    let entries: Vec<String> =
        seeded["entries"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();

    let mut requests = Vec::new();
    for round in 0..10 {
        let add = c
            .post(app.url(&format!("{base}/entries")))
            .json(&json!({"song_ids": [ids[round % 4]], "position": round % 3}))
            .send();
        let mv = c
            .post(app.url(&format!("{base}/entries/{}/move", entries[round % 4])))
            .json(&json!({"position": (round * 7) % 4}))
            .send();
        requests.push(add);
        requests.push(mv);
    }
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    let detail: Value = c.get(app.url(&base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(detail["entries"].as_array().unwrap().len(), 14, "4 seeded + 10 added, none lost");
    positions_are_dense(&detail);
    let unique: HashSet<_> = detail["entries"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 14, "no entry duplicated");
    for original in &entries {
        assert!(unique.contains(original.as_str()), "moved entries are still there");
    }
}

#[tokio::test]
async fn private_playlists_are_invisible_to_others() {
    let app = TestApp::spawn().await;
    let ids = songs(&app, 1).await;
    let owner = app.listener("owner").await;
    let other = app.listener("snoop").await;
    let private = create(&app, &owner, json!({"name": "Secret"})).await;
    let public = create(&app, &owner, json!({"name": "Shared", "public": true})).await;
    let p = private["id"].as_str().unwrap();
    let response =
        owner.post(app.url(&format!("/api/playlists/{p}/entries"))).json(&json!({"song_ids": [ids[0]]})).send();
    let entry =
        then_read(&owner, &app, &format!("/api/playlists/{p}"), response.await.unwrap()).await["entries"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();

    let attempts = [
        other.get(app.url(&format!("/api/playlists/{p}"))).send().await.unwrap(),
        other.patch(app.url(&format!("/api/playlists/{p}"))).json(&json!({"name": "mine"})).send().await.unwrap(),
        other.delete(app.url(&format!("/api/playlists/{p}"))).send().await.unwrap(),
        other
            .post(app.url(&format!("/api/playlists/{p}/entries")))
            .json(&json!({"song_ids": [ids[0]]}))
            .send()
            .await
            .unwrap(),
        other.delete(app.url(&format!("/api/playlists/{p}/entries/{entry}"))).send().await.unwrap(),
        other
            .post(app.url(&format!("/api/playlists/{p}/entries/{entry}/move")))
            .json(&json!({"position": 0}))
            .send()
            .await
            .unwrap(),
        other.get(app.url(&format!("/api/playlists/{p}/export.m3u8"))).send().await.unwrap(),
    ];
    for response in attempts {
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{}", response.url());
    }
    let listed: Value = other.get(app.url("/api/playlists")).send().await.unwrap().json().await.unwrap();
    let names: Vec<_> = listed["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Shared"]);

    // A public playlist is readable, not writable, by others.
    let q = public["id"].as_str().unwrap();
    assert_eq!(other.get(app.url(&format!("/api/playlists/{q}"))).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        other.patch(app.url(&format!("/api/playlists/{q}"))).json(&json!({"name": "x"})).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        other.delete(app.url(&format!("/api/playlists/{q}"))).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // An admin may delete a public one, not see a private one.
    let admin = app.admin_client("moderator").await;
    assert_eq!(
        admin.get(app.url(&format!("/api/playlists/{p}"))).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.delete(app.url(&format!("/api/playlists/{q}"))).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn m3u8_export_round_trips_through_import() {
    let app = TestApp::spawn().await;
    let ids = songs(&app, 3).await;
    let c = app.listener("exporter").await;
    let playlist = create(&app, &c, json!({"name": "Trip"})).await;
    let base = format!("/api/playlists/{}", playlist["id"].as_str().unwrap());
    c.post(app.url(&format!("{base}/entries")))
        .json(&json!({"song_ids": [ids[2], ids[0], ids[2]]}))
        .send()
        .await
        .unwrap();

    let response = c.get(app.url(&format!("{base}/export.m3u8"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("audio/x-mpegurl"));
    let text = response.text().await.unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    assert!(lines.contains(&"#EXTINF:0,Artist 2 - Song 2"), "{text}");
    let url = lines.iter().find(|l| l.starts_with("http")).unwrap();
    assert_eq!(*url, format!("http://localhost:8080/api/music/songs/{}/stream", ids[2]));
    // Every URL is fetchable by a signed-in client.
    let path = url.trim_start_matches("http://localhost:8080");
    assert_eq!(c.get(app.url(path)).send().await.unwrap().status(), StatusCode::OK);

    let imported = c
        .post(app.url("/api/playlists/import"))
        .header("content-type", "audio/x-mpegurl")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::CREATED);
    let imported: Value = imported.json().await.unwrap();
    assert_eq!(imported["playlist"]["name"], "Trip");
    let read = read(&c, &app, &format!("/api/playlists/{}", imported["playlist"]["id"].as_str().unwrap())).await;
    assert_eq!(order(&read), [ids[2].to_string(), ids[0].to_string(), ids[2].to_string()]);
    assert!(imported["unmatched"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn importing_a_foreign_m3u_lists_what_matched_nothing() {
    let app = TestApp::spawn().await;
    let ids = songs(&app, 2).await;
    let c = app.listener("importer").await;
    let foreign = "#EXTM3U\n#EXTINF:200,Artist 1 - Song 1\n/home/me/Music/whatever.mp3\n#EXTINF:100,Nobody - Nothing\nD:\\Music\\nothing.flac\nC:\\Music\\artist 0 - SONG 0.mp3\nhttp://elsewhere.example/stream/42\n";
    let response = c.post(app.url("/api/playlists/import?name=From%20Winamp")).body(foreign).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let imported: Value = response.json().await.unwrap();
    assert_eq!(imported["playlist"]["name"], "From Winamp");
    let read = read(&c, &app, &format!("/api/playlists/{}", imported["playlist"]["id"].as_str().unwrap())).await;
    assert_eq!(order(&read), [ids[1].to_string(), ids[0].to_string()], "by EXTINF, then by file name");
    assert_eq!(imported["unmatched"], json!(["D:\\Music\\nothing.flac", "http://elsewhere.example/stream/42"]));

    // A line longer than any path (it once cost memory in the square of its length: 96 KiB took 2.4 GB).
    let long_line = format!("#EXTM3U\n/music/a.mp3\n{}\n", "/a".repeat(48 * 1024)).into_bytes();
    for body in [&b""[..], b"#EXTM3U\n# nothing here\n", b"\xff\xfe\x00garbage", &long_line[..]] {
        let response = c.post(app.url("/api/playlists/import")).body(body.to_vec()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Over the 1 MiB body limit: the API's JSON error, not the framework's plain text.
    let huge = "#EXTM3U\n".to_owned() + &"/music/a long path to a song.mp3\n".repeat(40_000);
    let response = c.post(app.url("/api/playlists/import")).body(huge).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert_eq!(body["error"]["message"], "the request body may be at most 1024 KiB");
    let listed: Value = c.get(app.url("/api/playlists")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "only the first import made a playlist: {listed}");
}

/// A listener's largest import on a 100,000-song library: one set-based match, not queries per line. It took
/// 100 s for 10,000 lines on 20,000 songs when each line cost two queries and an index-less LIKE.
#[tokio::test]
async fn a_ten_thousand_line_import_on_a_large_library_takes_seconds_and_larger_ones_are_refused() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let seed = songs(&app, 1).await;
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO songs (id, title, artist_id, album_id, duration_ms, codec, size_bytes, content_hash, storage, path, search_text) \
             SELECT gen_random_uuid(), 'Track ' || i, s.artist_id, s.album_id, 1000, 'mp3', 1, md5(i::text) || md5((i + 1)::text), \
                    'library', 'Artist ' || (i % 500) || '/Album ' || (i % 3000) || '/Track ' || i || '.mp3', 'Track ' || i \
             FROM generate_series(1, 100000) i, (SELECT artist_id, album_id FROM songs WHERE id = '{}') s",
            seed[0]
        ))
        .await
        .unwrap();
    let c = app.listener("mixtaper").await;
    let mut body = String::from("#EXTM3U\n");
    for n in 0..10_000u32 {
        let i = 1 + (n * 7919) % 100_000;
        if n % 100 == 0 {
            body.push_str(&format!("#EXTINF:1,Nobody - Nothing {n}\n/nowhere/{n}.mp3\n"));
        } else {
            body.push_str(&format!("/home/me/Music/Artist {}/Album {}/Track {i}.mp3\n", i % 500, i % 3000));
        }
    }
    let import = |body: String| {
        c.post(app.url("/api/playlists/import?name=Big")).header("content-type", "audio/x-mpegurl").body(body).send()
    };
    let started = std::time::Instant::now();
    let response = import(body.clone()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::CREATED);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["playlist"]["song_count"], 9_900);
    assert_eq!(result["unmatched"].as_array().unwrap().len(), 100);
    eprintln!("10,000-line import on 100,000 songs: {took:?}");
    // The playlist reads in pages: the first 500 with it, then the rest by cursor, in order, each once.
    let id = result["playlist"]["id"].as_str().unwrap().to_owned();
    let detail: Value = c.get(app.url(&format!("/api/playlists/{id}"))).send().await.unwrap().json().await.unwrap();
    let mut positions: Vec<i64> =
        detail["entries"].as_array().unwrap().iter().map(|e| e["position"].as_i64().unwrap()).collect();
    assert_eq!(positions.len(), 500);
    let mut cursor = detail["entries_next_cursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let page: Value = c
            .get(app.url(&format!("/api/playlists/{id}/entries?limit=500&cursor={next}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        positions.extend(page["items"].as_array().unwrap().iter().map(|e| e["position"].as_i64().unwrap()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(positions, (0..9_900).collect::<Vec<i64>>());
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");

    // One line past the cap is refused before any work, and adding past the cap too.
    body.push_str("/one/more.mp3\n");
    assert_eq!(import(body).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    let id = result["playlist"]["id"].as_str().unwrap();
    let more = json!({"song_ids": vec![seed[0]; 101]});
    let response = c.post(app.url(&format!("/api/playlists/{id}/entries"))).json(&more).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["fields"]["song_ids"][0].as_str().unwrap().contains("at most 10000"), "{error}");
    let fits = json!({"song_ids": vec![seed[0]; 100]});
    let response = c.post(app.url(&format!("/api/playlists/{id}/entries"))).json(&fits).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_account_owns_a_bounded_number_of_playlists() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let c = app.listener("hoarder").await;
    let first = create(&app, &c, json!({"name": "First"})).await;
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO playlists (id, owner_id, name, public, created_at, updated_at) \
             SELECT gen_random_uuid(), '{}', 'Filler ' || i, false, now(), now() FROM generate_series(1, 499) i",
            first["owner"]["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    let response = c.post(app.url("/api/playlists")).json(&json!({"name": "One too many"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("500 playlists"), "{error}");
    let import = c.post(app.url("/api/playlists/import")).header("content-type", "audio/x-mpegurl").body("/a.mp3\n");
    assert_eq!(import.send().await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Another listener is unaffected.
    let other = app.listener("modest").await;
    create(&app, &other, json!({"name": "Mine"})).await;
}
