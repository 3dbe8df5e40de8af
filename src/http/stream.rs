//! Response bodies written by blocking code (exports, bundles) and sent as they are written.

use crate::catalog::StreamError;
use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use std::io::{self, Write};
use tokio::sync::mpsc;

/// Bytes gathered before a chunk goes to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the client at most: a slow reader holds the writer back instead of
/// letting the body pile up in memory.
const AHEAD: usize = 8;

/// A body that `produce` writes on a blocking thread, started when the body is first polled
/// (a response answered 304 after all, or dropped unsent, costs nothing). It goes out in chunks
/// as it is written; if `produce` fails, the body ends in an error (the connection is cut, not
/// closed cleanly), so a client cannot take a partial document for a whole one. A client that
/// hangs up makes the next write fail, which stops `produce`.
pub fn written_by<F>(produce: F) -> Body
where
    F: FnOnce(&mut dyn Write) -> Result<(), StreamError> + Send + 'static,
{
    let start = async move {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(AHEAD);
        tokio::task::spawn_blocking(move || run(produce, tx));
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
    };
    Body::from_stream(futures_util::stream::once(start).flatten())
}

fn run<F>(produce: F, tx: mpsc::Sender<io::Result<Bytes>>)
where
    F: FnOnce(&mut dyn Write) -> Result<(), StreamError>,
{
    let mut out = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    match produce(&mut out).and_then(|()| Ok(out.send()?)) {
        Ok(()) => {}
        Err(StreamError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            tracing::debug!("client left before the end of a streamed response");
        }
        Err(e) => {
            tracing::error!(error = %e, "streamed response failed part way");
            let _ = out.tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    }
}

struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    /// Chunks go out when full: flushing early would only make more, smaller ones.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
