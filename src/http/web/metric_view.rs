//! A metric definition as a person reads it: each section turned into labelled facts, tables
//! and links. Pure functions of the stored document, its history and its policy.

use super::diff::VersionOption;
use super::links;
use super::scale::Scale;
use crate::domain::Action;
use crate::domain::Metric;
use crate::domain::metric::{EventRef, Link, Source};
use crate::domain::policy::Policy;
use crate::domain::user::Role;
use crate::store::model::timestamp_text;
use crate::store::{HistoryEntry, Stored};
use serde_json::Value;

/// One labelled value of a definition list.
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

pub struct SourceRow {
    pub role: &'static str,
    pub system: String,
    pub table: String,
    pub connection: String,
}

pub struct DimensionRow {
    pub name: String,
    pub required: bool,
    pub values: String,
    pub description: String,
}

pub struct AlertRow {
    pub id: String,
    pub condition: String,
    pub severity: String,
    pub channels: String,
    pub window: String,
}

pub struct MetricLink {
    pub id: String,
    pub href: String,
}

pub struct ExternalLink {
    pub label: String,
    /// Only plain http(s) URLs become links.
    pub href: Option<String>,
    pub url: String,
}

pub struct QueryRow {
    pub language: String,
    pub description: String,
    pub query: String,
}

pub struct HistoryRow {
    pub version: i64,
    pub action: &'static str,
    pub change_type: &'static str,
    pub by: String,
    pub at: String,
    pub fields: String,
    /// The changes this entry made, when there is a version before it to compare with.
    pub diff_href: Option<String>,
}

pub struct MetricView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub summary: Vec<Fact>,
    pub tags: Vec<String>,
    pub formula: Option<String>,
    pub definition: Vec<Fact>,
    pub sources: Vec<SourceRow>,
    pub data: Vec<Fact>,
    pub owners: Vec<Fact>,
    pub dimensions: Vec<DimensionRow>,
    pub targets: Vec<Fact>,
    pub alerts: Vec<AlertRow>,
    pub upstream: Vec<MetricLink>,
    pub downstream: Vec<MetricLink>,
    pub tradeoffs: Vec<String>,
    pub alignment: Vec<Fact>,
    pub visualization: Vec<Fact>,
    pub dashboards: Vec<ExternalLink>,
    pub usage: Vec<Fact>,
    pub use_cases: Vec<String>,
    pub playbooks: Vec<ExternalLink>,
    pub notes: Option<String>,
    pub queries: Vec<QueryRow>,
    pub scale: Option<Scale>,
    pub history: Vec<HistoryRow>,
    /// Versions offered by the compare form, and its default pair (previous, latest).
    pub versions: Vec<VersionOption>,
    pub diff_href: String,
    pub diff_from: i64,
    pub diff_to: i64,
    /// Shown to editors and admins (the page cache is keyed by role).
    pub edit_href: Option<String>,
    /// Shown to admins.
    pub delete_href: Option<String>,
    /// Says so when there is more history than shown (the API has it all).
    pub history_note: Option<String>,
    pub rego: String,
    pub package: String,
    pub json_href: String,
    pub yaml_href: String,
}

/// Collects the facts that have a value, in the order given.
struct Facts(Vec<Fact>);

impl Facts {
    fn new() -> Facts {
        Facts(Vec::new())
    }

    fn add(mut self, label: &'static str, value: Option<impl ToString>) -> Facts {
        if let Some(v) = value.map(|v| v.to_string()).filter(|v| !v.trim().is_empty()) {
            self.0.push(Fact { label, value: v });
        }
        self
    }

