//! The `mdl` command line: parse arguments, run one subcommand against the configured store.

mod admin;
mod catalog;
mod docs;
mod entities;
mod policies;
mod users;

use crate::cache::Collection;
use crate::config::DbConfig;
use crate::domain::ValidationErrors;
use crate::store::{self, DynStore, EntityKind, StoreError};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "mdl",
    version,
    about = "MDL, the Metrics Definition Library",
    long_about = "MDL, the Metrics Definition Library: a catalog of metric definitions, business \
                  domains and objectives, served over HTTP (`mdl serve`) and administered from \
                  this command line against the same database.",
    after_help = "Every flag can also be set by the environment variable shown beside it; a .env file in \
                  the working directory is read first. Writes are announced to running servers through \
                  Redis when REDIS_URL is set."
)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// One value, parsed once at start: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the HTTP server.
    Serve(crate::config::ServeConfig),
    /// Apply pending database migrations.
    Migrate,
    /// List metric definitions, with filters.
    List(catalog::ListArgs),
    /// Show one metric definition.
    Show(catalog::ShowArgs),
    /// Show the change history of one metric (newest first).
    History(catalog::HistoryArgs),
    /// Show the changes between two versions of a metric as JSON Patch (RFC 6902).
    Diff(catalog::DiffArgs),
    /// Delete one metric definition (its history and versions stay readable).
    Delete(catalog::DeleteArgs),
    /// Business domains: list, show, delete.
    #[command(subcommand)]
    Domain(entities::EntityCommand),
    /// Objectives: list, show, delete.
    #[command(subcommand)]
    Objective(entities::EntityCommand),
    /// Import a catalog file (JSON or YAML), all or nothing.
    Import(admin::ImportArgs),
    /// Export the whole catalog (JSON or YAML by extension).
    Export(admin::ExportArgs),
    /// Print (or write) the generated Rego policy of one metric.
    Policy(policies::PolicyArgs),
    /// Write every metric's policy as an OPA bundle: a directory (-o) or a .tar.gz (--bundle).
    Policies(policies::PoliciesArgs),
    /// Counts by category, tier, type, domain, owner and status.
    Stats(admin::StatsArgs),
    /// Create deterministic synthetic metrics for tests and benchmarks.
    Seed(admin::SeedArgs),
    /// Manage users.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Print a shell completion script (e.g. `mdl completions bash > /etc/bash_completion.d/mdl`).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --dir.
    Man(docs::ManArgs),
}

/// A failed command: what to print and which exit code to use.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    NotFound(String),
    #[error("invalid input: {0}")]
    Invalid(ValidationErrors),
    #[error("configuration: {0}")]
    Config(String),
    /// The server could not start (e.g. its address is taken); the message says which part.
    #[error("{0}")]
    Startup(String),
    #[error("{0}")]
    Store(StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => CliError::NotFound(e.to_string()),
            StoreError::Invalid(errors) => CliError::Invalid(errors),
            other => CliError::Store(other),
        }
    }
}

impl From<crate::catalog::StreamError> for CliError {
    fn from(e: crate::catalog::StreamError) -> Self {
        match e {
            crate::catalog::StreamError::Store(e) => e.into(),
            crate::catalog::StreamError::Io(e) => CliError::Io(e),
        }
    }
}

