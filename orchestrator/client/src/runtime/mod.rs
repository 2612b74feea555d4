//! The controller runtime, in the kube-rs mould: caches fed by list +
//! watch ([`berth_client::cache`]), a deduplicating work queue that never
//! hands one key to two workers, and level-triggered reconcilers returning
//! an [`Action`].

mod controller;
mod queue;

pub use controller::{Action, ObjectRef, Reconciler, run};
pub use queue::{BACKOFF_MAX, BACKOFF_MIN, Queue};
