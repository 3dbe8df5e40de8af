//! The editor's and the conflict page's plain data: the raw form and the per-section forms as
//! sent back, the field errors the domain reported, and a version diff as rows a person reads.

use crate::domain::diff::Operation;
use crate::domain::errors::FieldError;
use crate::domain::metric::{DIRECTIONS, METRIC_TYPES, STATUSES, TIERS};
use Kind::{Flag, Json, Lines, Long, Number, Text};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The raw editor: the document as text, its format, and the version it was opened at.
pub struct EditForm {
    pub action: String,
    pub csrf: String,
    /// `json` or `yaml`.
    pub format: &'static str,
    pub document: String,
    /// The version the text was based on (`If-Match`); `None` when creating.
    pub base_version: Option<i64>,
    pub errors: Vec<FieldError>,
}

impl EditForm {
    pub fn is_yaml(&self) -> bool {
        self.format == "yaml"
    }
}

/// How a field is edited, by the shape of its value in the document.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A string on one line.
    Text,
    /// A string that may run over several lines.
    Long,
    /// One of the domain's values; `optional` offers "(not set)" as well.
    Choice {
        options: &'static [&'static str],
        optional: bool,
    },
    /// Yes, no or not set.
    Flag,
    Number,
    /// A list of strings, one per line.
    Lines,
    /// Anything else (objects, lists of objects), as JSON text for that value alone.
    Json,
}

/// One field a section's form edits, by its API path (`governance.owner_team`).
pub struct Field {
    pub path: &'static str,
    pub label: &'static str,
    pub kind: Kind,
}

/// A part of the definition with its own form on the edit page.
pub struct Section {
    /// The top-level key for a section of the document; `main` for the top-level fields.
    pub key: &'static str,
    pub title: &'static str,
    pub fields: &'static [Field],
}

/// A form with every section's inputs at once: the new-metric form.
pub const ALL: &str = "all";

/// Only a new metric's id is typed in a form; an existing one's is its address.
const CREATE_ONLY: &str = "metric_id";

const fn f(path: &'static str, label: &'static str, kind: Kind) -> Field {
    Field { path, label, kind }
}

const fn choice(options: &'static [&'static str]) -> Kind {
    Kind::Choice {
        options,
        optional: false,
    }
}

const fn optional(options: &'static [&'static str]) -> Kind {
    Kind::Choice {
        options,
        optional: true,
    }
}

