//! Stopping pods: a sandbox and its containers, and a deleted pod's end.

use std::time::Duration;

use berth_api::event::EventType;
use berth_api::{Kind, Pod, Time};
use berth_client::DeleteOptions;

use super::{PodWorker, api, rt};
use crate::agent::{AgentError, volumes};
use crate::runtime::{ContainerState, Runtime, SandboxInfo};

impl<R: Runtime> PodWorker<R> {
    /// Stops and removes a sandbox and its containers (SIGTERM, then SIGKILL
    /// after `grace`).
    pub(super) async fn teardown(
        &self,
        sb: &SandboxInfo,
        grace: Duration,
    ) -> Result<(), AgentError> {
        let what = format!("pod {}/{}", sb.namespace, sb.name);
        let containers = self
            .runtime
            .list_containers(Some(&sb.id))
            .await
            .map_err(rt(format!("listing the containers of {what}")))?;
        let stops = containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| self.runtime.stop_container(&c.id, grace));
        for r in futures_util::future::join_all(stops).await {
            r.map_err(rt(format!("stopping a container of {what}")))?;
        }
        for c in &containers {
            self.runtime
                .remove_container(&c.id)
                .await
                .map_err(rt(format!("removing a container of {what}")))?;
            self.probes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&c.id);
        }
        self.runtime
            .stop_sandbox(&sb.id)
            .await
            .map_err(rt(format!("stopping the sandbox of {what}")))?;
        self.runtime
            .remove_sandbox(&sb.id)
            .await
            .map_err(rt(format!("removing the sandbox of {what}")))?;
        Ok(())
    }

    /// Ends a pod being deleted: its containers stopped within what is
    /// left of its grace period, its volumes removed, then the Pod deleted
    /// for good.
    pub(super) async fn finish_deletion(
        &self,
        pod: &Pod,
        sandboxes: &[SandboxInfo],
    ) -> Result<(), AgentError> {
        let left = pod
            .metadata
            .deletion_timestamp
            .map(|t| t.unix_seconds() - Time::now().unix_seconds())
            .unwrap_or(0)
            .max(0) as u64;
        for sb in sandboxes.iter().filter(|s| s.uid == pod.metadata.uid) {
            self.event(
                pod,
                EventType::Normal,
                "Killing",
                "",
                format!(
                    "Stopping pod {}/{} (grace {left} s)",
                    pod.metadata.namespace, pod.metadata.name
                ),
            );
            self.teardown(sb, Duration::from_secs(left)).await?;
        }
        volumes::remove(&self.config.state_dir, &pod.metadata.uid);
        self.forget(&pod.metadata.uid);
        let opts = DeleteOptions {
            resource_version: 0,
            grace_period_seconds: Some(0),
        };
        match self
            .client
            .delete(Kind::Pod, &pod.metadata.namespace, &pod.metadata.name, opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api(format!(
                "deleting pod {}/{}",
                pod.metadata.namespace, pod.metadata.name
            ))(e)),
        }
    }
}
