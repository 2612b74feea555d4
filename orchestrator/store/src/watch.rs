//! [`WatchStream`]: what [`Store::watch`](crate::Store::watch) returns.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::stream::{BoxStream, StreamExt as _};

use crate::{Event, Result};

/// A stream of [`Event`]s in strictly increasing revision order.
///
/// It ends after yielding an error (for example
/// [`Compacted`](crate::StoreError::Compacted) or
/// [`Closed`](crate::StoreError::Closed)); restart it from the revision of
/// the last event received. Dropping it cancels the watch.
pub struct WatchStream {
    inner: BoxStream<'static, Result<Event>>,
}

impl WatchStream {
    /// Wraps any stream of events; backends build theirs with this.
    pub fn new(inner: impl Stream<Item = Result<Event>> + Send + 'static) -> Self {
        Self {
            inner: inner.boxed(),
        }
    }

    /// The next event, or `None` when the stream has ended.
    pub async fn next_event(&mut self) -> Option<Result<Event>> {
        self.inner.next().await
    }
}

impl Stream for WatchStream {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}

/// The per-watch state machine both backends drive: a queue of decoded
/// events ahead of the consumer, and an end after the first error.
pub(crate) trait EventSource: Send + 'static {
    /// Fetches more events into `out` (possibly none); an error ends the
    /// watch after it is yielded.
    fn fill(
        &mut self,
        out: &mut std::collections::VecDeque<Event>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Turns an [`EventSource`] into a [`WatchStream`].
pub(crate) fn from_source(source: impl EventSource) -> WatchStream {
    struct State<S> {
        source: S,
        queue: std::collections::VecDeque<Event>,
        // Yielded after the events queued before it, then the stream ends.
        error: Option<crate::StoreError>,
        done: bool,
    }
    let state = State {
        source,
        queue: Default::default(),
        error: None,
        done: false,
    };
    WatchStream::new(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.queue.pop_front() {
                return Some((Ok(ev), st));
            }
            if let Some(e) = st.error.take() {
                st.done = true;
                return Some((Err(e), st));
            }
            if st.done {
                return None;
            }
            if let Err(e) = st.source.fill(&mut st.queue).await {
                st.error = Some(e);
            }
        }
    }))
}
