//! Sign-in, sessions and CSRF over plain HTTP, on both backends.

use super::forms::{client, get_with_session, hidden, post_login, session_csrf, set_cookie, sign_in, urlencoded};
use crate::cache::{pair, wait_for};
use crate::support::{
    ADMIN_PASSWORD, TestApp, TestDb, backend_tests, load, redis_prefix, redis_url, spawn, spawn_with, test_config,
};
use serde_json::json;
use std::time::Duration;

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

async fn logout(app: &TestApp, session: &str) {
    let csrf = session_csrf(app, session).await;
    let r = client()
        .post(app.url("/logout"))
        .header("cookie", format!("mdl_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "mdl_session").unwrap().1.contains("Max-Age=0"));
}

async fn signed_out(app: &TestApp, session: &str) -> bool {
    let r = get_with_session(app, "/", session).await;
    r.status() == 303 && r.headers()["location"] == "/login?next=%2F"
}

/// Instances sharing Redis hear of a logout at once (as of any user event).
async fn logout_ends_the_session_on_every_instance(db: &TestDb) {
    let Some(redis) = redis_url() else { return };
    load(db).await;
    let (a, b) = pair(db, &redis, &redis_prefix()).await;
    let session = sign_in(&a, "admin", ADMIN_PASSWORD).await;
    for _ in 0..2 {
        // The second view comes from what B remembers of the session.
        assert_eq!(
            get_with_session(&b, "/", &session).await.status(),
            200,
            "another instance knows it"
        );
    }

    logout(&a, &session).await;

    assert!(signed_out(&a, &session).await, "the old cookie must not work any more");
    wait_for("B forgets the session", Duration::from_secs(2), async || {
        signed_out(&b, &session).await
    })
    .await;
}

/// Without Redis, another instance notices a logout within `MDL_USER_CACHE_TTL`, as it does a
/// deactivated user.
async fn without_redis_a_logout_reaches_other_instances_within_the_user_cache_ttl(db: &TestDb) {
    load(db).await;
    let mut config = test_config();
    config.user_cache_ttl_s = 1;
    let (a, b) = (spawn_with(db, config.clone()).await, spawn_with(db, config).await);
    let session = sign_in(&a, "admin", ADMIN_PASSWORD).await;
    assert_eq!(get_with_session(&b, "/", &session).await.status(), 200);
    let out = std::time::Instant::now();

    logout(&a, &session).await;

    assert!(signed_out(&a, &session).await);
    wait_for("B forgets the session", Duration::from_secs(3), async || {
        signed_out(&b, &session).await
    })
    .await;
    assert!(out.elapsed() < Duration::from_secs(3));
}

/// Pages are kept framed per session: each visitor sees their own name and token, never
/// another's, and a role change shows at once.
async fn kept_pages_are_framed_for_their_own_session(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    app.user(db, "vera", "viewer").await;
    let admin = sign_in(&app, "admin", ADMIN_PASSWORD).await;
    let vera = sign_in(&app, "vera", "vera-password-123").await;
    let vera_again = sign_in(&app, "vera", "vera-password-123").await;
    let page = async |session: &str| {
        let r = get_with_session(&app, "/", session).await;
        assert_eq!(r.status(), 200);
        let cache = r.headers()["x-cache"].to_str().unwrap().to_string();
        (r.text().await.unwrap(), cache)
    };
    let mut tokens = std::collections::HashMap::new();
    for round in 0..2 {
        for (session, name, role) in [
            (&admin, "Administrator", "admin"),
            (&vera, "vera", "viewer"),
            (&vera_again, "vera", "viewer"),
        ] {
            let (html, _) = page(session).await;
            assert!(
                html.contains(&format!("<strong>{name}</strong> ({role})")),
                "{name} is shown"
            );
            let csrf = hidden(&html, "csrf");
            if round == 0 {
                tokens.insert(session.clone(), csrf);
            } else {
                assert_eq!(tokens[session.as_str()], csrf, "each session keeps its own token");
            }
        }
    }
    let distinct: std::collections::HashSet<&String> = tokens.values().collect();
    assert_eq!(distinct.len(), 3, "no session is shown another's token");
    let (first, _) = page(&vera).await;
    let (second, cache) = page(&vera).await;
    assert_eq!(first, second, "a kept page is the same page");
    assert_eq!(cache, "HIT");
    assert!(!first.contains("href=\"/import\""), "a viewer gets no edit controls");

    // An admin makes vera an editor: her next view shows the editing controls.
    let token = app.token().await;
    let id = app.user_id(&token, "vera").await;
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &token,
            Some(&json!({ "role": "editor" })),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (html, _) = page(&vera).await;
    assert!(html.contains("href=\"/import\""), "the new role shows at once");
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
    without_redis_a_logout_reaches_other_instances_within_the_user_cache_ttl,
    kept_pages_are_framed_for_their_own_session,
    forms_without_their_token_or_from_another_site_are_refused,
    a_session_token_is_not_an_api_refresh_token,
    logout_all_through_the_api_ends_web_sessions_too,
    anonymous_visitors_sign_in_first_unless_reads_are_public,
);
