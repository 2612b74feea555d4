//! Writing a pod's status.

use berth_api::Pod;

use super::{PodWorker, api};
use crate::agent::AgentError;
use crate::runtime::Runtime;

impl<R: Runtime> PodWorker<R> {
    /// Writes `status` if it differs from what the API has; `false` when
    /// the pod changed meanwhile (look again soon: the change may be the
    /// agent's own earlier write, whose event does not queue the pod).
    pub(super) async fn report(
        &self,
        pod: &Pod,
        status: berth_api::pod::PodStatus,
    ) -> Result<bool, AgentError> {
        if status == pod.status {
            return Ok(true);
        }
        let mut updated = pod.clone();
        updated.status = status;
        match self.client.update_status(&updated).await {
            Ok(p) => {
                self.written.record(&p);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            // Gone: the deletion queues it again.
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(api(format!(
                "reporting the status of pod {}/{}",
                pod.metadata.namespace, pod.metadata.name
            ))(e)),
        }
    }
}
