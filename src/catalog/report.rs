//! Objective reports from the store: the report itself (`domain::report`) and its Word file.

use crate::domain::report::{AssociatedMetric, KeyResultReport, ObjectiveReport, number_text};
use crate::store::{EntityKind, Store, StoreError};
use docx_rs::{
    AlignmentType, BreakType, Docx, LineSpacing, PageMargin, Paragraph, Run, Shading, Style, StyleType, Table,
    TableCell, TableRow, WidthType,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The media type of a `.docx` file.
pub const DOCX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The report on an objective, `None` when there is no such objective. Metrics the key results
/// name but the catalog lacks are listed as missing, not an error.
pub async fn objective_report(store: &dyn Store, id: &str) -> Result<Option<ObjectiveReport>, StoreError> {
    let Some(objective) = store.get_entity(EntityKind::Objective, id).await? else {
        return Ok(None);
    };
    // Collected before the first await: borrowing iterators must not live across it.
    let ids: HashSet<String> = objective
        .doc
        .get("key_results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|kr| kr.get("metric_ids")?.as_array())
        .flatten()
        .filter_map(|id| Some(id.as_str()?.to_owned()))
        .collect();
    let mut metrics = HashMap::new();
    for metric_id in ids {
        if let Some(stored) = store.get_metric(&metric_id).await? {
            metrics.insert(metric_id, stored.doc);
        }
    }
    Ok(Some(ObjectiveReport::build(&objective.doc, |id| metrics.get(id))))
}

/// Errors of [`report_docx`]: writing into memory fails only if the zip writer does.
#[derive(Debug, thiserror::Error)]
#[error("writing the report: {0}")]
pub struct DocxError(#[from] docx_rs::DocxError);

/// The report as a Word document: title, the objective's details, a table of key results, a
/// table of associated metrics and a summary. Same report, same bytes (no timestamps). CPU
/// work: call it from a blocking task.
pub fn report_docx(report: &ObjectiveReport) -> Result<Vec<u8>, DocxError> {
    let title = if report.name.is_empty() {
        &report.objective_id
    } else {
        &report.name
    };
    let margins = PageMargin::new().top(MARGIN).bottom(MARGIN).left(MARGIN).right(MARGIN);
    let mut docx = Docx::new()
        .page_margin(margins)
        .add_style(heading("Title", "Title", 40))
        .add_style(heading("Heading1", "Heading 1", 28).outline_lvl(0))
        .add_paragraph(
            Paragraph::new()
                .style("Title")
                .add_run(Run::new().add_text(clean(title))),
        )
        .add_paragraph(section("Objective"))
        .add_table(details_table(report))
        .add_paragraph(section("Key results"));
    docx = if report.key_results.is_empty() {
        docx.add_paragraph(plain("No key results."))
    } else {
        docx.add_table(key_results_table(&report.key_results))
    };
    docx = docx.add_paragraph(section("Associated metrics"));
    docx = if report.metrics.is_empty() {
        docx.add_paragraph(plain("No key result names a metric."))
    } else {
        docx.add_table(metrics_table(&report.metrics))
    };
    docx = docx
        .add_paragraph(section("Summary"))
        .add_paragraph(plain(&report.summary.sentence()));
    let mut out = std::io::Cursor::new(Vec::new());
    docx.pack(&mut out).map_err(docx_rs::DocxError::from)?;
    Ok(out.into_inner())
}

fn heading(id: &str, name: &str, half_points: usize) -> Style {
    Style::new(id, StyleType::Paragraph)
        .name(name)
        .size(half_points)
        .bold()
        .line_spacing(LineSpacing::new().before(240).after(120))
}

fn section(text: &str) -> Paragraph {
    Paragraph::new().style("Heading1").add_run(Run::new().add_text(text))
}

/// Text as a run; line breaks become Word line breaks.
fn run(text: &str) -> Run {
    let mut run = Run::new();
    for (i, line) in clean(text).split('\n').enumerate() {
        if i > 0 {
            run = run.add_break(BreakType::TextWrapping);
        }
        run = run.add_text(line);
    }
    run
}

fn plain(text: &str) -> Paragraph {
    Paragraph::new().add_run(run(text))
}

/// XML 1.0 has no place for most control characters: a document carrying one would not open.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

fn cell(text: &str) -> TableCell {
    TableCell::new().add_paragraph(plain(text))
}

fn header_cell(text: &str) -> TableCell {
    TableCell::new()
        .shading(Shading::new().fill("D9E2F3"))
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text(text).bold().size(18)))
}

/// Page margins of 2 cm, in twentieths of a point.
const MARGIN: i32 = 1134;
/// The width between the margins of the default (A4) page.
const TEXT_WIDTH: usize = 11906 - 2 * MARGIN as usize;

/// A row whose cells have these widths (Word reads the cells' widths, LibreOffice the grid's).
fn row(cells: Vec<TableCell>, widths: &[usize]) -> TableRow {
    TableRow::new(
        cells
            .into_iter()
            .zip(widths)
            .map(|(c, w)| c.width(*w, WidthType::Dxa))
            .collect(),
    )
}

fn table(widths: &[usize], headers: Option<&[&str]>, rows: Vec<TableRow>) -> Table {
    debug_assert_eq!(widths.iter().sum::<usize>(), TEXT_WIDTH);
    let head = headers.map(|h| row(h.iter().map(|h| header_cell(h)).collect(), widths));
    Table::new(head.into_iter().chain(rows).collect())
        .width(TEXT_WIDTH, WidthType::Dxa)
        .set_grid(widths.to_vec())
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

fn num(value: Option<f64>) -> String {
    value.map(number_text).unwrap_or_else(|| "-".into())
}

fn details_table(r: &ObjectiveReport) -> Table {
    let timeframe = match (&r.timeframe_start, &r.timeframe_end) {
        (None, None) => "-".to_string(),
        (start, end) => format!("{} to {}", or_dash(start.as_deref()), or_dash(end.as_deref())),
    };
    let rows = [
        ("Objective id", r.objective_id.as_str()),
        ("Description", or_dash(r.description.as_deref())),
        ("Timeframe", timeframe.as_str()),
        ("Owner team", or_dash(r.owner_team.as_deref())),
        ("Status", or_dash(r.status.as_deref())),
        ("Priority", or_dash(r.priority.as_deref())),
        ("Strategic pillar", or_dash(r.strategic_pillar.as_deref())),
    ]
    .into_iter()
    .map(|(label, value)| {
        let label = TableCell::new().add_paragraph(Paragraph::new().add_run(Run::new().add_text(label).bold()));
        row(vec![label, cell(value)], DETAIL_WIDTHS)
    })
    .collect();
    table(DETAIL_WIDTHS, None, rows)
}

const DETAIL_WIDTHS: &[usize] = &[2400, 7238];
const KEY_RESULT_WIDTHS: &[usize] = &[2838, 1000, 1000, 900, 800, 1100, 1050, 950];
const METRIC_WIDTHS: &[usize] = &[2000, 1800, 1300, 1600, 2938];

fn key_results_table(krs: &[KeyResultReport]) -> Table {
    let rows = krs
        .iter()
        .map(|kr| {
            let progress = kr
                .progress
                .map(|p| format!("{}%", number_text(p)))
                .unwrap_or_else(|| "-".into());
            let on_track = match kr.on_track {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let cells = vec![
                cell(kr.name.as_deref().unwrap_or(&kr.kr_id)),
                cell(&num(kr.baseline)),
                cell(&num(kr.current)),
                cell(&num(kr.target)),
                cell(or_dash(kr.unit.as_deref())),
                cell(or_dash(kr.direction.as_deref())),
                TableCell::new().add_paragraph(
                    Paragraph::new()
                        .align(AlignmentType::Right)
                        .add_run(Run::new().add_text(progress)),
                ),
                cell(on_track),
            ];
            row(cells, KEY_RESULT_WIDTHS)
        })
        .collect();
    table(
        KEY_RESULT_WIDTHS,
        Some(&[
            "Key result",
            "Baseline",
            "Current",
            "Target",
            "Unit",
            "Direction",
            "Progress",
            "On track",
        ]),
        rows,
    )
}

fn metrics_table(metrics: &[AssociatedMetric]) -> Table {
    let rows = metrics
        .iter()
        .map(|m| match &m.details {
            Some(d) => vec![
                cell(&d.name),
                cell(&m.metric_id),
                cell(or_dash(d.category.as_deref())),
                cell(or_dash(d.owner.as_deref())),
                cell(or_dash(d.formula.as_deref())),
            ],
            None => vec![
                TableCell::new()
                    .add_paragraph(Paragraph::new().add_run(Run::new().add_text("(not in the catalog)").italic())),
                cell(&m.metric_id),
                cell("-"),
                cell("-"),
                cell("-"),
            ],
        })
        .map(|cells| row(cells, METRIC_WIDTHS))
        .collect();
    table(
        METRIC_WIDTHS,
        Some(&["Metric", "Id", "Category", "Owner", "Formula"]),
        rows,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_report_gives_the_same_bytes_and_control_characters_are_dropped() {
        let objective = json!({
            "objective_id": "OBJ-1", "name": "Grow \u{7}& thrive",
            "description": "line one\nline two",
            "key_results": [{"kr_id": "KR-1", "name": "More", "baseline_value": 1, "target_value": 3,
                "current_value": 2, "metric_ids": ["M-X"]}]
        });
        let report = ObjectiveReport::build(objective.as_object().unwrap(), |_| None);
        let a = report_docx(&report).unwrap();
        assert_eq!(a, report_docx(&report).unwrap());
        assert_eq!(&a[..2], b"PK");
        assert_eq!(clean("a\u{7}b\nc\u{0}"), "ab\nc");
    }
}
