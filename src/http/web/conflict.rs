//! The "changed since you opened it" page: a save made against an older version than the
//! stored one is refused by the store (`PreconditionFailed`), and the editor sees what changed
//! in between with their own text kept.

use super::edit::{Sent, refill};
use super::edit_view::{self, DiffRow, EditForm};
use super::error::WebError;
use super::links;
use super::pages::{Chrome, html};
use super::session::Visitor;
use crate::catalog::versions;
use crate::http::AppState;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "web/conflict.html")]
pub struct ConflictPage {
    pub chrome: Chrome,
    pub id: String,
    pub metric_href: String,
    pub opened: i64,
    /// `None`: the metric was deleted meanwhile.
    pub current: Option<i64>,
    pub changes: Vec<DiffRow>,
    pub form: EditForm,
}

/// "Changed since you opened it": what changed between the version the editor opened and the
/// current one, and the editor's text, unchanged, in a form based on the current version (so
/// saving it again is a decision made with the changes in view). Nothing was written.
pub(super) async fn page(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    opened: i64,
    sent: &Sent,
) -> Result<Response, WebError> {
    let now = state.store.get_metric(id).await?;
    let (current, changes, form) = match &now {
        Some(now) => {
            let diff = versions::diff(&*state.store, id, opened, now.version).await;
            let changes = match diff {
                Ok(d) => {
                    let old = versions::document_at(&*state.store, id, opened).await;
                    old.map(|old| edit_view::rows(&old, &d.operations)).unwrap_or_default()
                }
                Err(_) => Vec::new(),
            };
            let action = format!("{}/edit", links::metric(id));
            (
                Some(now.version),
                changes,
                refill(visitor, action, sent, Some(now.version), Vec::new()),
            )
        }
        // Deleted meanwhile: the text can still become a new metric.
        None => (
            None,
            Vec::new(),
            refill(visitor, "/metrics/new".into(), sent, None, Vec::new()),
        ),
    };
    let page = ConflictPage {
        chrome: Chrome::new(format!("{id} changed since you opened it"), visitor),
        id: id.to_string(),
        metric_href: links::metric(id),
        opened,
        current,
        changes,
        form,
    };
    Ok(html(StatusCode::CONFLICT, &page))
}
