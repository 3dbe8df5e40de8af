//! `/api/v1/domains` and `/api/v1/objectives`: the same five routes over two entity kinds.

use super::AppState;
use super::caller::{Caller, Reader};
use super::conditional::{self, if_match};
use super::error::ApiError;
use super::pagination;
use super::path_id::PathId;
use super::query::{self, Params};
use super::respond;
use crate::domain::user::Role;
use crate::domain::{BusinessDomain, Objective, ValidationErrors};
use crate::store::{Entity, EntityKind, Expect, Page, PageRequest, Saved, StoreError, Stored};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// What differs between domains and objectives.
#[derive(Clone, Copy)]
pub enum Kind {
    Domain,
    Objective,
}

impl Kind {
    fn entity(self) -> EntityKind {
        match self {
            Kind::Domain => EntityKind::Domain,
            Kind::Objective => EntityKind::Objective,
        }
    }

    pub(super) fn noun(self) -> &'static str {
        self.entity().noun()
    }

    pub(super) fn path(self) -> &'static str {
        match self {
            Kind::Domain => "/api/v1/domains",
            Kind::Objective => "/api/v1/objectives",
        }
    }

    pub(super) fn id_field(self) -> &'static str {
        self.entity().id_col()
    }

    async fn list(self, state: &AppState, page: &PageRequest) -> Result<Page<Stored>, StoreError> {
        state.store.list_entities(self.entity(), page).await
    }

    pub(super) async fn get(self, state: &AppState, id: &str) -> Result<Option<Stored>, StoreError> {
        state.store.get_entity(self.entity(), id).await
    }

    /// Validates and saves; returns what was saved and the unknown fields kept.
    pub(super) async fn save(
        self,
        state: &AppState,
        doc: Value,
        actor: &str,
        expect: Expect,
    ) -> Result<(Saved, Vec<String>), ApiError> {
        let entity = match self {
            Kind::Domain => Entity::Domain(BusinessDomain::parse(doc)?),
            Kind::Objective => Entity::Objective(Objective::parse(doc)?),
        };
        let saved = state.store.save_entity(&entity, actor, expect).await?;
        let warnings = entity
            .unknown_fields()
            .iter()
            .map(|f| format!("unknown field `{f}` was stored as sent"))
            .collect();
        Ok((saved, warnings))
    }

    async fn delete(self, state: &AppState, id: &str, version: Option<i64>) -> Result<(), StoreError> {
        state.store.delete_entity(self.entity(), id, version).await
    }
}

async fn list(kind: Kind, state: AppState, raw: Option<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), query::PAGE_PARAMS)?;
    let page_req = params.page()?;
    let page = kind.list(&state, &page_req).await?;
    let data = page.items.iter().map(Stored::to_json).collect();
    let (extra, body) = pagination::envelope(kind.path(), &params, &page_req, &page, data);
    Ok(conditional::list_response(&headers, extra, &body))
}

async fn get_one(kind: Kind, state: AppState, id: String, headers: HeaderMap) -> Result<Response, ApiError> {
    let found = kind
        .get(&state, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{} `{id}` not found", kind.noun())))?;
    let body = json!({ "success": true, "data": found.to_json() });
    Ok(conditional::entity_response(&headers, found.version, &body))
}

async fn create(
    kind: Kind,
    state: AppState,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Editor)?;
    let Json(doc) = body?;
    let (saved, warnings) = kind.save(&state, doc, &user.username, Expect::Absent).await?;
    Ok(respond::saved(kind.path(), StatusCode::CREATED, &saved, warnings))
}

async fn replace(
    kind: Kind,
    state: AppState,
    caller: Caller,
    id: String,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Editor)?;
    let Json(mut doc) = body?;
    let field = kind.id_field();
    match doc.get(field) {
        Some(Value::String(other)) if *other != id => {
            return Err(ValidationErrors::single(field, format!("does not match the path ({id})")).into());
        }
        None if doc.is_object() => doc[field] = Value::String(id.clone()),
        _ => {}
    }
    let (saved, warnings) = kind
        .save(&state, doc, &user.username, Expect::Present(if_match(&headers)?))
        .await?;
    Ok(respond::saved(kind.path(), StatusCode::OK, &saved, warnings))
}

