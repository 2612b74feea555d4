//! The etcd backend: the same model on an etcd v3 cluster, for scale-out.
//!
//! Keys live under a configurable prefix (so several stores can share one
//! etcd); revisions are etcd's own. Each mutation is one etcd transaction:
//! a compare (create_revision == 0, or mod_revision == expected) guarding
//! the write, with a read of the key in the else branch to name the current
//! revision in a conflict. Lists are paged at one pinned revision.

mod convert;
mod watcher;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, KvClient, TxnOp, TxnOpResponse,
    WatchClient, WatchOptions,
};
use futures_util::future::BoxFuture;

use crate::error::check_key;
use crate::{Item, Result, Revision, Store, StoreError, WatchStream};
use convert::{item_from_kv, prefix_range, rev_i64, rev_u64};

/// Largest gRPC message accepted from etcd: a watch response can batch many
/// events (each with its previous value).
const MAX_MESSAGE: usize = 64 << 20;

/// Where the etcd backend connects and how it lays out keys.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    endpoints: Vec<String>,
    prefix: String,
    page_size: i64,
    connect_timeout: Duration,
}

impl EtcdOptions {
    /// etcd client URLs, e.g. `http://127.0.0.1:2379`.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            prefix: String::new(),
            page_size: 1000,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Stored keys are `prefix + key`. Default: none.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Items per etcd range request while listing. Default 1,000.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = i64::from(n.max(1));
        self
    }

    /// How long to wait for a connection. Default 5 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
}

/// The etcd [`Store`].
#[derive(Clone)]
pub struct EtcdStore {
    kv: KvClient,
    watch: WatchClient,
    prefix: String,
    page_size: i64,
    endpoints: String,
}

impl EtcdStore {
    /// Connects to etcd.
    pub async fn connect(options: EtcdOptions) -> Result<Self> {
        let endpoints = options.endpoints.join(",");
        let client = Client::connect(
            &options.endpoints,
            Some(
                ConnectOptions::new()
                    .with_connect_timeout(options.connect_timeout)
                    .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5)),
            ),
        )
        .await
        .map_err(|e| StoreError::etcd(format!("connect to {endpoints}"), e))?;
        Ok(Self {
            kv: client.kv_client().max_decoding_message_size(MAX_MESSAGE),
            watch: client.watch_client().max_decoding_message_size(MAX_MESSAGE),
            prefix: options.prefix,
            page_size: options.page_size,
            endpoints,
        })
    }

    fn full(&self, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(self.prefix.as_bytes());
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// Runs a guarded write: `when` holds → `then`; else the key is read.
    /// Returns the new revision, or the key's current item (None: absent).
    async fn guarded(
        &self,
        key: &str,
        when: Vec<Compare>,
        then: TxnOp,
        what: &str,
    ) -> Result<std::result::Result<Revision, Option<Item>>> {
        let full = self.full(key);
        let txn = etcd_client::Txn::new()
            .when(when)
            .and_then([then])
            .or_else([TxnOp::get(full, None)]);
        let resp = self
            .kv
            .clone()
            .txn(txn)
            .await
            .map_err(|e| StoreError::etcd(format!("{what} {key:?}"), e))?;
        if resp.succeeded() {
            return Ok(Ok(rev_u64(resp.header().map_or(0, |h| h.revision()))));
        }
        let current = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().cloned(),
            _ => None,
        });
        Ok(Err(current
            .map(|kv| item_from_kv(&self.prefix, &kv))
            .transpose()?))
    }
}

