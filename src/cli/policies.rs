//! `mdl policy` and `mdl policies`: generated Rego, as text, a directory bundle or a tarball.

use super::CliError;
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
            write_atomically(&path, policy.rego.as_bytes())?;
            writeln!(out, "wrote policy for {} to {}", policy.metric_id, path.display())?;
        }
        None => out.write_all(policy.rego.as_bytes())?,
    }
    Ok(())
}

pub async fn all(store: &dyn Store, args: PoliciesArgs, out: &mut impl Write) -> Result<(), CliError> {
    let bundle = policies::bundle(store).await?;
    let modules = bundle.files.len().saturating_sub(2);
    if let Some(file) = args.bundle {
        write_atomically(&file, &policies::pack(&bundle)?)?;
        writeln!(
            out,
            "wrote bundle of {modules} policies to {} (revision {})",
            file.display(),
            bundle.revision
        )?;
    } else if let Some(dir) = args.dir {
        for f in &bundle.files {
            write_atomically(&dir.join(&f.path), &f.bytes)?;
        }
        writeln!(
            out,
            "wrote {modules} policies to {} (revision {})",
            dir.display(),
            bundle.revision
        )?;
    }
    Ok(())
}

/// Readers never see a half-written file: write beside it, then rename over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
