//! Policies for stored metrics: one module, a page of them, or the whole catalog as an OPA
//! bundle written a batch of metrics at a time.

use super::StreamError;
use super::export::BATCH;
use crate::domain::Metric;
use crate::domain::policy::{self, Policy, metadata};
use crate::store::{CatalogReader, Store, StoreError, Stored};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::runtime::Handle;

/// The setting holding this database's epoch: a random value fixed on first use, so that two
/// databases with as many metric writes still give different revisions.
const EPOCH_SETTING: &str = "bundle_epoch";

/// The policy of a stored metric. Stored documents were validated on write, so a failure here
/// means the row was altered behind our back.
pub fn of_stored(stored: &Stored) -> Result<(Policy, Value), StoreError> {
    let metric = parsed(stored)?;
    Ok((
        Policy::generate(&metric, stored.version),
        metadata(&metric, stored.version),
    ))
}

fn parsed(stored: &Stored) -> Result<Metric, StoreError> {
    Metric::parse(Value::Object(stored.doc.clone()))
        .map_err(|e| StoreError::Corrupt(format!("metric `{}` no longer validates: {e}", stored.id)))
}

pub async fn for_metric(store: &dyn Store, id: &str) -> Result<Option<Policy>, StoreError> {
    match store.get_metric(id).await? {
        Some(stored) => Ok(Some(of_stored(&stored)?.0)),
        None => Ok(None),
    }
}

/// The revision of the bundle `reader`'s snapshot gives, without reading a metric: it moves
/// with every committed metric write (and a new generator), and with nothing else.
pub async fn revision(store: &dyn Store, reader: &mut dyn CatalogReader) -> Result<String, StoreError> {
    let epoch = store
        .setting_or_init(EPOCH_SETTING, &uuid::Uuid::new_v4().simple().to_string())
        .await?;
    let writes = reader.metric_writes().await?;
    Ok(policy::revision(&epoch, writes))
}

/// Where a bundle's files go: a tarball, a directory.
pub trait BundleOut {
    fn file(&mut self, path: &str, bytes: &[u8]) -> io::Result<()>;
    /// A file of `len` bytes, read from `content` (too large to hold).
    fn streamed(&mut self, path: &str, len: u64, content: &mut dyn Read) -> io::Result<()>;
}

/// Writes the bundle of `reader`'s snapshot: `.manifest`, one module per metric by id, then
/// `data.json` with every metric's metadata. One pass over the metrics: a tar header states a
/// file's size before its content, so `data.json`'s entries are spooled to an unnamed temporary
/// file (bounded memory, gone when dropped) while the modules go out, and copied after them.
/// Returns the number of modules.
///
/// Blocking (meant for a blocking thread): the reads go through `rt`.
pub fn write(
    reader: &mut dyn CatalogReader,
    revision: &str,
    out: &mut dyn BundleOut,
    rt: &Handle,
) -> Result<u64, StreamError> {
    out.file(policy::MANIFEST_PATH, &policy::manifest(revision))?;
    let mut spool = io::BufWriter::new(tempfile::tempfile()?);
    let mut entries_len = 0u64;
    let mut modules = 0u64;
    let mut after = None;
    loop {
        let page = rt.block_on(reader.metrics(after.take(), BATCH))?;
        for stored in &page.items {
            let (policy, meta) = of_stored(stored)?;
            let entry = policy::data_entry(&policy.metric_id, &meta);
            if modules > 0 {
                spool.write_all(b",")?;
                entries_len += 1;
            }
            spool.write_all(entry.as_bytes())?;
            entries_len += entry.len() as u64;
            out.file(&policy::module_path(&policy.metric_id), policy.rego.as_bytes())?;
            modules += 1;
        }
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let mut entries = spool.into_inner().map_err(io::IntoInnerError::into_error)?;
    io::Seek::rewind(&mut entries)?;
    let head = policy::data_head();
    let len = head.len() as u64 + entries_len + policy::DATA_TAIL.len() as u64;
    let mut data = head
        .as_bytes()
        .chain(io::BufReader::new(entries).take(entries_len))
        .chain(policy::DATA_TAIL.as_bytes());
    out.streamed(policy::DATA_PATH, len, &mut data)?;
    Ok(modules)
}

/// The bundle as `.tar.gz`, byte-identical for identical contents: fixed mtimes, modes and
/// owners, and no timestamp in the gzip header.
///
/// Dropped without `finish` (a failed read, say), it writes nothing more: the tar and gzip
/// encoders would otherwise close the archive on drop, and a truncated bundle would look whole.
pub struct Tarball<W: Write> {
    tar: Option<tar::Builder<GzEncoder<Gate<W>>>>,
    open: Arc<AtomicBool>,
}

/// Passes writes through while open; refuses them once the tarball is abandoned.
struct Gate<W> {
    out: W,
    open: Arc<AtomicBool>,
}

impl<W: Write> Write for Gate<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.open.load(Ordering::Acquire) {
            return Err(io::Error::other("the bundle was abandoned"));
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> Tarball<W> {
    pub fn new(out: W) -> Self {
        let open = Arc::new(AtomicBool::new(true));
        let gate = Gate {
            out,
            open: open.clone(),
        };
        Tarball {
            tar: Some(tar::Builder::new(GzEncoder::new(gate, Compression::default()))),
            open,
        }
    }

    fn tar(&mut self) -> io::Result<&mut tar::Builder<GzEncoder<Gate<W>>>> {
        self.tar
            .as_mut()
            .ok_or_else(|| io::Error::other("the bundle is finished"))
    }

    /// Ends the archive and the gzip stream; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let tar = self
            .tar
            .take()
            .ok_or_else(|| io::Error::other("the bundle is finished"))?;
        Ok(tar.into_inner()?.finish()?.out)
    }
}

impl<W: Write> Drop for Tarball<W> {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Release);
    }
}

fn header(len: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(len);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

impl<W: Write> BundleOut for Tarball<W> {
    fn file(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        // `append_data` writes a GNU long-name entry for paths past 100 bytes.
        self.tar()?.append_data(&mut header(bytes.len() as u64), path, bytes)
    }

    fn streamed(&mut self, path: &str, len: u64, content: &mut dyn Read) -> io::Result<()> {
        self.tar()?.append_data(&mut header(len), path, content)
    }
}
