//! Import and export of real catalogs, on both backends.

use crate::support::{
    TestDb, backend_tests, example, example_json, export_text, export_value as export, metrics_batch, rendered_at_once,
    whole_catalog,
};
use mdl::catalog::import::{self, ImportError, ImportOptions};
use mdl::catalog::{Format, format, legacy};
use mdl::domain::synthetic::synthetic_metric;
use mdl::domain::{Metric, ValidationErrors};
use mdl::store::{Expect, PageRequest, Store};
use serde_json::{Value, json};

const SAMPLES: &[&str] = &[
    "sample-metrics.json",
    "sample-metrics.yaml",
    "sample-domains.json",
    "sample-objectives.json",
];
const TEMPLATES: &[&str] = &[
    "template-metric.json",
    "template-metric.yaml",
    "template-domain.json",
    "template-domain.yaml",
    "template-objective.json",
    "template-objective.yaml",
];

fn parse_example(name: &str) -> Value {
    let fmt = Format::from_path(std::path::Path::new(name));
    format::parse(example(name).as_bytes(), fmt).expect("example parses")
}

/// An editor's import: server fields always come from the server.
async fn import_doc(store: &dyn Store, doc: Value) -> Result<import::ImportReport, ImportError> {
    import::run(store, doc, opts("importer", false, false)).await
}

/// An administrator's import: a restore when the database is empty.
async fn restore_doc(store: &dyn Store, doc: Value) -> Result<import::ImportReport, ImportError> {
    import::run(store, doc, opts("importer", false, true)).await
}

fn opts(actor: &str, dry_run: bool, restore: bool) -> ImportOptions<'_> {
    ImportOptions {
        actor,
        dry_run,
        restore,
    }
}

fn invalid(result: Result<import::ImportReport, ImportError>) -> ValidationErrors {
    match result {
        Err(ImportError::Invalid(e)) => e,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

fn fields(e: &ValidationErrors) -> Vec<&str> {
    e.errors().iter().map(|f| f.field.as_str()).collect()
}

fn strip_server_fields(v: &Value) -> Value {
    let mut m = v.as_object().unwrap().clone();
    for k in ["version", "created_at", "created_by", "updated_at", "updated_by"] {
        m.remove(k);
    }
    Value::Object(m)
}

fn find<'a>(list: &'a Value, key: &str, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|x| x[key] == id)
        .unwrap_or_else(|| panic!("{id} missing"))
}

async fn every_sample_imports_and_round_trips(db: &TestDb) {
    for name in SAMPLES {
        let first = db.sibling().await;
        let source = parse_example(name);
        import_doc(&*first.store, source.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let exported = export(&*first.store).await;

        // Nothing lost: every item of the file is in the export with every field it had.
        for m in source["metrics"].as_array().into_iter().flatten() {
            let out = find(&exported["metrics"], "metric_id", m["metric_id"].as_str().unwrap());
            assert_eq!(&strip_server_fields(out), m, "{name}: metric changed");
        }
        for d in source["domains"].as_array().into_iter().flatten() {
            let (mapped, _) = legacy::domain(d.as_object().unwrap().clone());
            let out = find(&exported["domains"], "domain_id", mapped["domain_id"].as_str().unwrap());
            assert_eq!(strip_server_fields(out), mapped, "{name}: domain changed");
        }
        for o in source["objectives"].as_array().into_iter().flatten() {
            let (mapped, _) = legacy::objective(o.as_object().unwrap().clone());
            let out = strip_server_fields(find(
                &exported["objectives"],
                "objective_id",
                o["objective_id"].as_str().unwrap(),
            ));
            for (k, v) in mapped.as_object().unwrap() {
                if k != "key_results" {
                    assert_eq!(&out[k], v, "{name}: objective field {k}");
                }
            }
            for (kr_out, kr_in) in out["key_results"]
                .as_array()
                .unwrap()
                .iter()
                .zip(mapped["key_results"].as_array().unwrap())
            {
                for (k, v) in kr_in.as_object().unwrap() {
                    if k != "progress_percentage" || kr_in.get("baseline_value").is_none() {
                        assert_eq!(&kr_out[k], v, "{name}: key result field {k}");
                    }
                }
            }
        }
        for key in [
            "catalog_version",
            "catalog_name",
            "owner_team",
            "contacts",
            "last_updated",
        ] {
            assert_eq!(exported.get(key), source.get(key), "{name}: catalog field {key}");
        }

        // Export -> fresh database -> export again: identical, in both formats.
        for fmt in [Format::Json, Format::Yaml] {
            let text = format::render(&exported, fmt).unwrap();
            let second = db.sibling().await;
            let doc = format::parse(text.as_bytes(), fmt).unwrap();
            let report = restore_doc(&*second.store, doc).await.unwrap();
            assert!(report.outcome.restored, "{name}: a restore into an empty database");
            let again = format::render(&export(&*second.store).await, fmt).unwrap();
            assert_eq!(again, text, "{name}: export of re-import differs ({fmt:?})");
            second.cleanup().await;
        }
        first.cleanup().await;
    }
}

async fn templates_are_refused_and_store_nothing(db: &TestDb) {
    let store = &*db.store;
    for name in TEMPLATES {
        let errors = invalid(import_doc(store, parse_example(name)).await);
        let f = fields(&errors);
        let required: &[&str] = if name.contains("metric") {
            &[
                "metric_id",
                "name",
                "description",
                "category",
                "tier",
                "business_domain",
                "metric_type",
            ]
        } else if name.contains("domain") {
            &["id", "name"]
        } else {
            &["objective_id", "title"]
        };
        for r in required {
            assert!(f.contains(r), "{name}: {r} not named in {f:?}");
        }
    }
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.total_metrics, stats.total_domains, stats.total_objectives),
        (0, 0, 0)
    );
    assert!(store.catalog_info().await.unwrap().is_empty());
}

