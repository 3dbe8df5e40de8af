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
            yaml_serde::from_str::<Value>(text)
                .map_err(|e| ValidationErrors::single("body", format!("invalid YAML: {e}")))
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
