//! Hostile input against imports and the public edges: alias bombs, forged server fields,
//! anonymous scrapes, weak secrets, a database that is not there.

use crate::support::{
    TcpProxy, TestApp, TestDb, backend_tests, error_code, postgres, postgres_url, sample_metrics, spawn, spawn_on,
    spawn_with, sqlite, test_config,
};
use mdl::catalog::import::{self, ImportOptions};
use mdl::catalog::{Format, format};
use mdl::config::{DbConfig, check_jwt_secret};
use mdl::domain::Metric;
use mdl::domain::synthetic::synthetic_metric;
use mdl::store::Expect;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An anchored list of `items` scalars, then `levels` lists of ten aliases to the level below.
fn alias_bomb(items: usize, levels: usize) -> String {
    let mut yaml = format!("a0: &a0 [{}]\n", vec!["x"; items].join(","));
    for level in 1..=levels {
        let below = format!("*a{}", level - 1);
        yaml.push_str(&format!("a{level}: &a{level} [{}]\n", [below.as_str(); 10].join(",")));
    }
    yaml.push_str(&format!("metrics: *a{levels}\n"));
    yaml
}

fn body_error(result: Result<Value, mdl::domain::ValidationErrors>) -> String {
    let errors = result.expect_err("refused");
    let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["body"]);
    errors.errors()[0].message.clone()
}

