//! Property tests over the parsers that face clients: catalog files (JSON and YAML), the metric
//! validator, query strings and cursors. They assert what must hold for any input: no panic,
//! refusals are field errors, and round trips are exact. The `fuzz/` targets run the same code
//! for longer (docs/fuzzing.md).

use crate::support::{sample_metrics, sqlite};
use mdl::catalog::{Format, format, import};
use mdl::domain::{Metric, ValidationErrors};
use mdl::store::{Cursor, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

/// Field names the parsers know, so generated documents reach past the first check.
const KEYS: &[&str] = &[
    "metric_id",
    "name",
    "description",
    "category",
    "tier",
    "business_domain",
    "metric_type",
    "tags",
    "definition",
    "formula",
    "unit",
    "expected_direction",
    "governance",
    "status",
    "owner_team",
    "dimensions",
    "targets_and_alerts",
    "critical_threshold",
    "warning_threshold",
    "relationships",
    "upstream_metric_ids",
    "downstream_metric_ids",
    "metadata",
    "version",
    "created_at",
    "created_by",
    "updated_by",
    "domain_id",
    "id",
    "objective_id",
    "key_results",
    "kr_id",
    "baseline_value",
    "target_value",
    "current_value",
    "direction",
    "metric_ids",
    "timeframe",
    "start",
    "end",
    "title",
    "metrics",
    "domains",
    "objectives",
    "catalog_name",
    "key_metrics",
    "owner",
    "start_date",
    "end_date",
    "x\u{0}",
    "",
];

const WORDS: &[&str] = &[
    "M-1",
    "Tier-1",
    "Tier-4",
    "leading",
    "lagging",
    "operational",
    "active",
    "increase",
    "decrease",
    "neutral",
    "2026-01-01",
    "2026-13-45T99:00:00Z",
    "2001-01-01T00:00:00Z",
    "",
    " ",
    "a\u{0}b",
    "é",
    "🙂",
    "null",
    "true",
    "1e999",
    "-0",
    "~",
    ".nan",
    "*a",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_string),
        1 => ".{0,12}",
        1 => "[A-Za-z0-9_-]{1,120}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_string), 1 => text()]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        prop::sample::select(vec![0, 1, -1, 1 << 53, i64::MAX, i64::MIN]).prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..7)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// A sample metric with a few of its fields (at any depth) replaced, removed or added.
fn mutated_metric() -> impl Strategy<Value = Value> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, key(), value()), 1..4);
    (any::<prop::sample::Index>(), edits).prop_map(|(which, edits)| {
        static SAMPLES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
        let samples = SAMPLES.get_or_init(sample_metrics);
        let mut doc = which.get(samples).clone();
        for (at, op, new_key, new_value) in edits {
            let paths = pointers(&doc, "");
            let path = at.get(&paths).clone();
            let Some(target) = doc.pointer_mut(&path) else { continue };
            match (op, target) {
                (0, slot) => *slot = new_value,
                (1, Value::Object(map)) => {
                    map.insert(new_key, new_value);
                }
                (_, Value::Object(map)) => {
                    let first = map.keys().next().cloned();
                    if let Some(k) = first {
                        map.remove(&k);
                    }
                }
                (_, slot) => *slot = new_value,
            }
        }
        doc
    })
}

fn pointers(v: &Value, at: &str) -> Vec<String> {
    let mut out = vec![at.to_string()];
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                out.extend(pointers(child, &format!("{at}/{escaped}")));
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                out.extend(pointers(child, &format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    out
}

/// The shapes an import accepts: a catalog, a list of metrics, one entity; or anything else.
fn document() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(mutated_metric(), 0..4).prop_map(|m| json!({ "catalog_name": "F", "metrics": m })),
        prop::collection::vec(mutated_metric(), 0..3).prop_map(Value::Array),
        mutated_metric(),
        (value(), value(), value()).prop_map(|(m, d, o)| json!({ "metrics": m, "domains": d, "objectives": o })),
        value(),
    ]
}

fn assert_field_errors(e: &ValidationErrors) {
    assert!(!e.is_empty());
    for f in e.errors() {
        assert!(!f.message.is_empty(), "{f:?}");
    }
}

/// Parse, then plan: either may refuse, with field errors; neither may panic.
fn parse_and_plan(bytes: &[u8], fmt: Format) {
    match format::parse(bytes, fmt) {
        Ok(doc) => {
            if let Err(e) = import::plan(doc, true) {
                assert_field_errors(&e);
            }
        }
        Err(e) => {
            assert_field_errors(&e);
            assert!(
                e.errors().iter().any(|f| f.field == "body") || fmt == Format::Yaml,
                "{e:?}"
            );
        }
    }
}

