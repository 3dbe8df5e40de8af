//! Catalog administration: import, export, stats, synthetic seeding.

use super::CliError;
use crate::catalog::import::ImportOptions;
use crate::catalog::{self, Format, ImportError};
use crate::domain::Metric;
use crate::domain::synthetic::synthetic_metric;
use crate::store::model::Provenance;
use crate::store::{Backend, ImportBatch, Store};
use clap::{Args, ValueEnum};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Yaml => Format::Yaml,
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Catalog file (JSON or YAML by extension), or `-` for standard input.
    pub file: PathBuf,
    /// Validate and report what would change, then write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Format, when the extension does not tell (standard input defaults to JSON).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Recorded as `created_by`/`updated_by` and in the history.
    #[arg(long, default_value = "mdl-cli")]
    pub actor: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file (`.yaml`/`.yml` for YAML, else JSON), or `-` for standard output.
    pub file: PathBuf,
    /// Format, overriding the file extension (standard output defaults to JSON).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many synthetic metrics to create (ids SYN-0000000 upwards).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub synthetic: u64,
    /// First index, to add to an existing synthetic catalog.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Metrics written per transaction: big enough to amortise commits, small enough to keep
    /// memory flat for millions.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch: u64,
}

fn is_stdio(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

/// A bulk load (CLI import or seed) that writes at least this many metrics merges the
/// full-text indexes after it (`Store::compact_search`, seconds at 1M metrics); smaller ones
/// leave that to the index's own merging. A load large enough to have left the search blocks
/// stale builds them again, so searches go by them as soon as the command returns.
async fn compact_after_bulk(store: &dyn Store, written: u64, out: &mut impl Write) -> Result<(), CliError> {
    const COMPACT_AFTER: u64 = 10_000;
    if written >= COMPACT_AFTER {
        store.compact_search().await?;
    }
    if written > crate::store::SEARCH_BLOCKS_APPEND_MAX as u64
        && let Some(b) = store.build_search_blocks(true).await?
    {
        writeln!(
            out,
            "search blocks: {} blocks over {} metrics built in {:.1} s",
            b.blocks,
            b.metrics,
            b.millis as f64 / 1000.0
        )?;
    }
    Ok(())
}

pub async fn import(store: &dyn Store, args: ImportArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = args
        .format
        .map(Format::from)
        .unwrap_or_else(|| Format::from_path(&args.file));
    let bytes = if is_stdio(&args.file) {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        buf
    } else {
        std::fs::read(&args.file).map_err(|e| CliError::NotFound(format!("{}: {e}", args.file.display())))?
    };
    let doc = catalog::format::parse(&bytes, format)?;
    // Run on the machine itself, with the database's credentials: an administrator's restore.
    let opts = ImportOptions {
        actor: &args.actor,
        dry_run: args.dry_run,
        restore: true,
    };
    let report = match catalog::import::run(store, doc, opts).await {
        Ok(r) => r,
        Err(ImportError::Invalid(errors)) => return Err(CliError::Invalid(errors)),
        Err(ImportError::Store(e)) => return Err(e.into()),
    };
    let o = &report.outcome;
    if !o.dry_run {
        compact_after_bulk(store, o.metrics.created + o.metrics.updated, out).await?;
    }
    for (name, t) in [
        ("metrics", o.metrics),
        ("domains", o.domains),
        ("objectives", o.objectives),
    ] {
        writeln!(
            out,
            "{name}: {} created, {} updated, {} unchanged",
            t.created, t.updated, t.unchanged
        )?;
    }
    for w in &report.warnings {
        writeln!(out, "warning: {w}")?;
    }
    if o.dry_run {
        writeln!(out, "dry run: validated and counted, nothing was written")?;
    }
    Ok(())
}

pub async fn export(store: &dyn Store, args: ExportArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = args
        .format
        .map(Format::from)
        .unwrap_or_else(|| Format::from_path(&args.file));
    let mut reader = store.read_catalog().await?;
    let rt = tokio::runtime::Handle::current();
    if is_stdio(&args.file) {
        // The export writes as it reads, through `rt`: off the async worker, on this thread.
        tokio::task::block_in_place(|| catalog::export::write(&mut *reader, format, out, &rt))?;
    } else {
        let exported = tokio::task::block_in_place(|| {
            super::write_atomically(&args.file, |file| {
                catalog::export::write(&mut *reader, format, file, &rt)
            })
        })?;
        writeln!(
            out,
            "exported {} metrics, {} domains, {} objectives to {}",
            exported.metrics,
            exported.domains,
            exported.objectives,
            args.file.display()
        )?;
    }
    Ok(())
}

pub async fn stats(store: &dyn Store, args: StatsArgs, out: &mut impl Write) -> Result<(), CliError> {
    let stats = store.stats().await?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&stats).unwrap_or_default())?;
        return Ok(());
    }
    writeln!(
        out,
        "metrics: {}  domains: {}  objectives: {}",
        stats.total_metrics, stats.total_domains, stats.total_objectives
    )?;
    let groups = [
        ("category", &stats.by_category),
        ("tier", &stats.by_tier),
        ("metric type", &stats.by_metric_type),
        ("business domain", &stats.by_business_domain),
        ("owner team", &stats.by_owner_team),
        ("status", &stats.by_status),
    ];
    for (name, counts) in groups {
        writeln!(out, "by {name}:")?;
        for (key, n) in counts {
            writeln!(out, "  {key:<32} {n}")?;
        }
    }
    Ok(())
}

