//! Accounts and sessions: registration, sign-in, sessions across instances, roles, cross-site and rate
//! limits, the OpenAPI document.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::support::{
    TestApp, client, error_code, eventually, honouring_retry_after, raw_status, read_until, set_cookie,
};

fn registration(username: &str, email: &str, password: &str) -> Value {
    json!({"username": username, "email": email, "password": password})
}

#[tokio::test]
async fn registration_creates_a_listener_and_never_returns_the_hash() {
    let app = TestApp::spawn().await;
    let mut body = registration("Ada.Lovelace_1", "ada@example.com", "analytical-engine");
    body["role"] = json!("admin");
    body["display_name"] = json!("  Ada  ");
    let response = app.post_json(&app.client, "/api/users/register", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["username"], "Ada.Lovelace_1");
    assert_eq!(user["role"], "user", "a registered account is never an admin");
    assert_eq!(user["display_name"], "Ada");
    assert!(user.get("password_hash").is_none() && !user.to_string().contains("argon2"));
}

#[tokio::test]
async fn registration_refuses_taken_names_without_regard_to_case() {
    let app = TestApp::spawn().await;
    app.register("melody", "tune-tune-tune").await;
    let (status, error) = error_code(
        app.post_json(&app.client, "/api/users/register", &registration("MELODY", "other@example.com", "password-1"))
            .await,
    )
    .await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::CONFLICT, Some("username_taken")));
    let (status, error) = error_code(
        app.post_json(&app.client, "/api/users/register", &registration("harmony", "Melody@Example.com", "password-1"))
            .await,
    )
    .await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::CONFLICT, Some("email_taken")));
}

