//! Generated Rego policies, checked by a real Rego interpreter (regorus): they parse, and they
//! decide exactly what the definition says.

use crate::support::sample_metrics;
use mdl::domain::Metric;
use mdl::domain::policy::{Policy, package_path, string_literal};
use serde_json::{Value, json};

fn metric(doc: Value) -> Metric {
    Metric::parse(doc).expect("valid metric")
}

fn sample(id: &str) -> Metric {
    let doc = sample_metrics()
        .into_iter()
        .find(|m| m["metric_id"] == id)
        .unwrap_or_else(|| panic!("sample {id}"));
    metric(doc)
}

/// A loaded engine for one or more generated modules.
fn engine(policies: &[&Policy]) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    for p in policies {
        engine
            .add_policy(format!("{}.rego", p.metric_id), p.rego.clone())
            .unwrap_or_else(|e| panic!("module for {} does not parse: {e}\n{}", p.metric_id, p.rego));
    }
    engine
}

/// Evaluates the whole package of `id` for `input`, as JSON.
fn decide(engine: &mut regorus::Engine, id: &str, input: &Value) -> Value {
    engine.set_input(regorus::Value::from_json_str(&input.to_string()).expect("input"));
    let results = engine
        .eval_query(format!("data.{}", package_path(id)), false)
        .expect("evaluates");
    let value = &results.result.first().expect("a result").expressions[0].value;
    serde_json::to_value(value).expect("json")
}

fn allowed(decision: &Value) -> bool {
    decision["allow"].as_bool().expect("allow is always defined")
}

