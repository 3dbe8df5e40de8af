//! `mdl policy` and `mdl policies`: generated Rego, as text, a directory bundle or a tarball.

use super::{CliError, write_atomically};
use crate::catalog::policies;
use crate::store::Store;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The metric id.
    pub id: String,
    /// Write the module to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, args = ["dir", "bundle"])]
pub struct PoliciesArgs {
    /// Write the bundle's files (`.manifest`, `data.json`, one module per metric) into this directory.
    #[arg(short = 'o', long = "output")]
    pub dir: Option<PathBuf>,
    /// Write the bundle as one `.tar.gz` file, as served at `/api/v1/policies/bundle.tar.gz`.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
}

pub async fn policy(store: &dyn Store, args: PolicyArgs, out: &mut impl Write) -> Result<(), CliError> {
    let policy = policies::for_metric(store, &args.id)
        .await?
        .ok_or_else(|| CliError::NotFound(format!("metric `{}` not found", args.id)))?;
    match args.output {
        Some(path) => {
            write_atomically(&path, |w| w.write_all(policy.rego.as_bytes()))?;
            writeln!(out, "wrote policy for {} to {}", policy.metric_id, path.display())?;
        }
        None => out.write_all(policy.rego.as_bytes())?,
    }
    Ok(())
}

pub async fn all(store: &dyn Store, args: PoliciesArgs, out: &mut impl Write) -> Result<(), CliError> {
    let mut reader = store.read_catalog().await?;
    let revision = policies::revision(store, &mut *reader).await?;
    let rt = tokio::runtime::Handle::current();
    // The bundle is written as it is read, through `rt`: off the async worker, on this thread.
    if let Some(file) = args.bundle {
        let modules = tokio::task::block_in_place(|| {
            write_atomically(&file, |w| {
                let mut tarball = policies::Tarball::new(w);
                let modules = policies::write(&mut *reader, &revision, &mut tarball, &rt)?;
                tarball.finish()?;
                Ok::<_, CliError>(modules)
            })
        })?;
        writeln!(
            out,
            "wrote bundle of {modules} policies to {} (revision {revision})",
            file.display()
        )?;
    } else if let Some(dir) = args.dir {
        let modules =
            tokio::task::block_in_place(|| policies::write(&mut *reader, &revision, &mut Directory(&dir), &rt))?;
        writeln!(
            out,
            "wrote {modules} policies to {} (revision {revision})",
            dir.display()
        )?;
    }
    Ok(())
}

/// The bundle as a tree of files, each written atomically.
struct Directory<'a>(&'a Path);

impl policies::BundleOut for Directory<'_> {
    fn file(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(&self.0.join(path), |w| w.write_all(bytes))
    }

    fn streamed(&mut self, path: &str, _len: u64, content: &mut dyn std::io::Read) -> std::io::Result<()> {
        write_atomically(&self.0.join(path), |w| std::io::copy(content, w).map(drop))
    }
}
