//! The OpenSubsonic API (`/rest`): credentials, the protocol's rules, each method's behaviour, and real client
//! libraries (py-opensonic, py-sonic) driving a whole session with every answer checked against the spec.

use std::{path::Path, time::Duration};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    fixtures::{self, Format, Tags},
    support::{TestApp, client, eventually, scalar},
};

/// A listener with a Subsonic credential: (username, secret, signed-in web client).
async fn listener_with_credential(app: &TestApp, username: &str) -> (String, String, reqwest::Client) {
    let web = app.listener(username).await;
    let secret = credential(app, &web, "Phone").await;
    (username.to_owned(), secret, web)
}

/// Creates a credential through the web player's API; its secret.
pub async fn credential(app: &TestApp, web: &reqwest::Client, name: &str) -> String {
    credential_at(web, &app.url("/api/me/subsonic-credentials"), name).await
}

/// Creates a credential at `url` (an app or the nginx in front of several); its secret.
pub async fn credential_at(web: &reqwest::Client, url: &str, name: &str) -> String {
    let response = web.post(url).json(&json!({"name": name})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["secret"].as_str().unwrap().to_owned()
}

/// `/rest/{method}?f=json&apiKey=…&{query}` as JSON's `subsonic-response`.
pub async fn rest(app: &TestApp, key: &str, method: &str, query: &str) -> Value {
    let url = app.url(&format!("/rest/{method}?f=json&c=test&v=1.16.1&apiKey={key}&{query}"));
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{method}?{query}");
    response.json::<Value>().await.unwrap()["subsonic-response"].clone()
}

pub fn ok(answer: &Value) -> &Value {
    assert_eq!(answer["status"], "ok", "{answer}");
    answer
}

pub fn error(answer: &Value) -> i64 {
    assert_eq!(answer["status"], "failed", "{answer}");
    answer["error"]["code"].as_i64().unwrap()
}

fn md5_hex(text: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(text.as_bytes()))
}

async fn real_library(app: &TestApp, dir: &Path) -> Vec<Uuid> {
    let songs = [
        ("Real Opening", "Real Band", "Real Album", "Rock", "2001", "1", Format::Mp3),
        ("Real Middle", "Real Band", "Real Album", "Rock", "2001", "2", Format::Flac),
        ("Real Closing", "Real Band", "Real Album", "Rock", "2001", "3", Format::Vorbis),
        ("Other Tune", "The Others", "Other Album", "Jazz", "1999", "1", Format::Mp3),
    ];
    let mut ids = Vec::new();
    for (i, (title, artist, album, genre, year, track, format)) in songs.into_iter().enumerate() {
        let tags =
            Tags { genre: Some(genre), year: Some(year), track: Some(track), ..Tags::song(title, artist, album) };
        let path = fixtures::make(dir, &format!("s{i}"), format, &tags, 1.5, 300 + 20 * i as u32, i == 0);
        ids.push(app.add_song(&path).await);
    }
    ids
}

