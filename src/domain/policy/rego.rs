//! One Rego v1 module per metric definition.
//!
//! Every value taken from the definition reaches the module as a JSON literal (a valid Rego term),
//! never spliced into code or comments; the only definition text in a comment is the metric id,
//! whose alphabet is `[A-Za-z0-9_-]`. Output depends on nothing but the definition and its
//! version, so the same definition always yields the same bytes.

use crate::domain::metric::{Direction, Metric};
use serde_json::{Map, Number, Value};
use std::fmt::Write;

/// Bumped whenever the generated text changes shape, so bundle revisions move with it.
pub const GENERATOR: &str = "mdl-policy/1";

/// A Rego (and JSON) string literal for any text: quotes, backslashes and control characters
/// escaped, so no input can end the string early.
pub fn string_literal(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// `mdl.metrics["<id>"]`: a string key, so distinct ids never share a package.
pub fn package_path(metric_id: &str) -> String {
    format!("mdl.metrics[{}]", string_literal(metric_id))
}

/// The direction a value should move in, as the policy understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// Higher is better: a value passes at or above the critical threshold.
    Increase,
    /// Lower is better: a value passes at or below the critical threshold.
    Decrease,
    /// No threshold applies.
    None,
}

/// Where the direction came from, written as a fixed comment so readers know why.
fn goal(metric: &Metric) -> (Goal, &'static str) {
    let declared = metric
        .definition
        .as_ref()
        .and_then(|d| d.expected_direction.as_deref())
        .and_then(|d| serde_json::from_value::<Direction>(Value::String(d.into())).ok());
    match declared {
        Some(Direction::Increase) => (Goal::Increase, "definition.expected_direction is increase"),
        Some(Direction::Decrease) => (Goal::Decrease, "definition.expected_direction is decrease"),
        Some(Direction::Neutral) => (
            Goal::None,
            "definition.expected_direction is neutral: no threshold check",
        ),
        None => {
            let t = metric.targets_and_alerts.as_ref();
            match (
                t.and_then(|t| t.warning_threshold),
                t.and_then(|t| t.critical_threshold),
            ) {
                (Some(w), Some(c)) if c < w => (Goal::Increase, "no expected_direction: critical below warning"),
                (Some(w), Some(c)) if c > w => (Goal::Decrease, "no expected_direction: critical above warning"),
                _ => (
                    Goal::None,
                    "no expected_direction and no threshold order: no threshold check",
                ),
            }
        }
    }
}

fn number(x: f64) -> Value {
    // Definitions never hold NaN or infinities (parsing refuses them); null is the safe fallback.
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

/// Non-blank owner fields, in a fixed order.
fn owners(metric: &Metric) -> Vec<(&'static str, &str)> {
    [
        ("technical_owner", metric.technical_owner()),
        ("business_owner", metric.business_owner()),
        ("owner_team", metric.owner_team()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (k, v)))
    .collect()
}

/// The metadata object the module and the bundle's `data.json` both carry.
pub fn metadata(metric: &Metric, version: i64) -> Value {
    let mut m = Map::new();
    m.insert("metric_id".into(), metric.metric_id.clone().into());
    m.insert("name".into(), metric.name.clone().into());
    m.insert("version".into(), version.into());
    m.insert("tier".into(), metric.tier_str().into());
    m.insert("business_domain".into(), metric.business_domain.clone().into());
    m.insert("category".into(), metric.category.clone().into());
    m.insert("metric_type".into(), metric.metric_type.clone().into());
    m.insert("status".into(), text(metric.status()));
    m.insert(
        "unit".into(),
        text(metric.definition.as_ref().and_then(|d| d.unit.as_deref())),
    );
    Value::Object(m)
}

fn thresholds(metric: &Metric) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(t) = &metric.targets_and_alerts {
        let entries = [
            ("target", t.target_value),
            ("warning", t.warning_threshold),
            ("critical", t.critical_threshold),
        ];
        for (k, v) in entries {
            if let Some(v) = v {
                m.insert(k.into(), number(v));
            }
        }
    }
    m
}

/// `{"<name>": {"required": bool, "allowed_values": [...]}}`, declared dimensions only.
fn dimensions(metric: &Metric) -> Map<String, Value> {
    let mut m = Map::new();
    for d in &metric.dimensions {
        let Some(name) = d.name.as_deref() else { continue };
        let mut spec = Map::new();
        spec.insert("required".into(), d.required.unwrap_or(false).into());
        spec.insert(
            "allowed_values".into(),
            Value::Array(d.allowed_values.clone().unwrap_or_default()),
        );
        m.insert(name.to_owned(), Value::Object(spec));
    }
    m
}

/// A JSON value as a Rego term, objects spread over lines for readability.
fn term(value: &Value) -> String {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut out = String::from("{\n");
            for (k, v) in map {
                let _ = writeln!(out, "\t{}: {},", string_literal(k), v);
            }
            out.push('}');
            out
        }
        other => other.to_string(),
    }
}

