//! The objective report: each key result's standing, the metrics the key results rest on, and
//! a summary. Built from stored documents (already validated on write), so it reads them
//! leniently: a field of the wrong shape is treated as absent, never as an error.

use super::objective::progress_percentage;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// A key result is on track when it has come at least this share of the way from its
/// baseline to its target.
pub const ON_TRACK_PERCENT: f64 = 50.0;

/// Everything a report on one objective shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectiveReport {
    pub objective_id: String,
    pub name: String,
    pub description: Option<String>,
    pub timeframe_start: Option<String>,
    pub timeframe_end: Option<String>,
    pub owner_team: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub strategic_pillar: Option<String>,
    pub key_results: Vec<KeyResultReport>,
    /// Every metric the key results name, first mention first, each once.
    pub metrics: Vec<AssociatedMetric>,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyResultReport {
    pub kr_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    pub target: Option<f64>,
    pub unit: Option<String>,
    /// `increase` or `decrease` as declared; absent when the key result does not say.
    pub direction: Option<String>,
    /// 0-100, or `None` when neither the values nor a supplied percentage tell.
    pub progress: Option<f64>,
    /// `None` exactly when `progress` is.
    pub on_track: Option<bool>,
    pub metric_ids: Vec<String>,
}

/// A metric named by a key result; `details` is `None` when no such metric exists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssociatedMetric {
    pub metric_id: String,
    pub details: Option<MetricDetails>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDetails {
    pub name: String,
    pub category: Option<String>,
    /// The governance owner team, else the business owner, else the technical owner.
    pub owner: Option<String>,
    pub formula: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub key_results: usize,
    /// Key results whose progress is known.
    pub assessed: usize,
    pub on_track: usize,
    /// Mean progress of the assessed key results, to one decimal.
    pub mean_progress: Option<f64>,
    pub status: OverallStatus,
    /// Ids named by key results that are not in the catalog.
    pub missing_metric_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverallStatus {
    NoKeyResults,
    /// No key result has a known progress.
    NotAssessed,
    /// Every assessed key result has reached its target.
    Achieved,
    /// Every assessed key result is on track.
    OnTrack,
    /// At least half of the assessed key results are on track.
    AtRisk,
    /// Fewer than half are.
    OffTrack,
}

impl OverallStatus {
    pub fn label(self) -> &'static str {
        match self {
            OverallStatus::NoKeyResults => "no key results",
            OverallStatus::NotAssessed => "not assessed",
            OverallStatus::Achieved => "achieved",
            OverallStatus::OnTrack => "on track",
            OverallStatus::AtRisk => "at risk",
            OverallStatus::OffTrack => "off track",
        }
    }
}

impl ObjectiveReport {
    /// The report on a stored objective document; `metric` finds a stored metric document by
    /// id (`None` when it does not exist).
    pub fn build<'m>(
        objective: &Map<String, Value>,
        metric: impl Fn(&str) -> Option<&'m Map<String, Value>>,
    ) -> ObjectiveReport {
        let key_results: Vec<KeyResultReport> = objective
            .get("key_results")
            .and_then(Value::as_array)
            .map(|krs| krs.iter().filter_map(Value::as_object).map(key_result).collect())
            .unwrap_or_default();
        let mut seen = HashSet::new();
        let metrics: Vec<AssociatedMetric> = key_results
            .iter()
            .flat_map(|kr| &kr.metric_ids)
            .filter(|id| seen.insert(id.as_str()))
            .map(|id| AssociatedMetric {
                metric_id: id.clone(),
                details: metric(id).map(metric_details),
            })
            .collect();
        let missing = metrics
            .iter()
            .filter(|m| m.details.is_none())
            .map(|m| m.metric_id.clone())
            .collect();
        let timeframe = objective.get("timeframe").and_then(Value::as_object);
        ObjectiveReport {
            objective_id: text(objective, "objective_id").unwrap_or_default(),
            name: text(objective, "name").unwrap_or_default(),
            description: text(objective, "description"),
            timeframe_start: timeframe.and_then(|t| text(t, "start")),
            timeframe_end: timeframe.and_then(|t| text(t, "end")),
            owner_team: text(objective, "owner_team"),
            status: text(objective, "status"),
            priority: text(objective, "priority"),
            strategic_pillar: text(objective, "strategic_pillar"),
            summary: summarise(&key_results, missing),
            key_results,
            metrics,
        }
    }
}

