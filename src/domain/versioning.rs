//! Version rules: which fields changed between two documents and how big the change is.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeType {
    Patch,
    Minor,
    Major,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Patch => "patch",
            ChangeType::Minor => "minor",
            ChangeType::Major => "major",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patch" => Some(Self::Patch),
            "minor" => Some(Self::Minor),
            "major" => Some(Self::Major),
            _ => None,
        }
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(Self::Create),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// Paths whose change alters what the number means.
const MAJOR: &[&str] = &["category", "definition.formula", "definition.unit"];
/// Paths whose change alters how the metric is presented or classified.
const MINOR: &[&str] = &["name", "description", "tier", "business_domain"];

/// Dotted paths of the leaves that differ. Objects are walked; arrays and scalars compare whole,
/// so a reordered tag list counts as a change of `tags`.
pub fn fields_changed(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    diff_objects("", old, new, &mut out);
    out.sort();
    out
}

fn diff_objects(prefix: &str, old: &Map<String, Value>, new: &Map<String, Value>, out: &mut Vec<String>) {
    for (key, old_v) in old {
        let path = child(prefix, key);
        match new.get(key) {
            None => out.push(path),
            Some(new_v) => diff_values(&path, old_v, new_v, out),
        }
    }
    for key in new.keys() {
        if !old.contains_key(key) {
            out.push(child(prefix, key));
        }
    }
}

fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => diff_objects(path, a, b, out),
        (a, b) if !json_eq(a, b) => out.push(path.to_string()),
        _ => {}
    }
}

/// Numbers compare by value so `0.9` and `0.90`, or `1` and `1.0`, are not a change.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // Integers compare exactly (f64 would merge 2^53 and 2^53 + 1); `1` and `1.0` are equal.
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn child(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Classifies a set of changed paths by the design's rules; `None` when nothing changed.
pub fn classify(changed: &[String]) -> Option<ChangeType> {
    let hits = |rules: &[&str]| {
        changed.iter().any(|path| {
            rules
                .iter()
                .any(|r| path == r || path.starts_with(&format!("{r}.")) || r.starts_with(&format!("{path}.")))
        })
    };
    if changed.is_empty() {
        None
    } else if hits(MAJOR) {
        Some(ChangeType::Major)
    } else if hits(MINOR) {
        Some(ChangeType::Minor)
    } else {
        Some(ChangeType::Patch)
    }
}