#[test]
fn yaml_alias_expansion_is_bounded() {
    // 300 values behind three levels of ten aliases: 300 000 once expanded, from 700 bytes.
    let small = alias_bomb(300, 3);
    assert!(small.len() < 1000);
    assert!(body_error(format::parse(small.as_bytes(), Format::Yaml)).contains("expands to more than"));

    // The reported case (3 million values, gigabytes once built) is refused just as fast.
    let big = alias_bomb(300, 4);
    let started = Instant::now();
    body_error(format::parse(big.as_bytes(), Format::Yaml));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[test]
fn ordinary_anchor_reuse_still_parses() {
    let mut yaml =
        String::from("owners: &owners\n  owner_team: Growth\n  technical_owner: ana\n  status: active\nmetrics:\n");
    for i in 0..40 {
        yaml.push_str(&format!(
            "  - metric_id: M-{i}\n    name: Metric {i}\n    description: d\n    category: Growth\n    tier: Tier-1\n    \
             business_domain: Growth\n    metric_type: leading\n    governance: *owners\n"
        ));
    }
    let doc = format::parse(yaml.as_bytes(), Format::Yaml).expect("parses");
    assert_eq!(doc["metrics"][39]["governance"]["owner_team"], "Growth");
    assert!(import::plan(doc, true).is_ok());
    assert!(format::yaml_value_budget(yaml.len()) > 40 * 20);
}

#[tokio::test]
async fn alias_bomb_posted_by_an_editor_is_a_field_error() {
    let db = sqlite().await;
    let app = spawn(&db, false).await;
    let editor = app.user(&db, "eddie", "editor").await;
    let started = Instant::now();
    let r = app
        .client
        .post(app.url("/api/v1/import?dry_run=true"))
        .bearer_auth(&editor)
        .header("content-type", "application/yaml")
        .body(alias_bomb(300, 4))
        .send()
        .await
        .unwrap();
    let (status, code, body) = error_code(r).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"));
    assert_eq!(body["error"]["details"][0]["field"], "body");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    db.cleanup().await;
}

/// A YAML catalog of `n` synthetic metrics: seconds of parsing in a debug build.
fn big_yaml(n: usize) -> Vec<u8> {
    let metrics: Vec<Value> = (0..n).map(synthetic_metric).collect();
    format::render(&json!({ "metrics": metrics }), Format::Yaml)
        .unwrap()
        .into_bytes()
}

async fn dry_run_import(app: &TestApp, token: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/import?dry_run=true"))
        .bearer_auth(token)
        .header("content-type", "application/yaml")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The test runtime has one thread: parsing on it would stall every other request.
#[tokio::test]
async fn imports_are_parsed_off_the_async_workers() {
    let db = sqlite().await;
    let app = spawn(&db, false).await;
    let token = app.token().await;
    let import = app
        .client
        .post(app.url("/api/v1/import?dry_run=true"))
        .bearer_auth(&token)
        .header("content-type", "application/yaml")
        .body(big_yaml(1500))
        .send();
    let started = Instant::now();
    let import = tokio::spawn(import);
    // Each round's length, its pause included: a blocked thread shows up in whatever it delays.
    let mut probes = Vec::new();
    while !import.is_finished() {
        let t = Instant::now();
        let r = app.client.get(app.url("/health/live")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
        probes.push(t.elapsed());
    }
    let took = started.elapsed();
    assert_eq!(import.await.unwrap().unwrap().status(), 200);
    let slowest = probes.iter().max().copied().unwrap_or_default();
    assert!(
        took > Duration::from_secs(1),
        "import too quick to prove anything: {took:?}"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "a probe waited {slowest:?} behind an import of {took:?} ({} probes)",
        probes.len()
    );
    db.cleanup().await;
}

fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_burst_of_imports_takes_turns() {
    let db = sqlite().await;
    let app = spawn(&db, false).await;
    let token = app.token().await;
    let scrape = async || {
        let r = app.client.get(app.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    };
    let before = counter(&scrape().await, "mdl_imports_queued_total");
    let body = big_yaml(600);
    let burst: Vec<_> = (0..4).map(|_| dry_run_import(&app, &token, body.clone())).collect();
    let mut served = 0;
    for r in futures_util::future::join_all(burst).await {
        // A turn that does not come within the queue wait is a clean 503, never a pile-up.
        match r.status().as_u16() {
            200 => served += 1,
            503 => assert!(r.headers().contains_key("retry-after")),
            other => panic!("import answered {other}"),
        }
    }
    assert!(served >= 1, "no import of the burst was served");
    let after = counter(&scrape().await, "mdl_imports_queued_total");
    assert!(after > before, "no import waited for a turn ({before} -> {after})");
    db.cleanup().await;
}

fn forged(id: &str, version: Value) -> Value {
    let mut doc = sample_metrics()[0].clone();
    doc["metric_id"] = json!(id);
    doc["version"] = version;
    doc["created_by"] = json!("ceo");
    doc["created_at"] = json!("2001-01-01T00:00:00Z");
    doc["updated_by"] = json!("ceo");
    doc["updated_at"] = json!("2001-01-02T00:00:00Z");
    doc
}

async fn post_import(app: &TestApp, token: &str, catalog: &Value) -> Value {
    let r = app.send(Method::POST, "/api/v1/import", token, Some(catalog)).await;
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

async fn editor_imports_never_set_server_fields(db: &TestDb) {
    let app = spawn(db, false).await;
    let editor = app.user(db, "eddie", "editor").await;
    let report = post_import(
        &app,
        &editor,
        &json!({ "metrics": [forged("M-FORGED", json!(1_i64 << 53))] }),
    )
    .await;
    assert_eq!(report["data"]["restored"], false);

    let got: Value = app.get("/api/v1/metrics/M-FORGED", &editor).await.json().await.unwrap();
    let m = &got["data"];
    assert_eq!(
        (m["version"].as_i64(), m["created_by"].as_str()),
        (Some(1), Some("eddie"))
    );
    assert!(!m["created_at"].as_str().unwrap().starts_with("2001"), "{m}");
    assert_eq!(m["updated_by"], "eddie");

    let patch = json!({ "description": "still writable" });
    let r = app
        .send(Method::PATCH, "/api/v1/metrics/M-FORGED", &editor, Some(&patch))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["data"]["version"], 2);
}

async fn admin_restore_keeps_server_fields_only_into_an_empty_database(db: &TestDb) {
    let app = spawn(db, false).await;
    let admin = app.token().await;
    let catalog = json!({ "metrics": [
        forged("M-RESTORED", json!(7)),
        forged("M-HUGE", json!(1_i64 << 53)),
    ] });
    let report = post_import(&app, &admin, &catalog).await;
    assert_eq!(report["data"]["restored"], true);
    let warnings = report["data"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("metrics[1].version")),
        "{warnings:?}"
    );
    let restored = db.store.get_metric("M-RESTORED").await.unwrap().unwrap();
    assert_eq!((restored.version, restored.created_by.as_str()), (7, "ceo"));
    let huge = db.store.get_metric("M-HUGE").await.unwrap().unwrap();
    assert_eq!(huge.version, 1, "versions above 2^31 - 1 are never adopted");
    let patch = json!({ "description": "later edit" });
    let r = app
        .send(Method::PATCH, "/api/v1/metrics/M-RESTORED", &admin, Some(&patch))
        .await;
    assert_eq!(r.status(), 200);

    // Not empty any more: the next admin import is an ordinary one.
    let report = post_import(&app, &admin, &json!({ "metrics": [forged("M-LATE", json!(40))] })).await;
    assert_eq!(report["data"]["restored"], false);
    let late = db.store.get_metric("M-LATE").await.unwrap().unwrap();
    assert_eq!((late.version, late.created_by.as_str()), (1, "admin"));
}

async fn history_alone_ends_restores(db: &TestDb) {
    let doc = synthetic_metric(1);
    let id = doc["metric_id"].as_str().unwrap().to_string();
    db.store
        .save_metric(&Metric::parse(doc).unwrap(), "a", Expect::Absent)
        .await
        .unwrap();
    db.store.delete_metric(&id, "a", None).await.unwrap();
    assert_eq!(db.store.stats().await.unwrap().total_metrics, 0);

    let opts = ImportOptions {
        actor: "root",
        dry_run: false,
        restore: true,
    };
    let report = import::run(&*db.store, json!({ "metrics": [forged("M-AFTER", json!(9))] }), opts)
        .await
        .unwrap();
    assert!(!report.outcome.restored);
    assert_eq!(db.store.get_metric("M-AFTER").await.unwrap().unwrap().version, 1);
}

async fn the_cli_import_is_a_restore(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.json");
    std::fs::write(&file, json!({ "metrics": [forged("M-CLI", json!(12))] }).to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(["import", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = db.store.get_metric("M-CLI").await.unwrap().unwrap();
    assert_eq!((m.version, m.created_by.as_str()), (12, "ceo"));
}

backend_tests!(
    editor_imports_never_set_server_fields,
    admin_restore_keeps_server_fields_only_into_an_empty_database,
    history_alone_ends_restores,
    the_cli_import_is_a_restore,
);

#[tokio::test]
async fn anonymous_scrapes_get_no_catalog_gauges() {
    let db = sqlite().await;
    crate::support::load(&db).await;
    let app = spawn(&db, false).await;
    let token = app.token().await;
    let scrape = async |token: Option<&str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    // A reader's scrape first, so the figures exist in this process when the others ask.
    let text = scrape(Some(token.as_str())).await;
    assert!(text.contains("mdl_catalog_metrics_total 12"), "{text}");
    assert!(text.contains("mdl_catalog_metrics{category="), "{text}");

    for who in [None, Some("not-a-token")] {
        let text = scrape(who).await;
        assert!(!text.contains("mdl_catalog_"), "{who:?} sees catalog gauges");
        assert!(text.contains("mdl_uptime_seconds"), "process figures stay public");
    }
    drop(app);

    let mut config = test_config();
    config.public_read = true;
    let public = spawn_with(&db, config).await;
    let text = public
        .client
        .get(public.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("mdl_catalog_metrics_total 12"),
        "public read shows them to all"
    );
    drop(public);

    let mut config = test_config();
    config.metrics_bind = Some("127.0.0.1:0".into());
    let separate = spawn_with(&db, config).await;
    let url = format!("http://{}/metrics", separate.metrics_addr.unwrap());
    let text = separate.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains("mdl_catalog_metrics_total 12"),
        "the operator's listener shows all"
    );
    db.cleanup().await;
}

#[test]
fn weak_jwt_secrets_are_refused() {
    for weak in ["a".repeat(32), "ab".repeat(32), "0123".repeat(8), "short".into()] {
        assert!(check_jwt_secret(&weak).is_err(), "{weak} accepted");
        let mut config = test_config();
        config.jwt_secret = Some(weak.clone());
        let problems = config.validate().expect_err("refused");
        assert!(problems.iter().any(|p| p.starts_with("MDL_JWT_SECRET")), "{problems:?}");
    }
    let hex = "3f9a0c7be41d28566f0e9b13ca74d2e85b1f60a39c4d7e28f01b6a5c93e7d402";
    let words = "correct horse battery staple, 1987";
    for strong in [hex, words] {
        assert_eq!(check_jwt_secret(strong), Ok(()), "{strong}");
    }
}

/// The database goes away under a running server: the first requests that need it are answered
/// 503 well inside the design's second (sqlx retries refused connects until the acquire timeout).
#[tokio::test]
async fn first_failure_on_an_unreachable_database_is_fast() {
    let Some(base) = postgres_url() else { return };
    let Some(db) = postgres().await else { return };
    assert!(
        base.contains("127.0.0.1:5432"),
        "the test expects the database at 127.0.0.1:5432"
    );
    let mut proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let url = db.url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let store = mdl::store::connect(&DbConfig::new(&url)).await.unwrap();
    let app = spawn_on(store, test_config()).await;
    let token = app.token().await;
    assert_eq!(app.get("/api/v1/metrics", &token).await.status(), 200);

    proxy.cut();
    let doc = synthetic_metric(5);
    for (what, request) in [
        (
            "read",
            app.client
                .get(app.url("/api/v1/metrics/NOT-CACHED"))
                .bearer_auth(&token),
        ),
        (
            "write",
            app.client
                .post(app.url("/api/v1/metrics"))
                .bearer_auth(&token)
                .json(&doc),
        ),
        ("ready", app.client.get(app.url("/health/ready"))),
    ] {
        let started = Instant::now();
        let r = request.send().await.unwrap();
        let took = started.elapsed();
        assert_eq!(r.status(), 503, "{what}");
        assert!(took < Duration::from_millis(900), "{what} answered after {took:?}");
    }
    drop(app);
    db.cleanup().await;
}

/// An exported number reads back as the same number (it did not, one unit in the last place
/// off, before `serde_json`'s `float_roundtrip`), so re-importing an export changes nothing.
#[test]
fn numbers_read_back_exactly() {
    let doc = json!({ "targets_and_alerts": { "critical_threshold": 7.489504598760341e274, "x": 0.1 } });
    for fmt in [Format::Json, Format::Yaml] {
        let text = format::render(&doc, fmt).unwrap();
        assert_eq!(format::parse(text.as_bytes(), fmt).unwrap(), doc, "{fmt:?}: {text}");
    }
    let sent = br#"{"t": 7.489504598760341e274}"#;
    let parsed = format::parse(sent, Format::Json).unwrap();
    assert_eq!(parsed["t"].as_f64(), Some(7.489504598760341e274));
}

#[test]
fn json_with_too_many_values_is_refused_before_it_is_built() {
    let mut doc = String::from("{\"metrics\": [");
    doc.push_str(&"0,".repeat(mdl::catalog::format::MAX_YAML_VALUES));
    doc.push_str("0]}");
    let errors = mdl::catalog::format::parse(doc.as_bytes(), mdl::catalog::Format::Json).expect_err("refused");
    assert!(errors.errors()[0].message.contains("values"), "{:?}", errors.errors());
}

#[test]
fn yaml_exports_read_the_same_under_yaml_1_1() {
    let doc = serde_json::json!({ "=": "=", "flags": ["on", "no", "yes"], "k": "off", "text": "a\n=\nb", "y": 1 });
    let text = mdl::catalog::format::render(&doc, mdl::catalog::Format::Yaml).unwrap();
    for plain in ["- on", "- no", "- yes", ": off", ": =", "\n=:", "\ny:"] {
        assert!(!text.contains(plain), "{plain:?} left plain in\n{text}");
    }
    let back = mdl::catalog::format::parse(text.as_bytes(), mdl::catalog::Format::Yaml).unwrap();
    assert_eq!(back, doc);
}
