//! Editing for editors: `GET/POST /metrics/new` and `GET/POST /metrics/{id}/edit`, a raw
//! JSON/YAML editor saved through the API's own path (`Metric::parse`, then `save_metric`
//! against the version the form was opened at), and the API's cache invalidation.

use super::csrf;
use super::edit_view::{self, EditForm, FieldForms, Posted};
use super::error::WebError;
use super::links;
use super::pages::{Chrome, html};
use super::session::{Reader, Visitor};
use crate::catalog::Format;
use crate::domain::user::{Role, User};
use crate::domain::{FieldError, Metric, ValidationErrors};
use crate::http::AppState;
use crate::http::query::Params;
use crate::http::routes::{MetricWrite, write_invalidates};
use crate::store::{Expect, Saved, StoreError, Stored};
use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "web/edit.html")]
pub struct EditPage {
    pub chrome: Chrome,
    pub heading: String,
    /// The metric's page, for the breadcrumb; `None` when creating.
    pub metric_href: Option<String>,
    pub id: Option<String>,
    /// The per-section forms; none on a page answering the raw editor's errors.
    pub forms: FieldForms,
    pub form: EditForm,
}

/// The signed-in user when their role allows `role`; anonymous readers (public read) are sent
/// to sign in, others get a 403 page.
pub fn require(visitor: &Visitor, role: Role, uri: &Uri) -> Result<Arc<User>, WebError> {
    let Some(user) = visitor.user.clone() else {
        let next = uri.path_and_query().map_or("/", |pq| pq.as_str()).to_string();
        return Err(WebError::SignIn { next });
    };
    if user.role < role {
        return Err(WebError::Forbidden(format!(
            "Changing the catalog needs the {role} role; you are signed in as a {}.",
            user.role
        )));
    }
    Ok(user)
}

/// A posted form's fields, after the origin check and the session-bound token.
pub fn checked_form(visitor: &Visitor, headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, WebError> {
    csrf::check_origin(headers)?;
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    check_token(visitor, form.get("csrf").map(String::as_str))?;
    Ok(form)
}

/// The form's `csrf` field against the visitor's session-bound token.
pub fn check_token(visitor: &Visitor, sent: Option<&str>) -> Result<(), WebError> {
    let expected = visitor.csrf().unwrap_or_default();
    if expected.is_empty() || !csrf::same(sent.unwrap_or_default(), &expected) {
        return Err(WebError::Forbidden(
            "This form was missing its security token or it has expired. Reload the page and try again.".into(),
        ));
    }
    Ok(())
}

/// After a committed write: the same collections the API's write would turn over, on every
/// instance (`ResponseCache::invalidate` bumps generations in Redis and broadcasts them).
pub async fn invalidate(state: &AppState, id: &str, previous: Option<&Map<String, Value>>, current: Option<&Metric>) {
    let stale = match MetricWrite::new(id, previous, current) {
        Some(write) => write.invalidates(),
        None => write_invalidates("/api/v1/metrics/{id}"),
    };
    state.cache.invalidate(&stale).await;
}

fn format_of(text: Option<&str>) -> Result<(Format, &'static str), WebError> {
    match text.unwrap_or("json") {
        "json" => Ok((Format::Json, "json")),
        "yaml" => Ok((Format::Yaml, "yaml")),
        _ => Err(WebError::BadRequest("format must be json or yaml".into())),
    }
}

fn render(doc: &Map<String, Value>, format: Format) -> Result<String, WebError> {
    crate::catalog::format::render(&Value::Object(doc.clone()), format).map_err(WebError::Internal)
}

fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, WebError> {
    let Path(id) = id.map_err(|r| WebError::BadRequest(r.body_text()))?;
    Ok(crate::http::path_id::checked(id)?)
}

async fn current(state: &AppState, id: &str) -> Result<Stored, WebError> {
    state
        .store
        .get_metric(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("There is no metric with the id “{id}”.")))
}

/// What a new definition starts from: the required fields.
const SKELETON: &str = r#"{
  "metric_id": "",
  "name": "",
  "description": "",
  "category": "",
  "tier": "Tier-2",
  "business_domain": "",
  "metric_type": "operational"
}
"#;

fn edit_page(visitor: &Visitor, id: Option<&str>, forms: FieldForms, form: EditForm) -> EditPage {
    let heading = match id {
        Some(id) => format!("Edit {id}"),
        None => "New metric".to_string(),
    };
    EditPage {
        chrome: Chrome::new(heading.clone(), visitor),
        heading,
        metric_href: id.map(links::metric),
        id: id.map(str::to_string),
        forms,
        form,
    }
}

