//! Events for what users need to know (scheduled, failed to schedule,
//! scaled, node not ready), written in the background so that a reconcile
//! never waits for them.

use berth_api::event::{EventSource, EventType};
use berth_api::meta::ObjectReference;
use berth_api::{Event, ObjectMeta, Resource, Time};
use berth_client::Client;

use super::names;

/// Writes Events as one component (`deployment-controller`, `default-scheduler`).
#[derive(Debug, Clone)]
pub struct Recorder {
    client: Client,
    component: &'static str,
}

impl Recorder {
    /// A recorder for `component`.
    pub fn new(client: Client, component: &'static str) -> Self {
        Self { client, component }
    }

    /// A `Normal` event about `obj`.
    pub fn normal<R: Resource>(&self, obj: &R, reason: &str, message: String) {
        self.emit(ObjectReference::to(obj), EventType::Normal, reason, message);
    }

    /// A `Warning` event about `obj`.
    pub fn warning<R: Resource>(&self, obj: &R, reason: &str, message: String) {
        self.emit(
            ObjectReference::to(obj),
            EventType::Warning,
            reason,
            message,
        );
    }

    /// An event about the object `involved`.
    pub fn emit(&self, involved: ObjectReference, type_: EventType, reason: &str, message: String) {
        let now = Time::now();
        let namespace = if involved.namespace.is_empty() {
            berth_api::DEFAULT_NAMESPACE.to_owned()
        } else {
            involved.namespace.clone()
        };
        let name = format!("{}.{:016x}", involved.name, names::random_u64());
        let event = Event {
            metadata: ObjectMeta::named(&namespace, &name),
            involved_object: involved,
            reason: reason.to_owned(),
            message,
            source: EventSource {
                component: self.component.to_owned(),
                host: String::new(),
            },
            first_timestamp: Some(now.truncated()),
            last_timestamp: Some(now.truncated()),
            count: 1,
            type_,
            reporting_component: self.component.to_owned(),
            ..Event::default()
        };
        tracing::info!(
            component = self.component,
            object = %format!("{}/{}", event.involved_object.namespace, event.involved_object.name),
            reason,
            message = %event.message,
            "event"
        );
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.create(&event).await {
                tracing::debug!(error = %e, "writing an event");
            }
        });
    }
}
