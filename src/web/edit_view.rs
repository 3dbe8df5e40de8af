//! The editor's and the conflict page's plain data: the form as sent back, the field errors
//! the domain reported, and a version diff as rows a person reads.

use crate::domain::diff::Operation;
use crate::domain::errors::FieldError;
use serde_json::{Map, Value};

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

/// One input of the per-field form: a definition field by its API path.
pub struct FieldInput {
    /// The field's path as the API names it (`definition.unit`).
    pub path: &'static str,
    /// The input's element id.
    pub id: String,
    pub label: &'static str,
    pub value: String,
    /// Choices for a select; empty for a text input.
    pub options: &'static [&'static str],
    pub multiline: bool,
    pub error: Option<String>,
}

/// The fields the per-field form edits; the rest of the document is kept as stored.
pub const FIELDS: &[(&str, &str, &[&str], bool)] = &[
    ("name", "Name", &[], false),
    ("description", "Description", &[], true),
    ("category", "Category", &[], false),
    ("tier", "Tier", crate::domain::metric::TIERS, false),
    ("business_domain", "Business domain", &[], false),
    ("metric_type", "Type", crate::domain::metric::METRIC_TYPES, false),
    ("definition.formula", "Formula", &[], true),
    ("definition.unit", "Unit", &[], false),
];

/// The inputs with the values given by `value_of`, each with its first error.
pub fn field_inputs(value_of: impl Fn(&str) -> String, errors: &[FieldError]) -> Vec<FieldInput> {
    FIELDS
        .iter()
        .map(|(path, label, options, multiline)| FieldInput {
            path,
            id: format!("f-{}", path.replace('.', "-")),
            label,
            value: value_of(path),
            options,
            multiline: *multiline,
            error: errors.iter().find(|e| e.field == *path).map(|e| e.message.clone()),
        })
        .collect()
}

/// The text value at a dotted path of a document, or empty.
pub fn text_at(doc: &Map<String, Value>, path: &str) -> String {
    let mut parts = path.split('.');
    let first = parts.next().and_then(|k| doc.get(k));
    parts
        .try_fold(first, |v, k| Some(v?.get(k)))
        .flatten()
        .map(shown)
        .unwrap_or_default()
}

/// Sets (or, when empty and optional, removes) the value at a dotted path.
pub fn set_at(doc: &mut Map<String, Value>, path: &str, value: &str) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_string(), Value::String(value.to_string()));
        }
        Some((section, field)) => {
            let entry = doc
                .entry(section.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = entry {
                if value.trim().is_empty() {
                    map.remove(field);
                } else {
                    map.insert(field.to_string(), Value::String(value.to_string()));
                }
            }
        }
    }
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