#[tokio::test]
async fn a_credential_is_shown_once_stored_encrypted_and_works_in_every_scheme_but_the_password_never_does() {
    let app = TestApp::spawn().await;
    let (user, secret, web) = listener_with_credential(&app, "phoneuser").await;
    assert!(secret.len() >= 22, "at least 128 bits: {secret}");

    // Listed without the secret; stored without it too.
    let listed: Value = web.get(app.url("/api/me/subsonic-credentials")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["enabled"], true);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret), "the secret is shown once: {listed}");
    let stored: String = scalar(
        &app.db,
        "SELECT encode(lookup, 'hex') || encode(nonce, 'hex') || encode(ciphertext, 'escape') || name FROM subsonic_credentials",
    )
    .await;
    assert!(!stored.contains(&secret), "not stored in plain text");
    assert!(!stored.contains(&hex::encode(secret.as_bytes())), "not stored hex-encoded either");

    let ping = |query: String| {
        let url = app.url(&format!("/rest/ping.view?f=json&c=test&v=1.16.1&{query}"));
        async move { client().get(url).send().await.unwrap().json::<Value>().await.unwrap()["subsonic-response"].clone() }
    };
    // apiKey, token, p= and p=enc:.
    ok(&ping(format!("apiKey={secret}")).await);
    let salt = "c19b2d";
    ok(&ping(format!("u={user}&t={}&s={salt}", md5_hex(&format!("{secret}{salt}")))).await);
    ok(&ping(format!("u={user}&t={}&s={salt}", md5_hex(&format!("{secret}{salt}")).to_uppercase())).await);
    ok(&ping(format!("u={user}&p={secret}")).await);
    ok(&ping(format!("u={user}&p=enc:{}", hex::encode_upper(secret.as_bytes()))).await);
    ok(&ping(format!("u=PHONEUSER&p={secret}")).await);

    // The account password is never a Subsonic password, in any scheme.
    assert_eq!(error(&ping(format!("u={user}&p=listener-password")).await), 40);
    let token = md5_hex(&format!("listener-password{salt}"));
    assert_eq!(error(&ping(format!("u={user}&t={token}&s={salt}")).await), 40);
    // Wrong, unknown, conflicting, missing.
    assert_eq!(error(&ping(format!("u={user}&t={}&s=other", md5_hex(&format!("{secret}{salt}")))).await), 40);
    assert_eq!(error(&ping(format!("u=nobody&p={secret}")).await), 40);
    assert_eq!(error(&ping("apiKey=not-a-key".into()).await), 44);
    assert_eq!(error(&ping(format!("apiKey={secret}&u={user}")).await), 43);
    assert_eq!(error(&ping(format!("u={user}&p={secret}&t=x&s=y")).await), 43);
    assert_eq!(error(&ping(String::new()).await), 10);
    assert_eq!(error(&ping(format!("u={user}&t=abc")).await), 10);

    // Another user's credential is not this user's.
    let (_, other_secret, _) = listener_with_credential(&app, "otheruser").await;
    assert_eq!(error(&ping(format!("u={user}&p={other_secret}")).await), 40);

    // The server's key binds the ciphertext to its user: moved to another account's row, it no longer opens.
    let other_id: Uuid = scalar(&app.db, "SELECT id FROM users WHERE username = 'otheruser'").await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!(
            "UPDATE subsonic_credentials SET user_id = '{other_id}' WHERE user_id = (SELECT id FROM users WHERE username = 'phoneuser')"
        ),
    )
    .await
    .unwrap();
    eventually("a moved ciphertext does not open for its new owner", Duration::from_secs(60), || {
        let ping = ping(format!("u=otheruser&p={secret}"));
        async move { ping.await["status"] == "failed" }
    })
    .await;
}