/// The fields a person edits, section by section. Anything else in a stored document (server
/// fields, `governance.created_at`, unknown fields) is not on a form and so is kept as stored.
pub const SECTIONS: &[Section] = &[
    Section {
        key: "main",
        title: "Main fields",
        fields: &[
            f("metric_id", "Metric id", Text),
            f("name", "Name", Text),
            f("short_name", "Short name", Text),
            f("description", "Description", Long),
            f("category", "Category", Text),
            f("tier", "Tier", choice(TIERS)),
            f("business_domain", "Business domain", Text),
            f("metric_type", "Type", choice(METRIC_TYPES)),
            f("tags", "Tags", Lines),
        ],
    },
    Section {
        key: "alignment",
        title: "Alignment",
        fields: &[
            f("alignment.strategic_pillar", "Strategic pillar", Text),
            f("alignment.primary_objective_ids", "Primary objective ids", Lines),
            f("alignment.related_okr_ids", "Related key result ids", Lines),
            f("alignment.why_it_matters", "Why it matters", Long),
        ],
    },
    Section {
        key: "definition",
        title: "Definition",
        fields: &[
            f("definition.formula", "Formula", Long),
            f("definition.formula_detail", "Formula in detail", Long),
            f("definition.unit", "Unit", Text),
            f(
                "definition.expected_direction",
                "Expected direction",
                optional(DIRECTIONS),
            ),
            f("definition.numerator", "Numerator event", Json),
            f("definition.denominator", "Denominator event", Json),
            f("definition.example_calculation", "Example calculation", Json),
        ],
    },
    Section {
        key: "data",
        title: "Data",
        fields: &[
            f("data.primary_sources", "Primary sources", Json),
            f("data.secondary_sources", "Secondary sources", Json),
            f("data.data_freshness", "Freshness", Text),
            f("data.update_frequency", "Update frequency", Text),
            f("data.time_grain", "Time grains", Lines),
            f("data.data_retention", "Retention", Text),
        ],
    },
    Section {
        key: "governance",
        title: "Governance",
        fields: &[
            f("governance.owner_team", "Owner team", Text),
            f("governance.technical_owner", "Technical owner", Text),
            f("governance.business_owner", "Business owner", Text),
            f("governance.status", "Status", optional(STATUSES)),
            f("governance.data_classification", "Data classification", Text),
            f("governance.pii_involved", "Involves personal data", Flag),
            f("governance.regulatory_constraints", "Regulatory constraints", Lines),
            f("governance.version", "Definition's own version label", Text),
        ],
    },
    Section {
        key: "dimensions",
        title: "Dimensions",
        fields: &[f("dimensions", "Dimensions", Json)],
    },
    Section {
        key: "targets_and_alerts",
        title: "Targets and alerts",
        fields: &[
            f("targets_and_alerts.target_value", "Target value", Number),
            f("targets_and_alerts.warning_threshold", "Warning threshold", Number),
            f("targets_and_alerts.critical_threshold", "Critical threshold", Number),
            f("targets_and_alerts.comparison_baseline", "Comparison baseline", Text),
            f("targets_and_alerts.alert_rules", "Alert rules", Json),
        ],
    },
    Section {
        key: "visualization",
        title: "Visualization",
        fields: &[
            f("visualization.default_chart_type", "Default chart type", Text),
            f("visualization.default_time_range", "Default time range", Text),
            f("visualization.drilldowns", "Drill-downs", Lines),
            f("visualization.dashboard_locations", "Dashboards", Json),
        ],
    },
    Section {
        key: "relationships",
        title: "Relationships",
        fields: &[
            f("relationships.upstream_metric_ids", "Upstream metric ids", Lines),
            f("relationships.downstream_metric_ids", "Downstream metric ids", Lines),
            f("relationships.tradeoffs", "Trade-offs", Lines),
        ],
    },
    Section {
        key: "operational_usage",
        title: "Operational usage",
        fields: &[
            f("operational_usage.review_cadence", "Review cadence", Text),
            f("operational_usage.decision_use_cases", "Decision use cases", Lines),
            f("operational_usage.linked_playbooks", "Playbooks", Json),
        ],
    },
    Section {
        key: "metadata",
        title: "Metadata",
        fields: &[
            f("metadata.notes", "Notes", Long),
            f("metadata.example_queries", "Example queries", Json),
        ],
    },
];

/// The fields one section's form may change; `None` for a section there is no form for.
pub fn section_fields(key: &str) -> Option<Vec<&'static Field>> {
    SECTIONS
        .iter()
        .find(|s| s.key == key)
        .map(|s| s.fields.iter().collect())
}

/// Every section's fields: the new-metric form has them all.
pub fn all_fields() -> Vec<&'static Field> {
    SECTIONS.iter().flat_map(|s| s.fields).collect()
}

/// Lays a posted form over `doc`. Only fields whose input was sent change, so a field no form
/// shows, and another section's fields, keep their stored values. An input whose text stands
/// for no value (a number that is not one, JSON that does not parse) is an error under its
/// path and leaves the stored value alone, so the domain still checks the rest.
pub fn apply(doc: &mut Map<String, Value>, fields: &[&Field], form: &HashMap<String, String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in fields {
        let Some(text) = form.get(field.path) else { continue };
        // An input left as it was shown changes nothing: `[]` stays `[]` rather than becoming
        // a missing field, `4.0` stays `4.0`.
        if same_text(text, &text_of(doc, field)) {
            continue;
        }
        match value_of(field.kind, text) {
            Ok(value) => set_at(doc, field.path, value),
            Err(message) => errors.push(FieldError {
                field: field.path.to_string(),
                message,
            }),
        }
    }
    errors
}

/// Browsers send a textarea's line breaks as CRLF, and may trim or add a final newline.
fn same_text(sent: &str, shown: &str) -> bool {
    sent.replace("\r\n", "\n").trim() == shown.trim()
}

/// The value an input's text stands for; `None` when it is blank (the field is left out).
fn value_of(kind: Kind, text: &str) -> Result<Option<Value>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let value = match kind {
        Kind::Text | Kind::Choice { .. } => Value::String(text.to_string()),
        Kind::Long => Value::String(text.replace("\r\n", "\n")),
        Kind::Flag => match trimmed {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err("must be true or false".into()),
        },
        Kind::Number => match trimmed.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => trimmed
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or("must be a number")?,
        },
        Kind::Lines => Value::Array(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Value::String(l.to_string()))
                .collect(),
        ),
        Kind::Json => serde_json::from_str(trimmed).map_err(|e| format!("is not valid JSON ({e})"))?,
    };
    Ok(Some(value))
}