async fn bad_input_leaves_the_database_unchanged(db: &TestDb) {
    let store = &*db.store;
    import_doc(store, example_json("sample-domains.json")).await.unwrap();
    let before = export(store).await;

    // Broken YAML: a syntax error naming the body.
    let err = format::parse(b"metrics:\n  - metric_id: [unclosed\n", Format::Yaml).unwrap_err();
    assert_eq!(fields(&err), vec!["body"]);
    assert!(err.errors()[0].message.contains("invalid YAML"), "{err}");
    let err = format::parse(b"{\"metrics\": [", Format::Json).unwrap_err();
    assert!(err.errors()[0].message.contains("invalid JSON"));

    // Wrong types, duplicates, a bad item in the middle of a large file.
    let mut wrong = synthetic_metric(1);
    wrong["tier"] = json!(5);
    wrong["dimensions"] = json!("region");
    let errors = invalid(import_doc(store, json!({ "metrics": [synthetic_metric(0), wrong] })).await);
    assert_eq!(fields(&errors), vec!["metrics[1].tier", "metrics[1].dimensions"]);

    let errors = invalid(
        import_doc(
            store,
            json!({ "metrics": [synthetic_metric(7), synthetic_metric(8), synthetic_metric(7)] }),
        )
        .await,
    );
    assert_eq!(fields(&errors), vec!["metrics[2].metric_id"]);
    assert!(errors.errors()[0].message.contains("metrics[0]"));

    let mut many: Vec<Value> = (0..600).map(synthetic_metric).collect();
    many[317]["metric_type"] = json!("sideways");
    let errors = invalid(import_doc(store, json!({ "catalog_name": "Nope", "metrics": many })).await);
    assert_eq!(fields(&errors), vec!["metrics[317].metric_type"]);

    let errors = invalid(import_doc(store, json!({ "metrics": {"not": "a list"} })).await);
    assert_eq!(fields(&errors), vec!["metrics"]);
    let errors = invalid(import_doc(store, json!("just text")).await);
    assert_eq!(fields(&errors), vec![""]);

    // A conflict only the database can see (a domain name taken by another id) rolls back too.
    let clash = json!({ "metrics": [synthetic_metric(3)], "domains": [{ "domain_id": "OTHER", "name": "Platform" }] });
    let err = import_doc(store, clash).await.unwrap_err();
    assert!(
        matches!(err, ImportError::Store(mdl::store::StoreError::Conflict(_))),
        "{err:?}"
    );

    assert_eq!(export(store).await, before, "database changed");
}

async fn dry_run_writes_nothing(db: &TestDb) {
    let store = &*db.store;
    let report = import::run(store, parse_example("sample-metrics.json"), opts("x", true, false))
        .await
        .unwrap();
    assert!(report.outcome.dry_run);
    assert_eq!(
        (report.outcome.metrics.created, report.outcome.objectives.created),
        (12, 1)
    );
    assert!(
        report.warnings.iter().any(|w| w.contains("METRIC-NPS-MOBILE")),
        "{:?}",
        report.warnings
    );
    assert_eq!(store.stats().await.unwrap().total_metrics, 0);
    assert!(store.catalog_info().await.unwrap().is_empty());
}

async fn reimport_is_a_no_op_and_keeps_server_fields(db: &TestDb) {
    let store = &*db.store;
    let source = parse_example("sample-metrics.json");
    import_doc(store, source.clone()).await.unwrap();
    // An edit between imports: version 2.
    let mut csat = find(&source["metrics"], "metric_id", "METRIC-CSAT").clone();
    csat["description"] = json!("Edited after import");
    store
        .save_metric(&Metric::parse(csat).unwrap(), "editor", Expect::Present(Some(1)))
        .await
        .unwrap();

    let exported = export(store).await;
    let report = import_doc(store, exported.clone()).await.unwrap();
    assert_eq!(
        (report.outcome.metrics.unchanged, report.outcome.metrics.updated),
        (12, 0)
    );
    assert_eq!(report.outcome.objectives.unchanged, 1);
    let csat = store.get_metric("METRIC-CSAT").await.unwrap().unwrap();
    assert_eq!(
        (csat.version, csat.created_by.as_str(), csat.updated_by.as_str()),
        (2, "importer", "editor")
    );
    assert_eq!(
        store
            .metric_history("METRIC-CSAT", &PageRequest::default())
            .await
            .unwrap()
            .total,
        Some(2)
    );
    assert_eq!(export(store).await, exported);

    // Importing the original file again reverts the edit: one new version, nothing else.
    let report = import_doc(store, source).await.unwrap();
    assert_eq!(
        (report.outcome.metrics.updated, report.outcome.metrics.unchanged),
        (1, 11)
    );
    assert_eq!(store.get_metric("METRIC-CSAT").await.unwrap().unwrap().version, 3);
}

