//! Store events as API watch events.

use std::pin::Pin;

use berth_client::proto::WatchEvent;
use berth_client::proto::watch_event::Type;
use berth_store::{Event, WatchStream};
use tokio_stream::{Stream, StreamExt as _};
use tonic::Status;

use super::service::decode_stored;

/// What `Watch` streams to the client.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, Status>> + Send>>;

fn convert(event: berth_store::Result<Event>) -> Result<WatchEvent, Status> {
    let event = event.map_err(|e| {
        if e.is_compacted() {
            Status::out_of_range(e.to_string())
        } else {
            Status::unavailable(format!("watch: {e}"))
        }
    })?;
    let (kind, item, revision) = match &event {
        Event::Put { item, prev } => {
            let t = if prev.is_some() {
                Type::Modified
            } else {
                Type::Added
            };
            (t, item.clone(), item.mod_revision)
        }
        Event::Delete {
            revision,
            prev,
            key,
        } => {
            let prev = prev.clone().ok_or_else(|| {
                Status::internal(format!("delete of {key} without its last state"))
            })?;
            (Type::Deleted, prev, *revision)
        }
    };
    let mut obj = decode_stored(&item)?;
    obj.metadata_mut().resource_version = revision.to_string();
    let object_json = obj
        .to_json()
        .map_err(|e| Status::internal(format!("encoding {}: {e}", obj.key())))?;
    Ok(WatchEvent {
        r#type: kind as i32,
        object_json,
        resource_version: revision,
    })
}

/// The events of `stream` until `refused` completes; then its status, which
/// ends the call.
pub(super) fn until(
    stream: EventStream,
    refused: impl std::future::Future<Output = Status> + Send + 'static,
) -> EventStream {
    let last = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = last.clone();
    let stop = async move {
        let status = refused.await;
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(status);
    };
    let tail = futures_util::stream::once(async move {
        last.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    });
    Box::pin(futures_util::StreamExt::take_until(stream, stop).chain(
        futures_util::StreamExt::filter_map(tail, |s| async move { s.map(Err) }),
    ))
}

/// The events of `stream` until `draining` turns true.
pub(super) fn events(
    stream: WatchStream,
    mut draining: tokio::sync::watch::Receiver<bool>,
) -> EventStream {
    let stop = async move {
        let _ = draining.wait_for(|d| *d).await;
    };
    Box::pin(futures_util::StreamExt::take_until(
        stream.map(convert),
        stop,
    ))
}
