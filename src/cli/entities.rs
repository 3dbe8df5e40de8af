//! `mdl domain ...` and `mdl objective ...`: the same three commands over two entity kinds.

use super::CliError;
use super::catalog::PageArgs;
use super::catalog::{print_table, text};
use crate::store::{EntityKind, Store, Stored};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum EntityCommand {
    /// List them, by name.
    List(EntityListArgs),
    /// Show one.
    Show(EntityShowArgs),
    /// Delete one (admin work: run on the machine itself).
    Delete(EntityDeleteArgs),
}

#[derive(Debug, Args)]
pub struct EntityListArgs {
    #[command(flatten)]
    pub paging: PageArgs,
    /// Print full documents as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EntityShowArgs {
    /// The id (`domain_id` or `objective_id`).
    pub id: String,
    /// Print the full document, server fields included, as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EntityDeleteArgs {
    /// The id (`domain_id` or `objective_id`).
    pub id: String,
    /// Delete only if it is at this version (like HTTP `If-Match`).
    #[arg(long, value_name = "VERSION", value_parser = clap::value_parser!(i64).range(1..))]
    pub if_version: Option<i64>,
}

pub async fn run(
    store: &dyn Store,
    kind: EntityKind,
    command: EntityCommand,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        EntityCommand::List(args) => list(store, kind, args, out).await,
        EntityCommand::Show(args) => show(store, kind, args, out).await,
        EntityCommand::Delete(args) => {
            store.delete_entity(kind, &args.id, args.if_version).await?;
            writeln!(out, "deleted {} {}", kind.noun(), args.id)?;
            Ok(())
        }
    }
}

async fn list(store: &dyn Store, kind: EntityKind, args: EntityListArgs, out: &mut impl Write) -> Result<(), CliError> {
    let page_req = args.paging.request();
    let page = store.list_entities(kind, &page_req).await?;
    if args.json {
        let items: Vec<Value> = page.items.iter().map(Stored::to_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&items).unwrap_or_default())?;
        return Ok(());
    }
    let (id_header, third, fourth) = match kind {
        EntityKind::Domain => ("DOMAIN_ID", "owner_team", "contact_email"),
        _ => ("OBJECTIVE_ID", "status", "owner_team"),
    };
    let rows: Vec<[String; 4]> = page
        .items
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.name().to_string(),
                text(&e.doc, third),
                text(&e.doc, fourth),
            ]
        })
        .collect();
    let headers = [id_header, "NAME", &third.to_uppercase(), &fourth.to_uppercase()];
    print_table(out, headers, &rows)?;
    writeln!(
        out,
        "{} shown of {} (page {}, limit {})",
        rows.len(),
        page.total.unwrap_or(0),
        args.paging.page,
        args.paging.limit
    )?;
    Ok(())
}

async fn show(store: &dyn Store, kind: EntityKind, args: EntityShowArgs, out: &mut impl Write) -> Result<(), CliError> {
    let found = store
        .get_entity(kind, &args.id)
        .await?
        .ok_or_else(|| CliError::NotFound(format!("{} `{}` not found", kind.noun(), args.id)))?;
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&found.to_json()).unwrap_or_default()
        )?;
        return Ok(());
    }
    writeln!(out, "{}  {}  (version {})", found.id, found.name(), found.version)?;
    for (key, value) in &found.doc {
        if matches!(key.as_str(), "domain_id" | "objective_id" | "name") {
            continue;
        }
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        writeln!(out, "  {key}: {shown}")?;
    }
    writeln!(
        out,
        "  created: {} by {}",
        found.created_at.to_rfc3339(),
        found.created_by
    )?;
    writeln!(
        out,
        "  updated: {} by {}",
        found.updated_at.to_rfc3339(),
        found.updated_by
    )?;
    Ok(())
}
