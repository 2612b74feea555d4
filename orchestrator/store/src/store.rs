//! The [`Store`] trait every backend implements.

use std::fmt::Debug;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::{Item, Result, Revision, WatchStream};

/// A revisioned key-value store with watch, like etcd's v3 API.
///
/// Object-safe: use it as `Arc<dyn Store>`. Every mutation gets a new
/// cluster-wide revision, strictly greater than every earlier one, and is
/// durable when its call returns `Ok`.
///
/// Keys are non-empty strings; prefixes are plain string prefixes (`/a/`
/// matches `/a/b` but not `/ab`; the empty prefix matches every key).
pub trait Store: Send + Sync + Debug {
    /// The item at `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Item>>>;

    /// Every item whose key starts with `prefix`, sorted by key, as one
    /// consistent snapshot, with the revision of that snapshot (the revision
    /// to [`watch`](Store::watch) from to see every later change).
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(Vec<Item>, Revision)>>;

    /// Creates `key`; fails with [`AlreadyExists`](crate::StoreError::AlreadyExists)
    /// if it exists. Returns the new revision (the item's create and mod
    /// revision).
    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<Revision>>;

    /// Replaces `key`'s value if its mod_revision is `expected`
    /// (compare-and-swap on resourceVersion); otherwise fails with
    /// [`Conflict`](crate::StoreError::Conflict) naming the current revision,
    /// or [`NotFound`](crate::StoreError::NotFound). Returns the new revision.
    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        expected: Revision,
    ) -> BoxFuture<'a, Result<Revision>>;

    /// Deletes `key`, only if its mod_revision is `expected` when given.
    /// Returns the revision of the deletion.
    fn delete<'a>(
        &'a self,
        key: &'a str,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Revision>>;

    /// Every change to a key under `prefix` with a revision strictly greater
    /// than `from`, in revision order, each exactly once, then the live
    /// changes as they commit. Starting again from the last revision seen
    /// misses and repeats nothing. If that history was compacted the watch
    /// fails with [`Compacted`](crate::StoreError::Compacted) ("too old, list
    /// again"), either at once or, for a consumer that fell that far behind,
    /// as its last item.
    fn watch<'a>(&'a self, prefix: &'a str, from: Revision) -> BoxFuture<'a, Result<WatchStream>>;

    /// Discards the change history up to `revision`: afterwards a watch from
    /// `revision` or later works and a watch from an earlier revision may
    /// fail with [`Compacted`](crate::StoreError::Compacted). Compacting an
    /// already compacted revision does nothing; a future revision is
    /// [`FutureRevision`](crate::StoreError::FutureRevision). Current values
    /// are never affected.
    fn compact(&self, revision: Revision) -> BoxFuture<'_, Result<()>>;

    /// The revision of the latest mutation.
    fn current_revision(&self) -> BoxFuture<'_, Result<Revision>>;
}