/// The comparisons for one direction: (fails the critical check, worse than warning, passes).
fn operators(goal: Goal) -> Option<(&'static str, &'static str, &'static str)> {
    match goal {
        Goal::Increase => Some(("<", "below", ">=")),
        Goal::Decrease => Some((">", "above", "<=")),
        Goal::None => None,
    }
}

/// The Rego v1 module for one metric at one stored version.
pub fn module(metric: &Metric, version: i64) -> String {
    let id = &metric.metric_id;
    let (goal, why) = goal(metric);
    let thresholds = thresholds(metric);
    let critical = thresholds.get("critical").filter(|v| v.is_number());
    let warning = thresholds.get("warning").filter(|v| v.is_number());
    let mut out = String::with_capacity(4096);

    let _ = writeln!(
        out,
        "# Policy for metric {id}, version {version}, generated by {GENERATOR}."
    );
    out.push_str("# Generated from the definition: edit the definition, not this file.\n");
    let _ = writeln!(out, "package {}\n", package_path(id));
    let _ = writeln!(out, "metric_id := {}\n", string_literal(id));
    let _ = writeln!(out, "metadata := {}\n", term(&metadata(metric, version)));

    let _ = writeln!(out, "# Direction: {why}.");
    let direction = match goal {
        Goal::Increase => "increase",
        Goal::Decrease => "decrease",
        Goal::None => "none",
    };
    let _ = writeln!(out, "direction := {}\n", string_literal(direction));
    let _ = writeln!(out, "thresholds := {}\n", term(&Value::Object(thresholds.clone())));
    let _ = writeln!(out, "dimensions := {}\n", term(&Value::Object(dimensions(metric))));
    let owner_map: Map<String, Value> = owners(metric)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    let _ = writeln!(out, "owners := {}\n", term(&Value::Object(owner_map)));

    out.push_str(
        "# Default deny: every check below must hold.
default allow := false

allow if {
\tinput.metric_id == metric_id
\tvalue_ok
\tdimensions_ok
\tcaller_is_owner
}

",
    );

    // Value checks.
    out.push_str("default value_ok := false\n\n");
    match (operators(goal), critical) {
        (Some((_, _, pass)), Some(c)) => {
            let _ = writeln!(
                out,
                "value_ok if {{\n\tis_number(input.value)\n\tinput.value {pass} {c}\n}}\n"
            );
        }
        _ => out.push_str("value_ok if is_number(input.value)\n\n"),
    }

    out.push_str("default severity := \"unknown\"\n\n");
    let mut levels: Vec<(&str, &Value)> = Vec::new();
    if let Some(c) = critical {
        levels.push(("critical", c));
    }
    if let Some(w) = warning {
        levels.push(("warning", w));
    }
    match operators(goal) {
        Some((worse, _, _)) if !levels.is_empty() => {
            for (i, (level, bound)) in levels.iter().enumerate() {
                let head = if i == 0 { "severity :=" } else { "} else :=" };
                let _ = writeln!(
                    out,
                    "{head} {level:?} if {{\n\tis_number(input.value)\n\tinput.value {worse} {bound}"
                );
            }
            out.push_str("} else := \"ok\" if {\n\tis_number(input.value)\n}\n\n");
        }
        _ => out.push_str("severity := \"ok\" if is_number(input.value)\n\n"),
    }

    // Dimension checks: generic rules over the `dimensions` data above.
    out.push_str(
        "provided_dimensions contains name if some name, _ in input.dimensions

missing_dimensions contains name if {
\tsome name, spec in dimensions
\tspec.required
\tnot name in provided_dimensions
}

invalid_dimensions contains name if {
\tsome name, value in input.dimensions
\tnot dimension_value_allowed(name, value)
}

dimension_value_allowed(name, _) if count(dimensions[name].allowed_values) == 0

dimension_value_allowed(name, value) if value in dimensions[name].allowed_values

default dimensions_ok := false

dimensions_ok if {
\tcount(missing_dimensions) == 0
\tcount(invalid_dimensions) == 0
}

",
    );

    // Governance: one rule per recorded owner; none recorded means nobody qualifies.
    out.push_str("default caller_is_owner := false\n\n");
    for (field, _) in owners(metric) {
        let attribute = if field == "owner_team" { "team" } else { "id" };
        let _ = writeln!(
            out,
            "caller_is_owner if input.user.{attribute} == owners[{}]\n",
            string_literal(field)
        );
    }

    // Reasons, so a denied caller can see why.
    out.push_str(
        "violations contains \"metric_id does not match this policy\" if not input.metric_id == metric_id

violations contains \"value is missing or not a number\" if not is_number(input.value)

",
    );
    if let (Some((_, side, _)), Some(_)) = (operators(goal), critical) {
        let _ = writeln!(
            out,
            "violations contains \"value is {side} the critical threshold\" if {{\n\tis_number(input.value)\n\tnot value_ok\n}}\n"
        );
    }
    out.push_str(
        "violations contains sprintf(\"required dimension missing: %v\", [name]) if some name in missing_dimensions

violations contains sprintf(\"dimension not declared or value not allowed: %v\", [name]) if some name in invalid_dimensions

violations contains \"caller is not an owner of this metric\" if not caller_is_owner
",
    );
    out
}