/// The raw editor of the new-metric page, starting from the skeleton.
fn new_raw_form(visitor: &Visitor) -> EditForm {
    EditForm {
        action: "/metrics/new".into(),
        csrf: visitor.csrf().unwrap_or_default(),
        format: "json",
        document: SKELETON.into(),
        base_version: None,
        errors: Vec::new(),
    }
}

fn skeleton() -> Map<String, Value> {
    serde_json::from_str(SKELETON).unwrap_or_default()
}

pub async fn new_form(Reader(visitor): Reader, uri: Uri) -> Result<Response, WebError> {
    require(&visitor, Role::Editor, &uri)?;
    let forms = edit_view::field_forms(&skeleton(), None, true);
    Ok(html(
        StatusCode::OK,
        &edit_page(&visitor, None, forms, new_raw_form(&visitor)),
    ))
}

pub async fn edit_form(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, WebError> {
    require(&visitor, Role::Editor, &uri)?;
    let params = Params::parse(uri.query(), &["format"])?;
    let (format, name) = format_of(params.one("format")?)?;
    let stored = current(&state, &path_id(id)?).await?;
    let form = EditForm {
        action: format!("{}/edit", links::metric(&stored.id)),
        csrf: visitor.csrf().unwrap_or_default(),
        format: name,
        document: render(&stored.doc, format)?,
        base_version: Some(stored.version),
        errors: Vec::new(),
    };
    let forms = edit_view::field_forms(&stored.doc, None, false);
    Ok(html(
        StatusCode::OK,
        &edit_page(&visitor, Some(&stored.id), forms, form),
    ))
}

/// What a posted editor form says.
pub(super) struct Sent {
    format: Format,
    format_name: &'static str,
    document: String,
}

/// The version a form was opened at, if it says.
fn base_version(form: &HashMap<String, String>) -> Result<Option<i64>, WebError> {
    match form.get("version").map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 1)
            .map(Some)
            .ok_or_else(|| WebError::BadRequest("version must be a whole number of at least 1".into())),
    }
}

fn sent(form: &HashMap<String, String>) -> Result<Sent, WebError> {
    let (format, format_name) = format_of(form.get("format").map(String::as_str))?;
    Ok(Sent {
        format,
        format_name,
        document: form.get("document").cloned().unwrap_or_default(),
    })
}

/// A section form's inputs laid over `base`, as the text the raw editor would have sent (so
/// errors and conflicts are handled once), and the inputs that stood for no value.
fn sent_fields(
    base: &Map<String, Value>,
    fields: &[&edit_view::Field],
    form: &HashMap<String, String>,
) -> Result<(Sent, Vec<FieldError>), WebError> {
    let mut doc = base.clone();
    let errors = edit_view::apply(&mut doc, fields, form);
    let sent = Sent {
        format: Format::Json,
        format_name: "json",
        document: render(&doc, Format::Json)?,
    };
    Ok((sent, errors))
}

fn by_field(form: &HashMap<String, String>) -> bool {
    form.get("mode").is_some_and(|m| m == "fields")
}

/// The domain's verdict on the text, after the form's own errors (inputs that stood for no
/// value), so a person sees every problem at once.
fn checked(sent: &Sent, path_id: Option<&str>, mut errors: Vec<FieldError>) -> Result<Metric, Vec<FieldError>> {
    match parse(sent, path_id) {
        Ok(metric) if errors.is_empty() => Ok(metric),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.extend(e.into_errors());
            Err(errors)
        }
    }
}

/// The text as a document the domain accepts, with the API's checks on `metric_id`.
fn parse(sent: &Sent, path_id: Option<&str>) -> Result<Metric, ValidationErrors> {
    let mut doc = crate::catalog::format::parse(sent.document.as_bytes(), sent.format)?;
    if let Some(id) = path_id {
        match doc.get("metric_id") {
            Some(Value::String(other)) if other != id => {
                return Err(ValidationErrors::single(
                    "metric_id",
                    format!("does not match the metric being edited ({id})"),
                ));
            }
            None if doc.is_object() => doc["metric_id"] = Value::String(id.to_string()),
            _ => {}
        }
    }
    // Server fields (`version`...) in the text are dropped by the parser, as in the API.
    Metric::parse(doc)
}

pub(super) fn refill(
    visitor: &Visitor,
    action: String,
    sent: &Sent,
    base_version: Option<i64>,
    errors: Vec<FieldError>,
) -> EditForm {
    EditForm {
        action,
        csrf: visitor.csrf().unwrap_or_default(),
        format: sent.format_name,
        document: sent.document.clone(),
        base_version,
        errors,
    }
}