/// Readers never see a half-written file: `write` fills one beside it, renamed over `path`
/// once complete. A failed write leaves `path` as it was and removes the partial file.
pub(crate) fn write_atomically<T, E: From<std::io::Error>>(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<T, E>,
) -> Result<T, E> {
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let written = write(&mut file).and_then(|value| {
        file.flush()?;
        Ok(value)
    });
    drop(file);
    match written {
        Ok(value) => {
            std::fs::rename(&tmp, path)?;
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

impl From<ValidationErrors> for CliError {
    fn from(e: ValidationErrors) -> Self {
        CliError::Invalid(e)
    }
}

/// Opens the configured store and brings its schema up to date.
pub async fn open_store(db: &DbConfig) -> Result<DynStore, CliError> {
    db.validate().map_err(|p| CliError::Config(p.join("; ")))?;
    let store = store::connect(db).await?;
    store.migrate().await?;
    Ok(store)
}

pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Invalid(errors)) => {
            eprintln!("error: invalid input ({} problems)", errors.len());
            for e in errors.errors() {
                eprintln!(
                    "  {}: {}",
                    if e.field.is_empty() { "(document)" } else { &e.field },
                    e.message
                );
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    // Not holding stdout while serving: the server prints from its own tasks.
    match cli.command {
        Command::Serve(config) => return serve(&cli.db, config).await,
        Command::Completions(args) => return docs::completions(args, &mut std::io::stdout().lock()),
        Command::Man(args) => return docs::man(args, &mut std::io::stdout().lock()),
        _ => {}
    }
    let store = open_store(&cli.db).await?;
    let touched = catalog_writes(&cli.command);
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Serve(_) | Command::Completions(_) | Command::Man(_) => Ok(()),
        Command::Migrate => {
            use std::io::Write;
            writeln!(out, "migrations applied ({:?})", store.backend())?;
            Ok(())
        }
        Command::List(args) => catalog::list(&*store, args, &mut out).await,
        Command::Show(args) => catalog::show(&*store, args, &mut out).await,
        Command::History(args) => catalog::history(&*store, args, &mut out).await,
        Command::Diff(args) => catalog::diff(&*store, args, &mut out).await,
        Command::Delete(args) => catalog::delete(&*store, args, &mut out).await,
        Command::Domain(cmd) => entities::run(&*store, EntityKind::Domain, cmd, &mut out).await,
        Command::Objective(cmd) => entities::run(&*store, EntityKind::Objective, cmd, &mut out).await,
        Command::Import(args) => admin::import(&*store, args, &mut out).await,
        Command::Export(args) => admin::export(&*store, args, &mut out).await,
        Command::Policy(args) => policies::policy(&*store, args, &mut out).await,
        Command::Policies(args) => policies::all(&*store, args, &mut out).await,
        Command::Stats(args) => admin::stats(&*store, args, &mut out).await,
        Command::Seed(args) => admin::seed(&*store, args, &mut out).await,
        Command::User(cmd) => match users::run(&*store, cmd, &mut out).await {
            Ok(Some(user_id)) => {
                announce_user(&user_id).await;
                Ok(())
            }
            other => other.map(|_| ()),
        },
    };
    if result.is_ok() && !touched.is_empty() {
        announce(&touched).await;
    }
    result
}

/// Collections a successful command changed, which running servers may have cached. Single
/// deletes invalidate what the same write over HTTP would.
fn catalog_writes(command: &Command) -> Vec<Collection> {
    use crate::cache::keys::BULK_METRIC_WRITE;
    use crate::http::routes::write_invalidates;
    use Collection::{Domains, MetricItems, Metrics, Objectives, Policies, Stats};
    use entities::EntityCommand::Delete;
    match command {
        Command::Import(args) if !args.dry_run => vec![Metrics, Domains, Objectives, Stats, Policies, MetricItems],
        Command::Seed(_) => BULK_METRIC_WRITE.to_vec(),
        Command::Delete(_) => write_invalidates("/api/v1/metrics/{id}"),
        Command::Domain(Delete(_)) => write_invalidates("/api/v1/domains/{id}"),
        Command::Objective(Delete(_)) => write_invalidates("/api/v1/objectives/{id}"),
        _ => Vec::new(),
    }
}

/// With `REDIS_URL` set (as for the servers), tells every running instance about the write.
async fn announce(collections: &[Collection]) {
    let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        return;
    };
    let prefix = std::env::var("MDL_REDIS_PREFIX").unwrap_or_else(|_| "mdl".into());
    if let Err(e) = crate::cache::announce_external_write(&url, &prefix, collections).await {
        eprintln!("warning: {e}; running servers may serve the old data until their cache TTLs pass");
    }
}

/// With `REDIS_URL` set, tells every running instance to drop its cached record of the user.
async fn announce_user(user_id: &str) {
    let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        return;
    };
    let prefix = std::env::var("MDL_REDIS_PREFIX").unwrap_or_else(|_| "mdl".into());
    if let Err(e) = crate::cache::announce_external_user(&url, &prefix, user_id).await {
        eprintln!("warning: {e}; running servers notice the change within MDL_USER_CACHE_TTL");
    }
}

async fn serve(db: &DbConfig, config: crate::config::ServeConfig) -> Result<(), CliError> {
    config.validate().map_err(|p| CliError::Config(p.join("; ")))?;
    let store = open_store(db).await?;
    let cost = crate::auth::password::HashCost::default();
    if let Some(password) = crate::auth::ensure_admin(&*store, config.admin_password.as_deref(), cost).await? {
        println!("created user `admin` with password: {password}");
        println!("(shown once; change it with `mdl user set-password admin`)");
    }
    let app = crate::http::Application::build(config, store, cost)
        .await
        .map_err(|e| CliError::Startup(e.to_string()))?;
    let addr = app.addr();
    println!("MDL listening on http://{addr}");
    println!(
        "log in: curl -s -X POST http://{addr}/api/v1/auth/login -H 'Content-Type: application/json' \\\n  -d '{{\"username\":\"admin\",\"password\":\"...\"}}'"
    );
    app.run_until_stopped().await?;
    Ok(())
}
