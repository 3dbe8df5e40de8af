//! Helpers that read a raw JSON document field by field, recording every problem instead of
//! stopping at the first one.

use super::errors::{ValidationErrors, join_path};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub const MAX_ID_LEN: usize = 100;

/// Ids are client-chosen and end up in URLs, file names and policy package keys.
pub fn check_id(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_ID_LEN {
        return Err(format!("must be 1-{MAX_ID_LEN} characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("may contain only letters, digits, '_' and '-'".into());
    }
    Ok(())
}

/// The object a client sent, without the server-managed fields (their values are ours to set),
/// and the problems found in it regardless of schema (NUL characters), to be reported along with
/// the schema's own.
pub fn client_document(value: Value) -> Result<(Map<String, Value>, ValidationErrors), ValidationErrors> {
    let Value::Object(mut doc) = value else {
        return Err(ValidationErrors::single("", "must be a JSON object"));
    };
    for field in super::metric::SERVER_FIELDS {
        doc.remove(*field);
    }
    let mut errors = ValidationErrors::new();
    for (key, value) in &doc {
        // Paths are built only where a NUL is: formatting one per node was over a fifth of
        // a bulk load's client instructions.
        if key.contains('\0') || holds_nul(value) {
            find_nul(key, value, &mut errors);
        }
    }
    Ok((doc, errors))
}

/// Whether a NUL is anywhere in `value`, keys included.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// NUL characters are refused everywhere: PostgreSQL cannot store them in text or JSON, and
/// no metric definition needs one.
fn find_nul(path: &str, value: &Value, errors: &mut ValidationErrors) {
    if path.contains('\0') {
        errors.add(
            path.replace('\0', "\\u0000"),
            "field names must not contain NUL characters",
        );
    }
    match value {
        Value::String(s) if s.contains('\0') => errors.add(path, "must not contain NUL characters"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul(&format!("{path}[{i}]"), item, errors);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                find_nul(&format!("{path}.{k}"), v, errors);
            }
        }
        _ => {}
    }
}

/// Reads fields of one JSON object, collecting errors under their paths.
pub struct FieldReader<'a> {
    obj: &'a Map<String, Value>,
    pub errors: ValidationErrors,
    pub unknown: Vec<String>,
}

impl<'a> FieldReader<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self {
            obj,
            errors: ValidationErrors::new(),
            unknown: Vec::new(),
        }
    }

    pub fn object(&self) -> &'a Map<String, Value> {
        self.obj
    }

    /// A non-blank string of at most `max` characters; missing, null, blank or mistyped is an error.
    pub fn required_str(&mut self, key: &str, max: usize) -> String {
        match self.obj.get(key) {
            None | Some(Value::Null) => {
                self.errors.add(key, "is required");
                String::new()
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.errors.add(key, "must not be empty");
                String::new()
            }
            Some(Value::String(s)) => {
                if s.chars().count() > max {
                    self.errors.add(key, format!("must be at most {max} characters"));
                }
                s.clone()
            }
            Some(_) => {
                self.errors.add(key, "must be a string");
                String::new()
            }
        }
    }

    /// A string that may be missing or null; blank strings count as missing.
    pub fn optional_str(&mut self, key: &str, max: usize) -> Option<String> {
        match self.obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                if s.chars().count() > max {
                    self.errors.add(key, format!("must be at most {max} characters"));
                }
                (!s.trim().is_empty()).then(|| s.clone())
            }
            Some(_) => {
                self.errors.add(key, "must be a string");
                None
            }
        }
    }

    pub fn required_id(&mut self, key: &str) -> String {
        let id = self.required_str(key, MAX_ID_LEN);
        if !id.is_empty()
            && let Err(msg) = check_id(&id)
        {
            self.errors.add(key, msg);
        }
        id
    }

    /// A required string that must be one of `allowed`.
    pub fn required_enum(&mut self, key: &str, allowed: &[&str]) -> String {
        let value = self.required_str(key, 100);
        if !value.is_empty() && !allowed.contains(&value.as_str()) {
            self.errors.add(key, format!("must be one of {}", allowed.join(", ")));
        }
        value
    }

    /// A list of non-blank strings (missing or null = empty).
    pub fn string_list(&mut self, key: &str, max_items: usize, max_len: usize) -> Vec<String> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                if items.len() > max_items {
                    self.errors.add(key, format!("must have at most {max_items} items"));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if s.trim().is_empty() => {
                            self.errors.add(format!("{key}[{i}]"), "must not be empty")
                        }
                        Value::String(s) if s.chars().count() > max_len => self
                            .errors
                            .add(format!("{key}[{i}]"), format!("must be at most {max_len} characters")),
                        Value::String(s) => out.push(s.clone()),
                        _ => self.errors.add(format!("{key}[{i}]"), "must be a string"),
                    }
                }
                out
            }
            Some(_) => {
                self.errors.add(key, "must be a list of strings");
                Vec::new()
            }
        }
    }

    /// Deserialises an optional typed section; type errors are recorded with their full path and
    /// fields the type does not know are recorded in `unknown` (they stay in the document).
    pub fn section<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        let value = match self.obj.get(key) {
            None | Some(Value::Null) => return None,
            Some(v) => v,
        };
        let (parsed, unknown) = typed::<T>(value);
        for path in unknown {
            self.unknown.push(join_path(key, &path));
        }
        match parsed {
            Ok(v) => Some(v),
            Err((path, message)) => {
                self.errors.add(join_path(key, &path), message);
                None
            }
        }
    }
}

/// Deserialises `value` as `T`, returning the paths of fields `T` ignored and, on failure, the
/// path and message of the first type error.
pub fn typed<T: DeserializeOwned>(value: &Value) -> (Result<T, (String, String)>, Vec<String>) {
    let mut unknown = Vec::new();
    let result = {
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let de = serde_ignored::Deserializer::new(value, &mut record);
        serde_path_to_error::deserialize::<_, T>(de)
    };
    let result = result.map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, clean_serde_message(&e.inner().to_string()))
    });
    (result, unknown)
}

/// serde's messages name Rust types ("invalid type: integer `3`, expected a string"); keep the
/// useful part and drop the positions that mean nothing for a `Value`.
fn clean_serde_message(msg: &str) -> String {
    msg.replace("invalid type: ", "wrong type: ")
        .replace("a sequence", "a list")
        .replace("a map", "an object")
        .replace("struct ", "")
}

/// Names unknown top-level fields (those not in `known`).
pub fn unknown_top_level(obj: &Map<String, Value>, known: &[&str]) -> Vec<String> {
    obj.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect()
}
