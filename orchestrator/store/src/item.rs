//! What the store holds and what a watch yields.

use bytes::Bytes;

/// A cluster-wide revision. Every mutation gets the next one, strictly
/// increasing; 0 is "before the first mutation".
pub type Revision = u64;

/// A stored key and its value, with the revisions that created and last
/// modified it. `mod_revision` is the item's resourceVersion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The key, e.g. `/registry/services/default/web`.
    pub key: String,
    /// The value; the store never looks inside.
    pub value: Bytes,
    /// The revision of the mutation that created the key.
    pub create_revision: Revision,
    /// The revision of the mutation that last wrote it.
    pub mod_revision: Revision,
}

/// One change, as a watch yields it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A key was created or updated; `item.mod_revision` is the event's
    /// revision.
    Put {
        /// The item as written.
        item: Item,
        /// The item before, if this was an update.
        prev: Option<Item>,
    },
    /// A key was deleted at `revision`.
    Delete {
        /// The key.
        key: String,
        /// The revision of the deletion.
        revision: Revision,
        /// The item as it was before the deletion (always present on the
        /// embedded backend; on etcd whenever etcd still has it).
        prev: Option<Item>,
    },
}

impl Event {
    /// The revision of this change.
    pub fn revision(&self) -> Revision {
        match self {
            Event::Put { item, .. } => item.mod_revision,
            Event::Delete { revision, .. } => *revision,
        }
    }

    /// The key that changed.
    pub fn key(&self) -> &str {
        match self {
            Event::Put { item, .. } => &item.key,
            Event::Delete { key, .. } => key,
        }
    }
}
