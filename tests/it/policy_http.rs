//! Policy routes and the `mdl policy`/`mdl policies` commands, on both backends.

use crate::support::{TestApp, TestDb, backend_tests, error_code, load, metrics_batch, spawn};
use mdl::domain::Metric;
use mdl::domain::policy::{Policy, metadata, string_literal};
use mdl::domain::synthetic::synthetic_metric;
use mdl::store::{Expect, WriteKind};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;

const LOGIN: &str = "METRIC-LOGIN-SUCCESS-RATE";

/// The files of a `.tar.gz`, by path.
fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = BTreeMap::new();
    for entry in archive.entries().expect("a tar archive") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read entry");
        files.insert(path, content);
    }
    files
}

/// Loads a bundle's modules and data into one engine, as OPA would.
fn load_bundle(files: &BTreeMap<String, Vec<u8>>) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with(".rego")) {
        engine
            .add_policy(path.clone(), String::from_utf8(bytes.clone()).expect("utf8"))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    engine
        .add_data_json(std::str::from_utf8(&files["data.json"]).expect("utf8"))
        .expect("data.json");
    engine
}

fn manifest_revision(files: &BTreeMap<String, Vec<u8>>) -> String {
    let manifest: Value = serde_json::from_slice(&files[".manifest"]).expect("manifest is JSON");
    assert_eq!(manifest["roots"], json!(["mdl"]));
    manifest["revision"].as_str().expect("revision").to_string()
}

async fn one_policy_as_rego_or_json(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let url = format!("/api/v1/metrics/{LOGIN}/policy");

    let r = app.get(&url, &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["vary"], "Accept");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let rego = r.text().await.unwrap();
    let stored = db.store.get_metric(LOGIN).await.unwrap().unwrap();
    let expected = Policy::generate(
        &Metric::parse(Value::Object(stored.doc.clone())).unwrap(),
        stored.version,
    );
    assert_eq!(rego, expected.rego, "the served module is the generator's output");
    let mut engine = regorus::Engine::new();
    engine.add_policy("p.rego".into(), rego).expect("served module parses");

    let again = app
        .client
        .get(app.url(&url))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let r = app
        .client
        .get(app.url(&url))
        .bearer_auth(&token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_ne!(
        r.headers()["etag"].to_str().unwrap(),
        etag,
        "each representation has its own ETag"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["metric_id"], LOGIN);
    assert_eq!(body["data"]["version"], stored.version);
    assert_eq!(
        body["data"]["package"],
        format!("mdl.metrics[{}]", string_literal(LOGIN))
    );
    assert_eq!(body["data"]["rego"], expected.rego.as_str());

    // Text wins unless JSON is preferred.
    let r = app
        .client
        .get(app.url(&url))
        .bearer_auth(&token)
        .header("accept", "text/plain, application/json;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));

    let (status, code, _) = error_code(app.get("/api/v1/metrics/NOPE/policy", &token).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (404, "NOT_FOUND"));
}

async fn policies_list_is_paginated_and_filtered(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;
    let r = app.get("/api/v1/policies?limit=5&page=2", &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-total-count"], "12");
    assert!(r.headers()["link"].to_str().unwrap().contains("/api/v1/policies?"));
    let body: Value = r.json().await.unwrap();
    let items = body["data"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(body["pagination"]["pages"], 3);
    for item in items {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("p.rego".into(), item["rego"].as_str().unwrap().to_string())
            .expect("parses");
    }

    let body: Value = app
        .get("/api/v1/policies?tier=Tier-1&limit=100", &token)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["metric_id"].as_str())
        .collect();
    assert!(ids.contains(&LOGIN), "{ids:?}");
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["rego"].as_str().unwrap().contains("\"tier\": \"Tier-1\""))
    );

    let (status, code, body) = error_code(app.get("/api/v1/policies?fields=name", &token).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "VALIDATION_ERROR"), "{body}");
}

