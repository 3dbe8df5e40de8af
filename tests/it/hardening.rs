//! Regressions for problems found in review: concurrency, limits, audit, cross-backend parity.

use crate::support::{TestDb, backend_tests, sample_metrics};
use mdl::catalog::import::{self, ImportOptions};
use mdl::catalog::{Format, format};
use mdl::domain::synthetic::synthetic_metric;
use mdl::domain::{BusinessDomain, Metric};
use mdl::store::{Entity, EntityKind, Expect, MetricFilter, MetricQuery, PageRequest, StoreError};
use serde_json::{Value, json};

fn editor(actor: &str) -> ImportOptions<'_> {
    ImportOptions {
        actor,
        dry_run: false,
        restore: false,
    }
}

fn admin(actor: &str) -> ImportOptions<'_> {
    ImportOptions {
        actor,
        dry_run: false,
        restore: true,
    }
}

fn metric(doc: Value) -> Metric {
    Metric::parse(doc).expect("valid metric")
}

async fn concurrent_imports_of_the_same_new_ids_all_succeed(db: &TestDb) {
    for round in 0..4 {
        let docs: Vec<Value> = (round * 50..round * 50 + 50).map(synthetic_metric).collect();
        let mut reversed = docs.clone();
        reversed.reverse();
        let (a, b) = tokio::join!(
            import::run(&*db.store, json!({ "metrics": docs }), editor("a")),
            import::run(&*db.store, json!({ "metrics": reversed }), editor("b")),
        );
        a.expect("first import");
        b.expect("second import");
    }
    assert_eq!(db.store.stats().await.unwrap().total_metrics, 200);
}

async fn absurd_imported_versions_are_not_adopted(db: &TestDb) {
    let mut doc = sample_metrics()[0].clone();
    doc["version"] = json!(i64::MAX);
    let report = import::run(&*db.store, json!({ "metrics": [doc.clone()] }), admin("i"))
        .await
        .unwrap();
    assert!(report.outcome.restored);
    let id = doc["metric_id"].as_str().unwrap();
    assert_eq!(db.store.get_metric(id).await.unwrap().unwrap().version, 1);
    doc["description"] = json!("changed");
    let saved = db.store.save_metric(&metric(doc), "e", Expect::Any).await.unwrap();
    assert_eq!(saved.entity.version, 2);
}

async fn history_records_the_real_author_of_a_restore(db: &TestDb) {
    let mut doc = sample_metrics()[0].clone();
    doc["updated_by"] = json!("ceo");
    doc["updated_at"] = json!("2001-01-01T00:00:00Z");
    import::run(&*db.store, json!({ "metrics": [doc.clone()] }), admin("restorer"))
        .await
        .unwrap();
    let id = doc["metric_id"].as_str().unwrap();
    assert_eq!(db.store.get_metric(id).await.unwrap().unwrap().updated_by, "ceo");
    let history = db.store.metric_history(id, &PageRequest::default()).await.unwrap();
    assert_eq!(history.items[0].changed_by, "restorer");
    assert!(!history.items[0].changed_at.starts_with("2001"));
}

async fn delete_snapshot_keeps_server_fields(db: &TestDb) {
    let doc = sample_metrics()[0].clone();
    let id = doc["metric_id"].as_str().unwrap();
    db.store
        .save_metric(&metric(doc.clone()), "alice", Expect::Absent)
        .await
        .unwrap();
    db.store.delete_metric(id, "admin", None).await.unwrap();
    let history = db.store.metric_history(id, &PageRequest::default()).await.unwrap();
    let snapshot = &history.items[0].snapshot;
    assert_eq!(
        (snapshot["version"].as_i64(), snapshot["created_by"].as_str()),
        (Some(1), Some("alice"))
    );
}

async fn integer_changes_beyond_f64_precision_are_saved(db: &TestDb) {
    let mut doc = sample_metrics()[0].clone();
    doc["metadata"] = json!({ "big": 9_007_199_254_740_992_i64 });
    db.store
        .save_metric(&metric(doc.clone()), "a", Expect::Absent)
        .await
        .unwrap();
    doc["metadata"] = json!({ "big": 9_007_199_254_740_993_i64 });
    let saved = db.store.save_metric(&metric(doc), "a", Expect::Any).await.unwrap();
    assert_eq!(saved.entity.version, 2);
}

async fn recreated_domains_continue_their_versions(db: &TestDb) {
    let d = |name: &str| BusinessDomain::parse(json!({ "domain_id": "D1", "name": name })).unwrap();
    db.store
        .save_entity(&Entity::Domain(d("One")), "a", Expect::Absent)
        .await
        .unwrap();
    db.store
        .save_entity(&Entity::Domain(d("Two")), "a", Expect::Any)
        .await
        .unwrap();
    db.store.delete_entity(EntityKind::Domain, "D1", Some(2)).await.unwrap();
    let again = db
        .store
        .save_entity(&Entity::Domain(d("Three")), "a", Expect::Absent)
        .await
        .unwrap();
    assert_eq!(again.entity.version, 3);
}