/// Batches of synthetic metrics, built on a thread of their own, are written by concurrent
/// writers: building and parsing the documents, and the database's index upkeep, each keep a
/// core busy. PostgreSQL writes batches side by side (their ids never meet, so they skip the
/// import lock); SQLite has one writer at a time anyway. A large seed ends by merging the
/// full-text indexes (`compact_after_bulk`).
pub async fn seed(store: &dyn Store, args: SeedArgs, out: &mut impl Write) -> Result<(), CliError> {
    let started = Instant::now();
    let (start, end, size) = (args.start, args.start + args.synthetic, args.batch);
    let writers = match store.backend() {
        Backend::Postgres => std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4)),
        Backend::Sqlite => 1,
    };
    // One batch waits while each writer works: memory stays a few batches' worth.
    let (send, recv) = tokio::sync::mpsc::channel::<Result<ImportBatch, CliError>>(1);
    let builder = tokio::task::spawn_blocking(move || {
        let mut from = start;
        while from < end {
            let to = (from + size).min(end);
            let batch = synthetic_batch(from..to);
            let failed = batch.is_err();
            // The writers stopped (one of them failed): nothing left to build for.
            if send.blocking_send(batch).is_err() || failed {
                return;
            }
            from = to;
        }
    });
    let recv = tokio::sync::Mutex::new(recv);
    let write = || async {
        let mut created = 0;
        loop {
            let next = recv.lock().await.recv().await;
            match next {
                None => return Ok::<u64, CliError>(created),
                Some(batch) => created += store.import(&batch?, "mdl-seed").await?.metrics.created,
            }
        }
    };
    let created: u64 = futures_util::future::try_join_all((0..writers).map(|_| write()))
        .await?
        .into_iter()
        .sum();
    // Every writer saw the channel close, so the builder has finished (or panicked).
    if let Err(e) = builder.await {
        std::panic::resume_unwind(e.into_panic());
    }
    compact_after_bulk(store, created, out).await?;
    writeln!(
        out,
        "seeded {} synthetic metrics ({created} new) in {:.1} s",
        args.synthetic,
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// Synthetic metrics `range`, as one import whose ids no other writer touches.
fn synthetic_batch(range: std::ops::Range<u64>) -> Result<ImportBatch, CliError> {
    let mut batch = ImportBatch {
        disjoint: true,
        ..Default::default()
    };
    for i in range {
        let metric = Metric::parse(synthetic_metric(i as usize))?;
        batch.metrics.push((metric, Provenance::default()));
    }
    Ok(batch)
}
