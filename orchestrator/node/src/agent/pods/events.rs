//! Events the agent writes about a pod, each (pod, reason, container) once.

use berth_api::event::EventType;
use berth_api::meta::ObjectReference;
use berth_api::{Pod, Time};

use super::{PodWorker, now_ns};
use crate::runtime::Runtime;

impl<R: Runtime> PodWorker<R> {
    /// Writes an Event about `pod`, once per (pod, `reason`, `container`),
    /// in the background.
    pub(super) fn event(
        &self,
        pod: &Pod,
        type_: EventType,
        reason: &str,
        container: &str,
        message: String,
    ) {
        let key = (
            pod.metadata.uid.clone(),
            reason.to_owned(),
            container.to_owned(),
        );
        if !self
            .told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
        {
            return;
        }
        let mut ev = berth_api::Event {
            involved_object: ObjectReference::to(pod),
            reason: reason.into(),
            message,
            type_,
            count: 1,
            first_timestamp: Some(Time::now().truncated()),
            last_timestamp: Some(Time::now().truncated()),
            reporting_component: "berth-agent".into(),
            reporting_instance: self.config.node_name.clone(),
            ..berth_api::Event::default()
        };
        ev.source.component = "berth-agent".into();
        ev.source.host = self.config.node_name.clone();
        ev.metadata = berth_api::ObjectMeta::named(
            &pod.metadata.namespace,
            &format!("{}.{:x}", pod.metadata.name, now_ns()),
        );
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.create(&ev).await {
                tracing::debug!(error = %e, "writing an event");
            }
        });
    }

    /// Forgets what was written and told of pod `uid`.
    pub(super) fn forget(&self, uid: &str) {
        self.written.forget(uid);
        self.told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(u, _, _)| u != uid);
    }
}
