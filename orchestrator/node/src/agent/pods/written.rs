//! [`Written`]: the agent's own status writes, so that their watch events
//! do not queue the pod again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_api::Pod;

/// The resourceVersion of the agent's own last status write, per pod uid:
/// the watch event of that write changes nothing the worker acts on, so
/// it does not queue the pod again ([`Written::is_echo`]).
#[derive(Debug, Clone, Default)]
pub struct Written(Arc<Mutex<HashMap<String, String>>>);

impl Written {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `new` is the agent's own status write over `old` (the same
    /// spec and metadata but for the resourceVersion).
    pub fn is_echo(&self, old: &Pod, new: &Pod) -> bool {
        if old.spec != new.spec {
            return false;
        }
        let mut meta = old.metadata.clone();
        meta.resource_version
            .clone_from(&new.metadata.resource_version);
        meta == new.metadata
            && self.lock().get(&new.metadata.uid) == Some(&new.metadata.resource_version)
    }

    pub(super) fn record(&self, pod: &Pod) {
        self.lock().insert(
            pod.metadata.uid.clone(),
            pod.metadata.resource_version.clone(),
        );
    }

    pub(super) fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }
}