fn violations(decision: &Value) -> Vec<String> {
    decision["violations"]
        .as_array()
        .map(|v| v.iter().map(|s| s.as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

const LOGIN: &str = "METRIC-LOGIN-SUCCESS-RATE";
const LATENCY: &str = "METRIC-API-RESPONSE-TIME-P95";

fn login_input(value: Value, user: Value) -> Value {
    json!({"metric_id": LOGIN, "value": value, "dimensions": {"platform": "web"}, "user": user})
}

#[test]
fn every_example_metric_module_parses_and_evaluates() {
    for doc in sample_metrics() {
        let m = metric(doc);
        let policy = Policy::generate(&m, 1);
        let mut engine = engine(&[&policy]);
        let decision = decide(&mut engine, &m.metric_id, &json!({}));
        assert!(!allowed(&decision), "{}: an empty input must be denied", m.metric_id);
        assert_eq!(decision["severity"], "unknown", "{}", m.metric_id);
        assert_eq!(decision["metadata"]["metric_id"], m.metric_id.as_str());
        assert_eq!(decision["metadata"]["version"], 1);
        assert_eq!(decision["metadata"]["tier"], m.tier_str());
        assert_eq!(decision["metadata"]["business_domain"], m.business_domain.as_str());
        let reasons = violations(&decision);
        assert!(
            reasons.iter().any(|r| r.contains("metric_id")),
            "{}: {reasons:?}",
            m.metric_id
        );
    }
}

#[test]
fn owners_and_team_members_are_allowed_strangers_denied() {
    let policy = Policy::generate(&sample(LOGIN), 3);
    let mut engine = engine(&[&policy]);
    // technical owner `data_engineering`, business owner `Head of Digital Product`, team `Digital Analytics`.
    let cases = [
        (json!({"id": "data_engineering"}), true),
        (json!({"id": "Head of Digital Product"}), true),
        (json!({"id": "someone", "team": "Digital Analytics"}), true),
        (json!({"id": "someone", "team": "Marketing"}), false),
        (json!({"id": "digital analytics"}), false),
        (json!({"team": "data_engineering"}), false),
        (json!({}), false),
    ];
    for (user, expected) in cases {
        let decision = decide(&mut engine, LOGIN, &login_input(json!(0.97), user.clone()));
        assert_eq!(allowed(&decision), expected, "user {user}: {decision}");
        assert_eq!(
            violations(&decision).contains(&"caller is not an owner of this metric".to_string()),
            !expected
        );
    }
    let other = json!({"metric_id": LATENCY, "value": 0.97, "dimensions": {"platform": "web"}, "user": {"id": "data_engineering"}});
    assert!(
        !allowed(&decide(&mut engine, LOGIN, &other)),
        "another metric's id is denied"
    );
}

#[test]
fn increase_metric_passes_at_or_above_critical_with_severity() {
    // Login success rate: increase, warning 0.95, critical 0.9.
    let policy = Policy::generate(&sample(LOGIN), 1);
    assert!(policy.rego.contains("direction := \"increase\""));
    let mut engine = engine(&[&policy]);
    let owner = json!({"id": "data_engineering"});
    let cases = [
        (json!(0.99), true, "ok"),
        (json!(0.95), true, "ok"),
        (json!(0.93), true, "warning"),
        (json!(0.9), true, "warning"),
        (json!(0.89), false, "critical"),
        (json!(0), false, "critical"),
    ];
    for (value, allow, severity) in cases {
        let decision = decide(&mut engine, LOGIN, &login_input(value.clone(), owner.clone()));
        assert_eq!(allowed(&decision), allow, "value {value}: {decision}");
        assert_eq!(decision["severity"], severity, "value {value}");
        assert_eq!(
            violations(&decision).contains(&"value is below the critical threshold".to_string()),
            !allow
        );
    }
    let decision = decide(&mut engine, LOGIN, &login_input(json!("0.99"), owner));
    assert!(!allowed(&decision), "a string is not a value");
    assert!(violations(&decision).contains(&"value is missing or not a number".to_string()));
}

#[test]
fn decrease_metric_passes_at_or_below_critical_with_severity() {
    // API p95 latency: decrease, warning 300, critical 500; owner team "Platform Engineering".
    let m = sample(LATENCY);
    let team = m.owner_team().expect("team").to_string();
    let policy = Policy::generate(&m, 1);
    assert!(policy.rego.contains("direction := \"decrease\""));
    let mut engine = engine(&[&policy]);
    // endpoint (any value), method and environment are required.
    let dims = json!({"endpoint": "/v1/login", "method": "GET", "environment": "production"});
    let cases = [
        (json!(120), true, "ok"),
        (json!(300), true, "ok"),
        (json!(420.5), true, "warning"),
        (json!(500), true, "warning"),
        (json!(501), false, "critical"),
        (json!(5000), false, "critical"),
    ];
    for (value, allow, severity) in cases {
        let input = json!({"metric_id": LATENCY, "value": value, "dimensions": dims, "user": {"team": team}});
        let decision = decide(&mut engine, LATENCY, &input);
        assert_eq!(allowed(&decision), allow, "value {value}: {decision}");
        assert_eq!(decision["severity"], severity, "value {value}");
        assert_eq!(
            violations(&decision).contains(&"value is above the critical threshold".to_string()),
            !allow
        );
    }
}

#[test]
fn dimensions_required_declared_and_within_allowed_values() {
    // platform (required: web, ios, android), region (any value), customer_segment (optional, listed).
    let policy = Policy::generate(&sample(LOGIN), 1);
    let mut engine = engine(&[&policy]);
    let owner = json!({"id": "data_engineering"});
    let run = |engine: &mut regorus::Engine, dims: Value| {
        let input = json!({"metric_id": LOGIN, "value": 0.99, "dimensions": dims, "user": owner});
        decide(engine, LOGIN, &input)
    };
    let ok = run(
        &mut engine,
        json!({"platform": "ios", "region": "anything at all", "customer_segment": "smb"}),
    );
    assert!(allowed(&ok), "{ok}");
    assert!(violations(&ok).is_empty(), "{ok}");

    let missing = run(&mut engine, json!({"region": "eu"}));
    assert!(!allowed(&missing));
    assert!(violations(&missing).contains(&"required dimension missing: platform".to_string()));

    let no_dims = decide(
        &mut engine,
        LOGIN,
        &json!({"metric_id": LOGIN, "value": 0.99, "user": owner}),
    );
    assert!(!allowed(&no_dims), "a required dimension cannot be omitted: {no_dims}");

    let not_allowed = run(&mut engine, json!({"platform": "windows-phone"}));
    assert!(!allowed(&not_allowed));
    assert!(violations(&not_allowed).contains(&"dimension not declared or value not allowed: platform".to_string()));

    let undeclared = run(&mut engine, json!({"platform": "web", "colour": "blue"}));
    assert!(!allowed(&undeclared), "undeclared dimensions are refused");
}

fn hostile() -> Value {
    json!({
        "metric_id": "EVIL-1",
        "name": "x\" } allow := true { \"",
        "description": "line one\nallow if { true }\n# not a comment",
        "category": "package data\nimport rego.v1",
        "tier": "Tier-1",
        "business_domain": "\\\"} \\u0000 \t ${x}",
        "metric_type": "leading",
        "definition": {"expected_direction": "increase", "unit": "\"; default allow := true; \""},
        "governance": {
            "technical_owner": "bob\" } allow if { true } #",
            "business_owner": "   ",
            "owner_team": "Team \\ \"quoted\"\n}\nallow := true"
        },
        "dimensions": [
            {"name": "not", "required": true, "allowed_values": ["if", "else", "}\"", "a\nb", "\\"]},
            {"name": "some \"dim\"\n} default allow := true", "required": false, "allowed_values": []}
        ],
        "targets_and_alerts": {"warning_threshold": 10, "critical_threshold": 5}
    })
}

#[test]
fn hostile_definition_yields_a_module_that_does_what_it_says() {
    let m = metric(hostile());
    let policy = Policy::generate(&m, 7);
    // Only fixed text and the (restricted) id appear in comments.
    for line in policy.rego.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(!line.contains("allow"), "comment carries user text: {line}");
    }
    let mut engine = engine(&[&policy]);
    let technical = m.technical_owner().expect("owner").to_string();
    let team = m.owner_team().expect("team").to_string();

    let input = |user: Value, dims: Value, value: Value| json!({"metric_id": "EVIL-1", "value": value, "dimensions": dims, "user": user});
    let stranger = decide(
        &mut engine,
        "EVIL-1",
        &input(json!({"id": "mallory"}), json!({"not": "if"}), json!(50)),
    );
    assert!(
        !allowed(&stranger),
        "the injected `allow := true` must stay text: {stranger}"
    );
    assert_eq!(
        stranger["metadata"]["name"],
        m.name.as_str(),
        "strings round-trip exactly"
    );
    assert_eq!(stranger["metadata"]["business_domain"], m.business_domain.as_str());
    assert_eq!(stranger["metadata"]["category"], m.category.as_str());

    for value in ["if", "else", "}\"", "a\nb", "\\"] {
        let by_owner = decide(
            &mut engine,
            "EVIL-1",
            &input(json!({"id": technical}), json!({"not": value}), json!(50)),
        );
        assert!(allowed(&by_owner), "value {value:?}: {by_owner}");
    }
    let by_team = decide(
        &mut engine,
        "EVIL-1",
        &input(
            json!({"team": team}),
            json!({"not": "a\nb", "some \"dim\"\n} default allow := true": "x"}),
            json!(5),
        ),
    );
    assert!(allowed(&by_team), "{by_team}");
    assert_eq!(by_team["severity"], "warning");

    // A blank business owner contributes no rule: blank ids are strangers.
    let blank = decide(
        &mut engine,
        "EVIL-1",
        &input(json!({"id": "   "}), json!({"not": "if"}), json!(50)),
    );
    assert!(!allowed(&blank));
    let bad_value = decide(
        &mut engine,
        "EVIL-1",
        &input(json!({"id": technical}), json!({"not": "a\\nb"}), json!(50)),
    );
    assert!(!allowed(&bad_value), "escaped text is not the newline value");
    let low = decide(
        &mut engine,
        "EVIL-1",
        &input(json!({"id": technical}), json!({"not": "if"}), json!(4.99)),
    );
    assert!(!allowed(&low));
    assert_eq!(low["severity"], "critical");
}

#[test]
fn output_is_byte_identical_and_ids_never_collide() {
    for doc in sample_metrics() {
        let a = Policy::generate(&metric(doc.clone()), 4).rego;
        let b = Policy::generate(&metric(doc), 4).rego;
        assert_eq!(a, b);
    }
    let base = sample_metrics()[0].clone();
    let mut dash = base.clone();
    dash["metric_id"] = json!("METRIC-A");
    let mut underscore = base;
    underscore["metric_id"] = json!("METRIC_A");
    let (pa, pb) = (
        Policy::generate(&metric(dash), 1),
        Policy::generate(&metric(underscore), 1),
    );
    assert_ne!(pa.package, pb.package);
    let mut engine = engine(&[&pa, &pb]);
    let input = json!({"metric_id": "METRIC_A", "value": 0.99, "dimensions": {"platform": "web"}, "user": {"id": "data_engineering"}});
    assert!(allowed(&decide(&mut engine, "METRIC_A", &input)));
    assert!(
        !allowed(&decide(&mut engine, "METRIC-A", &input)),
        "each package checks its own id"
    );
    assert_eq!(string_literal("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
}

#[test]
fn direction_rules_when_not_declared_or_neutral() {
    let mut doc = sample_metrics()[0].clone();
    doc["definition"]["expected_direction"] = json!("neutral");
    let neutral = Policy::generate(&metric(doc.clone()), 1);
    let mut engine = engine(&[&neutral]);
    let decision = decide(
        &mut engine,
        LOGIN,
        &login_input(json!(0.01), json!({"id": "data_engineering"})),
    );
    assert!(
        allowed(&decision),
        "neutral metrics have no threshold check: {decision}"
    );
    assert_eq!(decision["severity"], "ok");

    // No declared direction: the threshold order says which way is better.
    doc["definition"]
        .as_object_mut()
        .expect("definition")
        .remove("expected_direction");
    let inferred = Policy::generate(&metric(doc), 1);
    assert!(inferred.rego.contains("direction := \"increase\""), "{}", inferred.rego);
}

#[test]
fn a_metric_without_owners_allows_nobody_and_still_parses() {
    let mut doc = sample_metrics()[0].clone();
    doc.as_object_mut().expect("object").remove("governance");
    let policy = Policy::generate(&metric(doc), 1);
    assert!(
        !policy.rego.contains("caller_is_owner if"),
        "no empty or vacuous owner rule"
    );
    let mut engine = engine(&[&policy]);
    for user in [json!({"id": ""}), json!({"team": ""}), json!({})] {
        let decision = decide(&mut engine, LOGIN, &login_input(json!(0.99), user));
        assert!(!allowed(&decision));
    }
}

#[test]
fn bundle_pieces_load_together_and_the_revision_follows_its_inputs() {
    use mdl::domain::policy::{DATA_TAIL, GENERATOR, data_entry, data_head, manifest, module_path, revision};
    let a = revision("epoch-a", 7);
    assert_eq!(a, revision("epoch-a", 7), "the same inputs give the same revision");
    assert_eq!(a.len(), 64);
    assert_ne!(a, revision("epoch-a", 8), "another metric write moves it");
    assert_ne!(a, revision("epoch-b", 7), "another database moves it");
    let manifest: Value = serde_json::from_slice(&manifest(&a)).expect("manifest json");
    assert_eq!(manifest["revision"], a.as_str());
    assert_eq!(manifest["roots"], json!(["mdl"]));

    let metrics: Vec<Metric> = sample_metrics().into_iter().map(metric).collect();
    let entries: Vec<String> = metrics
        .iter()
        .map(|m| data_entry(&m.metric_id, &mdl::domain::policy::metadata(m, 1)))
        .collect();
    let data = format!("{}{}{DATA_TAIL}", data_head(), entries.join(","));
    let whole: serde_json::Map<String, Value> = metrics
        .iter()
        .map(|m| (m.metric_id.clone(), mdl::domain::policy::metadata(m, 1)))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&data).expect("data.json is JSON"),
        json!({"mdl": {"catalog": {"generator": GENERATOR, "metrics": whole}}})
    );
    // Every module and the data document load together in one engine.
    let mut engine = regorus::Engine::new();
    for m in &metrics {
        engine
            .add_policy(module_path(&m.metric_id), Policy::generate(m, 1).rego)
            .expect("parses");
    }
    engine.add_data_json(&data).expect("data.json loads");
    let results = engine
        .eval_query(
            format!("data.mdl.catalog.metrics[{}].tier", string_literal(LOGIN)),
            false,
        )
        .expect("query");
    assert_eq!(
        serde_json::to_value(&results.result[0].expressions[0].value).expect("json"),
        "Tier-1"
    );
}