impl Store for EtcdStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        Box::pin(async move {
            check_key(key)?;
            let resp = self
                .kv
                .clone()
                .get(self.full(key), None)
                .await
                .map_err(|e| StoreError::etcd(format!("get {key:?}"), e))?;
            resp.kvs()
                .first()
                .map(|kv| item_from_kv(&self.prefix, kv))
                .transpose()
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(Vec<Item>, Revision)>> {
        Box::pin(async move {
            let (mut start, end) = prefix_range(&self.full(prefix));
            let mut revision = 0i64;
            let mut out = Vec::new();
            loop {
                let mut opts = GetOptions::new()
                    .with_range(end.clone())
                    .with_limit(self.page_size);
                if revision != 0 {
                    // Later pages read the first page's snapshot.
                    opts = opts.with_revision(revision);
                }
                let resp = self
                    .kv
                    .clone()
                    .get(start.clone(), Some(opts))
                    .await
                    .map_err(|e| {
                        StoreError::etcd(format!("list {prefix:?} at revision {revision}"), e)
                    })?;
                if revision == 0 {
                    revision = resp.header().map_or(0, |h| h.revision());
                }
                for kv in resp.kvs() {
                    out.push(item_from_kv(&self.prefix, kv)?);
                }
                match resp.kvs().last() {
                    Some(last) if resp.more() => {
                        start = last.key().to_vec();
                        start.push(0);
                    }
                    _ => break,
                }
            }
            Ok((out, rev_u64(revision)))
        })
    }

    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<Revision>> {
        Box::pin(async move {
            check_key(key)?;
            let full = self.full(key);
            let when = vec![Compare::create_revision(full.clone(), CompareOp::Equal, 0)];
            match self
                .guarded(key, when, TxnOp::put(full, value.to_vec(), None), "create")
                .await?
            {
                Ok(rev) => Ok(rev),
                Err(cur) => Err(StoreError::AlreadyExists {
                    key: key.to_owned(),
                    mod_revision: cur.map_or(0, |i| i.mod_revision),
                }),
            }
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
            let full = self.full(key);
            let when = vec![
                // A missing key has mod_revision 0: make sure it exists.
                Compare::version(full.clone(), CompareOp::Greater, 0),
                Compare::mod_revision(full.clone(), CompareOp::Equal, rev_i64(expected)),
            ];
            match self
                .guarded(key, when, TxnOp::put(full, value.to_vec(), None), "update")
                .await?
            {
                Ok(rev) => Ok(rev),
                Err(None) => Err(StoreError::NotFound {
                    key: key.to_owned(),
                }),
                Err(Some(cur)) => Err(StoreError::Conflict {
                    key: key.to_owned(),
                    expected,
                    current: cur.mod_revision,
                }),
            }
        })
    }

    fn delete<'a>(
        &'a self,
        key: &'a str,
        expected: Option<Revision>,
    ) -> BoxFuture<'a, Result<Revision>> {
        Box::pin(async move {
            check_key(key)?;
            let full = self.full(key);
            let mut when = vec![Compare::version(full.clone(), CompareOp::Greater, 0)];
            if let Some(e) = expected {
                when.push(Compare::mod_revision(
                    full.clone(),
                    CompareOp::Equal,
                    rev_i64(e),
                ));
            }
            match self
                .guarded(key, when, TxnOp::delete(full, None), "delete")
                .await?
            {
                Ok(rev) => Ok(rev),
                Err(None) => Err(StoreError::NotFound {
                    key: key.to_owned(),
                }),
                Err(Some(cur)) => Err(StoreError::Conflict {
                    key: key.to_owned(),
                    expected: expected.unwrap_or(0),
                    current: cur.mod_revision,
                }),
            }
        })
    }

    fn watch<'a>(&'a self, prefix: &'a str, from: Revision) -> BoxFuture<'a, Result<WatchStream>> {
        Box::pin(async move {
            let (start, end) = prefix_range(&self.full(prefix));
            let opts = WatchOptions::new()
                .with_range(end)
                .with_start_revision(rev_i64(from.saturating_add(1)))
                .with_prev_key();
            let stream = self
                .watch
                .clone()
                .watch(start, Some(opts))
                .await
                .map_err(|e| {
                    StoreError::etcd(format!("watch {prefix:?} after revision {from}"), e)
                })?;
            watcher::start(stream, self.prefix.clone(), prefix.to_owned(), from).await
        })
    }

    fn compact(&self, revision: Revision) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match self.kv.clone().compact(rev_i64(revision), None).await {
                Ok(_) => Ok(()),
                Err(e) if convert::is_compacted(&e) => Ok(()),
                Err(e) if convert::is_future_revision(&e) => Err(StoreError::FutureRevision {
                    requested: revision,
                    current: self.current_revision().await?,
                }),
                Err(e) => Err(StoreError::etcd(
                    format!("compact at revision {revision}"),
                    e,
                )),
            }
        })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<Revision>> {
        Box::pin(async move {
            // A count-only read of one key: cheap, and its header carries the
            // store's revision.
            let resp = self
                .kv
                .clone()
                .get(self.full("/"), Some(GetOptions::new().with_count_only()))
                .await
                .map_err(|e| StoreError::etcd("read the current revision", e))?;
            Ok(rev_u64(resp.header().map_or(0, |h| h.revision())))
        })
    }
}

impl fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