async fn delete(
    kind: Kind,
    state: AppState,
    caller: Caller,
    id: String,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    kind.delete(&state, &id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Thin axum handlers, one set per kind.
macro_rules! handlers {
    (
        $module:ident, $kind:expr, $tag:literal, $list:literal, $one:literal, $single:literal, $plural:literal,
        $schema:ty, $one_body:ty, $written_body:ty, $list_body:ty
    ) => {
        pub mod $module {
            use super::*;

            #[utoipa::path(get, path = $list, tag = $tag, operation_id = concat!("list", $plural), summary = "List, paginated", params(super::super::params::PageQuery, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")), responses((status = 200, description = "A page", body = $list_body), (status = 304, description = "Not modified: If-None-Match matched the ETag")))]
            pub async fn list(
                State(s): State<AppState>,
                _r: Reader,
                RawQuery(q): RawQuery,
                h: HeaderMap,
            ) -> Result<Response, ApiError> {
                super::list($kind, s, q, h).await
            }

            #[utoipa::path(get, path = $one, tag = $tag, operation_id = concat!("get", $single), summary = "One, with its ETag", params(("id" = String, Path, description = "The id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")), responses((status = 200, description = "The entity", body = $one_body), (status = 304, description = "Not modified: If-None-Match matched the ETag"), (status = 404, description = "Not found", body = super::super::schemas::ErrorEnvelope)))]
            pub async fn get_one(
                State(s): State<AppState>,
                _r: Reader,
                PathId(id): PathId,
                h: HeaderMap,
            ) -> Result<Response, ApiError> {
                super::get_one($kind, s, id, h).await
            }

            #[utoipa::path(post, path = $list, tag = $tag, operation_id = concat!("create", $single), summary = "Create (editor)", request_body(content = $schema, content_type = "application/json"), responses((status = 201, description = "Created; unknown fields named in `warnings`", body = $written_body), (status = 403, description = "The caller's role does not allow this", body = super::super::schemas::ErrorEnvelope), (status = 409, description = "Conflicts with an existing entity", body = super::super::schemas::ErrorEnvelope), (status = 413, description = "Request body too large", body = super::super::schemas::ErrorEnvelope), (status = 415, description = "Content-Type is not JSON", body = super::super::schemas::ErrorEnvelope)))]
            pub async fn create(
                State(s): State<AppState>,
                c: Caller,
                b: Result<Json<Value>, JsonRejection>,
            ) -> Result<Response, ApiError> {
                super::create($kind, s, c, b).await
            }

            #[utoipa::path(put, path = $one, tag = $tag, operation_id = concat!("replace", $single), summary = "Replace (editor; If-Match)", params(("id" = String, Path, description = "The id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: 412 when the entity has changed since")), request_body(content = $schema, content_type = "application/json"), responses((status = 200, description = "Replaced", body = $written_body), (status = 403, description = "The caller's role does not allow this", body = super::super::schemas::ErrorEnvelope), (status = 404, description = "Not found", body = super::super::schemas::ErrorEnvelope), (status = 409, description = "Conflicts with an existing entity", body = super::super::schemas::ErrorEnvelope), (status = 412, description = "If-Match names an older version", body = super::super::schemas::ErrorEnvelope), (status = 413, description = "Request body too large", body = super::super::schemas::ErrorEnvelope), (status = 415, description = "Content-Type is not JSON", body = super::super::schemas::ErrorEnvelope)))]
            pub async fn replace(
                State(s): State<AppState>,
                c: Caller,
                PathId(id): PathId,
                h: HeaderMap,
                b: Result<Json<Value>, JsonRejection>,
            ) -> Result<Response, ApiError> {
                super::replace($kind, s, c, id, h, b).await
            }

            #[utoipa::path(delete, path = $one, tag = $tag, operation_id = concat!("delete", $single), summary = "Delete (admin; If-Match)", params(("id" = String, Path, description = "The id"), ("If-Match" = Option<String>, Header, description = "The ETag the change is based on: 412 when the entity has changed since")), responses((status = 204, description = "Deleted"), (status = 403, description = "The caller's role does not allow this", body = super::super::schemas::ErrorEnvelope), (status = 404, description = "Not found", body = super::super::schemas::ErrorEnvelope), (status = 409, description = "Conflicts with an existing entity", body = super::super::schemas::ErrorEnvelope), (status = 412, description = "If-Match names an older version", body = super::super::schemas::ErrorEnvelope)))]
            pub async fn delete(
                State(s): State<AppState>,
                c: Caller,
                PathId(id): PathId,
                h: HeaderMap,
            ) -> Result<StatusCode, ApiError> {
                super::delete($kind, s, c, id, h).await
            }
        }
    };
}

handlers!(
    domains,
    Kind::Domain,
    "domains",
    "/api/v1/domains",
    "/api/v1/domains/{id}",
    "Domain",
    "Domains",
    super::super::schemas::Domain,
    super::super::schemas::DomainResponse,
    super::super::schemas::DomainWritten,
    super::super::schemas::DomainList
);
handlers!(
    objectives,
    Kind::Objective,
    "objectives",
    "/api/v1/objectives",
    "/api/v1/objectives/{id}",
    "Objective",
    "Objectives",
    super::super::schemas::Objective,
    super::super::schemas::ObjectiveResponse,
    super::super::schemas::ObjectiveWritten,
    super::super::schemas::ObjectiveList
);
