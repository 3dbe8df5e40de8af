//! Turns a catalog document (or a single entity, or a template file) into a validated,
//! all-or-nothing import batch, with per-item errors addressed by path.

use super::legacy::{self, Renames};
use crate::domain::{BusinessDomain, Metric, Objective, ValidationErrors};
use crate::store::model::{MAX_RESTORED_VERSION, Provenance};
use crate::store::{ImportBatch, ImportOutcome, Store, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

const COLLECTIONS: &[&str] = &["metrics", "domains", "objectives"];

/// A validated import, ready for the store, plus what deserves a warning.
#[derive(Debug, Default)]
pub struct ImportPlan {
    pub batch: ImportBatch,
    pub warnings: Vec<String>,
    /// Metric ids referenced by objectives, relationships and domains, with where.
    references: Vec<(String, String)>,
    /// The file path of each accepted item, per collection, for duplicate reports.
    paths: HashMap<&'static str, Vec<String>>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    #[serde(flatten)]
    pub outcome: ImportOutcome,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates the whole document; every invalid item is reported, nothing is half-accepted.
pub fn plan(doc: Value, dry_run: bool) -> Result<ImportPlan, ValidationErrors> {
    let mut p = ImportPlan::default();
    p.batch.dry_run = dry_run;
    let mut errors = ValidationErrors::new();
    match doc {
        Value::Array(items) => add_all(&mut p, &mut errors, "metrics", items),
        Value::Object(obj) if !is_single_entity(&obj) && COLLECTIONS.iter().any(|c| obj.contains_key(*c)) => {
            let mut catalog = Map::new();
            for (key, value) in obj {
                match (key.as_str(), value) {
                    (c, Value::Array(items)) if COLLECTIONS.contains(&c) => {
                        let kind = COLLECTIONS.iter().find(|k| **k == c).copied().unwrap_or("metrics");
                        add_all(&mut p, &mut errors, kind, items)
                    }
                    (c, Value::Null) if COLLECTIONS.contains(&c) => {}
                    (c, _) if COLLECTIONS.contains(&c) => errors.add(c, "must be a list"),
                    (_, value) => {
                        catalog.insert(key, value);
                    }
                }
            }
            if !catalog.is_empty() {
                p.batch.catalog = Some(catalog);
            }
        }
        Value::Object(obj) => {
            // A single entity, such as one of the blank templates: paths carry no prefix.
            let kind = if obj.contains_key("metric_id") {
                "metrics"
            } else if obj.contains_key("objective_id") || obj.contains_key("key_results") {
                "objectives"
            } else if obj.contains_key("domain_id") || obj.contains_key("id") {
                "domains"
            } else {
                errors.add(
                    "",
                    "not a catalog: expected `metrics`, `domains` or `objectives`, or a single metric, domain or objective",
                );
                return Err(errors);
            };
            add_one(&mut p, &mut errors, kind, "", obj);
        }
        _ => errors.add("", "must be a JSON or YAML object (a catalog) or a list of metrics"),
    }
    check_duplicates(&p, &mut errors);
    errors.into_result(p)
}

/// An entity's own id field marks a single entity even when it has list fields named like a
/// catalog's collections (the domain template has `objectives: []`).
fn is_single_entity(obj: &Map<String, Value>) -> bool {
    ["metric_id", "domain_id", "objective_id", "id"]
        .iter()
        .any(|k| obj.contains_key(*k))
}

fn add_all(p: &mut ImportPlan, errors: &mut ValidationErrors, kind: &'static str, items: Vec<Value>) {
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("{kind}[{i}]");
        match item {
            Value::Object(obj) => add_one(p, errors, kind, &path, obj),
            _ => errors.add(path, "must be an object"),
        }
    }
}

fn add_one(p: &mut ImportPlan, errors: &mut ValidationErrors, kind: &'static str, path: &str, obj: Map<String, Value>) {
    let before = errors.len();
    accept(p, errors, kind, path, obj);
    if errors.len() == before {
        p.paths.entry(kind).or_default().push(path.to_string());
    }
}

fn accept(p: &mut ImportPlan, errors: &mut ValidationErrors, kind: &str, path: &str, obj: Map<String, Value>) {
    let provenance = Provenance::from_doc(&obj);
    if let Some(v) = obj.get("version").filter(|v| v.is_number())
        && provenance.version.is_none()
    {
        let field = if path.is_empty() {
            "version".to_string()
        } else {
            format!("{path}.version")
        };
        p.warnings.push(format!(
            "{field}: {v} is never restored (restored versions are 1 to {MAX_RESTORED_VERSION}); the server numbers this entity"
        ));
    }
    let report = |errors: &mut ValidationErrors, e: ValidationErrors, renames: &Renames| {
        let mut mapped = ValidationErrors::new();
        for fe in e.into_errors() {
            mapped.add(renames.original(&fe.field), fe.message);
        }
        errors.absorb(path, mapped);
    };
    let at = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    match kind {
        "metrics" => match Metric::parse(Value::Object(obj)) {
            Ok(m) => {
                p.warnings.extend(
                    m.unknown_fields
                        .iter()
                        .map(|f| format!("{}: unknown field kept as sent", at(f))),
                );
                if let Some(rel) = &m.relationships {
                    for id in rel
                        .upstream_metric_ids
                        .iter()
                        .chain(&rel.downstream_metric_ids)
                        .flatten()
                    {
                        p.references.push((at("relationships"), id.clone()));
                    }
                }
                p.batch.metrics.push((m, provenance));
            }
            Err(e) => report(errors, e, &Renames::default()),
        },
        "domains" => {
            let (value, renames) = legacy::domain(obj);
            match BusinessDomain::parse(value) {
                Ok(d) => {
                    for id in string_list(&d.doc, "key_metrics") {
                        p.references.push((at("key_metrics"), id));
                    }
                    p.batch.domains.push((d, provenance));
                }
                Err(e) => report(errors, e, &renames),
            }
        }
        _ => {
            let (value, renames) = legacy::objective(obj);
            match Objective::parse(value) {
                Ok(o) => {
                    let refs = o.metric_ids.iter().cloned().chain(string_list(&o.doc, "metric_ids"));
                    for id in refs {
                        p.references.push((at("key_results"), id));
                    }
                    p.batch.objectives.push((o, provenance));
                }
                Err(e) => report(errors, e, &renames),
            }
        }
    }
}

fn string_list(doc: &Map<String, Value>, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// One id (and one domain name) per file: a second occurrence is an error naming the first.
fn check_duplicates(p: &ImportPlan, errors: &mut ValidationErrors) {
    let mut dupes = |kind: &'static str, field: &str, keys: Vec<&str>| {
        let paths = p.paths.get(kind).map(Vec::as_slice).unwrap_or_default();
        let mut first: HashMap<&str, &str> = HashMap::new();
        for (key, path) in keys.into_iter().zip(paths) {
            match first.get(key) {
                Some(earlier) => errors.add(
                    format!("{path}.{field}"),
                    format!("duplicate `{key}`: also at {earlier}"),
                ),
                None => {
                    first.insert(key, path);
                }
            }
        }
    };
    dupes(
        "metrics",
        "metric_id",
        p.batch.metrics.iter().map(|(m, _)| m.metric_id.as_str()).collect(),
    );
    dupes(
        "domains",
        "domain_id",
        p.batch.domains.iter().map(|(d, _)| d.domain_id.as_str()).collect(),
    );
    dupes(
        "domains",
        "name",
        p.batch.domains.iter().map(|(d, _)| d.name.as_str()).collect(),
    );
    dupes(
        "objectives",
        "objective_id",
        p.batch
            .objectives
            .iter()
            .map(|(o, _)| o.objective_id.as_str())
            .collect(),
    );
}

/// Adds a warning for each referenced metric that neither the file nor the store has.
pub async fn check_references(store: &dyn Store, p: &mut ImportPlan) -> Result<(), StoreError> {
    let in_file: HashSet<&str> = p.batch.metrics.iter().map(|(m, _)| m.metric_id.as_str()).collect();
    let mut known: HashMap<String, bool> = HashMap::new();
    for (path, id) in &p.references {
        if in_file.contains(id.as_str()) {
            continue;
        }
        let exists = match known.get(id) {
            Some(e) => *e,
            None => {
                let e = store.get_metric(id).await?.is_some();
                known.insert(id.clone(), e);
                e
            }
        };
        if !exists {
            p.warnings
                .push(format!("{path}: references metric `{id}`, which does not exist (kept)"));
        }
    }
    Ok(())
}

/// Who imports, and how.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// Recorded in the history, and as author of what the file does not attribute.
    pub actor: &'a str,
    pub dry_run: bool,
    /// An administrator's restore: the file's `version`, `created_*` and `updated_*` are kept
    /// if the database holds no catalog entity and no history yet (the store decides, inside
    /// the import's transaction). Otherwise the server assigns them, as for any write.
    pub restore: bool,
}

/// Validates, checks references and writes the catalog in one transaction.
pub async fn run(store: &dyn Store, doc: Value, opts: ImportOptions<'_>) -> Result<ImportReport, ImportError> {
    let plan = plan(doc, opts.dry_run).map_err(ImportError::Invalid)?;
    apply(store, plan, opts).await
}

/// The part of `run` that needs the store: reference warnings, then the write.
pub async fn apply(
    store: &dyn Store,
    mut plan: ImportPlan,
    opts: ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    plan.batch.dry_run = opts.dry_run;
    plan.batch.restore = opts.restore;
    check_references(store, &mut plan).await?;
    let outcome = store.import(&plan.batch, opts.actor).await?;
    Ok(ImportReport {
        outcome,
        warnings: plan.warnings,
    })
}
