//! Metric commands: list, show, history, diff, delete.

use super::CliError;
use crate::catalog::versions::{self, VersionError};
use crate::domain::ValidationErrors;
use crate::domain::diff::Operation;
use crate::domain::metric::{METRIC_TYPES, STATUSES, TIERS, check_enum_opt};
use crate::store::{MetricFilter, MetricQuery, MetricSort, PageRequest, Store, Stored};
use clap::Args;
use serde_json::Value;
use std::io::Write;

/// `--page` and `--limit`, shared by every listing.
#[derive(Debug, Clone, Copy, Args)]
pub struct PageArgs {
    /// Page number, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Entries per page, 1 to 100.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
}

impl PageArgs {
    pub fn request(self) -> PageRequest {
        PageRequest::offset(self.page, self.limit)
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Category (exact match).
    #[arg(long)]
    pub category: Option<String>,
    /// Tier-1, Tier-2 or Tier-3.
    #[arg(long)]
    pub tier: Option<String>,
    /// Business domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// Metric type: leading, lagging or operational.
    #[arg(long = "type")]
    pub metric_type: Option<String>,
    /// Governance status: draft, active, deprecated or retired.
    #[arg(long)]
    pub status: Option<String>,
    /// Any of the governance owners.
    #[arg(long)]
    pub owner: Option<String>,
    /// Repeatable; a metric with any of the tags matches.
    #[arg(long)]
    pub tag: Vec<String>,
    /// Full-text search.
    #[arg(long)]
    pub q: Option<String>,
    /// name, -name, metric_id, -metric_id, updated_at, -updated_at.
    #[arg(long, default_value = "name", value_parser = parse_sort)]
    pub sort: MetricSort,
    #[command(flatten)]
    pub paging: PageArgs,
    /// Print full documents as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_sort(s: &str) -> Result<MetricSort, String> {
    MetricSort::parse(s).ok_or_else(|| format!("must be one of {}", MetricSort::ALLOWED.join(", ")))
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The metric id.
    pub id: String,
    /// Print the full document, server fields included, as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The metric id (deleted metrics keep their history).
    pub id: String,
    #[command(flatten)]
    pub paging: PageArgs,
    /// Print the entries, snapshots included, as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The metric id.
    pub id: String,
    /// Delete only if the metric is at this version (like HTTP `If-Match`).
    #[arg(long, value_name = "VERSION", value_parser = clap::value_parser!(i64).range(1..))]
    pub if_version: Option<i64>,
    /// Recorded in the history as who deleted it.
    #[arg(long, default_value = "mdl-cli")]
    pub actor: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The metric id (deleted metrics keep their versions).
    pub id: String,
    /// The version to start from.
    #[arg(value_parser = clap::value_parser!(i64).range(1..))]
    pub from: i64,
    /// The version to arrive at (may be lower than FROM: the patch then undoes the changes).
    #[arg(value_parser = clap::value_parser!(i64).range(1..))]
    pub to: i64,
    /// Print `{metric_id, from, to, operations}` as JSON instead of one operation per line.
    #[arg(long)]
    pub json: bool,
}

pub async fn list(store: &dyn Store, args: ListArgs, out: &mut impl Write) -> Result<(), CliError> {
    let mut invalid = ValidationErrors::new();
    let closed = [
        ("--tier", &args.tier, TIERS),
        ("--type", &args.metric_type, METRIC_TYPES),
        ("--status", &args.status, STATUSES),
    ];
    for (flag, value, allowed) in closed {
        check_enum_opt(&mut invalid, flag, value.as_deref(), allowed);
    }
    invalid.into_result(())?;
    let query = MetricQuery {
        filter: MetricFilter {
            category: args.category,
            tier: args.tier,
            business_domain: args.domain,
            metric_type: args.metric_type,
            status: args.status,
            owner: args.owner,
            tags: args.tag,
            q: args.q,
        },
        sort: args.sort,
        page: args.paging.request(),
        // A terminal reader wants to know how many matched; the store caps the count.
        count_search: true,
    };
    let page = store.list_metrics(&query).await?;
    if args.json {
        let items: Vec<Value> = page.items.iter().map(Stored::to_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&items).unwrap_or_default())?;
        return Ok(());
    }
    let rows: Vec<[String; 5]> = page
        .items
        .iter()
        .map(|m| {
            [
                m.id.clone(),
                m.name().to_string(),
                text(&m.doc, "category"),
                text(&m.doc, "tier"),
                text(&m.doc, "business_domain"),
            ]
        })
        .collect();
    print_table(out, ["METRIC_ID", "NAME", "CATEGORY", "TIER", "DOMAIN"], &rows)?;
    let total = match (page.total, page.total_capped) {
        (Some(n), true) => format!("at least {n}"),
        (Some(n), false) => n.to_string(),
        (None, _) => "?".into(),
    };
    writeln!(
        out,
        "{} shown of {total} (page {}, limit {})",
        rows.len(),
        args.paging.page,
        args.paging.limit
    )?;
    Ok(())
}

