//! The single writer: one thread applies mutations in arrival order, in
//! batches of whatever queued up while the previous commit was syncing (group
//! commit), commits each batch durably, then publishes its events to live
//! watchers and only then acknowledges each caller.
//!
//! Nothing is acknowledged before the commit that holds it is durable, so a
//! crash loses no acknowledged write; batching only shares one fsync among
//! callers that were waiting at the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use bytes::Bytes;
use redb::{Database, ReadableTable as _, Table};
use tokio::sync::{broadcast, oneshot};

use super::codec;
use super::tables::{self, COMPACTED, Counters, ITEMS, LOG, META, REVISION};
use crate::{Event, Item, Result, Revision, StoreError};

/// A batch of committed events, in revision order, as live watchers get it.
pub(crate) type Batch = Arc<[Event]>;

/// A mutation.
#[derive(Debug)]
pub(crate) enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

/// A mutation and where its answer goes.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Revision>>,
}

/// What the writer thread owns.
pub(crate) struct Writer {
    pub(crate) db: Arc<Database>,
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) events: broadcast::Sender<Batch>,
    pub(crate) current: Arc<AtomicU64>,
    pub(crate) retain: Revision,
    pub(crate) max_batch: usize,
}

impl Writer {
    /// Runs until every request sender is gone.
    pub(crate) fn run(self) {
        while let Ok(first) = self.requests.recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match self.requests.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        tracing::debug!("embedded store writer: all handles dropped, stopping");
    }

    fn commit(&self, batch: Vec<Request>) {
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|r| (r.op, r.reply)).unzip();
        match apply_batch(&self.db, ops, self.retain) {
            Ok(Applied {
                outcomes,
                events,
                revision,
            }) => {
                if !events.is_empty() {
                    self.current.store(revision, Ordering::Release);
                    // No receiver is fine: nobody watches.
                    let _ = self.events.send(events.into());
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // The caller may have given up waiting; the write stands.
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedded store: batch not committed");
                for reply in replies {
                    let _ = reply.send(Err(share(&e)));
                }
            }
        }
    }
}

/// A copy of a batch's failure for each of its callers.
fn share(e: &StoreError) -> StoreError {
    match e {
        StoreError::Embedded { op, source } => StoreError::Embedded {
            op,
            source: source.clone(),
        },
        other => StoreError::Corrupt {
            what: other.to_string(),
        },
    }
}

/// What a committed batch did.
struct Applied {
    /// Each op's answer, in order.
    outcomes: Vec<Result<Revision>>,
    /// The events written, in revision order.
    events: Vec<Event>,
    /// The latest revision after the batch.
    revision: Revision,
}

/// One write transaction for the whole batch: each op sees the ones before
/// it. An `Err` means nothing was committed.
fn apply_batch(db: &Database, ops: Vec<Op>, retain: Revision) -> Result<Applied> {
    let txn = db
        .begin_write()
        .map_err(|e| StoreError::embedded("begin write", e))?;
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut events = Vec::new();
    let mut c;
    {
        let mut items = txn
            .open_table(ITEMS)
            .map_err(|e| StoreError::embedded("open items", e))?;
        let mut log = txn
            .open_table(LOG)
            .map_err(|e| StoreError::embedded("open log", e))?;
        let mut meta = txn
            .open_table(META)
            .map_err(|e| StoreError::embedded("open meta", e))?;
        c = tables::read_counters(&meta)?;
        let before = c;
        for op in ops {
            outcomes.push(apply(op, &mut c, &mut items, &mut log, &mut events)?);
        }
        // Automatic compaction: keep the latest `retain` revisions.
        let floor = c.revision.saturating_sub(retain);
        if floor > c.compacted {
            compact_log(&mut log, &mut c, floor)?;
        }
        if c.revision != before.revision {
            meta.insert(REVISION, c.revision)
                .map_err(|e| StoreError::embedded("write meta", e))?;
        }
        if c.compacted != before.compacted {
            meta.insert(COMPACTED, c.compacted)
                .map_err(|e| StoreError::embedded("write meta", e))?;
        }
        if c.revision == before.revision && c.compacted == before.compacted {
            // Nothing changed (every op was refused): no commit, no fsync.
            drop((items, log, meta));
            txn.abort()
                .map_err(|e| StoreError::embedded("abort write", e))?;
            return Ok(Applied {
                outcomes,
                events,
                revision: c.revision,
            });
        }
    }
    txn.commit()
        .map_err(|e| StoreError::embedded("commit", e))?;
    Ok(Applied {
        outcomes,
        events,
        revision: c.revision,
    })
}

