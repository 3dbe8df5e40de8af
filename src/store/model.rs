//! Values the store hands out and takes in.

use crate::domain::{Action, BusinessDomain, ChangeType, Metric, Objective};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Metric,
    Domain,
    Objective,
}

impl EntityKind {
    pub fn noun(self) -> &'static str {
        match self {
            EntityKind::Metric => "metric",
            EntityKind::Domain => "domain",
            EntityKind::Objective => "objective",
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            EntityKind::Metric => "metrics",
            EntityKind::Domain => "domains",
            EntityKind::Objective => "objectives",
        }
    }

    /// The id field of the document, and the id column of the table.
    pub fn id_col(self) -> &'static str {
        match self {
            EntityKind::Metric => "metric_id",
            EntityKind::Domain => "domain_id",
            EntityKind::Objective => "objective_id",
        }
    }
}

/// A validated domain or objective, ready to save. Metrics are not among them: their writes
/// also keep history and tags (`Store::save_metric`).
#[derive(Debug, Clone)]
pub enum Entity {
    Domain(BusinessDomain),
    Objective(Objective),
}

impl Entity {
    pub fn kind(&self) -> EntityKind {
        match self {
            Entity::Domain(_) => EntityKind::Domain,
            Entity::Objective(_) => EntityKind::Objective,
        }
    }

    pub fn doc(&self) -> &Map<String, Value> {
        match self {
            Entity::Domain(d) => &d.doc,
            Entity::Objective(o) => &o.doc,
        }
    }

    /// Fields the schema does not know, stored as sent.
    pub fn unknown_fields(&self) -> &[String] {
        match self {
            Entity::Domain(d) => &d.unknown_fields,
            Entity::Objective(o) => &o.unknown_fields,
        }
    }
}

/// A stored entity: the client's document plus the server-managed fields. The document is
/// parsed, or (`RawStored`) still the JSON text the database holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<Doc = Map<String, Value>> {
    pub id: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub doc: Doc,
}

impl Stored {
    /// `to_json` without copying the document.
    pub fn into_json(self) -> Value {
        let mut out = self.doc;
        out.insert("version".into(), self.version.into());
        out.insert("created_at".into(), timestamp_text(&self.created_at).into());
        out.insert("created_by".into(), self.created_by.into());
        out.insert("updated_at".into(), timestamp_text(&self.updated_at).into());
        out.insert("updated_by".into(), self.updated_by.into());
        Value::Object(out)
    }

    /// The document as returned to clients: every field sent, then the server fields.
    pub fn to_json(&self) -> Value {
        let mut out = self.doc.clone();
        out.insert("version".into(), self.version.into());
        out.insert("created_at".into(), timestamp_text(&self.created_at).into());
        out.insert("created_by".into(), self.created_by.clone().into());
        out.insert("updated_at".into(), timestamp_text(&self.updated_at).into());
        out.insert("updated_by".into(), self.updated_by.clone().into());
        Value::Object(out)
    }

    /// `to_json` as text, without copying the document first.
    pub fn to_json_string(&self) -> Result<String, serde_json::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            doc: &'a Map<String, Value>,
            version: i64,
            created_at: String,
            created_by: &'a str,
            updated_at: String,
            updated_by: &'a str,
        }
        serde_json::to_string(&Out {
            doc: &self.doc,
            version: self.version,
            created_at: timestamp_text(&self.created_at),
            created_by: &self.created_by,
            updated_at: timestamp_text(&self.updated_at),
            updated_by: &self.updated_by,
        })
    }

    pub fn name(&self) -> &str {
        self.doc.get("name").and_then(Value::as_str).unwrap_or_default()
    }
}

/// A stored entity with its document as the stored compact JSON text (serde_json's own
/// output when the entity was saved): list pages can go out without parsing every document.
pub type RawStored = Stored<String>;

impl RawStored {
    pub fn parse(self) -> Result<Stored, serde_json::Error> {
        Ok(Stored {
            doc: serde_json::from_str(&self.doc)?,
            id: self.id,
            version: self.version,
            created_at: self.created_at,
            created_by: self.created_by,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
        })
    }

    /// The text `Stored::into_json` serialises to, spliced from the stored document: the
    /// stored text is serde_json's own compact output, so re-serialising it changes nothing.
    pub fn to_json_text(&self) -> Result<String, serde_json::Error> {
        let doc = self.doc.as_str();
        let plain = doc.starts_with('{')
            && doc.ends_with('}')
            && !crate::domain::metric::SERVER_FIELDS
                .iter()
                .any(|f| doc.contains(&format!("\"{f}\"")));
        if !plain {
            // A server field's name somewhere in the text: into_json decides where it goes.
            return serde_json::to_string(&self.clone().parse()?.into_json());
        }
        let mut out = String::with_capacity(doc.len() + 160);
        out.push_str(&doc[..doc.len() - 1]);
        if doc.len() > 2 {
            out.push(',');
        }
        let text = serde_json::to_string::<str>;
        out.push_str(&format!(
            "\"version\":{},\"created_at\":{},\"created_by\":{},\"updated_at\":{},\"updated_by\":{}}}",
            self.version,
            text(&timestamp_text(&self.created_at))?,
            text(&self.created_by)?,
            text(&timestamp_text(&self.updated_at))?,
            text(&self.updated_by)?,
        ));
        Ok(out)
    }