    fn list(self, label: &'static str, values: Option<&Vec<String>>) -> Facts {
        self.add(label, values.filter(|v| !v.is_empty()).map(|v| v.join(", ")))
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Numbers as people write them: no `.0` on whole numbers.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn event(e: Option<&EventRef>) -> Option<String> {
    let e = e?;
    let name = e.event_name.clone()?;
    let filters: Vec<String> = e
        .filters
        .iter()
        .flatten()
        .map(|f| {
            format!(
                "{} {} {}",
                f.field.as_deref().unwrap_or("?"),
                f.operator.as_deref().unwrap_or("="),
                f.value.as_ref().map(value_text).unwrap_or_default()
            )
        })
        .collect();
    Some(match filters.is_empty() {
        true => name,
        false => format!("{name} where {}", filters.join(" and ")),
    })
}

fn sources(role: &'static str, list: Option<&Vec<Source>>) -> impl Iterator<Item = SourceRow> {
    list.into_iter().flatten().map(move |s| SourceRow {
        role,
        system: s.system.clone().unwrap_or_default(),
        table: s.table_or_stream.clone().unwrap_or_default(),
        connection: s.connection_id.clone().unwrap_or_default(),
    })
}

fn metric_links(ids: Option<&Vec<String>>) -> Vec<MetricLink> {
    ids.into_iter()
        .flatten()
        .map(|id| MetricLink {
            href: links::metric(id),
            id: id.clone(),
        })
        .collect()
}

fn external_links(list: Option<&Vec<Link>>) -> Vec<ExternalLink> {
    list.into_iter()
        .flatten()
        .filter_map(|l| {
            let url = l.url.clone()?;
            Some(ExternalLink {
                label: l.name.clone().or_else(|| l.tool.clone()).unwrap_or_else(|| url.clone()),
                href: links::external(&url),
                url,
            })
        })
        .collect()
}

fn history_row(id: &str, h: &HistoryEntry) -> HistoryRow {
    let previous = h.version - 1;
    HistoryRow {
        diff_href: (previous >= 1 && h.action == Action::Update)
            .then(|| format!("{}/diff?from={previous}&to={}", links::metric(id), h.version)),
        version: h.version,
        action: h.action.as_str(),
        change_type: h.change_type.as_str(),
        by: h.changed_by.clone(),
        at: h.changed_at.clone(),
        fields: h.fields_changed.join(", "),
    }
}

pub fn build(
    stored: &Stored,
    metric: &Metric,
    history: &[HistoryEntry],
    history_total: u64,
    policy: Policy,
    role: Option<Role>,
) -> MetricView {
    let versions = super::diff::options(history);
    let diff_to = versions.first().map_or(stored.version, |v| v.version);
    let diff_from = versions.get(1).map_or(diff_to, |v| v.version);
    let scale = super::scale::build(
        metric.targets_and_alerts.as_ref().and_then(|t| t.target_value),
        metric.targets_and_alerts.as_ref().and_then(|t| t.warning_threshold),
        metric.targets_and_alerts.as_ref().and_then(|t| t.critical_threshold),
        metric.definition.as_ref().and_then(|d| d.expected_direction.as_deref()),
        number,
    );
    let def = metric.definition.clone().unwrap_or_default();
    let data = metric.data.clone().unwrap_or_default();
    let gov = metric.governance.clone().unwrap_or_default();
    let targets = metric.targets_and_alerts.clone().unwrap_or_default();
    let rel = metric.relationships.clone().unwrap_or_default();
    let align = metric.alignment.clone().unwrap_or_default();
    let vis = metric.visualization.clone().unwrap_or_default();
    let usage = metric.operational_usage.clone().unwrap_or_default();
    let meta = metric.metadata.clone().unwrap_or_default();
    let example = def.example_calculation.as_ref().map(|ex| {
        ex.iter()
            .map(|(k, v)| format!("{k} = {}", value_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    MetricView {
        id: metric.metric_id.clone(),
        name: metric.name.clone(),
        description: metric.description.clone(),
        summary: Facts::new()
            .add("Id", Some(&metric.metric_id))
            .add("Category", Some(&metric.category))
            .add("Tier", Some(metric.tier_str()))
            .add("Business domain", Some(&metric.business_domain))
            .add("Type", Some(&metric.metric_type))
            .add("Status", gov.status.as_ref())
            .add("Version", Some(stored.version))
            .add(
                "Last updated",
                Some(format!(
                    "{} by {}",
                    timestamp_text(&stored.updated_at),
                    stored.updated_by
                )),
            )
            .add(
                "Created",
                Some(format!(
                    "{} by {}",
                    timestamp_text(&stored.created_at),
                    stored.created_by
                )),
            )
            .0,
        tags: metric.tags.clone(),
        formula: def.formula.clone(),
        definition: Facts::new()
            .add("How it is computed", def.formula_detail.as_ref())
            .add("Numerator", event(def.numerator.as_ref()))
            .add("Denominator", event(def.denominator.as_ref()))
            .add("Unit", def.unit.as_ref())
            .add("Better when it goes", def.expected_direction.as_ref())
            .add("Worked example", example)
            .0,
        sources: sources("Primary", data.primary_sources.as_ref())
            .chain(sources("Secondary", data.secondary_sources.as_ref()))
            .collect(),
        data: Facts::new()
            .add("Freshness", data.data_freshness.as_ref())
            .add("Update frequency", data.update_frequency.as_ref())
            .list("Time grain", data.time_grain.as_ref())
            .add("Retention", data.data_retention.as_ref())
            .0,
        owners: Facts::new()
            .add("Owner team", gov.owner_team.as_ref())
            .add("Technical owner", gov.technical_owner.as_ref())
            .add("Business owner", gov.business_owner.as_ref())
            .add("Data classification", gov.data_classification.as_ref())
            .add("Personal data", gov.pii_involved.map(|p| if p { "yes" } else { "no" }))
            .list("Regulatory constraints", gov.regulatory_constraints.as_ref())
            .add("Definition version label", gov.version.as_ref())
            .0,
        dimensions: metric
            .dimensions
            .iter()
            .map(|d| DimensionRow {
                name: d.name.clone().unwrap_or_default(),
                required: d.required.unwrap_or(false),
                values: d
                    .allowed_values
                    .iter()
                    .flatten()
                    .map(value_text)
                    .collect::<Vec<_>>()
                    .join(", "),
                description: d.description.clone().unwrap_or_default(),
            })
            .collect(),
        targets: Facts::new()
            .add("Target", targets.target_value.map(number))
            .add("Warning threshold", targets.warning_threshold.map(number))
            .add("Critical threshold", targets.critical_threshold.map(number))
            .add("Compared with", targets.comparison_baseline.as_ref())
            .0,
        alerts: targets
            .alert_rules
            .iter()
            .flatten()
            .map(|a| AlertRow {
                id: a.rule_id.clone().or_else(|| a.name.clone()).unwrap_or_default(),
                condition: a.condition.clone().unwrap_or_default(),
                severity: a.severity.clone().unwrap_or_default(),
                channels: a
                    .notify_channels
                    .as_ref()
                    .or(a.notification_channels.as_ref())
                    .map(|c| c.join(", "))
                    .unwrap_or_default(),
                window: a.evaluation_window.clone().unwrap_or_default(),
            })
            .collect(),
        upstream: metric_links(rel.upstream_metric_ids.as_ref()),
        downstream: metric_links(rel.downstream_metric_ids.as_ref()),
        tradeoffs: rel.tradeoffs.clone().unwrap_or_default(),
        alignment: Facts::new()
            .add("Strategic pillar", align.strategic_pillar.as_ref())
            .list("Objectives", align.primary_objective_ids.as_ref())
            .list("Related key results", align.related_okr_ids.as_ref())
            .add("Why it matters", align.why_it_matters.as_ref())
            .0,
        visualization: Facts::new()
            .add("Chart", vis.default_chart_type.as_ref())
            .add("Time range", vis.default_time_range.as_ref())
            .list("Drill-downs", vis.drilldowns.as_ref())
            .0,
        dashboards: external_links(vis.dashboard_locations.as_ref()),
        usage: Facts::new().add("Review cadence", usage.review_cadence.as_ref()).0,
        use_cases: usage.decision_use_cases.clone().unwrap_or_default(),
        playbooks: external_links(usage.linked_playbooks.as_ref()),
        notes: meta.notes.clone().filter(|n| !n.trim().is_empty()),
        queries: meta
            .example_queries
            .iter()
            .flatten()
            .map(|q| QueryRow {
                language: q.language.clone().unwrap_or_default(),
                description: q.description.clone().unwrap_or_default(),
                query: q.query.clone().unwrap_or_default(),
            })
            .collect(),
        scale,
        history: history.iter().map(|h| history_row(&metric.metric_id, h)).collect(),
        versions,
        diff_href: format!("{}/diff", links::metric(&metric.metric_id)),
        diff_from,
        diff_to,
        edit_href: role
            .filter(|r| *r >= Role::Editor)
            .map(|_| format!("{}/edit", links::metric(&metric.metric_id))),
        delete_href: role
            .filter(|r| *r >= Role::Admin)
            .map(|_| format!("{}/delete", links::metric(&metric.metric_id))),
        history_note: (history_total > history.len() as u64)
            .then(|| format!("The latest {} of {history_total} changes.", history.len())),
        rego: policy.rego,
        package: policy.package,
        json_href: format!("{}/download?format=json", links::metric(&metric.metric_id)),
        yaml_href: format!("{}/download?format=yaml", links::metric(&metric.metric_id)),
    }
}