#[tokio::test]
async fn the_protocol_answers_in_xml_by_default_by_get_and_form_post_with_and_without_view() {
    let app = TestApp::spawn().await;
    let (_, secret, _) = listener_with_credential(&app, "proto").await;
    // XML by default, with the namespace and every required attribute.
    let response = client().get(app.url(&format!("/rest/ping?apiKey={secret}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE].to_str().unwrap().contains("xml"));
    let xml = response.text().await.unwrap();
    for part in [
        "<subsonic-response xmlns=\"http://subsonic.org/restapi\"",
        "status=\"ok\"",
        "version=\"1.16.1\"",
        "type=\"fermata\"",
        "serverVersion=",
        "openSubsonic=\"true\"",
    ] {
        assert!(xml.contains(part), "{part} in {xml}");
    }
    // Form POST (the formPost extension), with .view.
    let response = client()
        .post(app.url("/rest/getLicense.view"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("apiKey={secret}&f=json&c=test"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["subsonic-response"]["license"]["valid"], true, "{body}");
    // A body past the 1 MiB limit is refused in the protocol's shape too.
    let response = client()
        .post(app.url("/rest/savePlayQueue.view?f=json"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("apiKey={secret}&{}", "id=x&".repeat(300_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["subsonic-response"]["status"], "failed", "{body}");
    // Errors are HTTP 200 in the requested format; the extensions need no credentials.
    let body: Value = client().get(app.url("/rest/getAlbum?f=json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["subsonic-response"]["error"]["code"], 10);
    let extensions = client().get(app.url("/rest/getOpenSubsonicExtensions?f=json")).send().await.unwrap();
    let extensions: Value = extensions.json().await.unwrap();
    let names: Vec<&str> = extensions["subsonic-response"]["openSubsonicExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"formPost") && names.contains(&"apiKeyAuthentication"), "{names:?}");
    // Harmless information calls answer empty; the rest of what is not implemented is a clean 501, unknown
    // methods 404, both in the protocol's shape.
    ok(&rest(&app, &secret, "getPodcasts", "").await);
    ok(&rest(&app, &secret, "getInternetRadioStations", "").await);
    ok(&rest(&app, &secret, "getArtistInfo2", "id=ar-x").await);
    let response = client().get(app.url(&format!("/rest/jukeboxControl?f=json&apiKey={secret}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(response.json::<Value>().await.unwrap()["subsonic-response"]["error"]["code"], 0);
    let response = client().get(app.url(&format!("/rest/noSuchThing.view?apiKey={secret}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("status=\"failed\""));
    // Parameters: case-insensitive booleans; bad numbers are refused, not guessed.
    assert_eq!(error(&rest(&app, &secret, "getAlbumList2", "type=newest&size=100000").await), 0);
    assert_eq!(error(&rest(&app, &secret, "getAlbumList2", "type=sideways").await), 0);
    assert_eq!(error(&rest(&app, &secret, "getAlbumList2", "type=byYear&fromYear=1990").await), 10);
    assert_eq!(error(&rest(&app, &secret, "scrobble", "id=x&submission=TRUE").await), 70);
    assert_eq!(error(&rest(&app, &secret, "scrobble", "id=x&submission=maybe").await), 0);
}

#[tokio::test]
async fn revoking_a_credential_or_disabling_its_user_takes_effect_on_every_replica_within_a_second() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(&first.database_url, &[]).await;
    let (_, secret, web) = listener_with_credential(&first, "revoker").await;
    let (_, other, _) = listener_with_credential(&first, "disabled").await;
    // Both replicas have it cached.
    ok(&rest(&second, &secret, "ping", "").await);
    ok(&rest(&second, &other, "ping", "").await);

    let listed: Value = web.get(first.url("/api/me/subsonic-credentials")).send().await.unwrap().json().await.unwrap();
    let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    let response = web.delete(first.url(&format!("/api/me/subsonic-credentials/{id}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let revoked = std::time::Instant::now();
    assert_eq!(error(&rest(&first, &secret, "ping", "").await), 44, "at once where it was revoked");
    eventually("the other replica refuses the revoked credential", Duration::from_secs(60), || async {
        rest(&second, &secret, "ping", "").await["status"] == "failed"
    })
    .await;
    eprintln!("revocation seen by the other replica after {:?}", revoked.elapsed());
    // Someone else's credential cannot be revoked by this user.
    let response =
        web.delete(first.url(&format!("/api/me/subsonic-credentials/{}", Uuid::now_v7()))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let admin = first.admin_client("boss").await;
    let user_id: Uuid = scalar(&first.db, "SELECT id FROM users WHERE username = 'disabled'").await;
    let response = admin
        .patch(first.url(&format!("/api/admin/users/{user_id}")))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    eventually("a disabled user's credential stops working everywhere", Duration::from_secs(60), || async {
        rest(&second, &other, "ping", "").await["status"] == "failed"
            && rest(&first, &other, "ping", "").await["status"] == "failed"
    })
    .await;
}

#[tokio::test]
async fn failed_subsonic_sign_ins_are_limited_like_sign_in_and_then_refused_with_429() {
    let app = TestApp::spawn_with(&["--rate-limit-auth-burst=5", "--rate-limit-auth-period-secs=60"]).await;
    // Registering and signing in to the web player spend two of the five.
    let (user, secret, _) = listener_with_credential(&app, "limited").await;
    let attempt = |password: String| {
        let url = app.url(&format!("/rest/ping?f=json&u={user}&p={password}"));
        async move { client().get(url).send().await.unwrap() }
    };
    // Successes spend nothing.
    for _ in 0..10 {
        assert_eq!(attempt(secret.clone()).await.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        let response = attempt("wrong".into()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap()["subsonic-response"]["error"]["code"], 40);
    }
    let refused = attempt("wrong".into()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(refused.json::<Value>().await.unwrap()["subsonic-response"]["status"], "failed");
    // Once over the limit, a right guess is refused too.
    assert_eq!(attempt(secret.clone()).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// One budget per account whether `u` names it by username or by email, spent from many addresses; once spent,
/// even the right secret is refused under either name, from a new address (#41).
#[tokio::test]
async fn one_subsonic_budget_per_account_under_either_name() {
    // Per account: four times the burst (8).
    let app = TestApp::spawn_with(&["--rate-limit-auth-burst=2", "--rate-limit-auth-period-secs=600"]).await;
    let (user, secret, _) = listener_with_credential(&app, "twonames").await;
    let email = format!("{user}@example.com");
    let attempt = |name: String, password: String, from: String| {
        let name = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC).to_string();
        let url = app.url(&format!("/rest/ping?f=json&u={name}&p={password}"));
        async move { client().get(url).header("x-forwarded-for", from).send().await.unwrap() }
    };
    // Registering and the web sign-in spent one of the account's budget: 7 guesses under alternating names.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let name = if i % 2 == 0 { user.clone() } else { email.clone() };
        statuses.push(attempt(name, "wrong".into(), format!("192.0.2.{i}")).await.status());
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    for name in [user.clone(), email.clone()] {
        let right = attempt(name, secret.clone(), "198.51.100.77".into()).await;
        assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS, "the right secret, once the budget is spent");
    }
}

/// Apps work at once (#41): with no SUBSONIC_CREDENTIAL_KEY a key is made on the media volume on first start
/// (owner-only, not in the database) and every replica on that volume uses it; `fermata subsonic-key rotate`
/// re-encrypts the stored app passwords under a new key, which the same app password then opens.
#[tokio::test]
async fn without_a_configured_key_one_is_made_on_the_media_volume_shared_and_rotatable() {
    use std::os::unix::fs::PermissionsExt;
    let database = crate::support::fresh_database().await;
    let media = tempfile::tempdir().unwrap();
    let keyless = || {
        let mut config = crate::support::config(&database, media.path(), &[]);
        config.subsonic_credential_key = None;
        config.media_dir = Some(media.path().to_owned());
        config
    };
    let a = TestApp::spawn_config(keyless()).await;
    let web = a.listener("nokey").await;
    let listed: Value = web.get(a.url("/api/me/subsonic-credentials")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["enabled"], true, "{listed}");
    let secret = credential(&a, &web, "Phone").await;
    let ping = |app: &TestApp| {
        let url = app.url(&format!("/rest/ping?f=json&apiKey={secret}"));
        async move { client().get(url).send().await.unwrap().json::<Value>().await.unwrap()["subsonic-response"].clone() }
    };
    ok(&ping(&a).await);
    let file = media.path().join("keys/subsonic-credential.key");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let stored: String = scalar(&a.db, "SELECT encode(ciphertext, 'base64') FROM subsonic_credentials").await;
    assert!(!stored.contains(std::fs::read_to_string(&file).unwrap().trim()), "the key is not in the database");
    // A second replica on the same volume opens the same credential.
    let b = TestApp::spawn_config(keyless()).await;
    ok(&ping(&b).await);

    let before = std::fs::read_to_string(&file).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .args(["subsonic-key", "rotate"])
        .env("DATABASE_URL", &database)
        .env("MEDIA_DIR", media.path())
        .env_remove("SUBSONIC_CREDENTIAL_KEY")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_ne!(std::fs::read_to_string(&file).unwrap(), before, "a new key in the file");
    let c = TestApp::spawn_config(keyless()).await;
    ok(&ping(&c).await);
}

#[tokio::test]
async fn credentials_are_capped_per_user_and_names_are_checked() {
    let app = TestApp::spawn().await;
    let web = app.listener("hoarder").await;
    for bad in
        [json!({"name": ""}), json!({"name": "   "}), json!({"name": "a\u{0007}b"}), json!({"name": "x".repeat(101)})]
    {
        let response = app.post_json(&web, "/api/me/subsonic-credentials", &bad).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    for i in 0..fermata_core::credentials::MAX_PER_USER {
        credential(&app, &web, &format!("Device {i}")).await;
    }
    let response = app.post_json(&web, "/api/me/subsonic-credentials", &json!({"name": "one more"})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_listener_browses_streams_stars_rates_scrobbles_and_keeps_playlists_and_a_queue() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = real_library(&app, dir.path()).await;
    let (_, key, _) = listener_with_credential(&app, "listener1").await;
    let (_, other_key, other_web) = listener_with_credential(&app, "listener2").await;

    // Browse: artists → artist → album → song, and the folder view of the same.
    let artists = ok(&rest(&app, &key, "getArtists", "").await).clone();
    let index = artists["artists"]["index"].as_array().unwrap();
    let letters: Vec<&str> = index.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(letters, ["O", "R"], "'The Others' files under O: {artists}");
    let band = index[1]["artist"][0].clone();
    assert_eq!(band["name"], "Real Band");
    let artist = rest(&app, &key, "getArtist", &format!("id={}", band["id"].as_str().unwrap())).await;
    let album_id = artist["artist"]["album"][0]["id"].as_str().unwrap().to_owned();
    assert!(album_id.starts_with("al-"));
    let album = rest(&app, &key, "getAlbum", &format!("id={album_id}")).await;
    let titles: Vec<&str> =
        album["album"]["song"].as_array().unwrap().iter().map(|s| s["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Real Opening", "Real Middle", "Real Closing"]);
    assert_eq!(album["album"]["songCount"], 3);
    let first = &album["album"]["song"][0];
    assert_eq!(first["id"], ids[0].to_string());
    assert_eq!(first["suffix"], "mp3");
    assert_eq!(first["contentType"], "audio/mpeg");
    assert_eq!(first["coverArt"], album_id);
    let directory = rest(&app, &key, "getMusicDirectory", &format!("id={album_id}")).await;
    assert_eq!(directory["directory"]["child"].as_array().unwrap().len(), 3);
    assert_eq!(error(&rest(&app, &key, "getAlbum", &format!("id=al-{}", Uuid::now_v7())).await), 70);
    assert_eq!(error(&rest(&app, &key, "getSong", "id=garbage").await), 70);

    // Cover art (a thumbnail at the next cached size), a ranged stream, a download.
    let cover =
        client().get(app.url(&format!("/rest/getCoverArt?apiKey={key}&id={album_id}&size=100"))).send().await.unwrap();
    assert_eq!(cover.status(), StatusCode::OK);
    assert_eq!(cover.headers()[header::CONTENT_TYPE], "image/jpeg");
    let missing = client()
        .get(app.url(&format!("/rest/getCoverArt?apiKey={key}&f=json&id=ar-{}", Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.json::<Value>().await.unwrap()["subsonic-response"]["error"]["code"],
        70,
        "errors in the asked format"
    );
    let stream = client()
        .get(app.url(&format!("/rest/stream?apiKey={key}&id={}&maxBitRate=128&format=raw", ids[0])))
        .header(header::RANGE, "bytes=10-109")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(stream.bytes().await.unwrap().len(), 100);
    let download = client().get(app.url(&format!("/rest/download?apiKey={key}&id={}", ids[1]))).send().await.unwrap();
    assert!(download.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().contains("Real Middle.flac"));
    assert_eq!(first["playCount"], 0);
    let song = rest(&app, &key, "getSong", &format!("id={}", ids[0])).await;
    assert_eq!(song["song"]["playCount"], 0, "streaming never counts a play");

    // Stars and ratings are the listener's own.
    ok(&rest(
        &app,
        &key,
        "star",
        &format!("id={}&albumId={album_id}&artistId={}", ids[0], band["id"].as_str().unwrap()),
    )
    .await);
    let starred = rest(&app, &key, "getStarred2", "").await;
    assert_eq!(starred["starred2"]["song"][0]["id"], ids[0].to_string());
    assert_eq!(starred["starred2"]["album"][0]["id"], album_id);
    assert_eq!(starred["starred2"]["artist"][0]["name"], "Real Band");
    assert!(rest(&app, &key, "getAlbum", &format!("id={album_id}")).await["album"]["starred"].is_string());
    let theirs = rest(&app, &other_key, "getStarred2", "").await;
    assert_eq!(theirs["starred2"]["song"], json!([]), "stars are per listener");
    ok(&rest(&app, &key, "setRating", &format!("id={}&rating=4", ids[1])).await);
    assert_eq!(rest(&app, &key, "getSong", &format!("id={}", ids[1])).await["song"]["userRating"], 4);
    assert_eq!(error(&rest(&app, &key, "setRating", &format!("id={}&rating=6", ids[1])).await), 0);
    let highest = rest(&app, &key, "getAlbumList2", "type=highest").await;
    assert_eq!(highest["albumList2"]["album"][0]["id"], album_id);
    ok(&rest(&app, &key, "unstar", &format!("id={}&albumId={album_id}", ids[0])).await);
    assert_eq!(rest(&app, &key, "getStarred2", "").await["starred2"]["song"], json!([]));

    // Scrobbles: "now playing" counts nothing; a submission counts once, by the web player's rules.
    ok(&rest(&app, &key, "scrobble", &format!("id={}&submission=false", ids[2])).await);
    // Another listener does not see it (NOW_PLAYING_SHARED is off by default); the listener does.
    let others = rest(&app, &other_key, "getNowPlaying", "").await;
    assert_eq!(others["nowPlaying"]["entry"], json!([]), "{others}");
    let playing = rest(&app, &key, "getNowPlaying", "").await;
    assert_eq!(playing["nowPlaying"]["entry"][0]["id"], ids[2].to_string());
    assert_eq!(playing["nowPlaying"]["entry"][0]["username"], "listener1");
    assert_eq!(playing["nowPlaying"]["entry"][0]["playerName"], "test");
    ok(&rest(&app, &key, "scrobble", &format!("id={}&id={}", ids[2], ids[2])).await);
    assert_eq!(rest(&app, &key, "getSong", &format!("id={}", ids[2])).await["song"]["playCount"], 1);
    let earlier = chrono::Utc::now().timestamp_millis() - 3_600_000;
    ok(&rest(&app, &key, "scrobble", &format!("id={}&time={earlier}&id={}&time={}", ids[2], ids[2], earlier + 500))
        .await);
    assert_eq!(
        rest(&app, &key, "getSong", &format!("id={}", ids[2])).await["song"]["playCount"],
        2,
        "an offline play counts once"
    );
    let recent = rest(&app, &key, "getAlbumList2", "type=recent").await;
    assert_eq!(recent["albumList2"]["album"][0]["id"], album_id);
    let frequent = rest(&app, &key, "getAlbumList2", "type=frequent").await;
    assert_eq!(frequent["albumList2"]["album"][0]["id"], album_id);

    // Playlists: create with songs, edit by index, replace; others' private ones stay invisible.
    let created =
        rest(&app, &key, "createPlaylist", &format!("name=Mine&songId={}&songId={}&songId={}", ids[0], ids[1], ids[2]))
            .await;
    let playlist_id = created["playlist"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["playlist"]["songCount"], 3);
    ok(&rest(
        &app,
        &key,
        "updatePlaylist",
        &format!(
            "playlistId={playlist_id}&songIndexToRemove=0&songIndexToRemove=2&songIdToAdd={}&name=Renamed&public=False",
            ids[3]
        ),
    )
    .await);
    let playlist = rest(&app, &key, "getPlaylist", &format!("id={playlist_id}")).await;
    let entries: Vec<&str> =
        playlist["playlist"]["entry"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(entries, [ids[1].to_string(), ids[3].to_string()]);
    assert_eq!(playlist["playlist"]["name"], "Renamed");
    assert_eq!(
        error(&rest(&app, &key, "updatePlaylist", &format!("playlistId={playlist_id}&songIndexToRemove=9")).await),
        0
    );
    assert_eq!(error(&rest(&app, &key, "createPlaylist", "name=%20%20").await), 0);
    ok(&rest(&app, &key, "createPlaylist", &format!("playlistId={playlist_id}&songId={}", ids[0])).await);
    assert_eq!(rest(&app, &key, "getPlaylist", &format!("id={playlist_id}")).await["playlist"]["songCount"], 1);
    assert_eq!(error(&rest(&app, &other_key, "getPlaylist", &format!("id={playlist_id}")).await), 70, "private");
    assert_eq!(rest(&app, &other_key, "getPlaylists", "").await["playlists"]["playlist"], json!([]));
    assert_eq!(error(&rest(&app, &other_key, "deletePlaylist", &format!("id={playlist_id}")).await), 70);
    let theirs = app.post_json(&other_web, "/api/playlists", &json!({"name": "Shared", "public": true})).await;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    let shared = theirs.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let listed = rest(&app, &key, "getPlaylists", "").await;
    assert_eq!(listed["playlists"]["playlist"].as_array().unwrap().len(), 2, "own and others' public: {listed}");
    assert_eq!(error(&rest(&app, &key, "updatePlaylist", &format!("playlistId={shared}&name=Mine%20now")).await), 50);
    ok(&rest(&app, &key, "deletePlaylist", &format!("id={playlist_id}")).await);

    // The play queue: saved on one device, resumed on another.
    ok(&rest(&app, &key, "savePlayQueue", &format!("id={}&id={}&current={}&position=4321", ids[0], ids[1], ids[1]))
        .await);
    let queue = rest(&app, &key, "getPlayQueue", "").await;
    assert_eq!(queue["playQueue"]["current"], ids[1].to_string());
    assert_eq!(queue["playQueue"]["position"], 4321);
    assert_eq!(queue["playQueue"]["changedBy"], "test");
    assert_eq!(queue["playQueue"]["entry"].as_array().unwrap().len(), 2);
    assert_eq!(error(&rest(&app, &key, "savePlayQueue", &format!("id={}&current={}", ids[0], ids[1])).await), 0);
    assert_eq!(error(&rest(&app, &key, "savePlayQueue", &format!("id={}", Uuid::now_v7())).await), 70);
    // No saved queue: the element the schema requires, empty.
    let empty = ok(&rest(&app, &other_key, "getPlayQueue", "").await).clone();
    assert_eq!(empty["playQueue"]["username"], "listener2", "{empty}");
    assert!(empty["playQueue"].get("entry").is_none() && empty["playQueue"].get("current").is_none(), "{empty}");

    // Lists, genres, search.
    let genres = rest(&app, &key, "getGenres", "").await;
    let rock = genres["genres"]["genre"].as_array().unwrap().iter().find(|g| g["value"] == "Rock").unwrap().clone();
    assert_eq!((rock["songCount"].as_i64(), rock["albumCount"].as_i64()), (Some(3), Some(1)));
    let by_genre = rest(&app, &key, "getSongsByGenre", "genre=rock&count=2&offset=1").await;
    assert_eq!(by_genre["songsByGenre"]["song"].as_array().unwrap().len(), 2);
    let by_year = rest(&app, &key, "getAlbumList2", "type=byYear&fromYear=2010&toYear=1990").await;
    let years: Vec<i64> =
        by_year["albumList2"]["album"].as_array().unwrap().iter().map(|a| a["year"].as_i64().unwrap()).collect();
    assert_eq!(years, [2001, 1999], "newest first when fromYear > toYear");
    let found = rest(&app, &key, "search3", "query=closing").await;
    assert_eq!(found["searchResult3"]["song"][0]["title"], "Real Closing");
    let everything = rest(&app, &key, "search3", "query=%22%22&songCount=2&songOffset=2").await;
    assert_eq!(everything["searchResult3"]["song"].as_array().unwrap().len(), 2);
    let top = rest(&app, &key, "getTopSongs", "artist=Real%20Band&count=1").await;
    assert_eq!(top["topSongs"]["song"][0]["id"], ids[2].to_string(), "the most played first");
    // Scans are for admins.
    assert_eq!(error(&rest(&app, &key, "startScan", "").await), 50);
    assert_eq!(error(&rest(&app, &key, "getScanStatus", "").await), 50);
    assert_eq!(error(&rest(&app, &key, "getUser", "username=listener2").await), 50);
    assert_eq!(rest(&app, &key, "getUser", "username=listener1").await["user"]["adminRole"], false);
}

/// Seeds `count` songs straight into the database (rows without files, as a large library's catalogue would
/// look to the API), spread over albums and artists. Returns (songs, albums, artists) in the whole library.
pub async fn seed_catalogue(db: &sea_orm::DatabaseConnection, count: u32) -> (i64, i64, i64) {
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "INSERT INTO artists (id, name) SELECT gen_random_uuid(), 'Seeded Artist ' || i FROM generate_series(1, {artists}) i;
         INSERT INTO albums (id, title, artist_id, year)
           SELECT gen_random_uuid(), 'Seeded Album ' || i, (SELECT id FROM artists WHERE name = 'Seeded Artist ' || (1 + i % {artists})), 1960 + i % 60
           FROM generate_series(1, {albums}) i;
         CREATE TEMP TABLE seeded_albums AS SELECT id, artist_id, row_number() OVER (ORDER BY id) AS n FROM albums WHERE title LIKE 'Seeded Album %';
         INSERT INTO songs (id, title, artist_id, album_id, track_number, genre, year, duration_ms, codec, size_bytes, content_hash, storage, path, search_text)
           SELECT gen_random_uuid(), 'Seeded Song ' || i, a.artist_id, a.id, 1 + i % 12, (ARRAY['Rock','Jazz','Pop'])[1 + i % 3], 1960 + i % 60,
                  180000, 'mp3', 1000, md5(i::text) || md5((i + 7)::text), 'media', 'seeded/' || i || '.mp3', 'Seeded Song ' || i
           FROM generate_series(1, {count}) i JOIN seeded_albums a ON a.n = 1 + i % {albums};
         DROP TABLE seeded_albums;",
        artists = count / 40 + 1,
        albums = count / 10 + 1,
    ))
    .await
    .unwrap();
    let songs: i64 = scalar(db, "SELECT count(*) FROM songs").await;
    let albums: i64 =
        scalar(db, "SELECT count(*) FROM albums a WHERE EXISTS (SELECT 1 FROM songs s WHERE s.album_id = a.id)").await;
    let artists: i64 = scalar(
        db,
        "SELECT count(*) FROM artists ar WHERE EXISTS (SELECT 1 FROM songs s WHERE s.artist_id = ar.id)
            OR EXISTS (SELECT 1 FROM albums al WHERE al.artist_id = ar.id)",
    )
    .await;
    (songs, albums, artists)
}

/// Runs scripts/subsonic_clients.py (py-opensonic and py-sonic through a spec-validating proxy) against `url`.
/// With `sonic`, the real songs are analysed and the session asks for similar songs too.
pub async fn run_clients(url: &str, username: &str, secret: &str, library: (i64, i64, i64), sonic: bool) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/subsonic_clients.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        // `--name=value`: a secret may begin with `-`, which argparse would take for an option.
        .arg(format!("--url={url}"))
        .arg(format!("--username={username}"))
        .arg(format!("--secret={secret}"))
        .arg("--timeout=300")
        .args([
            "--songs",
            &library.0.to_string(),
            "--albums",
            &library.1.to_string(),
            "--artists",
            &library.2.to_string(),
        ])
        .args(sonic.then_some("--sonic"))
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the Subsonic client session failed:\n{stdout}");
}

#[tokio::test]
async fn real_subsonic_clients_sync_a_few_thousand_songs_and_every_answer_meets_the_spec() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let real = real_library(&app, dir.path()).await;
    let ids: Vec<fermata_core::ids::SongId> = real.iter().map(|id| (*id).into()).collect();
    fermata_core::jobs::enqueue_analysis(&app.db, &ids).await.unwrap();
    let list = real.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    let analysed = format!("SELECT count(*) FROM songs WHERE id IN ({list}) AND sonic IS NOT NULL");
    eventually("the real songs analysed", Duration::from_secs(60), || async {
        scalar::<i64>(&app.db, &analysed).await == real.len() as i64
    })
    .await;
    let library = seed_catalogue(&app.db, 3000).await;
    let (user, secret, _) = listener_with_credential(&app, "syncer").await;
    run_clients(&app.address, &user, &secret, library, true).await;
}

/// What real clients found (#41): an empty `p=` beside a token (a web client restoring its session), empty
/// optional numbers, a music folder that does not exist, and `getIndexes` telling when the index changed.
#[tokio::test]
async fn empty_parameters_are_absent_unknown_folders_are_not_found_and_the_index_says_when_it_changed() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    real_library(&app, dir.path()).await;
    let (user, key, _) = listener_with_credential(&app, "restorer").await;
    let salt = "a1b2c3";
    let token = md5_hex(&format!("{key}{salt}"));
    let ping = ok(&rest(&app, "", "ping", &format!("apiKey=&u={user}&t={token}&s={salt}&p=")).await).clone();
    assert_eq!(ping["status"], "ok");
    // Scrobbles are capped per call (50) and per listener and minute (120): one call of 500 made-up plays once
    // went into the global charts whole.
    let song: Uuid = scalar(&app.db, "SELECT id FROM songs ORDER BY id LIMIT 1").await;
    let many = |n: usize| (0..n).map(|_| format!("id={song}")).collect::<Vec<_>>().join("&");
    assert_eq!(error(&rest(&app, &key, "scrobble", &many(51)).await), 0, "51 in one call");
    ok(&rest(&app, &key, "scrobble", &many(50)).await);
    ok(&rest(&app, &key, "scrobble", &many(50)).await);
    let url = app.url(&format!("/rest/scrobble?f=json&c=test&v=1.16.1&apiKey={key}&{}", many(50)));
    let refused = client().get(url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "past 120 a minute");
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    // tokenInfo, which the apiKeyAuthentication extension Fermata advertises requires.
    assert_eq!(ok(&rest(&app, &key, "tokenInfo", "").await)["tokenInfo"]["username"], user.as_str());
    assert_eq!(error(&rest(&app, "not-a-key", "tokenInfo", "").await), 44);
    // Empty optional numbers take their defaults.
    let list = rest(&app, &key, "getAlbumList2", "type=newest&size=&offset=&fromYear=&toYear=&musicFolderId=").await;
    assert_eq!(ok(&list)["albumList2"]["album"].as_array().unwrap().len(), 2);
    let songs = rest(&app, &key, "getRandomSongs", "size=&fromYear=").await;
    assert_eq!(ok(&songs)["randomSongs"]["song"].as_array().unwrap().len(), 4);

    // The one music folder is 1; any other is not there.
    assert_eq!(
        ok(&rest(&app, &key, "getIndexes", "musicFolderId=1").await)["indexes"]["index"].as_array().unwrap().len(),
        2
    );
    for method in ["getIndexes", "getArtists", "getAlbumList2?type=newest", "getRandomSongs", "search3?query=real"] {
        let (method, query) = method.split_once('?').unwrap_or((method, ""));
        let answer = rest(&app, &key, method, &format!("{query}&musicFolderId=2")).await;
        assert_eq!(error(&answer), 70, "{method}: {answer}");
    }

    // lastModified is the index's last change, not the time of the request; unchanged, the index comes empty.
    let first = ok(&rest(&app, &key, "getIndexes", "").await).clone();
    let changed = first["indexes"]["lastModified"].as_i64().unwrap();
    let again = rest(&app, &key, "getIndexes", "").await;
    assert_eq!(again["indexes"]["lastModified"].as_i64(), Some(changed), "the same until the library changes");
    let unchanged = ok(&rest(&app, &key, "getIndexes", &format!("ifModifiedSince={changed}")).await).clone();
    assert_eq!(unchanged["indexes"]["lastModified"].as_i64(), Some(changed));
    assert!(unchanged["indexes"].get("index").is_none(), "no artists for an unchanged index: {unchanged}");
    let older = ok(&rest(&app, &key, "getIndexes", &format!("ifModifiedSince={}", changed - 1)).await).clone();
    assert_eq!(older["indexes"]["index"].as_array().map(Vec::len), Some(2));
    // A new artist moves it.
    let tags = Tags::song("Newcomer Song", "A Newcomer", "First Steps");
    app.add_song(&fixtures::make(dir.path(), "new", Format::Mp3, &tags, 1.0, 440, false)).await;
    let after = ok(&rest(&app, &key, "getIndexes", &format!("ifModifiedSince={changed}")).await).clone();
    assert!(after["indexes"]["lastModified"].as_i64().unwrap() > changed, "{after}");
    assert_eq!(after["indexes"]["index"].as_array().map(Vec::len), Some(3), "A, O and R");
}
