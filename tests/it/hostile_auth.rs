//! Authentication under attack: input bounds on the public routes, throttling that an attacker
//! cannot turn against the real user, scoped keys, revocation that takes effect at once, and
//! connections that cannot be held open by slow clients.

use crate::support::{
    ADMIN_PASSWORD, TestApp, TestDb, backend_tests, error_code, redis_prefix, redis_url, spawn_on, spawn_with,
    test_config,
};
use mdl::auth::password::{HashCost, hash_password};
use mdl::config::{DbConfig, ServeConfig};
use mdl::domain::user::NewUser;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn create_user(db: &TestDb, name: &str, role: &str, cost: HashCost) -> String {
    let password = format!("{name}-password-123");
    let new = NewUser::parse(name, &format!("{name}@example.com"), None, role, &password).unwrap();
    let hash = hash_password(password.clone(), cost).await.unwrap();
    db.store.create_user(&new, &hash).await.unwrap();
    password
}

async fn tokens(app: &TestApp, name: &str, password: &str) -> (String, String) {
    let r = app.login(name, password).await;
    assert_eq!(r.status(), 200, "login of {name}");
    let body: Value = r.json().await.unwrap();
    let t = &body["data"]["tokens"];
    (
        t["access_token"].as_str().unwrap().to_string(),
        t["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn login_input_is_bounded_before_it_is_used(db: &TestDb) {
    let app = spawn_with(db, test_config()).await;
    // A long username never reaches the limiter or the store: the auth routes take small
    // bodies only (this one is within the general body limit of the test server).
    let huge = json!({ "username": "u".repeat(32 * 1024), "password": "whatever-password" });
    let (status, code, _) = error_code(post(&app, "/api/v1/auth/login", None, &huge).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (413, "PAYLOAD_TOO_LARGE"));
    // Names that no account can have are refused like a wrong password, and do not count
    // against anyone: a thousand of them leave the real login untouched.
    for i in 0..1000 {
        let body = json!({ "username": format!("{}{i}", "ü".repeat(40)), "password": "x" });
        assert_eq!(post(&app, "/api/v1/auth/login", None, &body).await.status(), 401);
    }
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status(), 200);
}

async fn read_keys_cannot_touch_identity_data(db: &TestDb) {
    let app = spawn_with(db, test_config()).await;
    let password = create_user(db, "edna", "editor", HashCost::cheap()).await;
    let (session, _) = tokens(&app, "edna", &password).await;
    let me: Value = app.get("/api/v1/auth/me", &session).await.json().await.unwrap();
    let my_id = me["data"]["user_id"].as_str().unwrap().to_string();
    let key = |scopes: Value| {
        let app = &app;
        let session = session.clone();
        async move {
            let body: Value = post(
                app,
                "/api/v1/api-keys",
                Some(&session),
                &json!({ "name": "k", "scopes": scopes }),
            )
            .await
            .json()
            .await
            .unwrap();
            (
                body["data"]["key"].as_str().unwrap().to_string(),
                body["data"]["api_key"]["key_id"].as_str().unwrap().to_string(),
            )
        }
    };
    let (read, read_id) = key(json!(["read"])).await;
    let (write, write_id) = key(json!(["write"])).await;

    // The read key still reads, and identifies its owner...
    assert_eq!(app.get("/api/v1/auth/me", &read).await.status(), 200);
    // ...but changes nothing about identities: not the owner's e-mail, not keys.
    let patch = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{my_id}"),
            &read,
            Some(&json!({ "email": "thief@example.com" })),
        )
        .await;
    assert_eq!(error_code(patch).await.0, 403);
    let minted = post(
        &app,
        "/api/v1/api-keys",
        Some(&read),
        &json!({ "name": "mine", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(error_code(minted).await.0, 403);
    let revoke = app
        .send(Method::DELETE, &format!("/api/v1/api-keys/{write_id}"), &read, None)
        .await;
    assert_eq!(error_code(revoke).await.0, 403);
    assert_eq!(error_code(app.get("/api/v1/api-keys", &read).await).await.0, 403);
    // Password changes and logging out everywhere need the session itself.
    let change = json!({ "current_password": password, "new_password": "another-password-1" });
    for k in [&read, &write] {
        let r = post(&app, "/api/v1/auth/change-password", Some(k), &change).await;
        assert_eq!(error_code(r).await.0, 403);
    }
    // A write-scoped key may manage keys, as the design allows.
    let r = app
        .send(Method::DELETE, &format!("/api/v1/api-keys/{read_id}"), &write, None)
        .await;
    assert_eq!(r.status(), 204);
    let me: Value = app
        .get(&format!("/api/v1/users/{my_id}"), &session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["email"], "edna@example.com");
}

async fn password_changes_are_throttled(db: &TestDb) {
    let app = spawn_with(db, test_config()).await;
    let password = create_user(db, "petra", "viewer", HashCost::cheap()).await;
    let (session, _) = tokens(&app, "petra", &password).await;
    let guess = json!({ "current_password": "a-wrong-guess-1", "new_password": "another-password-1" });
    for _ in 0..10 {
        let r = post(&app, "/api/v1/auth/change-password", Some(&session), &guess).await;
        assert_eq!(r.status(), 400);
    }
    let r = post(&app, "/api/v1/auth/change-password", Some(&session), &guess).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

async fn revocation_ends_access_tokens_at_once(db: &TestDb) {
    let app = spawn_with(db, test_config()).await;
    let password = create_user(db, "rita", "viewer", HashCost::cheap()).await;

    // Password change: every earlier access token stops working.
    let (old, _) = tokens(&app, "rita", &password).await;
    let (current, _) = tokens(&app, "rita", &password).await;
    let change = json!({ "current_password": password, "new_password": "rita-new-password-1" });
    assert_eq!(
        post(&app, "/api/v1/auth/change-password", Some(&current), &change)
            .await
            .status(),
        204
    );
    for t in [&old, &current] {
        assert_eq!(app.get("/api/v1/auth/me", t).await.status(), 401);
    }

    // Refresh-token reuse: the thief's and the victim's access tokens both end.
    let (access, refresh) = tokens(&app, "rita", "rita-new-password-1").await;
    let rotated: Value = post(&app, "/api/v1/auth/refresh", None, &json!({ "refresh_token": refresh }))
        .await
        .json()
        .await
        .unwrap();
    let thief = rotated["data"]["tokens"]["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/auth/me", &thief).await.status(), 200);
    let reuse = post(&app, "/api/v1/auth/refresh", None, &json!({ "refresh_token": refresh })).await;
    assert_eq!(reuse.status(), 401);
    for t in [&access, &thief] {
        assert_eq!(app.get("/api/v1/auth/me", t).await.status(), 401);
    }

    // Logout everywhere.
    let (a, r) = tokens(&app, "rita", "rita-new-password-1").await;
    assert_eq!(
        post(&app, "/api/v1/auth/logout-all", Some(&a), &json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(app.get("/api/v1/auth/me", &a).await.status(), 401);
    let refresh = post(&app, "/api/v1/auth/refresh", None, &json!({ "refresh_token": r })).await;
    assert_eq!(refresh.status(), 401);
    // A new login works again.
    let (fresh, _) = tokens(&app, "rita", "rita-new-password-1").await;
    assert_eq!(app.get("/api/v1/auth/me", &fresh).await.status(), 200);
}

async fn unknown_usernames_cost_what_wrong_passwords_cost(db: &TestDb) {
    // Costly enough that skipping the hash shows; the decoy uses the server's cost.
    let cost = HashCost {
        memory_kib: 4 * 1024,
        iterations: 2,
    };
    let password = create_user(db, "tim", "viewer", cost).await;
    mdl::auth::ensure_admin(&*db.store, Some(ADMIN_PASSWORD), cost)
        .await
        .unwrap();
    let mut config = test_config();
    config.login_rate_per_min = 1000;
    let app = mdl::http::Application::build(config, db.store.clone(), cost)
        .await
        .unwrap();
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let attempt = async |user: &str| {
        let started = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "username": user, "password": "not-the-password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        started.elapsed()
    };
    // Interleaved, so a burst of load elsewhere on the machine hits both series alike.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        known.push(attempt("tim").await);
        unknown.push(attempt("nobody-here").await);
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[3], unknown[3]);
    // Without the decoy the ratio is about a hundred; with it, about one.
    assert!(
        unknown * 3 >= known,
        "unknown user {unknown:?} vs wrong password {known:?}: the difference tells who exists"
    );
    assert_ne!(password, "not-the-password");
    let _ = stop.send(());
}

backend_tests!(
    login_input_is_bounded_before_it_is_used,
    read_keys_cannot_touch_identity_data,
    password_changes_are_throttled,
    revocation_ends_access_tokens_at_once,
    unknown_usernames_cost_what_wrong_passwords_cost,
);

fn behind_proxy(backoff_after: u32) -> ServeConfig {
    let mut config = test_config();
    config.limits.trusted_proxies = Some("127.0.0.1/32, ::1/128".into());
    config.limits.login_backoff_after = backoff_after;
    config
}

async fn login_from(app: &TestApp, client_ip: &str, user: &str, password: &str) -> u16 {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", format!("{client_ip}, 127.0.0.1"))
        .json(&json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn login_limits_follow_the_real_client_behind_a_trusted_proxy() {
    let db = crate::support::sqlite().await;
    let app = spawn_with(&db, behind_proxy(1000)).await;
    for _ in 0..10 {
        assert_eq!(login_from(&app, "198.51.100.1", "admin", "wrong-password").await, 401);
    }
    assert_eq!(login_from(&app, "198.51.100.1", "admin", ADMIN_PASSWORD).await, 429);
    // Another client behind the same balancer is a different client.
    assert_eq!(login_from(&app, "198.51.100.2", "admin", ADMIN_PASSWORD).await, 200);

    // Without trusting the proxy, the header is the client's own claim and changes nothing.
    let app = spawn_with(&db, test_config()).await;
    for i in 0..10 {
        assert_eq!(
            login_from(&app, &format!("198.51.100.{i}"), "admin", "wrong-password").await,
            401
        );
    }
    assert_eq!(login_from(&app, "203.0.113.77", "admin", ADMIN_PASSWORD).await, 429);
    db.cleanup().await;
}

#[tokio::test]
async fn many_addresses_are_slowed_but_the_real_user_gets_in() {
    let db = crate::support::sqlite().await;
    let app = spawn_with(&db, behind_proxy(3)).await;
    // The real user has logged in from home before.
    assert_eq!(login_from(&app, "192.0.2.10", "admin", ADMIN_PASSWORD).await, 200);
    // A botnet tries one password per address.
    for i in 0..3 {
        assert_eq!(
            login_from(&app, &format!("198.51.100.{i}"), "admin", "guess").await,
            401
        );
    }
    // Past the budget, unfamiliar addresses wait, whatever password they bring.
    assert_eq!(login_from(&app, "198.51.100.200", "admin", "guess").await, 429);
    assert_eq!(login_from(&app, "198.51.100.201", "admin", ADMIN_PASSWORD).await, 429);
    // Home is not locked out.
    assert_eq!(login_from(&app, "192.0.2.10", "admin", ADMIN_PASSWORD).await, 200);
    db.cleanup().await;
}

#[tokio::test]
async fn revocations_reach_every_instance_at_once() {
    let Some(redis) = redis_url() else { return };
    let db = crate::support::sqlite().await;
    let prefix = redis_prefix();
    let config = || {
        let mut c = test_config();
        c.cache.redis_url = Some(redis.clone());
        c.cache.redis_prefix = prefix.clone();
        // Longer than the test: only the invalidation message can make it pass.
        c.user_cache_ttl_s = 300;
        c
    };
    let a = spawn_with(&db, config()).await;
    let store_b = mdl::store::connect(&DbConfig::new(&db.url)).await.unwrap();
    let b = spawn_on(store_b, config()).await;
    for app in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while app.health().await["components"]["cache"]["l2"] != "up" {
            assert!(Instant::now() < deadline, "redis tier live");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let password = create_user(&db, "rosa", "viewer", HashCost::cheap()).await;
    let (token, _) = tokens(&a, "rosa", &password).await;
    // B knows (and caches) the user.
    assert_eq!(b.get("/api/v1/auth/me", &token).await.status(), 200);
    let change = json!({ "current_password": password, "new_password": "rosa-new-password-1" });
    assert_eq!(
        post(&a, "/api/v1/auth/change-password", Some(&token), &change)
            .await
            .status(),
        204
    );
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if b.get("/api/v1/auth/me", &token).await.status() == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old token still works on the other instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    db.cleanup().await;
}

fn tight_connections(max: usize) -> ServeConfig {
    let mut config = test_config();
    config.limits.header_read_timeout_s = 1;
    config.limits.max_connections = max;
    config
}

#[tokio::test]
async fn clients_dripping_headers_are_cut_off() {
    let db = crate::support::sqlite().await;
    let app = spawn_with(&db, tight_connections(100)).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /health/live HTTP/1.1\r\n").await.unwrap();
    // One header byte every 200 ms: the connection is never quiet, but never done either.
    let mut closed = false;
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await
            && n == 0
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a dripping client kept its connection for {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    db.cleanup().await;
}

#[tokio::test]
async fn idle_connections_cannot_starve_new_clients() {
    let db = crate::support::sqlite().await;
    let app = spawn_with(&db, tight_connections(4)).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    // Every slot taken by a connection that sends nothing.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(app.url("/health/live"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served once the silent connections time out");
    assert_eq!(r.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "the cap was not applied ({waited:?})"
    );
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    drop(idle);
    db.cleanup().await;
}
