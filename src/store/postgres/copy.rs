//! Bulk inserts through `COPY ... FROM STDIN` (text format): one statement and one stream of
//! rows instead of a multi-row INSERT's parse, plan and thousands of bound parameters.

use crate::domain::Metric;
use crate::store::StoreResult;
use crate::store::model::{Stored, timestamp_text};
use crate::store::sql::RowSpec;
use crate::store::write::Plan;
use sqlx::PgConnection;
use std::fmt::Write;

/// Below this many rows a multi-row INSERT costs no more than a COPY.
pub(super) const MIN_ROWS: usize = 16;

/// Rows are sent in pieces of about this size: the database parses one piece while the next
/// is built, and one buffer is reused instead of a fresh chunk-sized one (whose pages the
/// kernel zeroes on first touch: a fifth of the seed's client time with whole-chunk buffers).
const PIECE: usize = 256 * 1024;

/// One row being written: fields separated by tabs, ended by a newline.
struct Line<'a> {
    buf: &'a mut String,
    first: bool,
}

impl<'a> Line<'a> {
    fn new(buf: &'a mut String) -> Self {
        Line { buf, first: true }
    }

    /// A field, escaped: backslash, tab, newline and carriage return are the format's own.
    fn field(&mut self, value: Option<&str>) -> &mut Self {
        if !self.first {
            self.buf.push('\t');
        }
        self.first = false;
        match value {
            None => self.buf.push_str("\\N"),
            Some(v) => escape_into(self.buf, v),
        }
        self
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.field(Some(value))
    }

    fn end(&mut self) {
        self.buf.push('\n');
    }
}

/// Appends `v` with the COPY text format's escapes, copying the runs between them whole
/// (the special characters are ASCII, so byte offsets split no character).
fn escape_into(buf: &mut String, v: &str) {
    let mut run = 0;
    for (i, b) in v.bytes().enumerate() {
        let escaped = match b {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => continue,
        };
        buf.push_str(&v[run..i]);
        buf.push_str(escaped);
        run = i + 1;
    }
    buf.push_str(&v[run..]);
}

/// A `text[]` literal: every element quoted, its quotes and backslashes escaped.
fn array_literal(items: &[String]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Runs `statement` and streams the rows that `write_row` appends, one row per item.
async fn send<T>(
    conn: &mut PgConnection,
    statement: &str,
    items: &[T],
    mut write_row: impl FnMut(&mut String, &T) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut buf = String::with_capacity(PIECE + 16 * 1024);
    let sent: StoreResult<()> = async {
        for item in items {
            write_row(&mut buf, item)?;
            if buf.len() >= PIECE {
                copy.send(buf.as_bytes()).await?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            copy.send(buf.as_bytes()).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = sent {
        // Leaves the connection usable; the transaction fails with `e` anyway.
        let _ = copy.abort("sending rows failed").await;
        return Err(e);
    }
    copy.finish().await?;
    Ok(())
}

/// New metric rows, their tags included.
pub(super) async fn metrics(conn: &mut PgConnection, rows: &[(&RowSpec, &Metric, &Stored)]) -> StoreResult<()> {
    let Some((first, _, _)) = rows.first() else {
        return Ok(());
    };
    let mut statement = String::from("COPY metrics (metric_id");
    for (col, _) in &first.columns {
        let _ = write!(statement, ", {col}");
    }
    statement.push_str(", tags, version, created_at, created_by, updated_at, updated_by, doc) FROM STDIN");
    send(conn, &statement, rows, |buf, (row, metric, stored)| {
        let mut line = Line::new(buf);
        line.text(&stored.id);
        for (_, value) in &row.columns {
            line.field(value.as_deref());
        }
        line.text(&array_literal(&metric.tags))
            .text(&stored.version.to_string())
            .text(&timestamp_text(&stored.created_at))
            .text(&stored.created_by)
            .text(&timestamp_text(&stored.updated_at))
            .text(&stored.updated_by)
            .text(&serde_json::to_string(&stored.doc)?)
            .end();
        Ok(())
    })
    .await
}

/// History entries, each with its snapshot.
pub(super) async fn history(conn: &mut PgConnection, entries: &[(&Plan, String)]) -> StoreResult<()> {
    const STATEMENT: &str = "COPY metric_history (metric_id, version, action, change_type, fields_changed, \
         changed_by, changed_at, snapshot) FROM STDIN";
    send(conn, STATEMENT, entries, |buf, (plan, snapshot)| {
        let e = &plan.entity;
        Line::new(buf)
            .text(&e.id)
            .text(&e.version.to_string())
            .text(plan.action.as_str())
            .text(plan.change_type.as_str())
            .text(&serde_json::to_string(&plan.fields_changed)?)
            .text(&plan.changed_by)
            .text(&timestamp_text(&plan.changed_at))
            .text(snapshot)
            .end();
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_escape_the_format_characters() {
        let mut buf = String::new();
        Line::new(&mut buf)
            .text("a\tb\\c\nd\re")
            .field(None)
            .text("ü \"q\"")
            .end();
        assert_eq!(buf, "a\\tb\\\\c\\nd\\re\t\\N\tü \"q\"\n");
    }

    #[test]
    fn arrays_quote_every_element() {
        let tags = vec![
            "plain".to_string(),
            "with \"quote\" and \\".to_string(),
            "{,}".to_string(),
        ];
        assert_eq!(array_literal(&tags), r#"{"plain","with \"quote\" and \\","{,}"}"#);
        assert_eq!(array_literal(&[]), "{}");
    }
}