async fn search_matches_the_same_on_both_backends(db: &TestDb) {
    let mut doc = synthetic_metric(1);
    doc["name"] = json!("The café metric");
    doc["description"] = json!("about the thing");
    let id = doc["metric_id"].as_str().unwrap().to_string();
    db.store.save_metric(&metric(doc), "a", Expect::Absent).await.unwrap();
    let search = |q: &str| {
        let query = MetricQuery {
            filter: MetricFilter {
                q: Some(q.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        async move {
            db.store
                .list_metrics(&query)
                .await
                .map(|p| p.items.iter().map(|m| m.id.clone()).collect::<Vec<_>>())
        }
    };
    assert_eq!(search("café").await.unwrap(), vec![id.clone()]);
    assert_eq!(search("about thing").await.unwrap(), vec![id.clone()]);
    assert!(search("cafe").await.unwrap().is_empty());
    assert!(matches!(search("the about").await, Err(StoreError::Invalid(_))));
}

backend_tests!(
    concurrent_imports_of_the_same_new_ids_all_succeed,
    absurd_imported_versions_are_not_adopted,
    history_records_the_real_author_of_a_restore,
    delete_snapshot_keeps_server_fields,
    integer_changes_beyond_f64_precision_are_saved,
    recreated_domains_continue_their_versions,
    search_matches_the_same_on_both_backends,
);

#[test]
fn nul_characters_and_oversized_owners_are_field_errors() {
    let mut doc = sample_metrics()[0].clone();
    doc["name"] = json!("a\u{0}b");
    doc["governance"]["owner_team"] = json!("x".repeat(6000));
    doc["x\u{0}"] = json!(1);
    doc["dimensions"] = json!([{"name": "region", "allowed_values": ["emea", "a\u{0}"]}]);
    doc["metadata"] = json!({"deep": {"k\u{0}": 1, "fine": "yes"}});
    let errors = Metric::parse(doc).expect_err("refused").into_errors();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"name"), "{fields:?}");
    assert!(fields.contains(&"dimensions[0].allowed_values[1]"), "{fields:?}");
    assert!(fields.contains(&"metadata.deep.k\\u0000"), "{fields:?}");
    assert!(fields.contains(&"governance.owner_team"), "{fields:?}");
    assert!(fields.iter().any(|f| f.contains("\\u0000")), "{fields:?}");
}

#[test]
fn yaml_infinity_and_nan_are_refused() {
    let yaml = "metrics:\n  - metric_id: M\n    targets_and_alerts:\n      critical_threshold: .inf\n      warning_threshold: .nan\n";
    let errors = format::parse(yaml.as_bytes(), Format::Yaml).expect_err("refused");
    let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "metrics[0].targets_and_alerts.critical_threshold",
            "metrics[0].targets_and_alerts.warning_threshold"
        ]
    );
}

#[test]
fn very_long_search_text_is_bounded() {
    let mut doc = sample_metrics()[0].clone();
    doc["definition"]["formula_detail"] = json!("word ".repeat(600_000));
    let m = metric(doc);
    assert!(m.search_text().len() <= 100_000);
}

/// A rolling restart behind a balancer loses nothing only if readiness fails before the
/// listener closes: through `MDL_DRAIN_GRACE_MS` after the stop signal the instance keeps
/// serving while `/health/ready` answers 503, and only then refuses connections.
#[tokio::test]
async fn readiness_fails_through_the_drain_grace_while_requests_are_still_served() {
    let db = crate::support::sqlite().await;
    mdl::auth::ensure_admin(
        &*db.store,
        Some(crate::support::ADMIN_PASSWORD),
        mdl::auth::password::HashCost::cheap(),
    )
    .await
    .unwrap();
    let mut config = crate::support::test_config();
    config.drain_grace_ms = 1500;
    let app = mdl::http::Application::build(config, db.store.clone(), mdl::auth::password::HashCost::cheap())
        .await
        .unwrap();
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    // A fresh connection per request, as a balancer's health check makes them.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let get = async |path: &str| client.get(format!("{base}{path}")).send().await;
    assert_eq!(get("/health/ready").await.unwrap().status(), 200);

    let signalled = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let ready = get("/health/ready").await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["reason"], "shutting down");
    // Still serving everything else on new connections.
    assert_eq!(get("/health/live").await.unwrap().status(), 200);
    assert!(signalled.elapsed() < std::time::Duration::from_millis(1500));

    // After the grace the listener closes and the server returns.
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("stops after the grace")
        .unwrap()
        .unwrap();
    assert!(signalled.elapsed() >= std::time::Duration::from_millis(1500));
    assert!(
        get("/health/live").await.is_err(),
        "connections refused after the grace"
    );
    db.cleanup().await;
}
