//! The metric definition: a typed view for validation and logic, plus the client's document kept
//! verbatim so nothing it sent is lost.

use super::errors::ValidationErrors;
use super::parse::{FieldReader, client_document, unknown_top_level};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const TIERS: &[&str] = &["Tier-1", "Tier-2", "Tier-3"];
pub const METRIC_TYPES: &[&str] = &["leading", "lagging", "operational"];
pub const DIRECTIONS: &[&str] = &["increase", "decrease", "neutral"];
pub const STATUSES: &[&str] = &["draft", "active", "deprecated", "retired"];
pub const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "warning", "critical"];

const MAX_SEARCH_TEXT: usize = 100_000;

/// Fields the server owns; a client's values for them are ignored on write.
pub const SERVER_FIELDS: &[&str] = &["version", "created_at", "created_by", "updated_at", "updated_by"];

const TOP_LEVEL: &[&str] = &[
    "metric_id",
    "name",
    "short_name",
    "description",
    "category",
    "tier",
    "business_domain",
    "metric_type",
    "tags",
    "alignment",
    "definition",
    "data",
    "governance",
    "dimensions",
    "targets_and_alerts",
    "visualization",
    "relationships",
    "operational_usage",
    "metadata",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tier {
    #[serde(rename = "Tier-1")]
    Tier1,
    #[serde(rename = "Tier-2")]
    Tier2,
    #[serde(rename = "Tier-3")]
    Tier3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Increase,
    Decrease,
    Neutral,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Alignment {
    pub strategic_pillar: Option<String>,
    pub primary_objective_ids: Option<Vec<String>>,
    pub related_okr_ids: Option<Vec<String>>,
    pub why_it_matters: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EventFilter {
    pub field: Option<String>,
    pub operator: Option<String>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EventRef {
    pub event_name: Option<String>,
    pub filters: Option<Vec<EventFilter>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Definition {
    pub formula: Option<String>,
    pub formula_detail: Option<String>,
    pub numerator: Option<EventRef>,
    pub denominator: Option<EventRef>,
    pub unit: Option<String>,
    /// Kept as text so a blank form's `""` is reported as a field error, not a type error.
    pub expected_direction: Option<String>,
    /// Free-form worked example: any keys.
    #[schema(value_type = Option<Object>)]
    pub example_calculation: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Source {
    pub system: Option<String>,
    pub table_or_stream: Option<String>,
    pub connection_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DataSection {
    pub primary_sources: Option<Vec<Source>>,
    pub secondary_sources: Option<Vec<Source>>,
    pub data_freshness: Option<String>,
    pub update_frequency: Option<String>,
    pub time_grain: Option<Vec<String>>,
    pub data_retention: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Governance {
    pub data_classification: Option<String>,
    pub pii_involved: Option<bool>,
    pub regulatory_constraints: Option<Vec<String>>,
    pub owner_team: Option<String>,
    pub technical_owner: Option<String>,
    pub business_owner: Option<String>,
    /// The client's own version label, stored as sent (distinct from the server's `version`).
    pub version: Option<String>,
    pub status: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Dimension {
    pub name: Option<String>,
    pub description: Option<String>,
    pub allowed_values: Option<Vec<Value>>,
    pub required: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AlertRule {
    pub rule_id: Option<String>,
    /// Template spelling of `rule_id`'s human label.
    pub name: Option<String>,
    pub condition: Option<String>,
    pub severity: Option<String>,
    pub notify_channels: Option<Vec<String>>,
    /// Template spelling of `notify_channels`.
    pub notification_channels: Option<Vec<String>>,
    pub evaluation_window: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TargetsAndAlerts {
    pub target_value: Option<f64>,
    pub warning_threshold: Option<f64>,
    pub critical_threshold: Option<f64>,
    pub comparison_baseline: Option<String>,
    pub alert_rules: Option<Vec<AlertRule>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Link {
    pub name: Option<String>,
    pub tool: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Visualization {
    pub default_chart_type: Option<String>,
    pub default_time_range: Option<String>,
    pub dashboard_locations: Option<Vec<Link>>,
    pub drilldowns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Relationships {
    pub upstream_metric_ids: Option<Vec<String>>,
    pub downstream_metric_ids: Option<Vec<String>>,
    pub tradeoffs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct OperationalUsage {
    pub decision_use_cases: Option<Vec<String>>,
    pub review_cadence: Option<String>,
    pub linked_playbooks: Option<Vec<Link>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ExampleQuery {
    pub language: Option<String>,
    pub query: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Metadata {
    pub notes: Option<String>,
    pub example_queries: Option<Vec<ExampleQuery>>,
    pub version: Option<String>,
    pub created_at: Option<String>,
    pub created_by: Option<String>,
    pub last_updated: Option<String>,
    pub last_updated_by: Option<String>,
    pub change_history: Option<Vec<Value>>,
}

/// A validated metric definition. `doc` is exactly what the client sent, minus server fields.
#[derive(Debug, Clone)]
pub struct Metric {
    pub metric_id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub tier: Tier,
    pub business_domain: String,
    pub metric_type: String,
    pub tags: Vec<String>,
    pub alignment: Option<Alignment>,
    pub definition: Option<Definition>,
    pub data: Option<DataSection>,
    pub governance: Option<Governance>,
    pub dimensions: Vec<Dimension>,
    pub targets_and_alerts: Option<TargetsAndAlerts>,
    pub visualization: Option<Visualization>,
    pub relationships: Option<Relationships>,
    pub operational_usage: Option<OperationalUsage>,
    pub metadata: Option<Metadata>,
    pub doc: Map<String, Value>,
    /// Paths of fields we do not know; they are stored and returned as sent.
    pub unknown_fields: Vec<String>,
}

impl Metric {
    /// Validates a raw document. Every problem is reported at once, as field errors.
    pub fn parse(value: Value) -> Result<Metric, ValidationErrors> {
        let (doc, nul_errors) = client_document(value)?;
        let mut r = FieldReader::new(&doc);
        let metric_id = r.required_id("metric_id");
        let name = r.required_str("name", 200);
        r.optional_str("short_name", 100);
        let description = r.required_str("description", 10_000);
        let category = r.required_str("category", 100);
        let tier = r.required_enum("tier", TIERS);
        let business_domain = r.required_str("business_domain", 200);
        let metric_type = r.required_enum("metric_type", METRIC_TYPES);
        let tags = r.string_list("tags", 50, 64);
        let alignment = r.section::<Alignment>("alignment");
        let definition = r.section::<Definition>("definition");
        let data = r.section::<DataSection>("data");
        let governance = r.section::<Governance>("governance");
        let dimensions = r.section::<Vec<Dimension>>("dimensions").unwrap_or_default();
        let targets_and_alerts = r.section::<TargetsAndAlerts>("targets_and_alerts");
        let visualization = r.section::<Visualization>("visualization");
        let relationships = r.section::<Relationships>("relationships");
        let operational_usage = r.section::<OperationalUsage>("operational_usage");
        let metadata = r.section::<Metadata>("metadata");

        let mut unknown = unknown_top_level(&doc, TOP_LEVEL);
        unknown.append(&mut r.unknown);
        let mut errors = nul_errors;
        errors.absorb("", r.errors);

        check_enum_opt(
            &mut errors,
            "definition.expected_direction",
            definition.as_ref().and_then(|d| d.expected_direction.as_deref()),
            DIRECTIONS,
        );
        check_enum_opt(
            &mut errors,
            "governance.status",
            governance.as_ref().and_then(|g| g.status.as_deref()),
            STATUSES,
        );
        check_dimensions(&mut errors, &dimensions);
        if let Some(g) = &governance {
            // These are indexed columns: bounded so every backend can index them.
            let owners = [
                ("owner_team", &g.owner_team),
                ("technical_owner", &g.technical_owner),
                ("business_owner", &g.business_owner),
            ];
            for (name, value) in owners {
                if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
                    errors.add(format!("governance.{name}"), "must be at most 200 characters");
                }
            }
        }
        if let Some(rules) = targets_and_alerts.as_ref().and_then(|t| t.alert_rules.as_ref()) {
            for (i, rule) in rules.iter().enumerate() {
                check_enum_opt(
                    &mut errors,
                    &format!("targets_and_alerts.alert_rules[{i}].severity"),
                    rule.severity.as_deref(),
                    SEVERITIES,
                );
            }
        }
        let tier = match tier.as_str() {
            "Tier-1" => Tier::Tier1,
            "Tier-2" => Tier::Tier2,
            _ => Tier::Tier3,
        };
        errors.into_result(())?;
        Ok(Metric {
            metric_id,
            name,
            description,
            category,
            tier,
            business_domain,
            metric_type,
            tags,
            alignment,
            definition,
            data,
            governance,
            dimensions,
            targets_and_alerts,
            visualization,
            relationships,
            operational_usage,
            metadata,
            doc,
            unknown_fields: unknown,
        })
    }

    pub fn tier_str(&self) -> &'static str {
        match self.tier {
            Tier::Tier1 => "Tier-1",
            Tier::Tier2 => "Tier-2",
            Tier::Tier3 => "Tier-3",
        }
    }

    pub fn status(&self) -> Option<&str> {
        self.governance.as_ref()?.status.as_deref()
    }

    pub fn owner_team(&self) -> Option<&str> {
        self.governance.as_ref()?.owner_team.as_deref()
    }

    pub fn technical_owner(&self) -> Option<&str> {
        self.governance.as_ref()?.technical_owner.as_deref()
    }

    pub fn business_owner(&self) -> Option<&str> {
        self.governance.as_ref()?.business_owner.as_deref()
    }

    /// Text indexed for full-text search besides name and description.
    pub fn search_text(&self) -> String {
        let mut parts: Vec<&str> = vec![&self.category, &self.business_domain];
        parts.extend(self.tags.iter().map(String::as_str));
        if let Some(s) = self.doc.get("short_name").and_then(Value::as_str) {
            parts.push(s);
        }
        if let Some(d) = &self.definition {
            parts.extend(d.formula.as_deref());
            parts.extend(d.formula_detail.as_deref());
            parts.extend(d.unit.as_deref());
        }
        if let Some(a) = &self.alignment {
            parts.extend(a.strategic_pillar.as_deref());
            parts.extend(a.why_it_matters.as_deref());
        }
        parts.extend(self.owner_team());
        parts.extend(self.technical_owner());
        parts.extend(self.business_owner());
        let mut text = parts.join(" ");
        // PostgreSQL caps a tsvector at 1 MB; the first 100 KB of secondary text is plenty.
        if text.len() > MAX_SEARCH_TEXT {
            let cut = (0..=MAX_SEARCH_TEXT)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text.truncate(cut);
        }
        text
    }

    /// Warnings to return beside a successful write.
    pub fn warnings(&self) -> Vec<String> {
        self.unknown_fields
            .iter()
            .map(|f| format!("unknown field `{f}` was stored as sent"))
            .collect()
    }
}

/// A value outside `allowed` is an error naming them (list filters use it too: a value no metric
/// can have would match nothing, and an empty list would hide the typo).
pub fn check_enum_opt(errors: &mut ValidationErrors, field: &str, value: Option<&str>, allowed: &[&str]) {
    if let Some(v) = value
        && !allowed.contains(&v)
    {
        errors.add(field, format!("must be one of {}", allowed.join(", ")));
    }
}

fn check_dimensions(errors: &mut ValidationErrors, dimensions: &[Dimension]) {
    let mut seen = std::collections::HashSet::new();
    for (i, d) in dimensions.iter().enumerate() {
        match d.name.as_deref().map(str::trim) {
            None | Some("") => errors.add(format!("dimensions[{i}].name"), "is required"),
            Some(n) => {
                if !seen.insert(n.to_string()) {
                    errors.add(format!("dimensions[{i}].name"), format!("duplicate dimension `{n}`"));
                }
            }
        }
    }
}