async fn bundle_is_real_deterministic_and_polls_with_304(db: &TestDb) {
    load(db).await;
    let app = spawn(db, false).await;
    let token = app.token().await;

    let (first, etag, revision) = the_bundle_is_a_tarball_tagged_with_its_revision(&app, &token).await;
    the_whole_bundle_loads_as_opa_would_and_decides(&untar(&first));
    an_unchanged_catalog_gives_the_same_bytes_and_304(&app, &token, &first, &etag).await;
    a_change_elsewhere_in_the_catalog_leaves_the_bundle_alone(&app, &token, &etag).await;
    // Saving a metric as it already is changes nothing, so the revision stays.
    let stored = db.store.get_metric(LOGIN).await.unwrap().unwrap();
    let same = Metric::parse(Value::Object(stored.doc)).unwrap();
    let saved = db.store.save_metric(&same, "someone", Expect::Any).await.unwrap();
    assert_eq!(saved.kind, WriteKind::Unchanged);
    assert_eq!(fetch_bundle(&app, &token, Some(&etag)).await.status(), 304);
    let new_etag = a_metric_change_moves_the_revision(&app, &token, &etag, &revision).await;
    deleting_a_metric_removes_its_module(&app, &token, new_etag).await;
}

async fn fetch_bundle(app: &TestApp, token: &str, etag: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url("/api/v1/policies/bundle.tar.gz"))
        .bearer_auth(token);
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    req.send().await.unwrap()
}

/// Returns the bundle's bytes, its ETag and its manifest revision.
async fn the_bundle_is_a_tarball_tagged_with_its_revision(
    app: &TestApp,
    token: &str,
) -> (bytes::Bytes, String, String) {
    let r = fetch_bundle(app, token, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/gzip");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let first = r.bytes().await.unwrap();
    let files = untar(&first);
    assert_eq!(files.len(), 2 + 12, "{:?}", files.keys().collect::<Vec<_>>());
    assert!(files.contains_key(&format!("mdl/metrics/{LOGIN}/policy.rego")));
    let revision = manifest_revision(&files);
    assert_eq!(etag, format!("\"{revision}\""), "the ETag is the manifest revision");
    (first, etag, revision)
}

fn the_whole_bundle_loads_as_opa_would_and_decides(files: &BTreeMap<String, Vec<u8>>) {
    let mut engine = load_bundle(files);
    let input = json!({"metric_id": LOGIN, "value": 0.97, "dimensions": {"platform": "web"}, "user": {"id": "data_engineering"}});
    engine.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
    let allow = engine
        .eval_query(format!("data.mdl.metrics[{}].allow", string_literal(LOGIN)), false)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&allow.result[0].expressions[0].value).unwrap(),
        true
    );
}

async fn an_unchanged_catalog_gives_the_same_bytes_and_304(app: &TestApp, token: &str, first: &[u8], etag: &str) {
    let second = fetch_bundle(app, token, None).await.bytes().await.unwrap();
    assert_eq!(first, second, "byte-identical across requests");
    assert_eq!(fetch_bundle(app, token, Some(etag)).await.status(), 304);
}

async fn a_change_elsewhere_in_the_catalog_leaves_the_bundle_alone(app: &TestApp, token: &str, etag: &str) {
    let domain = json!({"domain_id": "ops", "name": "Operations", "description": "d", "owner_team": "ops"});
    let r = app
        .send(reqwest::Method::POST, "/api/v1/domains", token, Some(&domain))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(fetch_bundle(app, token, Some(etag)).await.status(), 304);
}

/// Returns the new ETag.
async fn a_metric_change_moves_the_revision(app: &TestApp, token: &str, etag: &str, revision: &str) -> String {
    let patch = json!({"targets_and_alerts": {"critical_threshold": 0.5}});
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/metrics/{LOGIN}"),
            token,
            Some(&patch),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = fetch_bundle(app, token, Some(etag)).await;
    assert_eq!(r.status(), 200);
    let new_etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag);
    let files = untar(&r.bytes().await.unwrap());
    assert_ne!(manifest_revision(&files), revision);
    let rego = String::from_utf8(files[&format!("mdl/metrics/{LOGIN}/policy.rego")].clone()).unwrap();
    assert!(rego.contains("input.value >= 0.5"), "{rego}");
    new_etag
}

