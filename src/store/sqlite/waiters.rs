//! How many of this process's writers wait for a database's write lock. SQLite queues no one:
//! a writer that finds the lock taken polls for it in the busy handler, after 1, 3, 8, 18, 33
//! ms and then every 100 ms, so one that comes back for the lock as soon as it lets go (a
//! search-block build, a block per transaction) can keep others out for seconds. Such a
//! writer asks here first and lets the waiting go ahead.

use sqlx::SqlitePool;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// One count per database file: stores of one file share it, stores of others do not.
static WAITING: LazyLock<Mutex<HashMap<PathBuf, Arc<AtomicUsize>>>> = LazyLock::new(Default::default);

fn count(pool: &SqlitePool) -> Arc<AtomicUsize> {
    let file = pool.connect_options().get_filename().to_path_buf();
    let mut map = WAITING.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(file).or_default().clone()
}

/// Counts its holder as waiting for the write lock until dropped (also when the wait is
/// given up part way).
pub(super) struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    pub(super) fn start(pool: &SqlitePool) -> Self {
        let n = count(pool);
        n.fetch_add(1, Ordering::SeqCst);
        Waiting(n)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a writer of this process is waiting for the write lock of `pool`'s database.
pub(super) fn any(pool: &SqlitePool) -> bool {
    count(pool).load(Ordering::SeqCst) > 0
}
