//! The request and response bodies as the OpenAPI document describes them. Handlers keep the
//! documents as JSON (unknown fields are stored and returned as sent), so these types exist for
//! the contract; the field doc comments are the OpenAPI text.

#![allow(dead_code)]

use super::params::{MetricType, Tier};
use crate::domain::metric::{
    Alignment, DataSection, Definition, Dimension, Governance, Metadata, OperationalUsage, Relationships,
    TargetsAndAlerts, Visualization,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// A metric definition: the older system's nested document. Every section is optional and
/// validated when present; fields not listed here are kept and returned as sent (and named in
/// the write response's `warnings`). The server-managed fields are ignored on write.
#[derive(ToSchema)]
#[schema(example = json!({
    "metric_id": "METRIC-LOGIN-SUCCESS-RATE",
    "name": "Login Success Rate",
    "description": "Percentage of login attempts that result in a successful authentication.",
    "category": "KPI",
    "tier": "Tier-1",
    "business_domain": "Digital Experience",
    "metric_type": "leading",
    "tags": ["authentication", "ux"],
    "definition": {"formula": "successful_logins / total_login_attempts", "unit": "ratio", "expected_direction": "increase"},
    "governance": {"owner_team": "Identity Platform", "status": "active"}
}))]
pub struct Metric {
    /// 1-100 characters of `[A-Za-z0-9_-]`, chosen by the client, unique.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$")]
    metric_id: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    name: String,
    short_name: Option<String>,
    #[schema(min_length = 1, max_length = 10000, pattern = "\\S")]
    description: String,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    category: String,
    tier: Tier,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    business_domain: String,
    metric_type: MetricType,
    /// At most 50 tags of at most 64 characters.
    tags: Option<Vec<String>>,
    alignment: Option<Alignment>,
    definition: Option<Definition>,
    data: Option<DataSection>,
    governance: Option<Governance>,
    dimensions: Option<Vec<Dimension>>,
    targets_and_alerts: Option<TargetsAndAlerts>,
    visualization: Option<Visualization>,
    relationships: Option<Relationships>,
    operational_usage: Option<OperationalUsage>,
    metadata: Option<Metadata>,
    /// Server-managed: +1 per change; the entity ETag is `"v<version>"`.
    #[schema(read_only)]
    version: Option<i64>,
    #[schema(read_only, format = DateTime)]
    created_at: Option<String>,
    #[schema(read_only)]
    created_by: Option<String>,
    #[schema(read_only, format = DateTime)]
    updated_at: Option<String>,
    #[schema(read_only)]
    updated_by: Option<String>,
}

/// A list item: the full metric document, or with `fields=` only the named top-level fields
/// (and `metric_id`).
#[derive(ToSchema)]
pub struct MetricListItem {
    metric_id: String,
    name: Option<String>,
    tier: Option<Tier>,
    metric_type: Option<MetricType>,
    #[schema(read_only)]
    version: Option<i64>,
}

/// A JSON merge patch (RFC 7396): objects merge key by key, `null` removes a field.
#[derive(ToSchema)]
#[schema(example = json!({"description": "Share of login attempts that succeed.", "tags": ["auth"]}))]
pub struct MergePatch(HashMap<String, Value>);

/// A change in a metric's append-only history.
#[derive(ToSchema)]
pub struct HistoryEntry {
    metric_id: String,
    version: i64,
    /// `create`, `update` or `delete`.
    action: String,
    /// `major` (formula, unit, category), `minor` (name, description, tier, domain) or `patch`.
    change_type: String,
    fields_changed: Vec<String>,
    changed_by: String,
    changed_at: String,
    /// The full document after the change (before it, for a delete).
    snapshot: Value,
}

/// The Open Policy Agent policy generated from one metric definition.
#[derive(ToSchema)]
pub struct Policy {
    metric_id: String,
    /// The stored version of the definition the policy was generated from.
    version: i64,
    /// The Rego package, e.g. `mdl.metrics["METRIC-A"]`.
    package: String,
    /// The Rego v1 module.
    rego: String,
}

/// A business domain. Fields not listed are kept as sent.
#[derive(ToSchema)]
#[schema(example = json!({"domain_id": "digital-experience", "name": "Digital Experience", "owner_team": "Digital", "tier_focus": ["Tier-1"]}))]
pub struct Domain {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$")]
    domain_id: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    name: String,
    description: Option<String>,
    owner_team: Option<String>,
    contact_email: Option<String>,
    /// Tiers this domain focuses on (`Tier-1`, `Tier-2`, `Tier-3`).
    tier_focus: Option<Vec<String>>,
    key_areas: Option<Vec<String>>,
    /// `#rrggbb`.
    color: Option<String>,
    #[schema(read_only)]
    version: Option<i64>,
    #[schema(read_only, format = DateTime)]
    created_at: Option<String>,
    #[schema(read_only)]
    created_by: Option<String>,
    #[schema(read_only, format = DateTime)]
    updated_at: Option<String>,
    #[schema(read_only)]
    updated_by: Option<String>,
}

