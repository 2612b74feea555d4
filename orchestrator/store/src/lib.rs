//! Berth's control-plane storage: a revisioned key-value store with watch,
//! the model of etcd's v3 API, knowing nothing of kinds.
//!
//! - Keys are strings (`/registry/services/default/web`), values are bytes.
//! - Every mutation gets the next cluster-wide revision, strictly
//!   increasing. An [`Item`] carries the revision that created it and the one
//!   that last modified it; `mod_revision` is its resourceVersion, and
//!   [`Store::update`] / [`Store::delete`] compare-and-swap on it.
//! - [`Store::list`] returns a consistent snapshot and its revision;
//!   [`Store::watch`] from that revision yields every later change under the
//!   prefix in revision order, each exactly once. A watch that stops can be
//!   resumed from the last revision it delivered with nothing missed or
//!   repeated.
//! - History is finite: after [`Store::compact`] (automatic on the embedded
//!   backend, which keeps the latest N revisions) a watch from an older
//!   revision fails with [`StoreError::Compacted`], "too old, list again".
//!
//! Two backends implement [`Store`]:
//!
//! - [`EmbeddedStore`]: one redb file (pure Rust, crash-safe), the default.
//!   One writer thread group-commits concurrent mutations; every mutation is
//!   durable before its call returns.
//! - [`EtcdStore`]: etcd v3, for scale-out; revisions are etcd's own.
//!
//! One conformance suite (`tests/conformance`) runs against both, the etcd
//! one against a real etcd started on loopback.

mod embedded;
mod error;
mod etcd;
mod item;
mod store;
mod watch;

pub use bytes::Bytes;
pub use embedded::{EmbeddedOptions, EmbeddedStore};
pub use error::{Result, StoreError};
pub use etcd::{EtcdOptions, EtcdStore};
pub use item::{Event, Item, Revision};
pub use store::Store;
pub use watch::WatchStream;