async fn restoring_an_export_keeps_versions_and_authors(db: &TestDb) {
    let store = &*db.store;
    import_doc(store, parse_example("sample-metrics.json")).await.unwrap();
    let mut doc = store.get_metric("METRIC-CSAT").await.unwrap().unwrap().to_json();
    doc["name"] = json!("CSAT");
    store
        .save_metric(&Metric::parse(doc).unwrap(), "editor", Expect::Any)
        .await
        .unwrap();
    let exported = export(store).await;

    let fresh = db.sibling().await;
    restore_doc(&*fresh.store, exported.clone()).await.unwrap();
    let restored = fresh.store.get_metric("METRIC-CSAT").await.unwrap().unwrap();
    let original = store.get_metric("METRIC-CSAT").await.unwrap().unwrap();
    assert_eq!(restored, original);
    fresh.cleanup().await;

    // The same file from an editor: the server numbers and attributes everything itself.
    let fresh = db.sibling().await;
    let report = import_doc(&*fresh.store, exported).await.unwrap();
    assert!(!report.outcome.restored);
    let imported = fresh.store.get_metric("METRIC-CSAT").await.unwrap().unwrap();
    assert_eq!(
        (
            imported.version,
            imported.created_by.as_str(),
            imported.updated_by.as_str()
        ),
        (1, "importer", "importer")
    );
    assert_ne!(imported.created_at, original.created_at);
    fresh.cleanup().await;
}

/// The export is written a batch of metrics at a time; its text must still be what rendering
/// the whole document at once gives, in both formats, across batch boundaries.
async fn streamed_export_is_the_document_rendered_at_once(db: &TestDb) {
    let store = &*db.store;
    for fmt in [Format::Json, Format::Yaml] {
        assert_eq!(
            export_text(store, fmt).await,
            rendered_at_once(store, fmt).await,
            "{fmt:?}, empty catalog"
        );
    }
    for name in ["sample-metrics.json", "sample-domains.json", "sample-objectives.json"] {
        import_doc(store, parse_example(name)).await.unwrap();
    }
    // Past two batch boundaries (export::BATCH is 500), the example metrics among them.
    let batch = metrics_batch((0..1_001).map(synthetic_metric));
    store.import(&batch, "seed").await.unwrap();
    for fmt in [Format::Json, Format::Yaml] {
        let streamed = export_text(store, fmt).await;
        assert_eq!(streamed, rendered_at_once(store, fmt).await, "{fmt:?}");
        let back = format::parse(streamed.as_bytes(), fmt).unwrap();
        assert_eq!(back["metrics"].as_array().map(Vec::len), Some(1_013), "{fmt:?}");
        assert_eq!(back, whole_catalog(store).await, "{fmt:?}");
    }
}

backend_tests!(
    streamed_export_is_the_document_rendered_at_once,
    every_sample_imports_and_round_trips,
    templates_are_refused_and_store_nothing,
    bad_input_leaves_the_database_unchanged,
    dry_run_writes_nothing,
    reimport_is_a_no_op_and_keeps_server_fields,
    restoring_an_export_keeps_versions_and_authors,
);

#[test]
fn legacy_objective_shape_maps_without_losing_fields() {
    let source = example_json("sample-objectives.json")["objectives"][0].clone();
    let (mapped, renames) = legacy::objective(source.as_object().unwrap().clone());
    assert_eq!(mapped["name"], source["title"]);
    assert_eq!(
        mapped["timeframe"],
        json!({ "start": source["start_date"], "end": source["end_date"] })
    );
    assert_eq!(mapped["owner_team"], source["owner"]);
    assert_eq!(mapped["priority"], source["business_priority"]);
    assert_eq!(mapped["strategic_pillar"], source["strategic_theme"]);
    assert_eq!(
        mapped["key_results"][0]["metric_ids"],
        json!([source["key_results"][0]["metric_id"]])
    );
    assert_eq!(mapped["metadata"], source["metadata"]);
    assert_eq!(mapped["business_domain"], source["business_domain"]);
    assert_eq!(renames.original("timeframe.start"), "start_date");
    assert_eq!(
        renames.original("key_results[0].metric_ids[0]"),
        "key_results[0].metric_id"
    );
    let keys: Vec<&String> = mapped.as_object().unwrap().keys().collect();
    assert_eq!(keys[..4], ["objective_id", "name", "description", "timeframe"]);
}
