//! One etcd watch, mapped onto [`Event`]s.
//!
//! etcd sends the events at revisions >= start_revision in order, each once,
//! with the previous value (prev_kv). A watch whose start was compacted (at
//! once, or later for a watcher that fell that far behind) is canceled by
//! etcd with `compact_revision` set: that becomes
//! [`StoreError::Compacted`].

use std::collections::VecDeque;

use etcd_client::{EventType, WatchResponse};

use super::convert::{item_from_kv, key_of, rev_u64};
use crate::watch::EventSource;
use crate::{Event, Result, Revision, StoreError, WatchStream};

struct Watcher {
    stream: etcd_client::WatchStream,
    /// The store's key prefix in etcd.
    store_prefix: String,
    /// The watched prefix, for messages.
    prefix: String,
    /// The last revision delivered (or the one the watch started after).
    seen: Revision,
    /// A response read while starting that still has to be handled.
    first: Option<WatchResponse>,
}

/// Waits for etcd to confirm the watch, then streams its events.
pub(crate) async fn start(
    stream: etcd_client::WatchStream,
    store_prefix: String,
    prefix: String,
    from: Revision,
) -> Result<WatchStream> {
    let mut w = Watcher {
        stream,
        store_prefix,
        prefix,
        seen: from,
        first: None,
    };
    let resp = w.message().await?;
    if let Some(e) = w.cancel_error(&resp) {
        return Err(e);
    }
    if !resp.events().is_empty() {
        w.first = Some(resp);
    }
    Ok(crate::watch::from_source(w))
}

impl Watcher {
    fn handle(&mut self, resp: WatchResponse, out: &mut VecDeque<Event>) -> Result<()> {
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let rev = rev_u64(kv.mod_revision());
            if rev < self.seen {
                tracing::warn!(
                    rev,
                    seen = self.seen,
                    "etcd watch: revision went back; skipped"
                );
                continue;
            }
            let prev = ev
                .prev_kv()
                .map(|p| item_from_kv(&self.store_prefix, p))
                .transpose()?;
            out.push_back(match ev.event_type() {
                EventType::Put => Event::Put {
                    item: item_from_kv(&self.store_prefix, kv)?,
                    prev,
                },
                EventType::Delete => Event::Delete {
                    key: key_of(&self.store_prefix, kv.key())?,
                    revision: rev,
                    prev,
                },
            });
            self.seen = rev;
        }
        match self.cancel_error(&resp) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The error a canceled watch ends with.
    fn cancel_error(&self, resp: &WatchResponse) -> Option<StoreError> {
        let compact = rev_u64(resp.compact_revision());
        if compact > 0 {
            return Some(StoreError::Compacted {
                requested: self.seen,
                // etcd keeps the events at its compact revision itself.
                oldest: compact - 1,
            });
        }
        resp.canceled().then(|| StoreError::WatchCanceled {
            prefix: self.prefix.clone(),
            revision: self.seen,
            reason: resp.cancel_reason().to_owned(),
        })
    }

    async fn message(&mut self) -> Result<WatchResponse> {
        match self.stream.message().await {
            Ok(Some(resp)) => Ok(resp),
            Ok(None) => Err(StoreError::Closed {
                what: format!(
                    "etcd ended the watch of {:?} after revision {}",
                    self.prefix, self.seen
                ),
            }),
            Err(e) => Err(StoreError::etcd(
                format!("watch {:?} after revision {}", self.prefix, self.seen),
                e,
            )),
        }
    }
}

impl EventSource for Watcher {
    async fn fill(&mut self, out: &mut VecDeque<Event>) -> Result<()> {
        let resp = match self.first.take() {
            Some(r) => r,
            None => self.message().await?,
        };
        self.handle(resp, out)
    }
}