#[derive(ToSchema)]
pub struct Timeframe {
    /// `YYYY-MM-DD` or RFC 3339.
    start: Option<String>,
    end: Option<String>,
}

/// A key result of an objective.
#[derive(ToSchema)]
pub struct KeyResult {
    /// Unique within the objective.
    kr_id: String,
    name: Option<String>,
    description: Option<String>,
    baseline_value: Option<f64>,
    target_value: Option<f64>,
    current_value: Option<f64>,
    unit: Option<String>,
    /// `increase` or `decrease` (progress respects it).
    direction: Option<String>,
    metric_ids: Option<Vec<String>>,
    /// 0-100, computed by the server from baseline, target and current value.
    progress_percentage: Option<f64>,
}

/// An objective with its key results. Fields not listed are kept as sent.
#[derive(ToSchema)]
#[schema(example = json!({"objective_id": "OBJ-001", "name": "Improve sign-in", "status": "active", "key_results": [{"kr_id": "KR-001", "baseline_value": 0.9, "target_value": 0.97, "current_value": 0.95, "direction": "increase", "metric_ids": ["METRIC-LOGIN-SUCCESS-RATE"]}]}))]
pub struct Objective {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$")]
    objective_id: String,
    #[schema(min_length = 1, max_length = 300, pattern = "\\S")]
    name: String,
    description: Option<String>,
    timeframe: Option<Timeframe>,
    owner_team: Option<String>,
    /// `planning`, `active`, `at_risk`, `completed` or `cancelled`.
    status: Option<String>,
    priority: Option<String>,
    strategic_pillar: Option<String>,
    key_results: Option<Vec<KeyResult>>,
    #[schema(read_only)]
    version: Option<i64>,
    #[schema(read_only, format = DateTime)]
    created_at: Option<String>,
    #[schema(read_only)]
    created_by: Option<String>,
    #[schema(read_only, format = DateTime)]
    updated_at: Option<String>,
    #[schema(read_only)]
    updated_by: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Inactive,
    Suspended,
}