    /// The sort key `sql::stored_key` would give the parsed entity; only the name needs the
    /// document, and only the last row of a page has its key taken.
    pub fn name(&self) -> String {
        serde_json::from_str::<Map<String, Value>>(&self.doc)
            .ok()
            .and_then(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    }
}

/// Timestamps are kept to the microsecond, the precision both backends store.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Fixed-width UTC text, so text order is time order (SQLite stores this form).
pub fn timestamp_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteKind {
    Created,
    Updated,
    /// The document equals what is stored: nothing written, no version bump.
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Saved {
    pub entity: Stored,
    pub kind: WriteKind,
    /// The document this write replaced, as the write transaction read it (`None` for a
    /// create): what a write may have changed is known without a racy read before it.
    pub previous: Option<Map<String, Value>>,
}

/// One entry of a metric's append-only history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub metric_id: String,
    pub version: i64,
    pub action: Action,
    pub change_type: ChangeType,
    pub fields_changed: Vec<String>,
    pub changed_by: String,
    pub changed_at: String,
    /// The full document after the change (before it, for a delete).
    pub snapshot: Value,
}

/// Counts across the catalog, by each filter dimension.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CatalogStats {
    pub total_metrics: u64,
    pub total_domains: u64,
    pub total_objectives: u64,
    pub by_category: BTreeMap<String, u64>,
    pub by_tier: BTreeMap<String, u64>,
    pub by_metric_type: BTreeMap<String, u64>,
    pub by_business_domain: BTreeMap<String, u64>,
    pub by_owner_team: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
}

/// How many metrics have each value of one facet, most frequent first (ties by value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FacetCounts {
    /// The column: `category`, `tier`, `business_domain`, `metric_type`, `status`,
    /// `owner_team` or `tag`.
    pub facet: &'static str,
    pub values: Vec<(String, u64)>,
}

/// The highest version a restore adopts from a file: far below `write::MAX_VERSION`, so a
/// restored entity can always be written again, and within a signed 32-bit integer for clients.
pub const MAX_RESTORED_VERSION: i64 = i32::MAX as i64;

/// Server fields carried by an imported document (an export being restored). They are used
/// only by an administrator's restore into an empty database (`ImportBatch::restore`);
/// otherwise the server assigns them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    pub version: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl Provenance {
    pub fn from_doc(doc: &Map<String, Value>) -> Self {
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let time = |k: &str| doc.get(k).and_then(Value::as_str).and_then(parse_timestamp);
        Provenance {
            version: doc
                .get("version")
                .and_then(Value::as_i64)
                .filter(|v| (1..=MAX_RESTORED_VERSION).contains(v)),
            created_at: time("created_at"),
            created_by: text("created_by"),
            updated_at: time("updated_at"),
            updated_by: text("updated_by"),
        }
    }
}

/// Everything one import writes, validated beforehand.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    /// Catalog-level fields (`catalog_version`, `catalog_name`, ...); `None` leaves them as they are.
    pub catalog: Option<Map<String, Value>>,
    pub metrics: Vec<(Metric, Provenance)>,
    pub domains: Vec<(BusinessDomain, Provenance)>,
    pub objectives: Vec<(Objective, Provenance)>,
    /// Run every write, report the outcome, then roll back.
    pub dry_run: bool,
    /// Keep each entity's `Provenance` if the database is empty (no metric, domain, objective
    /// or history); decided inside the import's transaction. Otherwise provenance is ignored.
    pub restore: bool,
    /// Nothing else is expected to write these entities while the import runs (the seed's
    /// own id ranges), so it need not wait for other imports, which otherwise run one at a
    /// time because row locks cannot cover rows that do not exist yet. If something does, one
    /// side fails on the unique key; nothing is written twice or lost.
    pub disjoint: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Tally {
    pub fn add(&mut self, kind: WriteKind) {
        match kind {
            WriteKind::Created => self.created += 1,
            WriteKind::Updated => self.updated += 1,
            WriteKind::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    pub metrics: Tally,
    pub domains: Tally,
    pub objectives: Tally,
    pub dry_run: bool,
    /// Whether the file's server fields (`version`, `created_*`, `updated_*`) were kept.
    pub restored: bool,
}

/// Changes to a user; `None` leaves a field as it is (`full_name: Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChange {
    pub email: Option<String>,
    pub full_name: Option<Option<String>>,
    pub role: Option<crate::domain::user::Role>,
    pub status: Option<crate::domain::user::UserStatus>,
    pub password_hash: Option<String>,
    /// End every session (logout everywhere) even if nothing else changes.
    pub revoke_sessions: bool,
}

impl UserChange {
    pub fn is_empty(&self) -> bool {
        *self == UserChange::default()
    }

    /// A new password, a lock-out or an explicit revocation ends every access token issued
    /// before it, in the same statement that makes the change.
    pub fn ends_sessions(&self) -> bool {
        self.revoke_sessions
            || self.password_hash.is_some()
            || self
                .status
                .is_some_and(|s| s != crate::domain::user::UserStatus::Active)
    }
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Valid and now used up: issue the next token in `family_id`.
    Rotated { user_id: String, family_id: String },
    /// Already rotated before: the whole family has just been revoked, and with it every
    /// access token of `user_id` (one of them may be the thief's).
    Reused { user_id: String },
    /// Unknown, expired or revoked.
    Invalid,
}

/// An API key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub key_id: String,
    pub user_id: String,
    pub name: String,
    /// The first characters of the key, to recognise it in a list.
    pub prefix: String,
    /// `read`, `write`, `admin`.
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A finished build of the search blocks (`Store::build_search_blocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BlockBuild {
    pub blocks: i64,
    pub metrics: i64,
    pub millis: u64,
}
