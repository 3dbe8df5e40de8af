//! The whole catalog as one document, in the same shape import takes, written a batch of
//! metrics at a time so that its size does not decide the memory it takes.

use super::{Format, StreamError, format};
use crate::store::{CatalogReader, EntityKind, Stored};
use serde_json::{Map, Value};
use std::io::Write;
use tokio::runtime::Handle;

/// Metrics read per query: enough that round trips do not dominate, few enough that a batch
/// (a few hundred KB of documents) is small next to the rest of the process.
pub const BATCH: u32 = 500;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    pub metrics: u64,
    pub domains: usize,
    pub objectives: usize,
}

/// Writes the catalog read by `reader` to `out`: catalog fields first (as imported), then
/// `metrics` by id, `domains` and `objectives` by name. Every item carries its server fields,
/// so importing the export into an empty database restores versions and timestamps. The
/// text is the one rendering the whole document at once gives.
///
/// Blocking (meant for a blocking thread): the reads go through `rt`, the writes to `out`
/// happen as each batch is rendered.
pub fn write(
    reader: &mut dyn CatalogReader,
    format: Format,
    out: &mut dyn Write,
    rt: &Handle,
) -> Result<Exported, StreamError> {
    let mut catalog = rt.block_on(reader.catalog_info())?;
    let domains = rt.block_on(reader.entities(EntityKind::Domain))?;
    let objectives = rt.block_on(reader.entities(EntityKind::Objective))?;
    // These keys are the lists below, wherever a stored catalog might have put them.
    for key in ["metrics", "domains", "objectives"] {
        catalog.shift_remove(key);
    }
    let mut doc = match format {
        Format::Json => Doc::Json(JsonDoc::new(out, catalog)?),
        Format::Yaml => Doc::Yaml(YamlDoc::new(out, catalog)?),
    };
    let mut exported = Exported {
        domains: domains.len(),
        objectives: objectives.len(),
        ..Exported::default()
    };
    let mut after = None;
    loop {
        let page = rt.block_on(reader.metrics(after.take(), BATCH))?;
        exported.metrics += page.items.len() as u64;
        doc.metrics(&page.items)?;
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    doc.finish(&domains, &objectives)?;
    Ok(exported)
}

enum Doc<'a> {
    Json(JsonDoc<'a>),
    Yaml(YamlDoc<'a>),
}

impl Doc<'_> {
    fn metrics(&mut self, batch: &[Stored]) -> Result<(), StreamError> {
        match self {
            Doc::Json(d) => d.items(batch),
            Doc::Yaml(d) => d.metrics(batch),
        }
    }

    fn finish(self, domains: &[Stored], objectives: &[Stored]) -> Result<(), StreamError> {
        match self {
            Doc::Json(d) => d.finish(domains, objectives),
            Doc::Yaml(d) => d.finish(domains, objectives),
        }
    }
}

/// `serde_json::to_string_pretty` of the whole document, by hand around the items: the
/// envelope's two-space indentation, and each value pretty-printed then shifted to its depth
/// (a pretty-printed value has no newline but between tokens: strings escape theirs).
struct JsonDoc<'a> {
    out: &'a mut dyn Write,
    /// Items written into the open list so far.
    items: u64,
}

fn pretty_at(value: &Value, indent: &str) -> Result<String, StreamError> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    Ok(text.replace('\n', &format!("\n{indent}")))
}

fn json_key(key: &str) -> String {
    Value::from(key).to_string()
}

impl<'a> JsonDoc<'a> {
    fn new(out: &'a mut dyn Write, catalog: Map<String, Value>) -> Result<Self, StreamError> {
        out.write_all(b"{")?;
        for (key, value) in &catalog {
            write!(out, "\n  {}: {},", json_key(key), pretty_at(value, "  ")?)?;
        }
        out.write_all(b"\n  \"metrics\": [")?;
        Ok(JsonDoc { out, items: 0 })
    }

    fn items(&mut self, batch: &[Stored]) -> Result<(), StreamError> {
        for item in batch {
            let sep = if self.items == 0 { "\n    " } else { ",\n    " };
            write!(self.out, "{sep}{}", pretty_at(&item.to_json(), "    ")?)?;
            self.items += 1;
        }
        Ok(())
    }

    fn close_list(&mut self) -> Result<(), StreamError> {
        let close: &[u8] = if self.items == 0 { b"]" } else { b"\n  ]" };
        self.out.write_all(close)?;
        Ok(())
    }

    fn finish(mut self, domains: &[Stored], objectives: &[Stored]) -> Result<(), StreamError> {
        self.close_list()?;
        for (key, list) in [("domains", domains), ("objectives", objectives)] {
            write!(self.out, ",\n  {}: [", json_key(key))?;
            self.items = 0;
            self.items(list)?;
            self.close_list()?;
        }
        self.out.write_all(b"\n}\n")?;
        Ok(())
    }
}

/// The YAML emitter writes a list under a key unindented (`metrics:` then `- ...` lines at the
/// key's column), so each batch rendered as a top-level list continues the document as it is.
struct YamlDoc<'a> {
    out: &'a mut dyn Write,
    metrics: u64,
}

fn yaml(value: &Value) -> Result<String, StreamError> {
    format::render(value, Format::Yaml).map_err(|e| StreamError::Io(std::io::Error::other(e)))
}

impl<'a> YamlDoc<'a> {
    fn new(out: &'a mut dyn Write, catalog: Map<String, Value>) -> Result<Self, StreamError> {
        if !catalog.is_empty() {
            out.write_all(yaml(&Value::Object(catalog))?.as_bytes())?;
        }
        Ok(YamlDoc { out, metrics: 0 })
    }

    fn metrics(&mut self, batch: &[Stored]) -> Result<(), StreamError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.metrics == 0 {
            self.out.write_all(b"metrics:\n")?;
        }
        self.metrics += batch.len() as u64;
        let items = Value::Array(batch.iter().map(Stored::to_json).collect());
        self.out.write_all(yaml(&items)?.as_bytes())?;
        Ok(())
    }

    fn finish(self, domains: &[Stored], objectives: &[Stored]) -> Result<(), StreamError> {
        if self.metrics == 0 {
            self.out.write_all(b"metrics: []\n")?;
        }
        let mut rest = Map::new();
        let list = |items: &[Stored]| Value::Array(items.iter().map(Stored::to_json).collect());
        rest.insert("domains".into(), list(domains));
        rest.insert("objectives".into(), list(objectives));
        self.out.write_all(yaml(&Value::Object(rest))?.as_bytes())?;
        Ok(())
    }
}