type ItemsTable<'t> = Table<'t, &'static str, &'static [u8]>;
type LogTable<'t> = Table<'t, u64, &'static [u8]>;

/// Applies one op. The outer `Result` is a storage failure (aborts the
/// batch), the inner one the op's own answer.
fn apply(
    op: Op,
    c: &mut Counters,
    items: &mut ItemsTable<'_>,
    log: &mut LogTable<'_>,
    events: &mut Vec<Event>,
) -> Result<Result<Revision>> {
    let current = |items: &ItemsTable<'_>, key: &str| -> Result<Option<Item>> {
        let v = items
            .get(key)
            .map_err(|e| StoreError::embedded("read item", e))?;
        v.map(|v| codec::decode_item(key, v.value())).transpose()
    };
    let event = match op {
        Op::Create { key, value } => {
            if let Some(old) = current(items, &key)? {
                return Ok(Err(StoreError::AlreadyExists {
                    key,
                    mod_revision: old.mod_revision,
                }));
            }
            let rev = c.revision + 1;
            Event::Put {
                item: Item {
                    key,
                    value,
                    create_revision: rev,
                    mod_revision: rev,
                },
                prev: None,
            }
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let Some(old) = current(items, &key)? else {
                return Ok(Err(StoreError::NotFound { key }));
            };
            if old.mod_revision != expected {
                return Ok(Err(StoreError::Conflict {
                    key,
                    expected,
                    current: old.mod_revision,
                }));
            }
            Event::Put {
                item: Item {
                    key,
                    value,
                    create_revision: old.create_revision,
                    mod_revision: c.revision + 1,
                },
                prev: Some(old),
            }
        }
        Op::Delete { key, expected } => {
            let Some(old) = current(items, &key)? else {
                return Ok(Err(StoreError::NotFound { key }));
            };
            if let Some(expected) = expected
                && old.mod_revision != expected
            {
                return Ok(Err(StoreError::Conflict {
                    key,
                    expected,
                    current: old.mod_revision,
                }));
            }
            Event::Delete {
                key,
                revision: c.revision + 1,
                prev: Some(old),
            }
        }
        Op::Compact { revision } => {
            if revision > c.revision {
                return Ok(Err(StoreError::FutureRevision {
                    requested: revision,
                    current: c.revision,
                }));
            }
            if revision > c.compacted {
                compact_log(log, c, revision)?;
            }
            return Ok(Ok(c.compacted));
        }
    };
    let rev = c.revision + 1;
    match &event {
        Event::Put { item, .. } => {
            let rec = codec::encode_item(item.create_revision, rev, &item.value);
            items
                .insert(item.key.as_str(), rec.as_slice())
                .map_err(|e| StoreError::embedded("write item", e))?;
        }
        Event::Delete { key, .. } => {
            items
                .remove(key.as_str())
                .map_err(|e| StoreError::embedded("delete item", e))?;
        }
    }
    log.insert(rev, codec::encode_event(&event).as_slice())
        .map_err(|e| StoreError::embedded("append log", e))?;
    c.revision = rev;
    events.push(event);
    Ok(Ok(rev))
}

/// Drops the log records up to and including `upto`.
fn compact_log(log: &mut LogTable<'_>, c: &mut Counters, upto: Revision) -> Result<()> {
    log.retain_in(c.compacted + 1..=upto, |_, _| false)
        .map_err(|e| StoreError::embedded("compact log", e))?;
    c.compacted = upto;
    Ok(())
}