/// YAML-shaped noise: indentation, flow and block collections, anchors, aliases, tags, merges.
fn yaml_soup() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        "- ",
        ": ",
        "\n",
        "\n  ",
        "\n    ",
        "&a ",
        "&b ",
        "*a",
        "*b",
        "<<: *a\n",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "? ",
        "!tag ",
        "!!str ",
        "!!int ",
        "!!binary ",
        ".nan",
        "-.inf",
        "~",
        "'",
        "\"",
        "#c",
        "|\n  ",
        ">-\n  ",
        "---\n",
        "...\n",
        "%YAML 1.2\n",
        "metrics",
        "metric_id",
        "x",
        "1",
        "0x1F",
        "1e999",
        "2026-01-01",
        "\t",
        "\u{feff}",
        "\u{0}",
        "é",
    ];
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn json_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_and_plan(&bytes, Format::Json);
    }

    #[test]
    fn yaml_noise_never_panics(text in yaml_soup()) {
        parse_and_plan(text.as_bytes(), Format::Yaml);
    }

    #[test]
    fn metric_validation_never_panics(doc in prop_oneof![mutated_metric(), value()]) {
        if let Err(e) = Metric::parse(doc) {
            assert_field_errors(&e);
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_everything_else(
        scope in ".{0,40}", other in ".{0,40}", key in ".{0,60}", id in ".{0,60}",
        junk in ".{0,80}", flip in any::<prop::sample::Index>(),
    ) {
        let token = Cursor::new(&scope, key.clone(), id.clone()).encode();
        let back = Cursor::decode(&token, &scope).expect("own cursor");
        prop_assert_eq!((back.key, back.id), (key, id));
        if other != scope {
            prop_assert!(Cursor::decode(&token, &other).is_err());
        }
        prop_assert!(matches!(Cursor::decode(&junk, &scope), Err(StoreError::Invalid(_))));
        // Any one character changed is caught by the checksum (or breaks the encoding).
        let mut bytes = token.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(bytes).expect("ascii");
        if edited != token {
            prop_assert!(Cursor::decode(&edited, &scope).is_err());
        }
    }
}

proptest! {
    // Whole documents through both formats cost the most.
    #![proptest_config(config(100))]

    /// What export writes, import reads back exactly, in both formats.
    #[test]
    fn rendered_documents_round_trip(doc in document()) {
        for fmt in [Format::Json, Format::Yaml] {
            let text = format::render(&doc, fmt).expect("renders");
            let back = format::parse(text.as_bytes(), fmt).expect("reads back");
            prop_assert_eq!(&back, &doc, "{:?}:\n{}", fmt, text);
            parse_and_plan(text.as_bytes(), fmt);
        }
    }
}

/// Raw query strings: known parameters with hostile values, unknown ones, broken escapes.
fn query_string() -> impl Strategy<Value = String> {
    const PARAMS: &[&str] = &[
        "page",
        "limit",
        "cursor",
        "count",
        "sort",
        "q",
        "tag",
        "category",
        "tier",
        "business_domain",
        "metric_type",
        "status",
        "owner",
        "fields",
        "format",
        "dry_run",
        "x",
        "",
    ];
    const VALUES: &[&str] = &[
        "1",
        "0",
        "-1",
        "100",
        "101",
        "99999999999999999999",
        "1.5",
        "true",
        "abc",
        "",
        "name",
        "-name",
        "updated_at",
        "Tier-1",
        "%",
        "%ZZ",
        "%00",
        "%FF%FE",
        "+",
        "a+b",
        "%26",
        "%3D",
        "&",
        "=",
        "metric_id,name",
        "eyJrIjoiYSJ9.000000000000",
        "\u{e9}",
        "%F0%9F%99%82",
    ];
    let pair = (
        prop::sample::select(PARAMS),
        prop_oneof![3 => prop::sample::select(VALUES).prop_map(str::to_string), 1 => "[ -~]{0,20}"],
        any::<bool>(),
    )
        .prop_map(|(k, v, eq)| if eq { format!("{k}={v}") } else { k.to_string() });
    prop::collection::vec(pair, 0..5).prop_map(|pairs| pairs.join("&"))
}

/// Through the real server: whatever the query, a list answers 200 or 400 in the envelope.
#[test]
fn query_strings_never_reach_a_server_error() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (db, app, token) = rt.block_on(async {
        let db = sqlite().await;
        crate::support::load(&db).await;
        let app = crate::support::spawn(&db, false).await;
        let token = app.token().await;
        (db, app, token)
    });
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let routes = prop::sample::select(vec!["/api/v1/metrics", "/api/v1/domains", "/api/v1/export"]);
    runner
        .run(&(routes, query_string()), |(route, qs)| {
            let (status, body) = rt.block_on(async {
                let r = app.get(&format!("{route}?{qs}"), &token).await;
                let status = r.status().as_u16();
                (status, r.bytes().await.unwrap_or_default())
            });
            prop_assert!(status == 200 || status == 400, "{} {}?{}", status, route, qs);
            if route != "/api/v1/export" || status == 400 {
                let body: Value = serde_json::from_slice(&body).expect("JSON body");
                prop_assert_eq!(body["success"].as_bool(), Some(status == 200));
                if status == 400 {
                    prop_assert_eq!(&body["error"]["code"], "VALIDATION_ERROR");
                }
            }
            Ok(())
        })
        .unwrap();
    drop(app);
    rt.block_on(db.cleanup());
}