pub async fn show(store: &dyn Store, args: ShowArgs, out: &mut impl Write) -> Result<(), CliError> {
    let metric = store
        .get_metric(&args.id)
        .await?
        .ok_or_else(|| CliError::NotFound(format!("metric `{}` not found", args.id)))?;
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&metric.to_json()).unwrap_or_default()
        )?;
        return Ok(());
    }
    let d = &metric.doc;
    let section = |s: &str, k: &str| {
        d.get(s)
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string()
    };
    writeln!(out, "{}  {}  (version {})", metric.id, metric.name(), metric.version)?;
    writeln!(out, "  description: {}", text(d, "description"))?;
    writeln!(
        out,
        "  category: {}  tier: {}  type: {}  domain: {}",
        text(d, "category"),
        text(d, "tier"),
        text(d, "metric_type"),
        text(d, "business_domain")
    )?;
    writeln!(
        out,
        "  formula: {}  unit: {}  direction: {}",
        section("definition", "formula"),
        section("definition", "unit"),
        section("definition", "expected_direction")
    )?;
    writeln!(
        out,
        "  status: {}  owner team: {}  technical owner: {}  business owner: {}",
        section("governance", "status"),
        section("governance", "owner_team"),
        section("governance", "technical_owner"),
        section("governance", "business_owner")
    )?;
    let tags: Vec<&str> = d
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    writeln!(
        out,
        "  tags: {}",
        if tags.is_empty() {
            "-".to_string()
        } else {
            tags.join(", ")
        }
    )?;
    writeln!(
        out,
        "  created: {} by {}",
        metric.created_at.to_rfc3339(),
        metric.created_by
    )?;
    writeln!(
        out,
        "  updated: {} by {}",
        metric.updated_at.to_rfc3339(),
        metric.updated_by
    )?;
    Ok(())
}

pub async fn history(store: &dyn Store, args: HistoryArgs, out: &mut impl Write) -> Result<(), CliError> {
    let page = store.metric_history(&args.id, &args.paging.request()).await?;
    if page.total == Some(0) {
        return Err(CliError::NotFound(format!("metric `{}` has no history", args.id)));
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&page.items).unwrap_or_default())?;
        return Ok(());
    }
    let rows: Vec<[String; 5]> = page
        .items
        .iter()
        .map(|h| {
            [
                h.version.to_string(),
                format!("{} ({})", h.action.as_str(), h.change_type),
                h.changed_by.clone(),
                h.changed_at.clone(),
                h.fields_changed.join(", "),
            ]
        })
        .collect();
    print_table(out, ["VERSION", "CHANGE", "BY", "AT", "FIELDS"], &rows)?;
    Ok(())
}

pub async fn delete(store: &dyn Store, args: DeleteArgs, out: &mut impl Write) -> Result<(), CliError> {
    store.delete_metric(&args.id, &args.actor, args.if_version).await?;
    writeln!(out, "deleted metric {} (its history stays readable)", args.id)?;
    Ok(())
}

pub async fn diff(store: &dyn Store, args: DiffArgs, out: &mut impl Write) -> Result<(), CliError> {
    let diff = versions::diff(store, &args.id, args.from, args.to)
        .await
        .map_err(|e| match e {
            VersionError::Missing(message) => CliError::NotFound(message),
            VersionError::Store(e) => e.into(),
        })?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&diff).unwrap_or_default())?;
        return Ok(());
    }
    for op in &diff.operations {
        let line = match op {
            Operation::Add { path, value } => format!("add {path} {value}"),
            Operation::Remove { path } => format!("remove {path}"),
            Operation::Replace { path, value } => format!("replace {path} {value}"),
        };
        writeln!(out, "{line}")?;
    }
    if diff.operations.is_empty() {
        writeln!(out, "no changes between versions {} and {}", diff.from, diff.to)?;
    }
    Ok(())
}

pub(super) fn text(doc: &serde_json::Map<String, Value>, key: &str) -> String {
    doc.get(key).and_then(Value::as_str).unwrap_or("-").to_string()
}

/// Left-aligned columns sized to their widest cell.
pub(super) fn print_table<const N: usize>(
    out: &mut impl Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
