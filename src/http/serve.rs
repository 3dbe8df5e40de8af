//! The accept loop: HTTP/1.1 connections with a header-read deadline, an idle deadline and a
//! cap on how many are served at once, drained on shutdown.
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never fires and a client that
//! drips header bytes holds its connection (and a file descriptor) for as long as it likes.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long shutdown waits for in-flight requests before closing what is left.
    pub drain_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` completes, then stops accepting and waits (up to
/// the drain timeout) for open connections to finish their requests.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(stop);
    loop {
        // At the cap, new connections wait in the kernel's backlog instead of being accepted
        // and starved; a slot frees as soon as any connection closes.
        let permit = tokio::select! {
            () = &mut stop => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let conn = builder.serve_connection(io, TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout: closing the connections still open");
    }
    Ok(())
}

/// A stream that fails with `TimedOut` once neither a read nor a write has made progress for
/// `limit` while one of them was waiting: a client that stops reading its response or sending
/// its body cannot hold the connection forever.
///
/// Progress only notes the time; the timer is moved when it fires early. Resetting it on every
/// read and write took the timer wheel's lock several times per request.
struct IdleTimeout {
    inner: TcpStream,
    deadline: Pin<Box<Sleep>>,
    last_progress: Instant,
    limit: Duration,
}

impl IdleTimeout {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        IdleTimeout {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            last_progress: Instant::now(),
            limit,
        }
    }

    /// Called after `inner` answered `Pending`: an error once `limit` has passed since the last
    /// progress (the timer also wakes the task, so a silent peer is noticed without traffic).
    fn waiting(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            match self.deadline.as_mut().poll(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(()) => {
                    let due = self.last_progress + self.limit;
                    if due <= Instant::now() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"));
                    }
                    self.deadline.as_mut().reset(due);
                }
            }
        }
    }

    fn progressed<T>(&mut self, r: T) -> Poll<T> {
        self.last_progress = Instant::now();
        Poll::Ready(r)
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => {
                this.waiting(cx)?;
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => {
                this.waiting(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => this.progressed(r),
            Poll::Pending => {
                this.waiting(cx)?;
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Raises the soft file-descriptor limit to fit `wanted` connections plus the process's own
/// files, and returns how many connections the limit really allows.
pub fn fit_connection_cap(wanted: usize) -> usize {
    // Database pools, Redis, log files, the listener itself.
    const RESERVED: u64 = 256;
    let needed = wanted as u64 + RESERVED;
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit < needed => {
            let cap = limit.saturating_sub(RESERVED).max(16) as usize;
            tracing::warn!(
                wanted,
                cap,
                "the file-descriptor limit is too low for MDL_MAX_CONNECTIONS; serving fewer at once"
            );
            cap
        }
        _ => wanted,
    }
}

/// Binds `HOST:PORT` (an IP address, `[::1]:PORT`, or a host name such as `localhost`, whose
/// addresses are tried in turn). The error names the address: `cannot listen on
/// 127.0.0.1:3000: Address already in use`.
pub async fn listen(bind: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {}", reason(&e)))
}

/// An I/O error's message without the `(os error N)` suffix.
fn reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(cut) if text.ends_with(')') => text[..cut].to_string(),
        _ => text,
    }
}
