//! Where names outside the cluster zone go.

use std::future::Future;
use std::pin::Pin;

use hickory_proto::op::Message;

/// A boxed future returned by [`Upstream::forward`].
pub type ForwardFuture<'a> = Pin<Box<dyn Future<Output = Message> + Send + 'a>>;

/// Resolves queries the cluster zone does not own (the forwarder, or a fake
/// in tests). Implementations answer every query — SERVFAIL when nothing
/// upstream can — and never hang.
pub trait Upstream: Send + Sync + std::fmt::Debug {
    /// The response to `query`, with its id and question.
    fn forward<'a>(&'a self, query: &'a Message) -> ForwardFuture<'a>;

    /// Extra lines for `/metrics` (Prometheus text format).
    fn metrics(&self) -> String {
        String::new()
    }
}
