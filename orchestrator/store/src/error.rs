//! The one error type of the store.

use std::sync::Arc;

use crate::Revision;

/// Result with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a [`Store`](crate::Store) call can fail with.
///
/// The first variants are the store's answers (the caller can act on them:
/// re-read, list again, pick another key); the last ones are failures of the
/// backend itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create` of a key that exists.
    #[error("key {key:?} already exists (last modified at revision {mod_revision})")]
    AlreadyExists {
        /// The key.
        key: String,
        /// The existing item's mod_revision.
        mod_revision: Revision,
    },

    /// `update` or `delete` of a key that does not exist.
    #[error("key {key:?} not found")]
    NotFound {
        /// The key.
        key: String,
    },

    /// Compare-and-swap failed: the item changed since the caller read it.
    #[error(
        "conflict on key {key:?}: expected revision {expected}, but it is at revision {current}"
    )]
    Conflict {
        /// The key.
        key: String,
        /// The mod_revision the caller expected.
        expected: Revision,
        /// The item's actual mod_revision.
        current: Revision,
    },

    /// The history a watch needs was compacted away. The caller must list
    /// again and watch from the list's revision.
    #[error(
        "revision {requested} is compacted (the oldest revision a watch can start from is {oldest}): too old, list again"
    )]
    Compacted {
        /// The revision the watch asked to start after (or had reached).
        requested: Revision,
        /// The oldest revision a watch can start from now.
        oldest: Revision,
    },

    /// A revision later than the store's current one.
    #[error("revision {requested} is in the future (the current revision is {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },

    /// A key the store does not accept.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// The embedded database failed.
    #[error("embedded store: {op}")]
    Embedded {
        /// What the store was doing.
        op: &'static str,
        /// redb's error, shared by every request of a failed batch.
        #[source]
        source: Arc<redb::Error>,
    },

    /// Stored bytes that do not decode: the database file is damaged or was
    /// written by something else.
    #[error("embedded store: corrupt record ({what})")]
    Corrupt {
        /// What failed to decode, and where.
        what: String,
    },

    /// An etcd call failed.
    #[error("etcd: {op}")]
    Etcd {
        /// What the store was doing, naming the key or revision.
        op: String,
        /// The client's error.
        #[source]
        source: Box<etcd_client::Error>,
    },

    /// etcd canceled a watch for a reason other than compaction.
    #[error("etcd canceled the watch of prefix {prefix:?} after revision {revision}: {reason}")]
    WatchCanceled {
        /// The watched prefix.
        prefix: String,
        /// The last revision the watch had delivered or started after.
        revision: Revision,
        /// etcd's reason.
        reason: String,
    },

    /// The store was closed (dropped), or the connection behind a watch
    /// ended; a watch that yields this should be restarted from its last
    /// revision.
    #[error("store closed: {what}")]
    Closed {
        /// What was cut off.
        what: String,
    },
}

impl StoreError {
    /// Whether this is [`StoreError::Compacted`]: the caller must list again.
    pub fn is_compacted(&self) -> bool {
        matches!(self, StoreError::Compacted { .. })
    }

    /// Whether this is [`StoreError::Conflict`]: re-read and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether this is [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Whether this is [`StoreError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, StoreError::AlreadyExists { .. })
    }

    pub(crate) fn embedded(op: &'static str, e: impl Into<redb::Error>) -> Self {
        StoreError::Embedded {
            op,
            source: Arc::new(e.into()),
        }
    }

    pub(crate) fn etcd(op: impl Into<String>, e: etcd_client::Error) -> Self {
        StoreError::Etcd {
            op: op.into(),
            source: Box::new(e),
        }
    }
}

/// Refuses keys no backend can store.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey {
            key: key.to_owned(),
            reason: "empty",
        });
    }
    Ok(())
}
