//! Validation, versioning and progress rules of the domain layer (pure code, no I/O).

use crate::support::{example_json, sample_metrics};
use mdl::domain::objective::progress_percentage;
use mdl::domain::versioning::{classify, fields_changed};
use mdl::domain::{BusinessDomain, ChangeType, Metric, Objective};
use serde_json::{Value, json};

fn minimal() -> Value {
    json!({
        "metric_id": "M-1",
        "name": "Orders",
        "description": "Orders placed",
        "category": "KPI",
        "tier": "Tier-2",
        "business_domain": "Sales",
        "metric_type": "lagging"
    })
}

fn with(mut base: Value, path: &[&str], value: Value) -> Value {
    let mut cur = &mut base;
    for key in &path[..path.len() - 1] {
        cur = cur.as_object_mut().unwrap().entry(key.to_string()).or_insert(json!({}));
    }
    cur[path[path.len() - 1]] = value;
    base
}

fn errors_of(doc: Value) -> Vec<(String, String)> {
    Metric::parse(doc)
        .expect_err("should be rejected")
        .into_errors()
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

#[test]
fn every_sample_metric_is_valid_and_kept_verbatim() {
    for sample in sample_metrics() {
        let metric = Metric::parse(sample.clone()).expect("sample metric is valid");
        assert_eq!(Value::Object(metric.doc.clone()), sample);
        assert!(metric.unknown_fields.is_empty(), "{:?}", metric.unknown_fields);
    }
}

#[test]
fn missing_required_fields_are_all_reported_at_once() {
    let errors = errors_of(json!({}));
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    for required in [
        "metric_id",
        "name",
        "description",
        "category",
        "tier",
        "business_domain",
        "metric_type",
    ] {
        assert!(fields.contains(&required), "{required} missing from {fields:?}");
    }
}

#[test]
fn tier_and_type_must_be_known_values() {
    let errors = errors_of(with(minimal(), &["tier"], json!("Tier-9")));
    assert_eq!(
        errors,
        vec![("tier".to_string(), "must be one of Tier-1, Tier-2, Tier-3".to_string())]
    );
    let errors = errors_of(with(minimal(), &["metric_type"], json!("sideways")));
    assert_eq!(errors[0].0, "metric_type");
}

#[test]
fn metric_id_rules() {
    for bad in ["", "has space", "slash/id", "ümlaut", &"x".repeat(101)] {
        let errors = errors_of(with(minimal(), &["metric_id"], json!(bad)));
        assert_eq!(errors[0].0, "metric_id", "{bad:?} accepted");
    }
    assert!(Metric::parse(with(minimal(), &["metric_id"], json!("A_b-9"))).is_ok());
    assert!(Metric::parse(with(minimal(), &["metric_id"], json!("x".repeat(100)))).is_ok());
}

#[test]
fn wrong_types_name_their_path() {
    let errors = errors_of(with(minimal(), &["targets_and_alerts", "target_value"], json!("high")));
    assert_eq!(errors[0].0, "targets_and_alerts.target_value");
    let errors = errors_of(with(minimal(), &["name"], json!(42)));
    assert_eq!(errors, vec![("name".to_string(), "must be a string".to_string())]);
    let errors = errors_of(with(minimal(), &["tags"], json!(["ok", 3])));
    assert_eq!(errors[0].0, "tags[1]");
    let rules = json!([{ "rule_id": "A", "severity": "apocalyptic" }]);
    let errors = errors_of(with(minimal(), &["targets_and_alerts", "alert_rules"], rules));
    assert_eq!(errors[0].0, "targets_and_alerts.alert_rules[0].severity");
}

#[test]
fn enumerated_section_fields_are_checked() {
    let errors = errors_of(with(minimal(), &["definition", "expected_direction"], json!("up")));
    assert_eq!(errors[0].0, "definition.expected_direction");
    let errors = errors_of(with(minimal(), &["governance", "status"], json!("zombie")));
    assert_eq!(errors[0].0, "governance.status");
    let dims = json!([{ "name": "region" }, { "name": "region" }, { "allowed_values": [] }]);
    let fields: Vec<String> = errors_of(with(minimal(), &["dimensions"], dims))
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(fields, vec!["dimensions[1].name", "dimensions[2].name"]);
}

#[test]
fn unknown_fields_are_kept_and_named() {
    let doc = with(
        with(minimal(), &["colour"], json!("blue")),
        &["definition", "flavour"],
        json!(1),
    );
    let metric = Metric::parse(doc.clone()).expect("valid");
    assert_eq!(Value::Object(metric.doc.clone()), doc);
    let mut unknown = metric.unknown_fields.clone();
    unknown.sort();
    assert_eq!(unknown, vec!["colour", "definition.flavour"]);
    assert_eq!(metric.warnings().len(), 2);
}

#[test]
fn server_fields_sent_by_clients_are_dropped_but_client_versions_kept() {
    let doc = with(
        with(minimal(), &["version"], json!(99)),
        &["governance", "version"],
        json!("2.0.0"),
    );
    let metric = Metric::parse(doc).expect("valid");
    assert!(!metric.doc.contains_key("version"));
    assert_eq!(metric.doc["governance"]["version"], "2.0.0");
}

#[test]
fn template_metric_is_refused_naming_empty_required_fields() {
    let errors = errors_of(example_json("template-metric.json"));
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    for required in [
        "metric_id",
        "name",
        "description",
        "category",
        "tier",
        "business_domain",
        "metric_type",
    ] {
        assert!(fields.contains(&required), "{required} missing from {fields:?}");
    }
}

#[test]
fn change_types_follow_the_rules() {
    let base = sample_metrics()[0].as_object().unwrap().clone();
    let change = |path: &[&str], value: Value| {
        let new = with(Value::Object(base.clone()), path, value);
        let changed = fields_changed(&base, new.as_object().unwrap());
        (classify(&changed), changed)
    };
    assert_eq!(
        change(&["definition", "formula"], json!("a / b")),
        (Some(ChangeType::Major), vec!["definition.formula".to_string()])
    );
    assert_eq!(
        change(&["definition", "unit"], json!("percent")).0,
        Some(ChangeType::Major)
    );
    assert_eq!(change(&["category"], json!("Other")).0, Some(ChangeType::Major));
    assert_eq!(change(&["name"], json!("Renamed")).0, Some(ChangeType::Minor));
    assert_eq!(change(&["tier"], json!("Tier-3")).0, Some(ChangeType::Minor));
    assert_eq!(
        change(&["business_domain"], json!("Elsewhere")).0,
        Some(ChangeType::Minor)
    );
    assert_eq!(change(&["description"], json!("New text")).0, Some(ChangeType::Minor));
    assert_eq!(
        change(&["tags"], json!(["x"])),
        (Some(ChangeType::Patch), vec!["tags".to_string()])
    );
    assert_eq!(
        change(&["governance", "owner_team"], json!("Other")).0,
        Some(ChangeType::Patch)
    );
    // Same value written differently is no change at all.
    assert_eq!(
        change(&["targets_and_alerts", "critical_threshold"], json!(0.9)).0,
        None
    );
    let mut without_def = base.clone();
    without_def.remove("definition");
    assert_eq!(classify(&fields_changed(&base, &without_def)), Some(ChangeType::Major));
}

#[test]
fn key_result_progress_respects_direction() {
    assert_eq!(progress_percentage(45.0, 55.0, 50.0), 50.0);
    assert_eq!(progress_percentage(0.05, 0.02, 0.035), 50.0);
    assert_eq!(progress_percentage(0.05, 0.02, 0.08), 0.0);
    assert_eq!(progress_percentage(45.0, 55.0, 70.0), 100.0);
    let objective = Objective::parse(json!({
        "objective_id": "OBJ-1",
        "name": "Faster",
        "status": "active",
        "timeframe": { "start": "2025-01-01", "end": "2025-03-31" },
        "key_results": [
            { "kr_id": "KR-1", "baseline_value": 500, "target_value": 200, "current_value": 350, "direction": "decrease" },
            { "kr_id": "KR-2", "progress_percentage": 42.5 },
            { "kr_id": "KR-3", "baseline_value": 1, "target_value": 2, "current_value": 9, "progress_percentage": 3 }
        ]
    }))
    .expect("valid");
    let krs = objective.doc["key_results"].as_array().unwrap();
    assert_eq!(krs[0]["progress_percentage"], 50.0);
    assert_eq!(krs[1]["progress_percentage"], 42.5);
    assert_eq!(krs[2]["progress_percentage"], 100.0);
}

#[test]
fn objective_rules() {
    let errors = Objective::parse(json!({
        "objective_id": "OBJ-1",
        "name": "x",
        "status": "dreaming",
        "timeframe": { "start": "2025-03-01", "end": "2025-01-01" },
        "key_results": [
            { "kr_id": "KR-1", "baseline_value": 1, "target_value": 5, "direction": "decrease" },
            { "kr_id": "KR-1" },
            { "baseline_value": "high" }
        ]
    }))
    .expect_err("invalid")
    .into_errors();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "status",
            "timeframe.end",
            "key_results[0].direction",
            "key_results[1].kr_id",
            "key_results[2].kr_id",
            "key_results[2].baseline_value"
        ]
    );
}

#[test]
fn domain_rules() {
    let ok = BusinessDomain::parse(json!({
        "domain_id": "DOM-1", "name": "Platform", "contact_email": "sre@example.com",
        "tier_focus": ["Tier-1"], "color": "#1f77b4", "stakeholders": ["sre"]
    }))
    .expect("valid");
    assert_eq!(ok.unknown_fields, vec!["stakeholders"]);
    let errors = BusinessDomain::parse(json!({
        "domain_id": "DOM 1", "name": "", "contact_email": "nope", "tier_focus": ["Tier-7"], "color": "blue"
    }))
    .expect_err("invalid")
    .into_errors();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["domain_id", "name", "contact_email", "tier_focus[0]", "color"]
    );
}
