//! What the objective pages show: the server's objective report (`domain::report`) turned
//! into rows, badges and progress values for the templates, every link already built.

use super::links;
use crate::domain::report::{KeyResultReport, ObjectiveReport, OverallStatus, number_text};
use askama::Template;

/// A labelled value of a definition list (the `facts` macro's shape).
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// Pairs whose value is present, as facts.
pub fn facts(pairs: Vec<(&'static str, Option<String>)>) -> Vec<Fact> {
    pairs
        .into_iter()
        .filter_map(|(label, value)| Some(Fact { label, value: value? }))
        .collect()
}

/// A progress value for a `<progress>` element and its text.
pub struct Progress {
    /// 0-100, one decimal, as the element's `value`.
    pub value: String,
    /// "61.5%".
    pub text: String,
}

impl Progress {
    fn of(percent: f64) -> Progress {
        let rounded = (percent.clamp(0.0, 100.0) * 10.0).round() / 10.0;
        Progress {
            value: number_text(rounded),
            text: format!("{}%", number_text(rounded)),
        }
    }
}

/// A standing shown as words (never as colour alone); `class` picks the badge's colours.
pub struct Badge {
    pub label: &'static str,
    pub class: &'static str,
}

fn key_result_badge(on_track: Option<bool>) -> Badge {
    match on_track {
        Some(true) => Badge {
            label: "On track",
            class: "ok",
        },
        Some(false) => Badge {
            label: "At risk",
            class: "bad",
        },
        None => Badge {
            label: "Not assessed",
            class: "none",
        },
    }
}

fn overall_badge(status: OverallStatus) -> Badge {
    let class = match status {
        OverallStatus::Achieved | OverallStatus::OnTrack => "ok",
        OverallStatus::AtRisk | OverallStatus::OffTrack => "bad",
        OverallStatus::NoKeyResults | OverallStatus::NotAssessed => "none",
    };
    let label = match status {
        OverallStatus::NoKeyResults => "No key results",
        OverallStatus::NotAssessed => "Not assessed",
        OverallStatus::Achieved => "Achieved",
        OverallStatus::OnTrack => "On track",
        OverallStatus::AtRisk => "At risk",
        OverallStatus::OffTrack => "Off track",
    };
    Badge { label, class }
}

/// `/objectives/<id>`, the id escaped as a path segment.
pub fn objective_href(id: &str) -> String {
    format!("/objectives/{}", links::encode(id))
}

fn timeframe(report: &ObjectiveReport) -> Option<String> {
    match (&report.timeframe_start, &report.timeframe_end) {
        (Some(s), Some(e)) => Some(format!("{s} to {e}")),
        (Some(s), None) => Some(format!("from {s}")),
        (None, Some(e)) => Some(format!("until {e}")),
        (None, None) => None,
    }
}

fn display_name(report: &ObjectiveReport) -> String {
    if report.name.is_empty() {
        report.objective_id.clone()
    } else {
        report.name.clone()
    }
}

/// One line of the objectives list.
pub struct ObjectiveRow {
    pub id: String,
    pub href: String,
    pub name: String,
    pub status: String,
    pub owner: String,
    pub timeframe: String,
    pub progress: Option<Progress>,
    pub badge: Badge,
}

pub fn row(report: &ObjectiveReport) -> ObjectiveRow {
    let dash = || "—".to_string();
    ObjectiveRow {
        id: report.objective_id.clone(),
        href: objective_href(&report.objective_id),
        name: display_name(report),
        status: report.status.clone().unwrap_or_else(dash),
        owner: report.owner_team.clone().unwrap_or_else(dash),
        timeframe: timeframe(report).unwrap_or_else(dash),
        progress: report.summary.mean_progress.map(Progress::of),
        badge: overall_badge(report.summary.status),
    }
}

/// A metric a key result names: linked when the catalog has it.
pub struct MetricRef {
    pub id: String,
    pub href: String,
    pub name: Option<String>,
}

pub struct KeyResultRow {
    pub id: String,
    /// Unique on the page, for the progress bar's label.
    pub anchor: String,
    pub name: String,
    pub description: Option<String>,
    pub baseline: String,
    pub current: String,
    pub target: String,
    pub unit: String,
    pub direction: String,
    pub progress: Option<Progress>,
    pub badge: Badge,
    pub metrics: Vec<MetricRef>,
}

pub struct AssociatedRow {
    pub id: String,
    pub href: String,
    /// `None` when the catalog has no such metric.
    pub name: Option<String>,
    pub category: String,
    pub owner: String,
    pub formula: Option<String>,
}

pub struct ObjectiveView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub facts: Vec<Fact>,
    pub badge: Badge,
    pub progress: Option<Progress>,
    pub summary: String,
    pub key_results: Vec<KeyResultRow>,
    pub metrics: Vec<AssociatedRow>,
    pub docx_href: String,
}