/// A non-empty string field.
fn text(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn number(doc: &Map<String, Value>, key: &str) -> Option<f64> {
    doc.get(key).and_then(Value::as_f64).filter(|n| n.is_finite())
}

fn key_result(kr: &Map<String, Value>) -> KeyResultReport {
    let (baseline, target, current) = (
        number(kr, "baseline_value"),
        number(kr, "target_value"),
        number(kr, "current_value"),
    );
    let direction = text(kr, "direction");
    let progress = match (baseline, target, current) {
        (Some(b), Some(t), Some(c)) => Some(directed_progress(b, t, c, direction.as_deref())),
        // The percentage the server kept (a supplied one, or 0 before any current value).
        _ => number(kr, "progress_percentage").map(|p| p.clamp(0.0, 100.0)),
    };
    KeyResultReport {
        kr_id: text(kr, "kr_id").unwrap_or_default(),
        name: text(kr, "name"),
        description: text(kr, "description"),
        baseline,
        current,
        target,
        unit: text(kr, "unit"),
        direction,
        progress,
        on_track: progress.map(|p| p >= ON_TRACK_PERCENT),
        metric_ids: kr
            .get("metric_ids")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// [`progress_percentage`], except that a target equal to the baseline counts as reached by any
/// value on the declared side of it (at or above for `increase`, at or below for `decrease`).
pub fn directed_progress(baseline: f64, target: f64, current: f64, direction: Option<&str>) -> f64 {
    if target == baseline {
        let reached = match direction {
            Some("increase") => current >= target,
            Some("decrease") => current <= target,
            _ => current == target,
        };
        return if reached { 100.0 } else { 0.0 };
    }
    progress_percentage(baseline, target, current)
}

fn metric_details(doc: &Map<String, Value>) -> MetricDetails {
    let section = |name: &str| doc.get(name).and_then(Value::as_object);
    let governance = section("governance");
    let owner = ["owner_team", "business_owner", "technical_owner"]
        .iter()
        .find_map(|key| governance.and_then(|g| text(g, key)));
    MetricDetails {
        name: text(doc, "name").unwrap_or_default(),
        category: text(doc, "category"),
        owner,
        formula: section("definition").and_then(|d| text(d, "formula")),
    }
}

fn summarise(key_results: &[KeyResultReport], missing_metric_ids: Vec<String>) -> Summary {
    let progress: Vec<f64> = key_results.iter().filter_map(|kr| kr.progress).collect();
    let assessed = progress.len();
    let on_track = key_results.iter().filter(|kr| kr.on_track == Some(true)).count();
    let mean_progress = (assessed > 0).then(|| (progress.iter().sum::<f64>() / assessed as f64 * 10.0).round() / 10.0);
    let status = if key_results.is_empty() {
        OverallStatus::NoKeyResults
    } else if assessed == 0 {
        OverallStatus::NotAssessed
    } else if progress.iter().all(|p| *p >= 100.0) {
        OverallStatus::Achieved
    } else if on_track == assessed {
        OverallStatus::OnTrack
    } else if on_track * 2 >= assessed {
        OverallStatus::AtRisk
    } else {
        OverallStatus::OffTrack
    };
    Summary {
        key_results: key_results.len(),
        assessed,
        on_track,
        mean_progress,
        status,
        missing_metric_ids,
    }
}

impl Summary {
    /// One sentence for people, e.g. "2 of 3 key results are on track (mean progress 61.5%);
    /// overall: at risk."
    pub fn sentence(&self) -> String {
        let mut out = match self.key_results {
            0 => "This objective has no key results.".to_string(),
            n => {
                let noun = if n == 1 { "key result is" } else { "key results are" };
                let mut s = format!("{} of {n} {noun} on track", self.on_track);
                if let Some(mean) = self.mean_progress {
                    s.push_str(&format!(" (mean progress {}%)", number_text(mean)));
                }
                if self.assessed < n {
                    s.push_str(&format!("; {} without a known progress", n - self.assessed));
                }
                s.push_str(&format!(". Overall: {}.", self.status.label()));
                s
            }
        };
        if !self.missing_metric_ids.is_empty() {
            out.push_str(&format!(
                " Metrics not in the catalog: {}.",
                self.missing_metric_ids.join(", ")
            ));
        }
        out
    }
}

/// A number as people write it: no trailing `.0`, no exponent for ordinary values.
pub fn number_text(n: f64) -> String {
    let s = format!("{n}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn kr(v: Value) -> KeyResultReport {
        key_result(&obj(v))
    }

    #[test]
    fn progress_follows_the_direction() {
        let up = kr(
            json!({"kr_id": "A", "baseline_value": 40, "target_value": 60, "current_value": 50, "direction": "increase"}),
        );
        assert_eq!((up.progress, up.on_track), (Some(50.0), Some(true)));
        let down = kr(
            json!({"kr_id": "B", "baseline_value": 0.05, "target_value": 0.02, "current_value": 0.04, "direction": "decrease"}),
        );
        assert_eq!((down.progress, down.on_track), (Some(33.3), Some(false)));
        let worse = kr(
            json!({"kr_id": "C", "baseline_value": 0.05, "target_value": 0.02, "current_value": 0.09, "direction": "decrease"}),
        );
        assert_eq!((worse.progress, worse.on_track), (Some(0.0), Some(false)));
    }

    #[test]
    fn beyond_the_target_is_capped_at_100() {
        let up = kr(json!({"kr_id": "A", "baseline_value": 10, "target_value": 20, "current_value": 35}));
        assert_eq!((up.progress, up.on_track), (Some(100.0), Some(true)));
        let down = kr(
            json!({"kr_id": "B", "baseline_value": 20, "target_value": 10, "current_value": 2, "direction": "decrease"}),
        );
        assert_eq!(down.progress, Some(100.0));
    }

    #[test]
    fn a_target_equal_to_the_baseline_is_reached_on_the_right_side() {
        assert_eq!(directed_progress(5.0, 5.0, 5.0, None), 100.0);
        assert_eq!(directed_progress(5.0, 5.0, 6.0, Some("increase")), 100.0);
        assert_eq!(directed_progress(5.0, 5.0, 4.0, Some("increase")), 0.0);
        assert_eq!(directed_progress(5.0, 5.0, 4.0, Some("decrease")), 100.0);
        assert_eq!(directed_progress(5.0, 5.0, 6.0, Some("decrease")), 0.0);
        assert_eq!(directed_progress(5.0, 5.0, 6.0, None), 0.0);
    }

    #[test]
    fn halfway_is_on_track_just_below_is_not() {
        let at = kr(json!({"kr_id": "A", "baseline_value": 0, "target_value": 10, "current_value": 5}));
        let below = kr(json!({"kr_id": "B", "baseline_value": 0, "target_value": 10, "current_value": 4.9}));
        assert_eq!((at.on_track, below.on_track), (Some(true), Some(false)));
    }

    #[test]
    fn missing_values_fall_back_to_the_kept_percentage_or_unknown() {
        let kept = kr(json!({"kr_id": "A", "progress_percentage": 72.5}));
        assert_eq!((kept.progress, kept.on_track), (Some(72.5), Some(true)));
        let unknown = kr(json!({"kr_id": "B", "baseline_value": 1, "current_value": 3}));
        assert_eq!((unknown.progress, unknown.on_track), (None, None));
        let not_a_number = kr(json!({"kr_id": "C", "baseline_value": "1", "target_value": 2, "current_value": 2}));
        assert_eq!((not_a_number.baseline, not_a_number.progress), (None, None));
    }

    #[test]
    fn metrics_are_collected_once_in_order_and_missing_ones_named() {
        let objective = obj(json!({
            "objective_id": "OBJ-1", "name": "Grow", "timeframe": {"start": "2026-01-01", "end": "2026-03-31"},
            "key_results": [
                {"kr_id": "KR-1", "baseline_value": 0, "target_value": 10, "current_value": 8, "metric_ids": ["M-B", "M-A"]},
                {"kr_id": "KR-2", "baseline_value": 0, "target_value": 10, "current_value": 1, "metric_ids": ["M-A", "M-GONE"]},
                {"kr_id": "KR-3"}
            ]
        }));
        let a = obj(json!({"metric_id": "M-A", "name": "A", "category": "Sales",
            "governance": {"business_owner": "Bea", "technical_owner": "Tom"}, "definition": {"formula": "x / y"}}));
        let b = obj(json!({"metric_id": "M-B", "name": "B", "governance": {"owner_team": "Growth"}}));
        let report = ObjectiveReport::build(&objective, |id| match id {
            "M-A" => Some(&a),
            "M-B" => Some(&b),
            _ => None,
        });
        let ids: Vec<&str> = report.metrics.iter().map(|m| m.metric_id.as_str()).collect();
        assert_eq!(ids, ["M-B", "M-A", "M-GONE"]);
        let details = report.metrics[1].details.as_ref().unwrap();
        assert_eq!(
            (details.owner.as_deref(), details.formula.as_deref()),
            (Some("Bea"), Some("x / y"))
        );
        assert_eq!(
            report.metrics[0].details.as_ref().unwrap().owner.as_deref(),
            Some("Growth")
        );
        assert!(report.metrics[2].details.is_none());
        assert_eq!(report.timeframe_end.as_deref(), Some("2026-03-31"));
        let s = &report.summary;
        assert_eq!(
            (s.key_results, s.assessed, s.on_track, s.mean_progress, s.status),
            (3, 2, 1, Some(45.0), OverallStatus::AtRisk)
        );
        assert_eq!(s.missing_metric_ids, ["M-GONE"]);
        assert_eq!(
            s.sentence(),
            "1 of 3 key results are on track (mean progress 45%); 1 without a known progress. \
             Overall: at risk. Metrics not in the catalog: M-GONE."
        );
    }

    #[test]
    fn overall_status() {
        let status = |progress: &[Option<f64>]| {
            let krs: Vec<KeyResultReport> = progress
                .iter()
                .map(|p| {
                    let mut k = kr(json!({"kr_id": "K"}));
                    k.progress = *p;
                    k.on_track = p.map(|p| p >= ON_TRACK_PERCENT);
                    k
                })
                .collect();
            summarise(&krs, Vec::new()).status
        };
        assert_eq!(status(&[]), OverallStatus::NoKeyResults);
        assert_eq!(status(&[None]), OverallStatus::NotAssessed);
        assert_eq!(status(&[Some(100.0), None]), OverallStatus::Achieved);
        assert_eq!(status(&[Some(100.0), Some(50.0)]), OverallStatus::OnTrack);
        assert_eq!(status(&[Some(10.0), Some(50.0)]), OverallStatus::AtRisk);
        assert_eq!(status(&[Some(10.0), Some(20.0), Some(90.0)]), OverallStatus::OffTrack);
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number_text(55.0), "55");
        assert_eq!(number_text(0.02), "0.02");
        assert_eq!(number_text(-3.5), "-3.5");
    }
}