/// Post-redirect-get: the saved metric's page.
fn saved_redirect(saved: &Saved) -> Response {
    Redirect::to(&links::metric(&saved.entity.id)).into_response()
}

pub async fn create(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let user = require(&visitor, Role::Editor, &uri)?;
    let form = checked_form(&visitor, &headers, &body)?;
    let by_field = by_field(&form);
    let (sent, form_errors) = match by_field {
        true => sent_fields(&Map::new(), &edit_view::all_fields(), &form)?,
        false => (sent(&form)?, Vec::new()),
    };
    let invalid = |errors: Vec<FieldError>| {
        let (forms, raw) = match by_field {
            true => {
                let posted = Posted {
                    section: edit_view::ALL,
                    values: &form,
                    errors: &errors,
                };
                let forms = edit_view::field_forms(&Map::new(), Some(&posted), true);
                (forms, new_raw_form(&visitor))
            }
            false => (
                FieldForms::default(),
                refill(&visitor, "/metrics/new".into(), &sent, None, errors),
            ),
        };
        html(StatusCode::BAD_REQUEST, &edit_page(&visitor, None, forms, raw))
    };
    let metric = match checked(&sent, None, form_errors) {
        Ok(m) => m,
        Err(errors) => return Ok(invalid(errors)),
    };
    let saved = match state.store.save_metric(&metric, &user.username, Expect::Absent).await {
        Ok(saved) => saved,
        Err(StoreError::Conflict(_)) => {
            return Ok(invalid(vec![FieldError {
                field: "metric_id".into(),
                message: format!("a metric with the id `{}` already exists", metric.metric_id),
            }]));
        }
        Err(StoreError::Invalid(e)) => return Ok(invalid(e.into_errors())),
        Err(e) => return Err(e.into()),
    };
    invalidate(&state, &saved.entity.id, saved.previous.as_ref(), Some(&metric)).await;
    Ok(saved_redirect(&saved))
}

pub async fn update(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let user = require(&visitor, Role::Editor, &uri)?;
    let form = checked_form(&visitor, &headers, &body)?;
    let id = path_id(id)?;
    let opened = base_version(&form)?
        .ok_or_else(|| WebError::BadRequest("the form did not say which version it was opened at".into()))?;
    let action = format!("{}/edit", links::metric(&id));
    // A section's form is laid over the stored document: what it does not show is kept.
    let section = match by_field(&form) {
        true => {
            let key = form.get("section").map(String::as_str).unwrap_or_default();
            let fields = edit_view::section_fields(key)
                .ok_or_else(|| WebError::BadRequest(format!("there is no section “{key}” to save")))?;
            Some((key, fields, current(&state, &id).await?))
        }
        false => None,
    };
    let (sent, form_errors) = match &section {
        Some((_, fields, stored)) => sent_fields(&stored.doc, fields, &form)?,
        None => (sent(&form)?, Vec::new()),
    };
    let invalid = |errors: Vec<FieldError>| -> Result<Response, WebError> {
        let (forms, raw) = match &section {
            // The section shows what was sent with its errors; the others and the raw editor
            // show what is stored.
            Some((key, _, stored)) => {
                let posted = Posted {
                    section: key,
                    values: &form,
                    errors: &errors,
                };
                let raw = EditForm {
                    action: action.clone(),
                    csrf: visitor.csrf().unwrap_or_default(),
                    format: "json",
                    document: render(&stored.doc, Format::Json)?,
                    base_version: Some(opened),
                    errors: Vec::new(),
                };
                (edit_view::field_forms(&stored.doc, Some(&posted), false), raw)
            }
            None => (
                FieldForms::default(),
                refill(&visitor, action.clone(), &sent, Some(opened), errors),
            ),
        };
        Ok(html(
            StatusCode::BAD_REQUEST,
            &edit_page(&visitor, Some(&id), forms, raw),
        ))
    };
    let metric = match checked(&sent, Some(&id), form_errors) {
        Ok(m) => m,
        Err(errors) => return invalid(errors),
    };
    match state
        .store
        .save_metric(&metric, &user.username, Expect::Present(Some(opened)))
        .await
    {
        Ok(saved) => {
            invalidate(&state, &saved.entity.id, saved.previous.as_ref(), Some(&metric)).await;
            Ok(saved_redirect(&saved))
        }
        Err(StoreError::PreconditionFailed { .. } | StoreError::NotFound { .. }) => {
            super::conflict::page(&state, &visitor, &id, opened, &sent).await
        }
        Err(StoreError::Invalid(e)) => invalid(e.into_errors()),
        Err(e) => Err(e.into()),
    }
}