/// Sets or (for `None`) removes the value at a top-level key or `section.field`.
pub fn set_at(doc: &mut Map<String, Value>, path: &str, value: Option<Value>) {
    let Some((section, field)) = path.split_once('.') else {
        match value {
            Some(v) => doc.insert(path.to_string(), v),
            None => doc.remove(path),
        };
        return;
    };
    let had = matches!(doc.get(section), Some(Value::Object(_)));
    let entry = doc.entry(section.to_string()).or_insert(Value::Null);
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    let Value::Object(map) = entry else {
        // Not an object: the domain reports the section itself; the input cannot go in it.
        return;
    };
    match value {
        Some(v) => map.insert(field.to_string(), v),
        None => map.remove(field),
    };
    // A blank form for a section the document did not have adds nothing.
    if !had && map.is_empty() {
        doc.remove(section);
    }
}

/// The value at a top-level key or `section.field`.
fn value_at<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        None => doc.get(path),
        Some((section, field)) => doc.get(section)?.get(field),
    }
}

/// A stored value as its input shows it.
fn text_of(doc: &Map<String, Value>, field: &Field) -> String {
    match (field.kind, value_at(doc, field.path)) {
        (_, None | Some(Value::Null)) => String::new(),
        (Kind::Lines, Some(Value::Array(items))) if items.iter().all(Value::is_string) => {
            items.iter().map(shown).collect::<Vec<_>>().join("\n")
        }
        (Kind::Json, Some(v)) => serde_json::to_string_pretty(v).unwrap_or_default(),
        (_, Some(v)) => shown(v),
    }
}

