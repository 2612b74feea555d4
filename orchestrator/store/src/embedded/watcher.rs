//! One embedded watch: history from the log, then live batches from the
//! writer's broadcast, switching back to the log whenever it lags.
//!
//! The watcher subscribes to the broadcast *before* reading the log, so every
//! commit is either in the log snapshot or in the broadcast (or both: the
//! overlap is skipped by revision). It remembers the last revision it has
//! looked at (`seen`, of any key); a broadcast batch must continue exactly
//! from there, so a gap (after the bounded broadcast dropped batches for a
//! slow consumer) sends it back to the log. Memory per watcher stays bounded:
//! at most one log chunk or one batch is queued.

use std::collections::VecDeque;
use std::sync::Arc;

use redb::Database;
use tokio::sync::broadcast::{self, error::RecvError};

use super::tables;
use super::writer::Batch;
use crate::watch::EventSource;
use crate::{Event, Result, Revision, StoreError};

/// How many log records one history read looks at.
const CHUNK: usize = 1024;

pub(crate) struct Watcher {
    pub(crate) db: Arc<Database>,
    pub(crate) live: broadcast::Receiver<Batch>,
    pub(crate) prefix: Arc<str>,
    /// Every revision up to this one has been looked at.
    pub(crate) seen: Revision,
    /// Reading history (true) or following the broadcast (false).
    pub(crate) catching_up: bool,
}

impl EventSource for Watcher {
    async fn fill(&mut self, out: &mut VecDeque<Event>) -> Result<()> {
        if self.catching_up {
            let (db, prefix, after) = (self.db.clone(), self.prefix.clone(), self.seen);
            let chunk =
                super::blocking(move || tables::read_log(&db, &prefix, after, CHUNK)).await?;
            out.extend(chunk.events);
            self.seen = chunk.scanned_to;
            if self.seen >= chunk.head {
                self.catching_up = false;
            }
            return Ok(());
        }
        match self.live.recv().await {
            Ok(batch) => {
                for ev in batch.iter() {
                    let rev = ev.revision();
                    if rev <= self.seen {
                        continue;
                    }
                    if rev != self.seen + 1 {
                        // Missed something: read it from the log.
                        self.catching_up = true;
                        break;
                    }
                    self.seen = rev;
                    if ev.key().starts_with(&*self.prefix) {
                        out.push_back(ev.clone());
                    }
                }
                Ok(())
            }
            Err(RecvError::Lagged(n)) => {
                tracing::debug!(
                    prefix = %self.prefix,
                    seen = self.seen,
                    dropped_batches = n,
                    "embedded watch fell behind the live buffer; reading history"
                );
                self.catching_up = true;
                Ok(())
            }
            Err(RecvError::Closed) => Err(StoreError::Closed {
                what: format!(
                    "embedded store dropped while watching {:?} after revision {}",
                    self.prefix, self.seen
                ),
            }),
        }
    }
}
