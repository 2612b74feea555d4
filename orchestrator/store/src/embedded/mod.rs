//! The embedded backend: one redb file, crash-safe, pure Rust.
//!
//! - `items`: key → (create_revision, mod_revision, value), the current state.
//! - `log`: revision → event (with the previous item), the history watches
//!   start from; everything at or below `meta.compacted` is gone.
//! - `meta`: the latest revision and the compacted revision.
//!
//! One writer thread commits mutations (see `writer`); every commit is
//! durable (redb's `Durability::Immediate`: checksummed commit slot, one
//! fsync) before any caller in it is answered. Reads are redb read
//! transactions: consistent snapshots that never wait for the writer.
//! Opening a file left by a killed process runs redb's repair, which rolls
//! back to the last durable commit.

mod codec;
mod options;
mod tables;
mod watcher;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use redb::Database;
use tokio::sync::{broadcast, oneshot};

pub use options::EmbeddedOptions;

use crate::error::check_key;
use crate::{Item, Result, Revision, Store, StoreError, WatchStream};
use writer::{Batch, Op, Request, Writer};

/// The embedded [`Store`]: a redb database file written by one thread.
///
/// Needs a Tokio runtime for its calls (reads run on the blocking pool).
/// Dropping it stops the writer after the queued mutations and closes the
/// file once no watch stream holds it.
pub struct EmbeddedStore {
    path: PathBuf,
    db: Arc<Database>,
    requests: Option<mpsc::Sender<Request>>,
    events: broadcast::Sender<Batch>,
    current: Arc<AtomicU64>,
    writer: Option<JoinHandle<()>>,
}

impl EmbeddedStore {
    /// Opens the database at `path`, creating it if it does not exist and
    /// recovering it if a killed process left it.
    pub fn open(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let warned = AtomicBool::new(false);
        let shown = path.display().to_string();
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .set_repair_callback(move |_| {
                if !warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(path = %shown, "embedded store: repairing after an unclean shutdown");
                }
            })
            .create(&path)
            .map_err(|e| StoreError::embedded("open database", e))?;
        init(&db)?;
        let db = Arc::new(db);
        let current = Arc::new(AtomicU64::new(tables::counters(&db)?.revision));
        let (events, _) = broadcast::channel(options.watch_buffer);
        let (requests, rx) = mpsc::channel();
        let w = Writer {
            db: db.clone(),
            requests: rx,
            events: events.clone(),
            current: current.clone(),
            retain: options.retain_revisions,
            max_batch: options.max_batch,
        };
        let writer = std::thread::Builder::new()
            .name("berth-store-writer".into())
            .spawn(move || w.run())
            .map_err(|e| StoreError::Closed {
                what: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            path,
            db,
            requests: Some(requests),
            events,
            current,
            writer: Some(writer),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn mutate(&self, op: Op) -> Result<Revision> {
        let (reply, rx) = oneshot::channel();
        let closed = || StoreError::Closed {
            what: "embedded store writer stopped".into(),
        };
        self.requests
            .as_ref()
            .ok_or_else(closed)?
            .send(Request { op, reply })
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

/// Creates the tables of a new database (the counters read as 0 until the
/// first commit writes them).
fn init(db: &Database) -> Result<()> {
    let txn = db
        .begin_write()
        .map_err(|e| StoreError::embedded("begin write", e))?;
    {
        txn.open_table(tables::ITEMS)
            .map_err(|e| StoreError::embedded("create items", e))?;
        txn.open_table(tables::LOG)
            .map_err(|e| StoreError::embedded("create log", e))?;
        txn.open_table(tables::META)
            .map_err(|e| StoreError::embedded("create meta", e))?;
    }
    txn.commit()
        .map_err(|e| StoreError::embedded("commit init", e))
}

/// Runs a blocking read on Tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Closed {
            what: "runtime shutting down".into(),
        }),
    }
}

impl Store for EmbeddedStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        Box::pin(async move {
            check_key(key)?;
            let (db, key) = (self.db.clone(), key.to_owned());
            blocking(move || tables::get(&db, &key)).await
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(Vec<Item>, Revision)>> {
        Box::pin(async move {
            let (db, prefix) = (self.db.clone(), prefix.to_owned());
            blocking(move || tables::list(&db, &prefix)).await
        })
    }

    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<Revision>> {
        Box::pin(async move {
            check_key(key)?;
            self.mutate(Op::Create {
                key: key.to_owned(),
                value,
            })
            .await
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        expected: Revision,
    ) -> BoxFuture<'a, Result<Revision>> {
        Box::pin(async move {
            check_key(key)?;
            self.mutate(Op::Update {
                key: key.to_owned(),
                value,
                expected,
            })
            .await
        })
    }

    fn delete<'a>(
        &'a self,
        key: &'a str,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Revision>> {
        Box::pin(async move {
            check_key(key)?;
            self.mutate(Op::Delete {
                key: key.to_owned(),
                expected,
            })
            .await
        })
    }

    fn watch<'a>(&'a self, prefix: &'a str, from: Revision) -> BoxFuture<'a, Result<WatchStream>> {
        Box::pin(async move {
            // Subscribe first: every later commit is then either in the log
            // snapshot the watcher reads next or in this receiver.
            let live = self.events.subscribe();
            let (db, p) = (self.db.clone(), prefix.to_owned());
            // Fail at once, not on the first poll, if the history is gone.
            blocking(move || tables::read_log(&db, &p, from, 0)).await?;
            Ok(crate::watch::from_source(watcher::Watcher {
                db: self.db.clone(),
                live,
                prefix: prefix.into(),
                seen: from,
                catching_up: true,
            }))
        })
    }

    fn compact(&self, revision: Revision) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.mutate(Op::Compact { revision }).await.map(drop) })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Revision>> {
        Box::pin(async move { Ok(self.current.load(Ordering::Acquire)) })
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // The writer ends when its queue's last sender is gone.
        drop(self.requests.take());
        if let Some(w) = self.writer.take()
            && w.join().is_err()
        {
            tracing::error!("embedded store writer panicked");
        }
    }
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .field("revision", &self.current.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
