//! Decides what a write does (shared by both backends): create, update or nothing, with which
//! version and history record.

use super::Expect;
use super::error::StoreError;
use super::model::{EntityKind, Provenance, Saved, Stored, WriteKind, now};
use crate::domain::versioning::{classify, fields_changed};
use crate::domain::{Action, ChangeType};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub kind: WriteKind,
    pub action: Action,
    pub change_type: ChangeType,
    pub fields_changed: Vec<String>,
    /// The entity as it will be after the write.
    pub entity: Stored,
    /// The live document before the write (`None` when there was none).
    pub previous: Option<Map<String, Value>>,
    /// Who made this change and when, for the history. Always the real actor and time, even
    /// when a restored entity keeps the `updated_*` of the file it came from.
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
}

impl From<Plan> for Saved {
    fn from(plan: Plan) -> Saved {
        Saved {
            entity: plan.entity,
            kind: plan.kind,
            previous: plan.previous,
        }
    }
}

/// Versions stay within what every JSON client reads exactly (2^53).
pub const MAX_VERSION: i64 = 1 << 53;

fn next(version: i64) -> Result<i64, StoreError> {
    version
        .checked_add(1)
        .filter(|v| *v <= MAX_VERSION)
        .ok_or_else(|| StoreError::Corrupt(format!("version {version} cannot be incremented")))
}

pub(crate) struct WriteInput<'a> {
    pub kind: EntityKind,
    pub id: &'a str,
    pub doc: &'a Map<String, Value>,
    pub actor: &'a str,
    pub expect: Expect,
    pub provenance: Option<&'a Provenance>,
}

/// `current` is the live row (if any); `last_version` the highest version ever used for this id,
/// so a re-created id continues its numbering.
pub(crate) fn plan(input: WriteInput<'_>, current: Option<&Stored>, last_version: i64) -> Result<Plan, StoreError> {
    let noun = input.kind.noun();
    match (current, input.expect) {
        (None, Expect::Present(_)) => Err(StoreError::not_found(noun, input.id)),
        (Some(_), Expect::Absent) => Err(StoreError::Conflict(format!("{noun} `{}` already exists", input.id))),
        (Some(cur), Expect::Present(Some(v))) if cur.version != v => Err(StoreError::PreconditionFailed {
            expected: v,
            current: cur.version,
        }),
        (None, _) => create(input, last_version),
        (Some(cur), _) => update(input, cur),
    }
}

fn create(input: WriteInput<'_>, last_version: i64) -> Result<Plan, StoreError> {
    let prov = input.provenance.cloned().unwrap_or_default();
    let t = now();
    let version = match prov
        .version
        .filter(|v| *v > last_version && *v <= super::model::MAX_RESTORED_VERSION)
    {
        Some(v) => v,
        None => next(last_version)?,
    };
    let created_at = prov.created_at.unwrap_or(t);
    let created_by = prov.created_by.unwrap_or_else(|| input.actor.to_string());
    Ok(Plan {
        kind: WriteKind::Created,
        action: Action::Create,
        change_type: ChangeType::Major,
        fields_changed: Vec::new(),
        changed_by: input.actor.to_string(),
        changed_at: t,
        previous: None,
        entity: Stored {
            id: input.id.to_string(),
            version,
            updated_at: prov.updated_at.unwrap_or(created_at),
            updated_by: prov.updated_by.unwrap_or_else(|| created_by.clone()),
            created_at,
            created_by,
            doc: input.doc.clone(),
        },
    })
}

fn update(input: WriteInput<'_>, cur: &Stored) -> Result<Plan, StoreError> {
    let changed = fields_changed(&cur.doc, input.doc);
    let t = now();
    Ok(match classify(&changed) {
        None => Plan {
            kind: WriteKind::Unchanged,
            action: Action::Update,
            change_type: ChangeType::Patch,
            fields_changed: changed,
            changed_by: input.actor.to_string(),
            changed_at: t,
            previous: Some(cur.doc.clone()),
            entity: cur.clone(),
        },
        Some(change_type) => Plan {
            kind: WriteKind::Updated,
            action: Action::Update,
            change_type,
            fields_changed: changed,
            changed_by: input.actor.to_string(),
            changed_at: t,
            previous: Some(cur.doc.clone()),
            entity: Stored {
                id: cur.id.clone(),
                version: next(cur.version)?,
                created_at: cur.created_at,
                created_by: cur.created_by.clone(),
                updated_at: t,
                updated_by: input.actor.to_string(),
                doc: input.doc.clone(),
            },
        },
    })
}

/// Checks a delete against the live row.
pub(crate) fn check_delete(
    kind: EntityKind,
    id: &str,
    current: Option<&Stored>,
    version: Option<i64>,
) -> Result<Stored, StoreError> {
    let cur = current.ok_or_else(|| StoreError::not_found(kind.noun(), id))?;
    match version {
        Some(v) if v != cur.version => Err(StoreError::PreconditionFailed {
            expected: v,
            current: cur.version,
        }),
        _ => Ok(cur.clone()),
    }
}

/// A delete is recorded in the history under the next version, with the last document.
pub(crate) fn delete_plan(cur: Stored, actor: &str) -> Result<Plan, StoreError> {
    let t = now();
    Ok(Plan {
        kind: WriteKind::Updated,
        action: Action::Delete,
        change_type: ChangeType::Major,
        fields_changed: Vec::new(),
        changed_by: actor.to_string(),
        changed_at: t,
        previous: Some(cur.doc.clone()),
        entity: Stored {
            version: next(cur.version)?,
            updated_at: t,
            updated_by: actor.to_string(),
            ..cur
        },
    })
}
