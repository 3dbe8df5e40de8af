//! Objectives and their key results, with progress computed by the server.

use super::errors::ValidationErrors;
use super::parse::{FieldReader, check_id, client_document, unknown_top_level};
use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Number, Value};
use std::collections::HashSet;

pub const OBJECTIVE_STATUSES: &[&str] = &["planning", "active", "at_risk", "completed", "cancelled"];
pub const KR_DIRECTIONS: &[&str] = &["increase", "decrease"];

const KNOWN: &[&str] = &[
    "objective_id",
    "name",
    "description",
    "timeframe",
    "owner_team",
    "status",
    "priority",
    "strategic_pillar",
    "key_results",
];

/// A validated objective. `doc` holds every field sent, with each key result's
/// `progress_percentage` recomputed where baseline, target and current allow it.
#[derive(Debug, Clone)]
pub struct Objective {
    pub objective_id: String,
    pub name: String,
    pub status: Option<String>,
    pub owner_team: Option<String>,
    /// Every metric id the key results reference (for reference warnings).
    pub metric_ids: Vec<String>,
    pub doc: Map<String, Value>,
    pub unknown_fields: Vec<String>,
}

impl Objective {
    pub fn parse(value: Value) -> Result<Self, ValidationErrors> {
        let (mut doc, nul_errors) = client_document(value)?;
        let mut r = FieldReader::new(&doc);
        let objective_id = r.required_id("objective_id");
        let name = r.required_str("name", 300);
        r.optional_str("description", 10_000);
        let owner_team = r.optional_str("owner_team", 200);
        let status = r.optional_str("status", 20);
        if let Some(s) = &status
            && !OBJECTIVE_STATUSES.contains(&s.as_str())
        {
            r.errors
                .add("status", format!("must be one of {}", OBJECTIVE_STATUSES.join(", ")));
        }
        r.optional_str("priority", 50);
        r.optional_str("strategic_pillar", 200);
        let mut errors = nul_errors;
        errors.absorb("", std::mem::take(&mut r.errors));
        check_timeframe(&doc, &mut errors);
        let unknown_fields = unknown_top_level(&doc, KNOWN);

        let mut metric_ids = Vec::new();
        match doc.get_mut("key_results") {
            None | Some(Value::Null) => {}
            Some(Value::Array(krs)) => {
                let mut seen = HashSet::new();
                for (i, kr) in krs.iter_mut().enumerate() {
                    let mut kr_errors = ValidationErrors::new();
                    normalise_key_result(kr, &mut seen, &mut metric_ids, &mut kr_errors);
                    errors.absorb(&format!("key_results[{i}]"), kr_errors);
                }
            }
            Some(_) => errors.add("key_results", "must be a list"),
        }
        errors.into_result(())?;
        Ok(Self {
            objective_id,
            name,
            status,
            owner_team,
            metric_ids,
            doc,
            unknown_fields,
        })
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.date_naive()))
}

fn check_timeframe(doc: &Map<String, Value>, errors: &mut ValidationErrors) {
    let tf = match doc.get("timeframe") {
        None | Some(Value::Null) => return,
        Some(Value::Object(tf)) => tf,
        Some(_) => return errors.add("timeframe", "must be an object with start and end"),
    };
    let mut dates = [None, None];
    for (slot, key) in dates.iter_mut().zip(["start", "end"]) {
        match tf.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => match parse_date(s) {
                Some(d) => *slot = Some(d),
                None => errors.add(format!("timeframe.{key}"), "must be a date (YYYY-MM-DD or RFC 3339)"),
            },
            Some(_) => errors.add(format!("timeframe.{key}"), "must be a date string"),
        }
    }
    if let [Some(start), Some(end)] = dates
        && end < start
    {
        errors.add("timeframe.end", "must not be before timeframe.start");
    }
}

fn number(kr: &Map<String, Value>, key: &str, errors: &mut ValidationErrors) -> Option<f64> {
    match kr.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            errors.add(key, "must be a number or null");
            None
        }
    }
}

fn normalise_key_result(
    kr: &mut Value,
    seen: &mut HashSet<String>,
    metric_ids: &mut Vec<String>,
    errors: &mut ValidationErrors,
) {
    let Value::Object(kr) = kr else {
        return errors.add("", "must be an object");
    };
    match kr.get("kr_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => {
            if let Err(msg) = check_id(id) {
                errors.add("kr_id", msg);
            } else if !seen.insert(id.clone()) {
                errors.add("kr_id", format!("duplicate key result id `{id}` in this objective"));
            }
        }
        Some(Value::String(_)) => errors.add("kr_id", "must not be empty"),
        None | Some(Value::Null) => errors.add("kr_id", "is required"),
        Some(_) => errors.add("kr_id", "must be a string"),
    }
    let mut r = FieldReader::new(kr);
    r.optional_str("name", 300);
    r.optional_str("description", 10_000);
    r.optional_str("unit", 50);
    metric_ids.extend(r.string_list("metric_ids", 100, 100));
    let direction = r.optional_str("direction", 20);
    errors.absorb("", r.errors);
    if let Some(d) = &direction
        && !KR_DIRECTIONS.contains(&d.as_str())
    {
        errors.add("direction", format!("must be one of {}", KR_DIRECTIONS.join(", ")));
    }
    let baseline = number(kr, "baseline_value", errors);
    let target = number(kr, "target_value", errors);
    let current = number(kr, "current_value", errors);
    let supplied = number(kr, "progress_percentage", errors);
    if let (Some(b), Some(t)) = (baseline, target) {
        match direction.as_deref() {
            Some("increase") if t < b => {
                errors.add("direction", "is increase but target_value is below baseline_value")
            }
            Some("decrease") if t > b => {
                errors.add("direction", "is decrease but target_value is above baseline_value")
            }
            _ => {}
        }
    }
    let progress = match (baseline, target, current) {
        (Some(b), Some(t), Some(c)) => Some(progress_percentage(b, t, c)),
        (Some(_), Some(_), None) => supplied.map(|p| p.clamp(0.0, 100.0)).or(Some(0.0)),
        _ => supplied.map(|p| p.clamp(0.0, 100.0)),
    };
    if let Some(p) = progress.and_then(Number::from_f64) {
        kr.insert("progress_percentage".into(), Value::Number(p));
    }
}

/// Share of the way from baseline to target, 0-100. Works for both directions because the
/// sign of `target - baseline` carries the direction.
pub fn progress_percentage(baseline: f64, target: f64, current: f64) -> f64 {
    if target == baseline {
        return if current == target { 100.0 } else { 0.0 };
    }
    let pct = (current - baseline) / (target - baseline) * 100.0;
    (pct.clamp(0.0, 100.0) * 10.0).round() / 10.0
}
