//! [`EmbeddedOptions`]: the embedded backend's knobs.

use crate::Revision;

/// How an [`EmbeddedStore`](super::EmbeddedStore) keeps history and feeds
/// watches. The defaults suit a single-node cluster.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    pub(crate) retain_revisions: Revision,
    pub(crate) watch_buffer: usize,
    pub(crate) max_batch: usize,
    pub(crate) cache_bytes: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            retain_revisions: 10_000,
            watch_buffer: 1024,
            max_batch: 256,
            cache_bytes: 256 << 20,
        }
    }
}

impl EmbeddedOptions {
    /// How many of the latest revisions stay watchable; older history is
    /// compacted automatically as new revisions commit. Default 10,000;
    /// at least 1.
    pub fn retain_revisions(mut self, n: Revision) -> Self {
        self.retain_revisions = n.max(1);
        self
    }

    /// How many committed batches of events are held in memory for live
    /// watchers. A watcher that falls further behind reads the history from
    /// disk instead (and fails with "too old, list again" if that was
    /// compacted meanwhile). Default 1,024.
    pub fn watch_buffer(mut self, batches: usize) -> Self {
        self.watch_buffer = batches.max(1);
        self
    }

    /// The most mutations committed together when callers write
    /// concurrently (each is acknowledged only after that commit is
    /// durable). Default 256.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// redb's page cache size in bytes. Default 256 MiB.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }
}