async fn deleting_a_metric_removes_its_module(app: &TestApp, token: &str, etag: String) {
    let r = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/metrics/{LOGIN}"),
            token,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let files = untar(&fetch_bundle(app, token, Some(&etag)).await.bytes().await.unwrap());
    assert_eq!(files.len(), 2 + 11);
}

/// The bundle of a catalog larger than a batch: every metric's module and metadata, from the
/// two passes the streamed tarball makes over the metrics.
async fn a_bundle_spans_batches_of_metrics(db: &TestDb) {
    let batch = metrics_batch((0..1_001).map(synthetic_metric));
    db.store.import(&batch, "seed").await.unwrap();
    let app = spawn(db, false).await;
    let token = app.token().await;
    let r = fetch_bundle(&app, &token, None).await;
    assert_eq!(r.status(), 200);
    let files = untar(&r.bytes().await.unwrap());
    assert_eq!(files.len(), 2 + 1_001);
    let data: Value = serde_json::from_slice(&files["data.json"]).expect("data.json is JSON");
    let listed = data["mdl"]["catalog"]["metrics"].as_object().expect("metadata by id");
    assert_eq!(listed.len(), 1_001);
    for i in [0, 499, 500, 1_000] {
        let stored = db
            .store
            .get_metric(synthetic_metric(i)["metric_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let metric = Metric::parse(Value::Object(stored.doc.clone())).unwrap();
        let policy = Policy::generate(&metric, stored.version);
        assert_eq!(
            files[&format!("mdl/metrics/{}/policy.rego", stored.id)],
            policy.rego.as_bytes()
        );
        assert_eq!(listed[&stored.id], metadata(&metric, stored.version));
    }
    load_bundle(&files);
}

fn mdl(db: &TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mdl"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run mdl")
}

async fn cli_writes_modules_directories_and_bundles(db: &TestDb) {
    load(db).await;
    let dir = tempfile::tempdir().unwrap();

    let out = mdl(db, &["policy", LOGIN]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = db.store.get_metric(LOGIN).await.unwrap().unwrap();
    let expected = Policy::generate(
        &Metric::parse(Value::Object(stored.doc.clone())).unwrap(),
        stored.version,
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected.rego);

    let file = dir.path().join("login.rego");
    let out = mdl(db, &["policy", LOGIN, "-o", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected.rego);
    assert_eq!(mdl(db, &["policy", "NOPE"]).status.code(), Some(1));

    let tree = dir.path().join("bundle");
    let out = mdl(db, &["policies", "-o", tree.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(tree.join(".manifest").is_file());
    assert!(tree.join("data.json").is_file());
    assert_eq!(
        std::fs::read_to_string(tree.join(format!("mdl/metrics/{LOGIN}/policy.rego"))).unwrap(),
        expected.rego
    );

    let tarball = dir.path().join("bundle.tar.gz");
    let out = mdl(db, &["policies", "--bundle", tarball.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let files = untar(&std::fs::read(&tarball).unwrap());
    assert_eq!(files.len(), 2 + 12);
    assert_eq!(files[".manifest"], std::fs::read(tree.join(".manifest")).unwrap());
    load_bundle(&files);

    assert_eq!(
        mdl(db, &["policies"]).status.code(),
        Some(2),
        "a destination is required"
    );
}

backend_tests!(
    one_policy_as_rego_or_json,
    policies_list_is_paginated_and_filtered,
    bundle_is_real_deterministic_and_polls_with_304,
    cli_writes_modules_directories_and_bundles,
    a_bundle_spans_batches_of_metrics,
);
