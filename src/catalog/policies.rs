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
/// `data.json` with every metric's metadata. Two passes over the metrics, both in the same
/// snapshot: a tar header states a file's size before its content, so the first pass writes
/// the modules and measures `data.json`, the second writes it. Returns the number of modules.
///
/// Blocking (meant for a blocking thread): the reads go through `rt`.
pub fn write(
    reader: &mut dyn CatalogReader,
    revision: &str,
    out: &mut dyn BundleOut,
    rt: &Handle,
) -> Result<u64, StreamError> {
    out.file(policy::MANIFEST_PATH, &policy::manifest(revision))?;
    let mut data_len = (policy::data_head().len() + policy::DATA_TAIL.len()) as u64;
    let mut modules = 0u64;
    let mut after = None;
    loop {
        let page = rt.block_on(reader.metrics(after.take(), BATCH))?;
        for stored in &page.items {
            let (policy, meta) = of_stored(stored)?;
            let comma = u64::from(modules > 0);
            data_len += policy::data_entry(&policy.metric_id, &meta).len() as u64 + comma;
            out.file(&policy::module_path(&policy.metric_id), policy.rego.as_bytes())?;
            modules += 1;
        }
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let mut data = DataJson::new(reader, rt);
    let written = out.streamed(policy::DATA_PATH, data_len, &mut data);
    if let Some(e) = data.failed.take() {
        return Err(e.into());
    }
    written?;
    if data.written != data_len {
        // Same snapshot, same functions: only a bug gets here, and the archive would lie.
        return Err(io::Error::other(format!(
            "data.json came out {} bytes long, {data_len} were announced",
            data.written
        ))
        .into());
    }
    Ok(modules)
}

/// `data.json` produced as it is read: the head, the metadata of each batch of metrics, the tail.
struct DataJson<'a> {
    reader: &'a mut dyn CatalogReader,
    rt: &'a Handle,
    buf: Vec<u8>,
    pos: usize,
    /// The next batch's cursor; `None` with `started` once the metrics are done.
    after: Option<String>,
    started: bool,
    entries: u64,
    tail_written: bool,
    written: u64,
    /// A read error, kept whole: `Read` can only report an `io::Error`.
    failed: Option<StoreError>,
}

impl<'a> DataJson<'a> {
    fn new(reader: &'a mut dyn CatalogReader, rt: &'a Handle) -> Self {
        DataJson {
            reader,
            rt,
            buf: policy::data_head().into_bytes(),
            pos: 0,
            after: None,
            started: false,
            entries: 0,
            tail_written: false,
            written: 0,
            failed: None,
        }
    }

    /// The next piece of the file into `buf`; false at the end.
    fn refill(&mut self) -> Result<bool, StoreError> {
        self.buf.clear();
        self.pos = 0;
        if !self.started || self.after.is_some() {
            self.started = true;
            let page = self.rt.block_on(self.reader.metrics(self.after.take(), BATCH))?;
            for stored in &page.items {
                // Only the metadata this time: the modules went out in the first pass.
                let metric = parsed(stored)?;
                let entry = policy::data_entry(&metric.metric_id, &metadata(&metric, stored.version));
                if self.entries > 0 {
                    self.buf.push(b',');
                }
                self.buf.extend_from_slice(entry.as_bytes());
                self.entries += 1;
            }
            self.after = page.next_cursor;
            return Ok(true);
        }
        if !self.tail_written {
            self.tail_written = true;
            self.buf.extend_from_slice(policy::DATA_TAIL.as_bytes());
            return Ok(true);
        }
        Ok(false)
    }
}

impl Read for DataJson<'_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.refill() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => {
                    let message = e.to_string();
                    self.failed = Some(e);
                    return Err(io::Error::other(message));
                }
            }
        }
        let n = dst.len().min(self.buf.len() - self.pos);
        dst[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.written += n as u64;
        Ok(n)
    }
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
