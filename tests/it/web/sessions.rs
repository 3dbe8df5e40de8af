//! Sign-in, sessions and CSRF over plain HTTP, on both backends.

use super::forms::{client, get_with_session, post_login, session_csrf, set_cookie, sign_in, urlencoded};
use crate::support::{ADMIN_PASSWORD, TestDb, backend_tests, load, spawn, spawn_with, test_config};
use serde_json::json;

async fn the_session_cookie_is_http_only_lax_and_secure_behind_tls(db: &TestDb) {
    let app = spawn(db, false).await;

    let r = post_login(&app, "admin", ADMIN_PASSWORD).await;

    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let (_, line) = set_cookie(&r, "mdl_session").unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(line.contains(flag), "{line}");
    }
    assert!(!line.contains("Secure"), "plain http: {line}");

    // Behind a trusted proxy that terminated TLS, the cookie is Secure; from anyone else the
    // header is not believed.
    let mut config = test_config();
    config.limits.trusted_proxies = Some("127.0.0.1/32".into());
    let proxied = spawn_with(db, config).await;
    let r = client()
        .get(proxied.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&r, "mdl_login").unwrap().1.contains("; Secure"));
    let r = client()
        .get(app.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(!set_cookie(&r, "mdl_login").unwrap().1.contains("Secure"));
}

async fn a_wrong_password_shows_the_form_again(db: &TestDb) {
    let app = spawn(db, false).await;

    let r = post_login(&app, "admin", "not-the-password").await;

    assert_eq!(r.status(), 401);
    assert!(set_cookie(&r, "mdl_session").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains("Wrong username or password"), "{page}");
    assert!(page.contains("value=\"admin\""));
}

async fn logout_ends_the_session_on_every_instance(db: &TestDb) {
    load(db).await;
    let (a, b) = (spawn(db, false).await, spawn(db, false).await);
    let session = sign_in(&a, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        get_with_session(&b, "/", &session).await.status(),
        200,
        "another instance knows it"
    );
    let csrf = session_csrf(&a, &session).await;

    let r = client()
        .post(a.url("/logout"))
        .header("cookie", format!("mdl_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[("csrf", &csrf)]))
        .send()
        .await
        .unwrap();

    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "mdl_session").unwrap().1.contains("Max-Age=0"));
    for app in [&a, &b] {
        let r = get_with_session(app, "/", &session).await;
        assert_eq!(r.status(), 303, "the old cookie must not work any more");
        assert_eq!(r.headers()["location"], "/login?next=%2F");
    }
}

async fn forms_without_their_token_or_from_another_site_are_refused(db: &TestDb) {
    let app = spawn(db, false).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let csrf = session_csrf(&app, &session).await;
    let logout = |body: String, origin: Option<&'static str>| {
        let mut req = client()
            .post(app.url("/logout"))
            .header("cookie", format!("mdl_session={session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };

    assert_eq!(logout(String::new(), None).await.unwrap().status(), 403, "no token");
    let wrong = urlencoded(&[("csrf", "0123456789abcdef0123456789abcdef")]);
    assert_eq!(logout(wrong, None).await.unwrap().status(), 403, "wrong token");
    let right = urlencoded(&[("csrf", &csrf)]);
    let cross_site = logout(right.clone(), Some("https://evil.example")).await.unwrap();
    assert_eq!(cross_site.status(), 403, "right token, other origin");
    assert!(
        cross_site.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // The session survived all three.
    assert_eq!(get_with_session(&app, "/", &session).await.status(), 200);
    // The sign-in form needs its nonce cookie and the token derived from it.
    let r = client()
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[("username", "admin"), ("password", ADMIN_PASSWORD)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "mdl_session").is_none());
}

async fn a_session_token_is_not_an_api_refresh_token(db: &TestDb) {
    let app = spawn(db, false).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;

    let r = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": session }))
        .send()
        .await
        .unwrap();

    assert_eq!(r.status(), 401);
    assert_eq!(get_with_session(&app, "/", &session).await.status(), 200);
}

async fn logout_all_through_the_api_ends_web_sessions_too(db: &TestDb) {
    let app = spawn(db, false).await;
    let session = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let token = app.token().await;

    let r = app
        .send(reqwest::Method::POST, "/api/v1/auth/logout-all", &token, None)
        .await;

    assert_eq!(r.status(), 204);
    assert_eq!(get_with_session(&app, "/", &session).await.status(), 303);
}

async fn anonymous_visitors_sign_in_first_unless_reads_are_public(db: &TestDb) {
    load(db).await;
    let private = spawn(db, false).await;
    let public = spawn(db, true).await;

    let r = client()
        .get(private.url("/metrics/METRIC-CSAT?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fmetrics%2FMETRIC-CSAT%3Fx%3D1");
    assert_eq!(client().get(private.url("/")).send().await.unwrap().status(), 303);
    // `next` only ever leads back to this site.
    let page = client()
        .get(private.url("/login?next=//evil.example/x"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(super::forms::hidden(&page, "next"), "/");

    for path in ["/", "/metrics/METRIC-CSAT"] {
        let r = client().get(public.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

backend_tests!(
    the_session_cookie_is_http_only_lax_and_secure_behind_tls,
    a_wrong_password_shows_the_form_again,
    logout_ends_the_session_on_every_instance,
    forms_without_their_token_or_from_another_site_are_refused,
    a_session_token_is_not_an_api_refresh_token,
    logout_all_through_the_api_ends_web_sessions_too,
    anonymous_visitors_sign_in_first_unless_reads_are_public,
);