#[tokio::test]
async fn registration_names_every_problem_and_loses_nothing() {
    let app = TestApp::spawn().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["username", "email", "password"]),
        (json!({"username": "", "email": "", "password": ""}), vec!["username", "email", "password"]),
        (
            registration(&"a".repeat(10_000), &format!("{}@x.io", "b".repeat(10_000)), &"c".repeat(10_000)),
            vec!["username", "email", "password"],
        ),
        (registration("ab", "ok@example.com", "long-enough"), vec!["username"]),
        (registration(&"a".repeat(33), "ok@example.com", "long-enough"), vec!["username"]),
        // Cyrillic "а" looks like Latin "a": refused, so nobody can impersonate "admin".
        (registration("\u{430}dmin", "ok@example.com", "long-enough"), vec!["username"]),
        (registration("名前です", "ok@example.com", "long-enough"), vec!["username"]),
        (registration("robert'); DROP TABLE users;--", "ok@example.com", "long-enough"), vec!["username"]),
        (registration("with space", "ok@example.com", "long-enough"), vec!["username"]),
        (registration("fine_name", "no-at-sign", "long-enough"), vec!["email"]),
        (registration("fine_name", "ok@example.com", "short"), vec!["password"]),
        (registration("fine_name", "ok@example.com", "Fine_Name"), vec!["password"]),
        (registration("fine_name", "same@example.com", "same@example.com"), vec!["password"]),
        (
            json!({"username": "fine_name", "email": "ok@example.com", "password": "long-enough", "display_name": ""}),
            vec!["display_name"],
        ),
        (
            json!({"username": "fine_name", "email": "ok@example.com", "password": "long-enough", "display_name": "bell\u{7}"}),
            vec!["display_name"],
        ),
    ];
    for (body, fields) in cases {
        let (status, error) = error_code(app.post_json(&app.client, "/api/users/register", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        for field in &fields {
            assert!(error["fields"][field].is_array(), "{field} named for {body}: {error}");
        }
        assert_eq!(error["fields"].as_object().unwrap().len(), fields.len(), "only the real problems: {error}");
    }
    // Wrong types are refused too.
    let (status, _) = error_code(
        app.post_json(&app.client, "/api/users/register", &json!({"username": 42, "email": [], "password": {}})).await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Nothing was written.
    let admin = app.admin_client("boss").await;
    let users: Value = admin.get(app.url("/api/admin/users")).send().await.unwrap().json().await.unwrap();
    assert_eq!(users["total"], 1, "only the admin exists: {users}");
    // SQL-looking text where text is allowed is stored as text.
    let body = json!({"username": "bobby", "email": "bobby@example.com", "password": "long-enough", "display_name": "'; DROP TABLE users; --"});
    let user: Value = app.post_json(&app.client, "/api/users/register", &body).await.json().await.unwrap();
    assert_eq!(user["display_name"], "'; DROP TABLE users; --");
}

#[tokio::test]
async fn registration_can_be_closed() {
    let app = TestApp::spawn_with(&["--registration=closed"]).await;
    let (status, error) = error_code(
        app.post_json(&app.client, "/api/users/register", &registration("newbie", "n@example.com", "password-1")).await,
    )
    .await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
}

#[tokio::test]
async fn sign_in_by_username_or_email_and_sign_out_destroys_the_session_server_side() {
    let app = TestApp::spawn().await;
    app.register("lis", "listening-in").await;
    assert_eq!(app.client.get(app.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let headers = app.login(&app.client, "LIS@example.com", "listening-in").await;
    let cookie = set_cookie(&headers, "fermata_session");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let me: Value = app.client.get(app.url("/api/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["username"], "lis");

    let response = app.client.post(app.url("/api/auth/logout")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The old cookie, replayed by hand, no longer works.
    let replay = client().get(app.url("/api/auth/me")).header(header::COOKIE, &pair).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_endpoint_answers_who_is_signed_in_without_an_error_for_nobody() {
    let app = TestApp::spawn().await;
    app.register("asker", "who-am-i-now").await;
    let session = |client: reqwest::Client| {
        let url = app.url("/api/auth/session");
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "being signed out is an answer, not an error");
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(session(app.client.clone()).await, json!({"user": null}));
    let garbled = client().get(app.url("/api/auth/session")).header(header::COOKIE, "fermata_session=%%%").send();
    assert_eq!(garbled.await.unwrap().json::<Value>().await.unwrap(), json!({"user": null}));

    app.login(&app.client, "asker", "who-am-i-now").await;
    let signed_in = session(app.client.clone()).await;
    assert_eq!(signed_in["user"]["username"], "asker");
    assert_eq!(
        signed_in["user"],
        app.client.get(app.url("/api/auth/me")).send().await.unwrap().json::<Value>().await.unwrap()
    );

    app.client.post(app.url("/api/auth/logout")).send().await.unwrap();
    assert_eq!(session(app.client.clone()).await, json!({"user": null}));
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let app = TestApp::spawn().await;
    app.register("cycler", "cycle-the-id").await;
    let first = app.login(&app.client, "cycler", "cycle-the-id").await;
    let second = app.login(&app.client, "cycler", "cycle-the-id").await;
    let id = |h: &header::HeaderMap| set_cookie(h, "fermata_session").split(';').next().unwrap().to_owned();
    assert_ne!(id(&first), id(&second));
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_are_indistinguishable() {
    let app = TestApp::spawn().await;
    app.register("realuser", "the-real-password").await;
    let attempt = |username: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app
                .post_json(&client(), "/api/auth/login", &json!({"username": username, "password": "wrong-password"}))
                .await;
            let elapsed = started.elapsed();
            (response.status(), response.text().await.unwrap(), elapsed)
        }
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..9 {
        let (s1, b1, t1) = attempt("realuser").await;
        let (s2, b2, t2) = attempt("nobody-here").await;
        assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
        assert_eq!(b1, b2, "same body");
        known.push(t1);
        unknown.push(t2);
    }
    // The fastest of each is the estimate least disturbed by the other tests sharing the CPU (a median of five
    // still failed now and then on two busy cores). Skipping the dummy verification makes an unknown user
    // answer in about a millisecond against tens for argon2, a ratio far outside this band.
    let fastest = |times: &[Duration]| times.iter().min().copied().unwrap_or_default().as_secs_f64();
    let ratio = fastest(&known) / fastest(&unknown);
    assert!((1.0 / 3.0..3.0).contains(&ratio), "fastest times comparable: {known:?} vs {unknown:?}");
}

#[tokio::test]
async fn login_validates_its_input() {
    let app = TestApp::spawn().await;
    let (status, error) = error_code(app.post_json(&app.client, "/api/auth/login", &json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["fields"]["username"].is_array() && error["fields"]["password"].is_array());
    let long = json!({"username": "x".repeat(10_000), "password": "y"});
    assert_eq!(app.post_json(&app.client, "/api/auth/login", &long).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_malformed_cookie_is_just_signed_out() {
    let app = TestApp::spawn().await;
    // Sent as raw bytes: an HTTP client library refuses to send some of these. A DEL is no header character
    // at all: the HTTP layer refuses the request (400) before a session is looked for.
    for (cookie, status) in [
        ("fermata_session=%%%garbage", 401),
        ("fermata_session=", 401),
        ("fermata_session=AAAAAAAAAAAAAAAAAAAAAA", 401),
        ("fermata_session=\u{7f}", 400),
    ] {
        let request = format!("GET /api/auth/me HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
        assert_eq!(raw_status(&app, request.as_bytes()).await, status, "{cookie:?}");
    }
}

#[tokio::test]
async fn a_session_from_one_instance_works_on_another() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(&first.database_url, &[]).await;
    first.register("roamer", "between-replicas").await;
    first.login(&first.client, "roamer", "between-replicas").await;
    let me = first.client.get(second.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // Signing out on the second ends it on the first, which had the session cached (NOTIFY, milliseconds).
    assert_eq!(first.client.get(first.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::OK);
    first.client.post(second.url("/api/auth/logout")).send().await.unwrap();
    refused_soon(&first.client, &first.url("/api/auth/me")).await;
}

/// Waits until `url` answers 401; fails past a second (cached sessions would live for a minute).
async fn refused_soon(client: &reqwest::Client, url: &str) {
    eventually("the session to be refused", Duration::from_secs(60), || async {
        client.get(url).send().await.unwrap().status() == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test]
async fn disabling_a_user_or_changing_a_password_ends_cached_sessions_on_every_replica() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.database_url, &[]).await;
    let admin = a.admin_client("warden").await;
    let user: Value = a.register("wanderer", "wanderer-password").await;
    let (on_a, on_b) = (client(), client());
    a.login(&on_a, "wanderer", "wanderer-password").await;
    a.login(&on_b, "wanderer", "wanderer-password").await;
    for (c, app) in [(&on_a, &a), (&on_b, &b)] {
        assert_eq!(c.get(app.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::OK);
    }
    // A password change through replica A keeps that session and ends the other, cached on B.
    let changed = on_a
        .post(a.url("/api/auth/password"))
        .json(&json!({"current_password": "wanderer-password", "new_password": "wanderer-password-2"}))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.status());
    refused_soon(&on_b, &b.url("/api/auth/me")).await;
    assert_eq!(on_a.get(b.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::OK);
    // Disabled on A: B stops honouring the remaining session too.
    let id = user["id"].as_str().unwrap();
    let disabled =
        admin.patch(a.url(&format!("/api/admin/users/{id}"))).json(&json!({"disabled": true})).send().await.unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    refused_soon(&on_a, &b.url("/api/auth/me")).await;
}

#[tokio::test]
async fn profile_updates() {
    let app = TestApp::spawn().await;
    app.register("profiled", "profile-pass").await;
    app.register("other", "other-pass-1").await;
    app.login(&app.client, "profiled", "profile-pass").await;
    let patch = |body: Value| app.client.patch(app.url("/api/auth/me")).json(&body).send();
    let updated: Value =
        patch(json!({"display_name": "Pro Filed", "email": "new@example.com"})).await.unwrap().json().await.unwrap();
    assert_eq!(
        (updated["display_name"].as_str(), updated["email"].as_str()),
        (Some("Pro Filed"), Some("new@example.com"))
    );
    let cleared: Value = patch(json!({"display_name": null})).await.unwrap().json().await.unwrap();
    assert!(cleared["display_name"].is_null());
    let (status, _) = error_code(patch(json!({"email": "OTHER@example.com"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, error) = error_code(patch(json!({"email": "nope"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["fields"]["email"].is_array());
    let anonymous = client().patch(app.url("/api/auth/me")).json(&json!({"display_name": "x"})).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::spawn().await;
    app.register("changer", "old-password").await;
    let laptop = client();
    let phone = client();
    app.login(&laptop, "changer", "old-password").await;
    app.login(&phone, "changer", "old-password").await;

    let wrong = laptop
        .post(app.url("/api/auth/password"))
        .json(&json!({"current_password": "not-it", "new_password": "new-password"}))
        .send()
        .await
        .unwrap();
    let (status, error) = error_code(wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error["fields"]["current_password"].is_array());
    let weak = laptop
        .post(app.url("/api/auth/password"))
        .json(&json!({"current_password": "old-password", "new_password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let ok = laptop
        .post(app.url("/api/auth/password"))
        .json(&json!({"current_password": "old-password", "new_password": "new-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        laptop.get(app.url("/api/auth/me")).send().await.unwrap().status(),
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        phone.get(app.url("/api/auth/me")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "others end"
    );
    let (status, _) = error_code(
        app.post_json(&client(), "/api/auth/login", &json!({"username": "changer", "password": "old-password"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.login(&client(), "changer", "new-password").await;
}

#[tokio::test]
async fn admins_list_and_search_users_listeners_cannot() {
    let app = TestApp::spawn().await;
    for name in ["alpha", "beta", "gamma", "under_score"] {
        app.register(name, "some-password").await;
    }
    app.login(&app.client, "alpha", "some-password").await;
    let forbidden = app.client.get(app.url("/api/admin/users")).send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(client().get(app.url("/api/admin/users")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let admin = app.admin_client("root_admin").await;
    let page: Value = admin.get(app.url("/api/admin/users?limit=2")).send().await.unwrap().json().await.unwrap();
    assert_eq!((page["total"].as_u64(), page["items"].as_array().unwrap().len()), (Some(5), 2));
    let next: Value =
        admin.get(app.url("/api/admin/users?limit=2&offset=2")).send().await.unwrap().json().await.unwrap();
    assert_ne!(page["items"][0]["id"], next["items"][0]["id"]);
    let found: Value = admin.get(app.url("/api/admin/users?q=GAM")).send().await.unwrap().json().await.unwrap();
    assert_eq!(found["items"][0]["username"], "gamma");
    assert_eq!(found["total"], 1);
    let literal: Value = admin.get(app.url("/api/admin/users?q=r_s")).send().await.unwrap().json().await.unwrap();
    assert_eq!(literal["items"][0]["username"], "under_score");
    let wildcard: Value = admin.get(app.url("/api/admin/users?q=a_p")).send().await.unwrap().json().await.unwrap();
    assert_eq!(wildcard["total"], 0, "'_' is literal, not a wildcard that would match 'alpha'");
    let bad = admin.get(app.url("/api/admin/users?limit=100000")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = admin.get(app.url("/api/admin/users?limit=abc")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once_and_blocks_sign_in() {
    let app = TestApp::spawn().await;
    let user = app.register("troublemaker", "trouble-pass").await;
    app.login(&app.client, "troublemaker", "trouble-pass").await;
    let admin = app.admin_client("sheriff").await;
    let path = format!("/api/admin/users/{}", user["id"].as_str().unwrap());
    let updated: Value =
        admin.patch(app.url(&path)).json(&json!({"disabled": true})).send().await.unwrap().json().await.unwrap();
    assert_eq!(updated["disabled"], true);
    assert_eq!(app.client.get(app.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Right and wrong passwords get the same answer: no oracle for a guesser.
    let (right, right_error) = error_code(
        app.post_json(&client(), "/api/auth/login", &json!({"username": "troublemaker", "password": "trouble-pass"}))
            .await,
    )
    .await;
    let (wrong, wrong_error) = error_code(
        app.post_json(&client(), "/api/auth/login", &json!({"username": "troublemaker", "password": "wrong-guess"}))
            .await,
    )
    .await;
    assert_eq!((right, &right_error), (StatusCode::UNAUTHORIZED, &wrong_error));
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    // Re-enabled, they can sign in again.
    admin.patch(app.url(&path)).json(&json!({"disabled": false})).send().await.unwrap();
    app.login(&client(), "troublemaker", "trouble-pass").await;
}

#[tokio::test]
async fn roles_change_but_the_last_active_admin_stays() {
    let app = TestApp::spawn().await;
    let admin = app.admin_client("only_admin").await;
    let me: Value = admin.get(app.url("/api/auth/me")).send().await.unwrap().json().await.unwrap();
    let my_path = format!("/api/admin/users/{}", me["id"].as_str().unwrap());
    for body in [json!({"role": "user"}), json!({"disabled": true})] {
        let (status, error) = error_code(admin.patch(app.url(&my_path)).json(&body).send().await.unwrap()).await;
        assert_eq!((status, error["code"].as_str()), (StatusCode::CONFLICT, Some("last_admin")), "{body}");
    }
    let user = app.register("promoted", "promote-me-pls").await;
    let path = format!("/api/admin/users/{}", user["id"].as_str().unwrap());
    let updated: Value =
        admin.patch(app.url(&path)).json(&json!({"role": "admin"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(updated["role"], "admin");
    // With a second admin, the first may step down.
    let demoted = admin.patch(app.url(&my_path)).json(&json!({"role": "user"})).send().await.unwrap();
    assert_eq!(demoted.status(), StatusCode::OK);
    assert_eq!(admin.get(app.url("/api/admin/users")).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    let promoted = client();
    app.login(&promoted, "promoted", "promote-me-pls").await;
    for (body, status) in [
        (json!({"role": "superuser"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"disabled": "yes"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"unknown": 1}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(promoted.patch(app.url(&path)).json(&body).send().await.unwrap().status(), status, "{body}");
    }
    let missing = promoted
        .patch(app.url("/api/admin/users/00000000-0000-0000-0000-000000000000"))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let malformed =
        promoted.patch(app.url("/api/admin/users/not-a-uuid")).json(&json!({"disabled": true})).send().await.unwrap();
    assert_eq!(malformed.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_first_admin_from_the_environment_is_created_once_even_by_three_replicas() {
    let url = crate::support::fresh_database().await;
    // SAFETY of the test: the variable is read at config parse time by every instance in this test only.
    let flags = ["--admin-username=captain"];
    let spawn = || async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::support::config(&url, dir.path(), &flags);
        config.admin_password = Some("captain-password".into());
        let app = fermata::startup::Application::build(config).await.unwrap();
        (app, dir)
    };
    let ((a, _d1), (b, _d2), (c, _d3)) = tokio::join!(spawn(), spawn(), spawn());
    let db = a.db().clone();
    let row = sea_orm::ConnectionTrait::query_one(
        &db,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM users WHERE role = 'admin'".to_owned(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 1);
    drop((a, b, c));
    // Idempotent on a later start, even with another name.
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::config(&url, dir.path(), &["--admin-username=someone_else"]);
    config.admin_password = Some("another-password".into());
    let app = fermata::startup::Application::build(config).await.unwrap();
    let row = sea_orm::ConnectionTrait::query_one(
        app.db(),
        sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT count(*) FROM users".to_owned()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 1);
}

#[tokio::test]
async fn the_cli_creates_an_admin_with_the_password_from_stdin() {
    use std::io::Write;
    let app = TestApp::spawn().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .args(["user", "create", "cli_admin", "--admin"])
        .env("DATABASE_URL", &app.database_url)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"from-the-pipe\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let c = client();
    app.login(&c, "cli_admin", "from-the-pipe").await;
    assert_eq!(c.get(app.url("/api/admin/users")).send().await.unwrap().status(), StatusCode::OK);
    // A weak password is refused with a reason.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fermata"))
        .args(["user", "create", "weak_one"])
        .env("DATABASE_URL", &app.database_url)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("password"));
}

#[tokio::test]
async fn cross_site_writes_are_refused() {
    let app = TestApp::spawn().await;
    app.register("victim", "victim-password").await;
    app.login(&app.client, "victim", "victim-password").await;
    let evil = app
        .client
        .patch(app.url("/api/auth/me"))
        .header(header::ORIGIN, "https://evil.example")
        .json(&json!({"display_name": "pwned"}))
        .send()
        .await
        .unwrap();
    let (status, _) = error_code(evil).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let evil_referer = app
        .client
        .post(app.url("/api/auth/logout"))
        .header(header::REFERER, "https://evil.example/page")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_referer.status(), StatusCode::FORBIDDEN);
    let null_origin = app.client.post(app.url("/api/auth/logout")).header(header::ORIGIN, "null").send().await.unwrap();
    assert_eq!(null_origin.status(), StatusCode::FORBIDDEN);
    let me: Value = app.client.get(app.url("/api/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_ne!(me["display_name"], "pwned", "nothing changed");
    // Reads from anywhere are fine; writes from our own origin are fine.
    let same = app
        .client
        .patch(app.url("/api/auth/me"))
        .header(header::ORIGIN, "http://localhost:8080")
        .json(&json!({"display_name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client_and_the_limit_clears() {
    let app = TestApp::spawn_with(&["--rate-limit-auth-burst=3", "--rate-limit-auth-period-secs=1"]).await;
    let attempt = |xff: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({"username": "whoever", "password": "guess-guess"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("203.0.113.7").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let limited = attempt("203.0.113.7").await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    // Another client (the peer, 127.0.0.1, is a trusted proxy, so X-Forwarded-For counts) is unaffected.
    assert_eq!(attempt("198.51.100.9").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Waiting what the server says clears it (a minute at most), whatever the machine's load.
    let (cleared, _) =
        honouring_retry_after("the limit to clear", || async { attempt("203.0.113.7").await.unwrap() }).await;
    assert_eq!(cleared.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forwarded_addresses_are_ignored_from_untrusted_peers() {
    let app = TestApp::spawn_with(&[
        "--rate-limit-auth-burst=2",
        "--rate-limit-auth-period-secs=60",
        "--trusted-proxies=10.0.0.0/8",
    ])
    .await;
    let attempt = |xff: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({"username": "x1", "password": "y"}))
            .send()
    };
    attempt("203.0.113.1").await.unwrap();
    attempt("203.0.113.2").await.unwrap();
    // Spoofing a new address does not buy a new budget.
    assert_eq!(attempt("203.0.113.3").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn failing_logins_lock_an_account_only_briefly() {
    // Per account the budget is four times the per-client one and refills four times as fast: an attacker
    // from many addresses can hold an account for a moment, not for long.
    let app = TestApp::spawn_with(&["--rate-limit-auth-burst=2", "--rate-limit-auth-period-secs=2"]).await;
    app.register("target", "target-password").await;
    let from = |ip: String, password: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"username": "target", "password": password}))
            .send()
    };
    let mut limited = false;
    for i in 0..12 {
        let status = from(format!("192.0.2.{i}"), "wrong-guess").await.unwrap().status();
        limited |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the account is rate limited after many failures from many clients");
    // The owner gets in moments later: the account's budget refills in half a second per attempt, so the server
    // never asks the owner to wait more than a second (polling faster would spend the owner's own address's
    // budget, which once made this test depend on how fast a loaded machine answered).
    let (response, waited) = honouring_retry_after("the owner to get in", || async {
        from("198.51.100.200".into(), "target-password").await.unwrap()
    })
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(waited <= Duration::from_secs(1), "told to wait {waited:?}");
}

#[tokio::test]
async fn an_attack_holding_an_accounts_budget_does_not_lock_out_the_owners_known_browsers() {
    // A long period: the account's budget does not refill during the test, as under a sustained attack.
    let app = TestApp::spawn_with(&["--rate-limit-auth-burst=2", "--rate-limit-auth-period-secs=600"]).await;
    app.register("owner", "owner-password").await;
    app.register("attacker", "attacker-password").await;
    let attempt = |client: &reqwest::Client, ip: String, username: &'static str, password: &'static str| {
        let request = client.post(app.url("/api/auth/login")).header("x-forwarded-for", ip);
        request.json(&json!({"username": username, "password": password})).send()
    };
    // The owner's browser has signed in before; that made it a known device of the account.
    let owners = client();
    let first = attempt(&owners, "198.51.100.1".into(), "owner", "owner-password").await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let device = set_cookie(first.headers(), "fermata_device");
    assert!(device.contains("HttpOnly") && device.contains("SameSite=Strict") && device.contains("Path=/"), "{device}");
    // The attacker's browser is a known device of its own account: that must not count for the owner's.
    let attackers = client();
    attempt(&attackers, "203.0.113.1".into(), "attacker", "attacker-password").await.unwrap();

    // Guesses from many addresses use up the account's budget (8 here, one spent by the owner's first
    // sign-in) and hold it there.
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(attempt(&attackers, format!("192.0.2.{i}"), "owner", "wrong-guess").await.unwrap().status());
    }
    assert!(statuses[..7].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert!(statuses[7..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // A browser the account does not know is held too, even with the right password...
    let elsewhere = attempt(&client(), "198.51.100.2".into(), "owner", "owner-password").await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...but the owner's known browser gets in, from a new address too.
    let known = attempt(&owners, "198.51.100.3".into(), "owner", "owner-password").await.unwrap();
    assert_eq!(known.status(), StatusCode::OK, "the owner's browser is not locked out");
    // A known device's budget is its own, and it is a budget: guessing from it ends in 429 as well.
    let mut device_statuses = Vec::new();
    for i in 0..10 {
        let status = attempt(&owners, format!("198.51.100.{}", 10 + i), "owner", "wrong").await.unwrap().status();
        device_statuses.push(status);
    }
    assert_eq!(device_statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{device_statuses:?}");
    // A forged device cookie counts for nothing.
    let forged = client();
    let status = forged
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "198.51.100.99")
        .header(header::COOKIE, format!("fermata_device={}.9999999999.AAAA", uuid::Uuid::new_v4()))
        .json(&json!({"username": "owner", "password": "owner-password"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn security_headers_and_no_cors_by_default() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header(header::ORIGIN, "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    let h = response.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(!h.contains_key("access-control-allow-origin"), "CORS is off by default");

    let cors = TestApp::spawn_with(&["--cors-origins=https://player.example"]).await;
    let preflight = cors
        .client
        .request(reqwest::Method::OPTIONS, cors.url("/api/auth/me"))
        .header(header::ORIGIN, "https://player.example")
        .header("access-control-request-method", "PATCH")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://player.example");
    // `/rest` keeps its own CORS with CORS_ORIGINS set: any origin, no credentials (a browser Subsonic client on
    // another origin was refused when the cookie API's layer answered its preflight).
    let preflight = cors
        .client
        .request(reqwest::Method::OPTIONS, cors.url("/rest/ping.view"))
        .header(header::ORIGIN, "https://subsonic-client.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*", "{:?}", preflight.headers());
    assert!(!preflight.headers().contains_key("access-control-allow-credentials"));
    let ping = cors
        .client
        .get(cors.url("/rest/ping?f=json"))
        .header(header::ORIGIN, "https://subsonic-client.example")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn secure_cookies_behind_https() {
    let app = TestApp::spawn_with(&["--public-url=https://music.example"]).await;
    app.register("secure", "secure-password").await;
    let response = app
        .post_json(&app.client, "/api/auth/login", &json!({"username": "secure", "password": "secure-password"}))
        .await;
    let cookie = set_cookie(response.headers(), "__Host-fermata_session");
    assert!(cookie.contains("Secure"), "{cookie}");
    let device = set_cookie(response.headers(), "__Host-fermata_device");
    assert!(device.contains("Secure") && device.contains("Path=/"), "{device}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint_and_the_reference_is_self_hosted() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/ready",
        "/api/users/register",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/auth/password",
        "/api/admin/users",
        "/api/admin/users/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} documented");
    }
    assert!(paths["/api/auth/me"].get("patch").is_some());
    // Parameters are where the server reads them: a path parameter is in the path template, query parameters
    // are optional query parameters; and every operation lists the shared error answers (scripts/contract runs
    // a contract-testing tool on the whole document).
    let mut query_params = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                match parameter["in"].as_str().unwrap() {
                    "path" => {
                        assert!(path.contains(&format!("{{{name}}}")), "{method} {path}: {name} is not in the path")
                    }
                    "query" => {
                        query_params += 1;
                        if ["limit", "cursor", "offset", "size"].contains(&name) {
                            assert_ne!(parameter["required"], true, "{method} {path}: query {name} is optional");
                        }
                    }
                    other => panic!("{method} {path}: {name} in {other}"),
                }
            }
            if path.starts_with("/api/") {
                for status in ["429", "503"] {
                    assert!(operation["responses"].get(status).is_some(), "{method} {path} documents {status}");
                }
            }
        }
    }
    assert!(query_params >= 31, "{query_params} query parameters");
    let page = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(!html.contains("https://") && !html.contains("//cdn"), "no CDN in {html}");
    let initializer =
        app.client.get(app.url("/api/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    assert!(initializer.contains("/api/openapi.json"));
}

/// The document states the limits the server enforces, so a client (and the contract test) can know what will
/// be refused: every string a request body or query takes has a maximum length, every number a range, and the
/// published pattern for one-line names agrees with the server's own rule.
#[tokio::test]
async fn the_openapi_document_states_the_limits_the_server_enforces() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut bodies = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for (method, operation) in item.as_object().unwrap() {
            let reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str();
            if let Some(name) = reference.and_then(|r| r.strip_prefix("#/components/schemas/")) {
                bodies += 1;
                for (field, schema) in schemas[name]["properties"].as_object().unwrap() {
                    let kind = &schema["type"];
                    if kind == "string" || kind == &json!(["string", "null"]) {
                        assert!(schema["maxLength"].is_u64(), "{method} {name}.{field} has a maxLength: {schema}");
                    }
                    // A 32-bit integer the server takes whole (a version, a position) is bounded by its format.
                    let bounded =
                        schema["maximum"].is_number() || schema["format"] == "int32" || schema["format"] == "uint32";
                    if kind == "integer" || kind == &json!(["integer", "null"]) {
                        assert!(bounded, "{method} {name}.{field} has a maximum: {schema}");
                    }
                    if kind == "array" {
                        assert!(schema["maxItems"].is_u64(), "{method} {name}.{field} has maxItems: {schema}");
                    }
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let schema = &parameter["schema"];
                let name = parameter["name"].as_str().unwrap();
                if schema["type"] == "string" && schema.get("format").is_none() && schema.get("enum").is_none() {
                    assert!(schema["maxLength"].is_u64(), "{method} parameter {name} has a maxLength: {schema}");
                }
                if schema["type"] == "integer" && parameter["in"] == "query" {
                    assert!(schema["maximum"].is_number(), "{method} parameter {name} has a maximum: {schema}");
                }
            }
        }
    }
    assert!(bodies >= 8, "{bodies} JSON request bodies");
    let username = &schemas["RegisterRequest"]["properties"]["username"];
    assert_eq!((username["minLength"].as_u64(), username["maxLength"].as_u64()), (Some(3), Some(32)));

    // The one-line-name pattern, as published, says yes exactly where the server does.
    let pattern = schemas["CreatePlaylist"]["properties"]["name"]["pattern"].as_str().unwrap();
    let pattern = regex::Regex::new(pattern).unwrap();
    let listener = app.listener("patterns").await;
    for name in [
        "Road trip",
        "  Spaces around  ",
        "Ünïcode ♫",
        "\u{00a0}x",
        " ",
        "",
        "Tab\there",
        "Line\nbreak",
        "NEL\u{85}",
        "LS\u{2028}",
        "\u{7f}",
    ] {
        let status = app.post_json(&listener, "/api/playlists", &json!({"name": name})).await.status();
        assert_eq!(
            pattern.is_match(name),
            status == StatusCode::CREATED,
            "{name:?}: pattern and server disagree ({status})"
        );
    }
}

#[tokio::test]
async fn the_general_api_limit_applies_per_client() {
    let app = TestApp::spawn_with(&["--rate-limit-api-burst=5", "--rate-limit-api-per-sec=1"]).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.client.get(app.url("/api/auth/me")).send().await.unwrap().status());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 5, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    // Health checks are outside /api and never limited.
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn sessions_end_after_their_idle_time_or_lifetime() {
    let app = TestApp::spawn().await;
    app.register("sleeper", "sleeper-password").await;
    let user: uuid::Uuid = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "sleeper", "password": "sleeper-password"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let day = 86_400;
    let now = chrono::Utc::now().timestamp();
    for (signed_in, last_seen, expected) in [
        (now - day, now - 60, StatusCode::OK),
        (now - 31 * day, now - 60, StatusCode::UNAUTHORIZED),
        (now - 20 * day, now - 15 * day, StatusCode::UNAUTHORIZED),
    ] {
        let cookie = app.session_cookie(user, signed_in, last_seen).await;
        let response = client().get(app.url("/api/auth/me")).header(header::COOKIE, cookie).send().await.unwrap();
        assert_eq!(
            response.status(),
            expected,
            "signed in {}d ago, seen {}d ago",
            (now - signed_in) / day,
            (now - last_seen) / day
        );
    }
    // A session unused for over an hour is refreshed (saved with a new expiry) on use.
    let cookie = app.session_cookie(user, now - day, now - 2 * 3600).await;
    let response = client().get(app.url("/api/auth/me")).header(header::COOKIE, &cookie).send().await.unwrap();
    assert!(response.headers().contains_key(header::SET_COOKIE), "the refreshed session re-issues its cookie");
}

#[tokio::test]
async fn a_role_change_applies_at_once_where_it_is_made_and_within_a_second_on_other_replicas() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.database_url, &[]).await;
    let admin = a.admin_client("promoter").await;
    let user: Value = a.register("hopeful", "hopeful-password").await;
    let listener = client();
    a.login(&listener, "hopeful", "hopeful-password").await;
    // Both replicas have just seen the listener (and may keep the row for a second).
    for app in [&a, &b] {
        assert_eq!(listener.get(app.url("/api/admin/users")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    }
    let promoted = admin
        .patch(a.url(&format!("/api/admin/users/{}", user["id"].as_str().unwrap())))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(listener.get(a.url("/api/admin/users")).send().await.unwrap().status(), StatusCode::OK);
    eventually("the other replica to see the new role", Duration::from_secs(60), || async {
        listener.get(b.url("/api/admin/users")).send().await.unwrap().status() == StatusCode::OK
    })
    .await;
}

/// Event streams outlive no session: a demoted admin's stream (on another replica) stops carrying admin events,
/// and sign-out or disabling ends the stream within seconds.
#[tokio::test]
async fn event_streams_end_with_their_session_on_every_replica() {
    use fermata::events::{Audience, publish};
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.database_url, &[]).await;
    let boss = a.admin_client("boss").await;
    let deputy = a.admin_client("deputy").await;
    let deputy_id = {
        let me: Value = deputy.get(a.url("/api/auth/me")).send().await.unwrap().json().await.unwrap();
        me["id"].as_str().unwrap().to_owned()
    };
    // The deputy's stream is on B; the boss acts on A.
    let mut stream = deputy.get(b.url("/api/events")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    publish(&a.db, "scan.progress", Audience::Admin, json!({"file": "secret-admin-file.mp3"})).await;
    assert!(read_until(&mut stream, "secret-admin-file", Duration::from_secs(60)).await.0, "admins get admin events");

    let demoted = boss
        .patch(a.url(&format!("/api/admin/users/{deputy_id}")))
        .json(&json!({"role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), StatusCode::OK);
    // Rounds of an admin event then an everyone event, until a round arrives without the admin one: the stream
    // has taken in the demotion (within a minute, however loaded the machine).
    let demoted_at = Instant::now();
    for round in 0.. {
        publish(&a.db, "scan.progress", Audience::Admin, json!({"file": format!("admin-round-{round}")})).await;
        publish(&a.db, "upload.done", Audience::All, json!({"title": format!("probe-{round}")})).await;
        let (found, seen) = read_until(&mut stream, &format!("probe-{round}"), Duration::from_secs(60)).await;
        assert!(found, "the stream goes on for the listener: {seen}");
        if !seen.contains(&format!("admin-round-{round}")) {
            break;
        }
        assert!(demoted_at.elapsed() < Duration::from_secs(60), "admin events still flow after the demotion");
    }
    publish(&a.db, "scan.progress", Audience::Admin, json!({"file": "after-demotion.mp3"})).await;
    publish(&a.db, "upload.done", Audience::All, json!({"title": "for-everyone"})).await;
    let (found, seen) = read_until(&mut stream, "for-everyone", Duration::from_secs(60)).await;
    assert!(found, "the stream goes on for the listener: {seen}");
    assert!(!seen.contains("after-demotion"), "no admin events after the demotion: {seen}");

    let started = Instant::now();
    let disabled = boss
        .patch(a.url(&format!("/api/admin/users/{deputy_id}")))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    let (found, seen) = read_until(&mut stream, "never-sent", Duration::from_secs(60)).await;
    assert!(!found, "{seen}");
    assert!(started.elapsed() < Duration::from_secs(60), "ended {:?} after the disable", started.elapsed());

    // Signing out on A ends the stream held on B.
    a.register("roamer", "roamer-password").await;
    let roamer = client();
    a.login(&roamer, "roamer", "roamer-password").await;
    let mut stream = roamer.get(b.url("/api/events")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let started = Instant::now();
    assert!(roamer.post(a.url("/api/auth/logout")).send().await.unwrap().status().is_success());
    let (found, seen) = read_until(&mut stream, "never-sent", Duration::from_secs(60)).await;
    assert!(!found, "{seen}");
    assert!(started.elapsed() < Duration::from_secs(60), "ended {:?} after the sign-out", started.elapsed());
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_event_streams() {
    let app = TestApp::spawn().await;
    let c = app.listener("tabby").await;
    let mut open = Vec::new();
    for _ in 0..fermata::events::MAX_STREAMS_PER_USER {
        let stream = c.get(app.url("/api/events")).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        open.push(stream);
    }
    let (status, error) = error_code(c.get(app.url("/api/events")).send().await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::CONFLICT, Some("too_many_streams")));
    // Someone else is unaffected; closing a stream frees its slot.
    let other = app.listener("other-tabby").await;
    assert_eq!(other.get(app.url("/api/events")).send().await.unwrap().status(), StatusCode::OK);
    drop(open.pop());
    eventually("the closed stream's slot to be free again", Duration::from_secs(60), || async {
        c.get(app.url("/api/events")).send().await.unwrap().status() == StatusCode::OK
    })
    .await;
}

/// The per-account budget is one budget whether the account is named by username or by email, and password
/// changes with a stolen session spend it too.
#[tokio::test]
async fn an_account_has_one_guessing_budget_for_every_way_in() {
    let app = TestApp::spawn_with(&["--rate-limit-auth-burst=2", "--rate-limit-auth-period-secs=60"]).await;
    app.register("guarded", "guarded-password").await;
    // Each attempt from a new address, so only the per-account budget (4 × 2) applies.
    let attempt = |i: u32, login: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"username": login, "password": "wrong-guess"}))
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..10 {
        let login = if i % 2 == 0 { "guarded" } else { "GUARDED@example.com" };
        statuses.push(attempt(i, login).await.unwrap().status());
    }
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(limited, 2, "8 attempts in all, by either name: {statuses:?}");

    // Password changes: a thief with a session gets the same small budget.
    let other = TestApp::spawn_with(&["--rate-limit-auth-burst=2", "--rate-limit-auth-period-secs=60"]).await;
    other.register("victim", "victim-password").await;
    let thief = client();
    other.login(&thief, "victim", "victim-password").await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let guess = json!({"current_password": "guess-guess", "new_password": "new-password-123"});
        statuses.push(thief.post(other.url("/api/auth/password")).json(&guess).send().await.unwrap().status());
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY).count() <= 8, "{statuses:?}");
}

/// A request that read the session before a sign-out and saves it afterwards does not bring it back.
#[tokio::test]
async fn a_late_save_does_not_undo_a_sign_out() {
    use tower_sessions::{SessionStore, session::Record};
    let app = TestApp::spawn().await;
    let store = fermata::accounts::session_store::CachedStore::new(&app.db, Default::default());
    let mut record = Record {
        id: tower_sessions::session::Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::days(1),
    };
    store.create(&mut record).await.unwrap();
    store.delete(&record.id).await.unwrap();
    record.data.insert("touched".into(), json!(1));
    store.save(&record).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none(), "the signed-out session stays gone");
}

/// Session change notifications carry a hash of the session id, never the id (a bearer credential).
#[tokio::test]
async fn session_notifications_do_not_carry_session_ids() {
    use futures::StreamExt;
    let app = TestApp::spawn().await;
    let (listener, mut connection) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls).await.unwrap();
    let (sender, mut payloads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = sender.send(n.payload().to_owned());
            }
        }
    });
    listener.batch_execute("LISTEN fermata_sessions").await.unwrap();
    app.register("quiet", "quiet-password").await;
    let headers = app.login(&app.client, "quiet", "quiet-password").await;
    let cookie = set_cookie(&headers, "fermata_session");
    let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    app.client.post(app.url("/api/auth/logout")).send().await.unwrap();
    let expected = fermata::accounts::session_store::notify_key(&id.parse().unwrap());
    let mut seen = Vec::new();
    while let Ok(Some(payload)) = tokio::time::timeout(Duration::from_secs(5), payloads.recv()).await {
        assert!(!payload.contains(&id), "a session id in a notification: {payload}");
        seen.push(payload);
        if seen.contains(&expected) {
            break;
        }
    }
    assert!(seen.contains(&expected), "the sign-out was announced by its hash: {seen:?}");
}