/// Whether an error about `error_path` belongs next to the input for `input_path`: the field
/// itself or anything inside it (`alert_rules[0].severity` belongs to `alert_rules`).
fn names(input_path: &str, error_path: &str) -> bool {
    error_path
        .strip_prefix(input_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// One option of a select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One input of a section's form.
pub struct FieldInput {
    /// The field's path as the API names it (`definition.unit`).
    pub path: &'static str,
    /// The input's element id.
    pub id: String,
    pub label: &'static str,
    /// What the text is expected to look like, when the label alone does not say.
    pub hint: &'static str,
    pub value: String,
    /// `input`, `select` or `textarea`.
    pub control: &'static str,
    pub rows: usize,
    /// JSON text, shown in a fixed-width font and not spell-checked.
    pub code: bool,
    pub numeric: bool,
    pub options: Vec<Choice>,
    /// The errors naming this field or a path inside it, each with its own path.
    pub errors: Vec<FieldError>,
}

impl FieldInput {
    fn new(field: &Field, value: String, errors: Vec<FieldError>) -> Self {
        let (control, rows, hint) = match field.kind {
            Kind::Text | Kind::Number => ("input", 0, ""),
            Kind::Choice { .. } | Kind::Flag => ("select", 0, ""),
            Kind::Long => ("textarea", 3, ""),
            Kind::Lines => ("textarea", 3, "one per line"),
            Kind::Json => ("textarea", 6, "JSON"),
        };
        let options = match field.kind {
            Kind::Choice { options, optional } => {
                let mut all: Vec<(String, String)> = Vec::new();
                if optional {
                    all.push((String::new(), "(not set)".into()));
                }
                all.extend(options.iter().map(|o| (o.to_string(), o.to_string())));
                // A value the domain does not allow stays visible (and marked) rather than
                // being swapped for the first choice.
                if !value.is_empty() && !options.contains(&value.as_str()) {
                    all.push((value.clone(), value.clone()));
                }
                all
            }
            Kind::Flag => vec![
                (String::new(), "(not set)".into()),
                ("true".into(), "Yes".into()),
                ("false".into(), "No".into()),
            ],
            _ => Vec::new(),
        };
        FieldInput {
            path: field.path,
            id: format!("f-{}", field.path.replace('.', "-")),
            label: field.label,
            hint,
            options: options
                .into_iter()
                .map(|(v, label)| Choice {
                    selected: v == value,
                    value: v,
                    label,
                })
                .collect(),
            value,
            control,
            rows,
            code: matches!(field.kind, Kind::Json),
            numeric: matches!(field.kind, Kind::Number),
            errors,
        }
    }
}

/// One error in a form's summary, linked to its input when one shows it.
pub struct Problem {
    pub field: String,
    pub message: String,
    pub href: Option<String>,
}

/// One section's form.
pub struct SectionForm {
    pub key: &'static str,
    pub title: &'static str,
    pub inputs: Vec<FieldInput>,
    /// Every error of the save this form sent (those naming no input only here).
    pub problems: Vec<Problem>,
}

/// The sections' forms, and the summary of a new-metric form (one form for all sections).
#[derive(Default)]
pub struct FieldForms {
    pub sections: Vec<SectionForm>,
    pub problems: Vec<Problem>,
}

/// A form as sent back: which section it was, what its inputs said, and what was wrong.
pub struct Posted<'a> {
    pub section: &'a str,
    pub values: &'a HashMap<String, String>,
    pub errors: &'a [FieldError],
}

/// The forms for `doc`; the section `posted` names shows what was sent, with its errors.
pub fn field_forms(doc: &Map<String, Value>, posted: Option<&Posted>, creating: bool) -> FieldForms {
    let mut forms = FieldForms {
        sections: Vec::new(),
        problems: Vec::new(),
    };
    for section in SECTIONS {
        let sent = posted.filter(|p| p.section == ALL || p.section == section.key);
        let inputs = section
            .fields
            .iter()
            .filter(|field| creating || field.path != CREATE_ONLY)
            .map(|field| {
                let value = sent
                    .and_then(|p| p.values.get(field.path).cloned())
                    .unwrap_or_else(|| text_of(doc, field));
                let errors = sent
                    .map(|p| {
                        p.errors
                            .iter()
                            .filter(|e| names(field.path, &e.field))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                FieldInput::new(field, value, errors)
            })
            .collect();
        forms.sections.push(SectionForm {
            key: section.key,
            title: section.title,
            inputs,
            problems: Vec::new(),
        });
    }
    let Some(posted) = posted else { return forms };
    let shown: Vec<&FieldInput> = forms
        .sections
        .iter()
        .filter(|s| posted.section == ALL || s.key == posted.section)
        .flat_map(|s| &s.inputs)
        .collect();
    let problems = posted
        .errors
        .iter()
        .map(|e| Problem {
            field: e.field.clone(),
            message: e.message.clone(),
            href: shown
                .iter()
                .find(|i| names(i.path, &e.field))
                .map(|i| format!("#{}", i.id)),
        })
        .collect();
    match forms.sections.iter_mut().find(|s| s.key == posted.section) {
        Some(section) => section.problems = problems,
        None => forms.problems = problems,
    }
    forms
}

/// One changed value between two versions.
pub struct DiffRow {
    /// The field path as the API names fields (`definition.unit`, `dimensions[0].name`).
    pub field: String,
    pub change: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// `/definition/formula` as `definition.formula`, `/dimensions/0/name` as `dimensions[0].name`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !out.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && !token.is_empty() {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

/// A value as a person reads it: strings as they are, anything else as compact JSON.
pub fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The operations turning `old` into the newer document, each with the value it replaced.
pub fn rows(old: &Map<String, Value>, operations: &[Operation]) -> Vec<DiffRow> {
    let old = Value::Object(old.clone());
    let before = |path: &str| old.pointer(path).map(shown);
    operations
        .iter()
        .map(|op| match op {
            Operation::Add { path, value } => DiffRow {
                field: field_path(path),
                change: "added",
                before: None,
                after: Some(shown(value)),
            },
            Operation::Remove { path } => DiffRow {
                field: field_path(path),
                change: "removed",
                before: before(path),
                after: None,
            },
            Operation::Replace { path, value } => DiffRow {
                field: field_path(path),
                change: "changed",
                before: before(path),
                after: Some(shown(value)),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::diff::diff;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn posted(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_section_form_changes_only_its_own_inputs_that_were_edited() {
        let mut doc = object(json!({
            "name": "A",
            "governance": {"owner_team": "T", "created_at": "x", "regulatory_constraints": []},
            "targets_and_alerts": {"target_value": 4.0}
        }));
        let form = posted(&[
            ("governance.owner_team", "New team"),
            ("governance.regulatory_constraints", ""),
            ("governance.status", ""),
            ("governance.data_classification", " "),
            ("name", "B"),
        ]);
        let fields = section_fields("governance").unwrap_or_default();
        assert!(apply(&mut doc, &fields, &form).is_empty());
        assert_eq!(
            Value::Object(doc),
            json!({
                "name": "A",
                "governance": {"owner_team": "New team", "created_at": "x", "regulatory_constraints": []},
                "targets_and_alerts": {"target_value": 4.0}
            })
        );
    }

    #[test]
    fn inputs_become_the_values_they_stand_for() {
        let mut doc = Map::new();
        let form = posted(&[
            ("tags", "one\r\n\r\n two \r\n"),
            ("governance.pii_involved", "true"),
            ("targets_and_alerts.target_value", "0.5"),
            ("targets_and_alerts.warning_threshold", "3"),
            ("dimensions", "[{\"name\": \"channel\"}]"),
            ("alignment.strategic_pillar", ""),
        ]);
        assert!(apply(&mut doc, &all_fields(), &form).is_empty());
        assert_eq!(
            Value::Object(doc),
            json!({
                "tags": ["one", "two"],
                "governance": {"pii_involved": true},
                "targets_and_alerts": {"target_value": 0.5, "warning_threshold": 3},
                "dimensions": [{"name": "channel"}]
            }),
            "a blank section is not added"
        );
    }

    #[test]
    fn text_that_stands_for_no_value_is_an_error_and_keeps_the_stored_value() {
        let mut doc = object(json!({"targets_and_alerts": {"target_value": 1}}));
        let form = posted(&[
            ("targets_and_alerts.target_value", "lots"),
            ("targets_and_alerts.alert_rules", "[{"),
        ]);
        let fields = section_fields("targets_and_alerts").unwrap_or_default();
        let errors: Vec<String> = apply(&mut doc, &fields, &form).into_iter().map(|e| e.field).collect();
        assert_eq!(
            errors,
            ["targets_and_alerts.target_value", "targets_and_alerts.alert_rules"]
        );
        assert_eq!(Value::Object(doc), json!({"targets_and_alerts": {"target_value": 1}}));
    }

    #[test]
    fn errors_go_next_to_the_input_holding_their_path() {
        let errors = [
            FieldError {
                field: "targets_and_alerts.alert_rules[0].severity".into(),
                message: "must be one of info".into(),
            },
            FieldError {
                field: "metric_id".into(),
                message: "does not match".into(),
            },
        ];
        let values = HashMap::new();
        let posted = Posted {
            section: "targets_and_alerts",
            values: &values,
            errors: &errors,
        };
        let forms = field_forms(&Map::new(), Some(&posted), false);
        let section = forms.sections.iter().find(|s| s.key == "targets_and_alerts");
        let rules = section
            .and_then(|s| s.inputs.iter().find(|i| i.path == "targets_and_alerts.alert_rules"))
            .map(|i| i.errors.len());
        assert_eq!(rules, Some(1));
        let hrefs: Vec<Option<&str>> = section
            .map(|s| s.problems.iter().map(|p| p.href.as_deref()).collect())
            .unwrap_or_default();
        assert_eq!(hrefs, [Some("#f-targets_and_alerts-alert_rules"), None]);
        assert!(!names("tags", "tags_extra") && names("tags", "tags[2]"));
    }

    #[test]
    fn paths_read_like_the_apis_field_paths() {
        assert_eq!(field_path("/definition/formula"), "definition.formula");
        assert_eq!(field_path("/dimensions/0/name"), "dimensions[0].name");
        assert_eq!(field_path("/a~1b/c~0d"), "a/b.c~d");
    }

    #[test]
    fn rows_carry_the_value_before_and_after() {
        let old = json!({"name": "A", "tags": ["x", "y"], "gone": 1});
        let new = json!({"name": "B", "tags": ["x"], "added": {"k": true}});
        let ops = diff(&old, &new);
        let rows = rows(old.as_object().unwrap_or(&Map::new()), &ops);
        let name = rows
            .iter()
            .find(|r| r.field == "name")
            .map(|r| (r.before.clone(), r.after.clone()));
        assert_eq!(name, Some((Some("A".into()), Some("B".into()))));
        assert!(
            rows.iter()
                .any(|r| r.field == "tags[1]" && r.change == "removed" && r.before.as_deref() == Some("y"))
        );
        assert!(
            rows.iter()
                .any(|r| r.field == "added" && r.after.as_deref() == Some("{\"k\":true}"))
        );
    }
}
