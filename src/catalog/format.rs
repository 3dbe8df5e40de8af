//! Catalog files and bodies: JSON or YAML in, JSON or YAML out.

use crate::domain::ValidationErrors;
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// By file extension: `.yaml`/`.yml` is YAML, anything else JSON.
    pub fn from_path(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Json,
        }
    }

    /// By media type (`application/json`, `application/yaml`, `application/x-yaml`, `text/yaml`).
    pub fn from_media_type(media_type: &str) -> Option<Format> {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// Parses a document; syntax errors are field errors on `body` naming line and column.
pub fn parse(bytes: &[u8], format: Format) -> Result<Value, ValidationErrors> {
    match format {
        Format::Json => {
            serde_json::from_slice(bytes).map_err(|e| ValidationErrors::single("body", format!("invalid JSON: {e}")))
        }
        Format::Yaml => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ValidationErrors::single("body", "invalid YAML: not UTF-8 text"))?;
            let yaml: yaml_serde::Value = yaml_serde::from_str(text)
                .map_err(|e| ValidationErrors::single("body", format!("invalid YAML: {e}")))?;
            // JSON has no NaN or infinity; converting would silently turn them into null.
            let mut errors = ValidationErrors::new();
            non_finite("", &yaml, &mut errors);
            errors.into_result(())?;
            serde_json::to_value(&yaml).map_err(|e| ValidationErrors::single("body", format!("invalid YAML: {e}")))
        }
    }
}

/// Serialises a document: pretty JSON with a final newline, or YAML.
pub fn render(value: &Value, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => yaml_serde::to_string(value).map_err(|e| e.to_string()),
    }
}

fn non_finite(path: &str, value: &yaml_serde::Value, errors: &mut ValidationErrors) {
    match value {
        yaml_serde::Value::Number(n) if n.is_nan() || n.is_infinite() => {
            errors.add(path, "must be a finite number (.nan and .inf cannot be stored)")
        }
        yaml_serde::Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                non_finite(&format!("{path}[{i}]"), item, errors);
            }
        }
        yaml_serde::Value::Mapping(map) => {
            for (k, v) in map {
                let key = k.as_str().map(str::to_string).unwrap_or_else(|| format!("{k:?}"));
                let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                non_finite(&child, v, errors);
            }
        }
        yaml_serde::Value::Tagged(tagged) => non_finite(path, &tagged.value, errors),
        _ => {}
    }
}
