//! Catalog files and bodies: JSON or YAML in, JSON or YAML out.

use crate::domain::ValidationErrors;
use serde::de::{DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// Most values (scalars, lists and maps, aliases expanded) a YAML document of `len` bytes may
/// hold. Without aliases a document holds fewer values than it has bytes, so this leaves room
/// for ordinary anchor reuse, while an alias bomb (a 774-byte file expanding to millions of
/// values, gigabytes once built) is refused after a few thousand steps and no allocation.
pub fn yaml_value_budget(len: usize) -> usize {
    len.saturating_mul(4).saturating_add(4096).min(MAX_YAML_VALUES)
}

/// Whatever the size: about what a legitimate 64 MiB catalog holds (30-odd bytes per value),
/// and a few hundred MB once built.
pub const MAX_YAML_VALUES: usize = 4_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// By file extension: `.yaml`/`.yml` is YAML, anything else JSON.
    pub fn from_path(path: &Path) -> Format {
        Format::from_extension(path).unwrap_or(Format::Json)
    }

    /// By file extension when it names one: `.json`, `.yaml` or `.yml`.
    pub fn from_extension(path: &Path) -> Option<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("yaml" | "yml") => Some(Format::Yaml),
            Some("json") => Some(Format::Json),
            _ => None,
        }
    }

    /// A guess from the text when nothing names the format: a JSON document opens with `{` or
    /// `[`; anything else is taken as YAML, whose parser then says what is wrong with it.
    pub fn sniff(bytes: &[u8]) -> Format {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => Format::Json,
            _ => Format::Yaml,
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
            // A JSON value costs tens of bytes once built from as little as two bytes of input:
            // the same ceiling as YAML keeps a hostile file from becoming gigabytes.
            let mut counter = Counter {
                left: MAX_YAML_VALUES,
                exhausted: false,
            };
            let _ = (&mut counter).deserialize(&mut serde_json::Deserializer::from_slice(bytes));
            if counter.exhausted {
                return Err(ValidationErrors::single(
                    "body",
                    format!("invalid JSON: more than {MAX_YAML_VALUES} values; split the catalog into several imports"),
                ));
            }
            serde_json::from_slice(bytes).map_err(|e| ValidationErrors::single("body", format!("invalid JSON: {e}")))
        }
        Format::Yaml => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ValidationErrors::single("body", "invalid YAML: not UTF-8 text"))?;
            check_expansion(text)?;
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
        Format::Yaml => yaml_serde::to_string(value)
            .map(|text| quote_yaml11_scalars(text, value))
            .map_err(|e| e.to_string()),
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

/// Walks the document once with aliases expanded, building nothing, and stops as soon as it has
/// counted more values than the budget allows. Other problems are left to the real parse, which
/// reports them with their position.
fn check_expansion(text: &str) -> Result<(), ValidationErrors> {
    let budget = yaml_value_budget(text.len());
    let mut counter = Counter {
        left: budget,
        exhausted: false,
    };
    let _ = (&mut counter).deserialize(yaml_serde::Deserializer::from_str(text));
    if counter.exhausted {
        return Err(ValidationErrors::single(
            "body",
            format!(
                "invalid YAML: it expands to more than {budget} values (aliases included); \
                 repeat fewer aliases or send the catalog as JSON"
            ),
        ));
    }
    Ok(())
}

/// Counts values as the deserializer produces them, replaying aliases like any consumer would.
struct Counter {
    left: usize,
    exhausted: bool,
}

impl Counter {
    fn take<E: serde::de::Error>(&mut self) -> Result<(), E> {
        match self.left.checked_sub(1) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.exhausted = true;
                Err(E::custom("value budget exhausted"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for &mut Counter {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! count_scalar {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(fn $name<E: serde::de::Error>(self, _: $ty) -> Result<(), E> {
            self.take()
        })*
    };
}

impl<'de> Visitor<'de> for &mut Counter {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    count_scalar!(
        visit_bool: bool, visit_i64: i64, visit_i128: i128, visit_u64: u64, visit_u128: u128,
        visit_f64: f64, visit_str: &str, visit_bytes: &[u8],
    );

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.take()
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.take()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.take()?;
        while seq.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.take()?;
        while map.next_key_seed(&mut *self)?.is_some() {
            map.next_value_seed(&mut *self)?;
        }
        Ok(())
    }

    /// A tagged value (`!tag value`).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (IgnoredAny, contents) = data.variant()?;
        contents.newtype_variant_seed(self)
    }
}

/// Plain scalars that YAML 1.1 parsers (PyYAML, many tools our users run) read as something
/// other than a string: `=` (the "value" type, which PyYAML cannot even load) and the 1.1
/// booleans. The emitter follows YAML 1.2 and leaves them plain.
const YAML11_SPECIAL: &[&str] = &[
    "=", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
];

/// Single-quotes those scalars where they stand as a whole value (`key: on`, `- on`) or key
/// (`on: ...`). A line-level rewrite could touch the inside of a block scalar, so the result is
/// kept only if it reads back to the same document; otherwise the emitter's text is returned.
fn quote_yaml11_scalars(text: String, value: &Value) -> String {
    let mut changed = false;
    let mut out = String::with_capacity(text.len() + 16);
    // Inside a block scalar (after `|` or `>`), more-indented lines are text, not YAML.
    let mut block_indent: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(b) = block_indent {
            if indent > b || line.trim().is_empty() {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            block_indent = None;
        }
        let trimmed = line.trim_end();
        if ["|", "|-", "|+", ">", ">-", ">+"].iter().any(|m| trimmed.ends_with(m)) {
            block_indent = Some(indent);
        }
        out.push_str(
            &quote_line(line)
                .inspect(|_| changed = true)
                .unwrap_or_else(|| line.to_string()),
        );
        out.push('\n');
    }
    if !changed {
        return text;
    }
    match yaml_serde::from_str::<Value>(&out) {
        Ok(back) if &back == value => out,
        _ => text,
    }
}

fn quote_line(line: &str) -> Option<String> {
    let body = line.trim_start_matches(' ');
    let mut prefix = &line[..line.len() - body.len()];
    let mut rest = body;
    let mut consumed = prefix.len();
    while let Some(r) = rest.strip_prefix("- ") {
        rest = r;
        consumed += 2;
    }
    prefix = &line[..consumed];
    if YAML11_SPECIAL.contains(&rest) {
        return Some(format!("{prefix}'{rest}'"));
    }
    if let Some((key, after)) = rest
        .split_once(": ")
        .or_else(|| rest.strip_suffix(':').map(|k| (k, "")))
        && !key.starts_with(['\'', '"'])
    {
        let key_q = if YAML11_SPECIAL.contains(&key) {
            format!("'{key}'")
        } else {
            key.to_string()
        };
        let value_q = if YAML11_SPECIAL.contains(&after) {
            format!("'{after}'")
        } else {
            after.to_string()
        };
        if key_q != key || value_q != after {
            let sep = if rest.ends_with(':') && after.is_empty() {
                ":"
            } else {
                ": "
            };
            return Some(format!("{prefix}{key_q}{sep}{value_q}"));
        }
    }
    None
}
