//! What a pod's environment and volumes read from the API.

use std::collections::BTreeMap;

use berth_api::{ConfigMap, Pod, Secret};

use super::{PodWorker, api};
use crate::agent::AgentError;
use crate::agent::spec::EnvSources;
use crate::agent::volumes::VolumeSources;
use crate::runtime::Runtime;

impl<R: Runtime> PodWorker<R> {
    /// The ConfigMaps and Secrets `pod`'s environment and volumes name,
    /// read from the API (missing ones are left out).
    pub(super) async fn sources(
        &self,
        pod: &Pod,
    ) -> Result<(EnvSources, VolumeSources), AgentError> {
        let ns = &pod.metadata.namespace;
        let (cms, secrets) = pod.config_maps_and_secrets();
        let mut env = EnvSources::default();
        let mut vols = VolumeSources::default();
        for name in cms {
            if let Some(cm) = self
                .client
                .get::<ConfigMap>(ns, &name)
                .await
                .map_err(api(format!("reading configmap {ns}/{name}")))?
            {
                let mut bytes: BTreeMap<String, Vec<u8>> = cm
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                    .collect();
                for (k, v) in &cm.binary_data {
                    bytes.insert(k.clone(), v.0.clone());
                }
                env.config_maps.insert(name.clone(), cm.data.clone());
                vols.config_maps.insert(name, bytes);
            }
        }
        for name in secrets {
            if let Some(s) = self
                .client
                .get::<Secret>(ns, &name)
                .await
                .map_err(api(format!("reading secret {ns}/{name}")))?
            {
                let bytes: BTreeMap<String, Vec<u8>> = s
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                env.secrets.insert(
                    name.clone(),
                    bytes
                        .iter()
                        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                        .collect(),
                );
                vols.secrets.insert(name, bytes);
            }
        }
        Ok((env, vols))
    }
}
