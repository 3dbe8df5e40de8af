//! How this process's writers queue for a database's write lock. SQLite queues no one: a
//! writer that finds the lock taken polls for it in the busy handler, after 1, 3, 8, 18, 33
//! ms and then every 100 ms. Ten writers polling that way leave the lock idle between them and
//! let some wait for seconds (p99 0.4 s, max 2.8 s at 10 writers; docs/benchmarks.md, "Creates
//! in one statement"). So each writer of this process takes a turn here first, in arrival
//! order, and only then asks SQLite for the lock, which it then mostly finds free; the busy
//! handler is left to other processes (the CLI beside a server).
//!
//! A search-block build, which comes back for the lock after each block, queues the same way:
//! writers that arrived during a block go before its next one.

use crate::store::{StoreError, StoreResult};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// One queue per database file: stores of one file share it, stores of others do not.
#[derive(Default)]
struct Queue {
    turn: Arc<tokio::sync::Mutex<()>>,
    /// How long a writer waits for its turn, as long as SQLite's busy handler would wait
    /// for the lock (`set_wait_max`).
    wait_max_ms: AtomicU64,
}

static QUEUES: LazyLock<Mutex<HashMap<PathBuf, Arc<Queue>>>> = LazyLock::new(Default::default);

fn queue(pool: &SqlitePool) -> Arc<Queue> {
    let file = pool.connect_options().get_filename().to_path_buf();
    let mut map = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(file).or_default().clone()
}

/// The longest a writer of `pool` waits for its turn before it fails as busy.
pub(super) fn set_wait_max(pool: &SqlitePool, wait: Duration) {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    queue(pool).wait_max_ms.store(ms, Ordering::Relaxed);
}

/// A writer's turn: the next writer of this process waits until it is dropped.
pub(super) type Turn = OwnedMutexGuard<()>;

/// Waits for this writer's turn; the writer then takes SQLite's write lock.
pub(super) async fn turn(pool: &SqlitePool) -> StoreResult<Turn> {
    let q = queue(pool);
    let wait = match q.wait_max_ms.load(Ordering::Relaxed) {
        0 => Duration::from_secs(5),
        ms => Duration::from_millis(ms),
    };
    tokio::time::timeout(wait, q.turn.clone().lock_owned())
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "the database is busy: other writes held it for {} ms",
                wait.as_millis()
            ))
        })
}