fn value_text(n: Option<f64>) -> String {
    n.map_or_else(|| "—".to_string(), number_text)
}

fn key_result(index: usize, kr: &KeyResultReport, report: &ObjectiveReport) -> KeyResultRow {
    let name_of = |id: &str| {
        report
            .metrics
            .iter()
            .find(|m| m.metric_id == id)
            .and_then(|m| m.details.as_ref())
            .map(|d| d.name.clone())
    };
    KeyResultRow {
        id: kr.kr_id.clone(),
        anchor: format!("kr-{}", index + 1),
        name: kr.name.clone().unwrap_or_else(|| kr.kr_id.clone()),
        description: kr.description.clone(),
        baseline: value_text(kr.baseline),
        current: value_text(kr.current),
        target: value_text(kr.target),
        unit: kr.unit.clone().unwrap_or_default(),
        direction: kr.direction.clone().unwrap_or_else(|| "—".to_string()),
        progress: kr.progress.map(Progress::of),
        badge: key_result_badge(kr.on_track),
        metrics: kr
            .metric_ids
            .iter()
            .map(|id| MetricRef {
                id: id.clone(),
                href: links::metric(id),
                name: name_of(id),
            })
            .collect(),
    }
}

pub fn build(report: &ObjectiveReport) -> ObjectiveView {
    ObjectiveView {
        id: report.objective_id.clone(),
        name: display_name(report),
        description: report.description.clone(),
        facts: facts(vec![
            ("Objective id", Some(report.objective_id.clone())),
            ("Status", report.status.clone()),
            ("Owner team", report.owner_team.clone()),
            ("Timeframe", timeframe(report)),
            ("Priority", report.priority.clone()),
            ("Strategic pillar", report.strategic_pillar.clone()),
        ]),
        badge: overall_badge(report.summary.status),
        progress: report.summary.mean_progress.map(Progress::of),
        summary: report.summary.sentence(),
        key_results: report
            .key_results
            .iter()
            .enumerate()
            .map(|(i, kr)| key_result(i, kr, report))
            .collect(),
        metrics: report
            .metrics
            .iter()
            .map(|m| {
                let d = m.details.as_ref();
                let dash = || "—".to_string();
                AssociatedRow {
                    id: m.metric_id.clone(),
                    href: links::metric(&m.metric_id),
                    name: d.map(|d| d.name.clone()),
                    category: d.and_then(|d| d.category.clone()).unwrap_or_else(dash),
                    owner: d.and_then(|d| d.owner.clone()).unwrap_or_else(dash),
                    formula: d.and_then(|d| d.formula.clone()),
                }
            })
            .collect(),
        docx_href: format!("{}/report.docx", objective_href(&report.objective_id)),
    }
}

/// The objectives list's content.
#[derive(Template)]
#[template(path = "web/objectives.html")]
pub struct ObjectivesMain {
    pub rows: Vec<ObjectiveRow>,
    /// The list was cut at the page's bound.
    pub cut: bool,
}

/// An objective page's content.
#[derive(Template)]
#[template(path = "web/objective.html")]
pub struct ObjectiveMain {
    pub o: ObjectiveView,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn key_results_carry_progress_and_a_worded_standing() {
        let doc = json!({
            "objective_id": "O-1", "name": "Grow", "timeframe": {"start": "2026-01-01", "end": "2026-03-31"},
            "key_results": [
                {"kr_id": "KR-1", "baseline_value": 0, "target_value": 10, "current_value": 6, "direction": "increase", "metric_ids": ["M-1"]},
                {"kr_id": "KR-2", "baseline_value": 10, "target_value": 0, "current_value": 8, "direction": "decrease"},
            ],
        });
        let report = ObjectiveReport::build(doc.as_object().unwrap(), |_| None);

        let view = build(&report);

        assert_eq!(view.key_results[0].progress.as_ref().unwrap().value, "60");
        assert_eq!(view.key_results[0].badge.label, "On track");
        assert_eq!(view.key_results[1].badge.label, "At risk");
        assert_eq!(view.key_results[0].metrics[0].href, "/metrics/M-1");
        assert_eq!(view.docx_href, "/objectives/O-1/report.docx");
        assert_eq!(row(&report).timeframe, "2026-01-01 to 2026-03-31");
        assert_eq!(row(&report).progress.unwrap().text, "40%");
    }
}
