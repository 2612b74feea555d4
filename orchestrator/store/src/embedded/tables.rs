//! The redb tables and the read side: point reads, snapshot lists and
//! history reads, each in one read transaction (a consistent snapshot).

use redb::{Database, ReadableDatabase as _, TableDefinition};

use super::codec;
use crate::{Event, Item, Result, Revision, StoreError};

/// Current items by key.
pub(crate) const ITEMS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("items");
/// The change history by revision: the events after the compacted revision.
pub(crate) const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
/// Counters: [`REVISION`] and [`COMPACTED`].
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The latest revision.
pub(crate) const REVISION: &str = "revision";
/// Every event at or below this revision is gone from the log.
pub(crate) const COMPACTED: &str = "compacted";

/// The revision counters as of one snapshot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counters {
    pub(crate) revision: Revision,
    pub(crate) compacted: Revision,
}

pub(crate) fn read_counters(
    meta: &impl redb::ReadableTable<&'static str, u64>,
) -> Result<Counters> {
    let get = |k| -> Result<Revision> {
        Ok(meta
            .get(k)
            .map_err(|e| StoreError::embedded("read meta", e))?
            .map(|v| v.value())
            .unwrap_or(0))
    };
    Ok(Counters {
        revision: get(REVISION)?,
        compacted: get(COMPACTED)?,
    })
}

/// The item at `key`.
pub(crate) fn get(db: &Database, key: &str) -> Result<Option<Item>> {
    let txn = db
        .begin_read()
        .map_err(|e| StoreError::embedded("begin read", e))?;
    let items = txn
        .open_table(ITEMS)
        .map_err(|e| StoreError::embedded("open items", e))?;
    let v = items
        .get(key)
        .map_err(|e| StoreError::embedded("read item", e))?;
    v.map(|v| codec::decode_item(key, v.value())).transpose()
}

/// Items under `prefix` and the snapshot's revision.
pub(crate) fn list(db: &Database, prefix: &str) -> Result<(Vec<Item>, Revision)> {
    let txn = db
        .begin_read()
        .map_err(|e| StoreError::embedded("begin read", e))?;
    let items = txn
        .open_table(ITEMS)
        .map_err(|e| StoreError::embedded("open items", e))?;
    let meta = txn
        .open_table(META)
        .map_err(|e| StoreError::embedded("open meta", e))?;
    let revision = read_counters(&meta)?.revision;
    let mut out = Vec::new();
    for entry in items
        .range(prefix..)
        .map_err(|e| StoreError::embedded("list items", e))?
    {
        let (k, v) = entry.map_err(|e| StoreError::embedded("list items", e))?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        out.push(codec::decode_item(key, v.value())?);
    }
    Ok((out, revision))
}

/// The counters alone.
pub(crate) fn counters(db: &Database) -> Result<Counters> {
    let txn = db
        .begin_read()
        .map_err(|e| StoreError::embedded("begin read", e))?;
    let meta = txn
        .open_table(META)
        .map_err(|e| StoreError::embedded("open meta", e))?;
    read_counters(&meta)
}

/// A piece of history read for a watch.
#[derive(Debug)]
pub(crate) struct LogChunk {
    /// The events under the prefix, in revision order.
    pub(crate) events: Vec<Event>,
    /// Every revision up to this one was looked at.
    pub(crate) scanned_to: Revision,
    /// The snapshot's latest revision: when `scanned_to` reaches it, the
    /// history is read up to the present.
    pub(crate) head: Revision,
}

/// Reads up to `limit` log records after revision `after`, keeping those
/// under `prefix`. Fails with [`StoreError::Compacted`] if some of that
/// history is gone.
pub(crate) fn read_log(
    db: &Database,
    prefix: &str,
    after: Revision,
    limit: usize,
) -> Result<LogChunk> {
    let txn = db
        .begin_read()
        .map_err(|e| StoreError::embedded("begin read", e))?;
    let meta = txn
        .open_table(META)
        .map_err(|e| StoreError::embedded("open meta", e))?;
    let c = read_counters(&meta)?;
    if after < c.compacted {
        return Err(StoreError::Compacted {
            requested: after,
            oldest: c.compacted,
        });
    }
    let log = txn
        .open_table(LOG)
        .map_err(|e| StoreError::embedded("open log", e))?;
    let mut chunk = LogChunk {
        events: Vec::new(),
        scanned_to: after,
        head: c.revision,
    };
    if after >= c.revision {
        chunk.scanned_to = c.revision.max(after);
        return Ok(chunk);
    }
    let mut complete = true;
    for (n, entry) in log
        .range(after + 1..)
        .map_err(|e| StoreError::embedded("read log", e))?
        .enumerate()
    {
        if n == limit {
            complete = false;
            break;
        }
        let (r, v) = entry.map_err(|e| StoreError::embedded("read log", e))?;
        let rev = r.value();
        if rev != chunk.scanned_to + 1 {
            return Err(StoreError::Corrupt {
                what: format!(
                    "log has no record for revision {} (next is {rev})",
                    chunk.scanned_to + 1
                ),
            });
        }
        chunk.scanned_to = rev;
        if codec::event_key(rev, v.value())?.starts_with(prefix) {
            chunk.events.push(codec::decode_event(rev, v.value())?);
        }
    }
    if complete && chunk.scanned_to != c.revision {
        return Err(StoreError::Corrupt {
            what: format!(
                "log ends at revision {} but the latest revision is {}",
                chunk.scanned_to, c.revision
            ),
        });
    }
    Ok(chunk)
}
