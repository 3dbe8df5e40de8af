//! `/api/v1/objectives/{id}/report.docx`: the objective report as a Word file.
//!
//! Not in the response cache: the report depends on the objective and on every metric its key
//! results name, it is read rarely, and building it costs a few store reads and milliseconds
//! of CPU. The ETag (a hash of the report's contents) still gives clients 304s.

use super::AppState;
use super::caller::Reader;
use super::conditional;
use super::error::ApiError;
use super::path_id::PathId;
use super::query::Params;
use crate::catalog::report::{DOCX_MEDIA_TYPE, objective_report, report_docx};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

#[utoipa::path(
    get,
    path = "/api/v1/objectives/{id}/report.docx",
    tag = "objectives",
    operation_id = "getObjectiveReport",
    summary = "The objective report as a Word file: details, key results with progress, associated metrics, summary",
    params(("id" = String, Path, description = "The objective id"), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "The report (`Content-Disposition: attachment; filename=\"<id>-report.docx\"`)", body = Vec<u8>, content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (status = 304, description = "Not modified: If-None-Match matched the ETag"),
        (status = 404, description = "No such objective", body = super::schemas::ErrorEnvelope),
    )
)]
pub async fn objective_docx(
    State(state): State<AppState>,
    _reader: Reader,
    PathId(id): PathId,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Params::parse(raw.as_deref(), &[])?;
    docx_response(&state, &id, &headers).await
}

/// The `.docx` answer for an objective, conditional on `If-None-Match` (also for the web UI's
/// download link).
pub async fn docx_response(state: &AppState, id: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let report = objective_report(&*state.store, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("objective `{id}` not found")))?;
    // The server's version too: a new release may lay the same report out differently.
    let mut fingerprint = serde_json::to_vec(&report).map_err(|e| ApiError::Internal(format!("report: {e}")))?;
    fingerprint.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    let etag = conditional::content_etag("r", &fingerprint);
    let mut extra = HeaderMap::new();
    extra.insert(header::CONTENT_TYPE, HeaderValue::from_static(DOCX_MEDIA_TYPE));
    extra.insert(header::CONTENT_DISPOSITION, attachment(&report.objective_id));
    if conditional::not_modified(headers, &etag) {
        return Ok(conditional::conditional(headers, etag, extra, Response::default));
    }
    let bytes = tokio::task::spawn_blocking(move || report_docx(&report))
        .await
        .map_err(|e| ApiError::Internal(format!("report task: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(conditional::conditional(headers, etag, extra, || bytes.into_response()))
}

/// `attachment; filename="<id>-report.docx"`. Stored ids are `[A-Za-z0-9_-]`; anything else is
/// dropped rather than trusted inside a header.
fn attachment(objective_id: &str) -> HeaderValue {
    let safe: String = objective_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let name = if safe.is_empty() { "objective".to_string() } else { safe };
    HeaderValue::from_str(&format!("attachment; filename=\"{name}-report.docx\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"objective-report.docx\""))
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn the_file_name_carries_only_safe_characters() {
        assert_eq!(attachment("OBJ-001"), "attachment; filename=\"OBJ-001-report.docx\"");
        assert_eq!(attachment("a\"b/c"), "attachment; filename=\"abc-report.docx\"");
        assert_eq!(attachment(""), "attachment; filename=\"objective-report.docx\"");
    }
}