/// A user (never the password hash).
#[derive(ToSchema)]
pub struct User {
    user_id: String,
    username: String,
    email: String,
    full_name: Option<String>,
    role: Role,
    status: UserStatus,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// An API key as stored: never the key itself.
#[derive(ToSchema)]
pub struct ApiKey {
    key_id: String,
    user_id: String,
    name: String,
    /// The first characters of the key, to recognise it in a list.
    prefix: String,
    /// `read`, `write`, `admin`.
    scopes: Vec<String>,
    /// Unix seconds.
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// A new API key: `key` (`mdl_...`) is shown this once; send it as `X-API-Key`.
#[derive(ToSchema)]
pub struct ApiKeyCreated {
    key: String,
    api_key: ApiKey,
}

#[derive(ToSchema)]
pub struct Tokens {
    /// A JWT: send it as `Authorization: Bearer <token>`.
    access_token: String,
    /// Opaque, single use: `POST /api/v1/auth/refresh` rotates it.
    refresh_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    refresh_expires_in: u64,
}

/// A logged-in session.
#[derive(ToSchema)]
pub struct Session {
    user: User,
    tokens: Tokens,
}

/// Counts across the catalog, by each filter dimension.
#[derive(ToSchema)]
pub struct CatalogStats {
    total_metrics: u64,
    total_domains: u64,
    total_objectives: u64,
    by_category: BTreeMap<String, u64>,
    by_tier: BTreeMap<String, u64>,
    by_metric_type: BTreeMap<String, u64>,
    by_business_domain: BTreeMap<String, u64>,
    by_owner_team: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
}

#[derive(ToSchema)]
pub struct Tally {
    created: u64,
    updated: u64,
    unchanged: u64,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(ToSchema)]
pub struct ImportReport {
    metrics: Tally,
    domains: Tally,
    objectives: Tally,
    dry_run: bool,
    /// Whether the file's server fields were kept (an admin's import into an empty database).
    restored: bool,
    /// E.g. references to metrics that do not exist, kept as sent.
    warnings: Vec<String>,
}

/// A catalog as exported and imported: catalog-level fields, then the entities.
#[derive(ToSchema)]
pub struct Catalog {
    catalog_version: Option<String>,
    catalog_name: Option<String>,
    owner_team: Option<String>,
    contacts: Option<Value>,
    last_updated: Option<String>,
    metrics: Option<Vec<Metric>>,
    domains: Option<Vec<Domain>>,
    objectives: Option<Vec<Objective>>,
}

/// A free-form JSON object (figures whose keys depend on the running server).
#[derive(ToSchema)]
pub struct FreeForm(HashMap<String, Value>);

/// `/health/live` and `/health/ready`.
#[derive(ToSchema)]
pub struct Health {
    /// `ok`, `degraded` (Redis down) or `unavailable` (database down).
    status: String,
    reason: Option<String>,
}

/// `/health`: per-component status; always 200.
#[derive(ToSchema)]
pub struct HealthSummary {
    /// `ok`, `degraded` or `down`.
    status: String,
    version: String,
    uptime_s: u64,
    /// `database`, `redis` and `cache`, each with a `status`.
    components: HashMap<String, Value>,
}

/// The list envelope's paging figures. In cursor mode `page`, `total` and `pages` are null
/// (unless `count=true`).
#[derive(ToSchema)]
pub struct Pagination {
    page: Option<u32>,
    /// The effective limit (a larger request is capped to 100).
    limit: u32,
    /// Absent in cursor mode and for searches unless `count=true` is asked.
    total: Option<u64>,
    /// Present (true) when a search's count stopped at `MDL_SEARCH_COUNT_CAP`: `total` is
    /// then a lower bound, and `pages` is absent.
    #[schema(nullable = false)]
    total_capped: Option<bool>,
    pages: Option<u64>,
    has_next: bool,
    has_prev: bool,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    AuthenticationError,
    AuthorizationError,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    ServiceUnavailable,
    InternalError,
}

/// One invalid field (or query parameter) and why.
#[derive(ToSchema)]
pub struct FieldError {
    field: String,
    message: String,
}

#[derive(ToSchema)]
pub struct ErrorBody {
    code: ErrorCode,
    message: String,
    /// Every invalid field at once (empty for other errors).
    details: Vec<FieldError>,
}

/// Every error: `success: false`, a code, a message and field details.
#[derive(ToSchema)]
#[schema(example = json!({"success": false, "error": {"code": "VALIDATION_ERROR", "message": "tier: must be one of Tier-1, Tier-2, Tier-3", "details": [{"field": "tier", "message": "must be one of Tier-1, Tier-2, Tier-3"}]}, "request_id": "3f2a9c"}))]
pub struct ErrorEnvelope {
    success: bool,
    error: ErrorBody,
    /// The `X-Request-ID` of the request (find it in the logs).
    request_id: Option<String>,
}

/// `{"success": true, "data": ...}`.
macro_rules! envelope {
    ($name:ident, $data:ty) => {
        #[derive(ToSchema)]
        pub struct $name {
            success: bool,
            data: $data,
        }
    };
}

/// The answer to a write: the stored entity and the unknown fields that were kept.
macro_rules! written {
    ($name:ident, $data:ty) => {
        #[derive(ToSchema)]
        pub struct $name {
            success: bool,
            data: $data,
            /// Fields the server does not know: stored and returned as sent.
            warnings: Vec<String>,
        }
    };
}

/// A page of a list, with its paging figures (also in `Link` and `X-*` headers).
macro_rules! list {
    ($name:ident, $item:ty) => {
        #[derive(ToSchema)]
        pub struct $name {
            success: bool,
            data: Vec<$item>,
            pagination: Pagination,
        }
    };
}

/// One RFC 6902 JSON Patch operation.
#[derive(ToSchema)]
pub struct PatchOperation {
    /// `add`, `remove` or `replace`.
    op: String,
    /// A JSON Pointer into the document.
    path: String,
    /// The new value (absent for `remove`).
    value: Option<Value>,
}

/// The value-level changes between two versions of a metric.
#[derive(ToSchema)]
pub struct MetricDiff {
    metric_id: String,
    from: i64,
    to: i64,
    /// Applied to version `from`, these give version `to` (server fields left out).
    operations: Vec<PatchOperation>,
}

envelope!(MetricResponse, Metric);
envelope!(MetricDiffResponse, MetricDiff);
written!(MetricWritten, Metric);
list!(MetricList, MetricListItem);
list!(HistoryList, HistoryEntry);
envelope!(PolicyResponse, Policy);
list!(PolicyList, Policy);
envelope!(DomainResponse, Domain);
written!(DomainWritten, Domain);
list!(DomainList, Domain);
envelope!(ObjectiveResponse, Objective);
written!(ObjectiveWritten, Objective);
list!(ObjectiveList, Objective);
envelope!(UserResponse, User);
list!(UserList, User);
envelope!(SessionResponse, Session);
envelope!(ApiKeyList, Vec<ApiKey>);
envelope!(ApiKeyCreatedResponse, ApiKeyCreated);
envelope!(StatsResponse, CatalogStats);
envelope!(ImportResponse, ImportReport);
envelope!(FreeFormResponse, FreeForm);
envelope!(FreeFormListResponse, Vec<FreeForm>);
