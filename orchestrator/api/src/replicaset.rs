//! ReplicaSets: a number of pods stamped from one template, kept running
//! by the replica set controller (what a Deployment's rollouts manage).

use serde::{Deserialize, Serialize};

use crate::deployment::DEFAULT_REPLICAS;
use crate::macros::is_default;
use crate::meta::{ApiVersion, KindTag, ObjectMeta};
use crate::pod::PodTemplateSpec;
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::selector::LabelSelector;
use crate::validate::FieldErrors;

/// A ReplicaSet (`apiVersion: apps/v1`, `kind: ReplicaSet`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ReplicaSet {
    /// `apps/v1`.
    pub api_version: ApiVersion<ReplicaSet>,
    /// `ReplicaSet`.
    pub kind: KindTag<ReplicaSet>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    pub spec: ReplicaSetSpec,
    /// The observed state (written by the replica set controller).
    #[serde(skip_serializing_if = "is_default")]
    pub status: ReplicaSetStatus,
}

impl ResourceFields for ReplicaSet {
    fn default_fields(&mut self) {
        self.spec.apply_defaults();
    }

    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::replicaset::validate_replica_set(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::replica_set(self, old, errs);
    }
}

resource_boilerplate!(ReplicaSet, status);

/// The desired state of a ReplicaSet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ReplicaSetSpec {
    /// How many pods (1 by default).
    pub replicas: i32,
    /// Seconds a new pod must be ready before it counts as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// Which pods belong to the ReplicaSet; must match the template's labels.
    pub selector: LabelSelector,
    /// The pods to run.
    pub template: PodTemplateSpec,
}

impl Default for ReplicaSetSpec {
    fn default() -> Self {
        Self {
            replicas: DEFAULT_REPLICAS,
            min_ready_seconds: 0,
            selector: LabelSelector::default(),
            template: PodTemplateSpec::default(),
        }
    }
}

impl ReplicaSetSpec {
    /// Applies Kubernetes' defaults: the pod template's.
    pub fn apply_defaults(&mut self) {
        self.template.spec.apply_defaults();
    }
}

/// The observed state of a ReplicaSet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplicaSetStatus {
    /// Pods (matching the selector, owned by the ReplicaSet).
    #[serde(skip_serializing_if = "is_default")]
    pub replicas: i32,
    /// Pods whose labels are the template's labels.
    #[serde(skip_serializing_if = "is_default")]
    pub fully_labeled_replicas: i32,
    /// Ready pods.
    #[serde(skip_serializing_if = "is_default")]
    pub ready_replicas: i32,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(skip_serializing_if = "is_default")]
    pub available_replicas: i32,
    /// The generation this status describes.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Object;
    use crate::resource::Resource;

    const RS: &str = r#"{
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d9c7b"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
            }
        }
    }"#;

    fn rs() -> ReplicaSet {
        let mut o = Object::from_json(RS.as_bytes()).unwrap();
        o.apply_defaults();
        o.try_into().unwrap()
    }

    #[test]
    fn defaults() {
        let rs = rs();
        assert_eq!(rs.metadata.namespace, "default");
        assert_eq!(rs.spec.replicas, 1);
        assert_eq!(rs.spec.min_ready_seconds, 0);
        let pod = &rs.spec.template.spec;
        assert_eq!(pod.termination_grace_period_seconds, 30);
        assert_eq!(
            pod.containers[0].image_pull_policy,
            Some(crate::container::PullPolicy::IfNotPresent),
            "the template is defaulted"
        );
        rs.validate().unwrap();
        assert_eq!(rs.key().path(), "replicasets/default/web-5d9c7b");
        let mut again = rs.clone();
        again.apply_defaults();
        assert_eq!(again, rs, "idempotent");
    }

    #[test]
    fn status_is_written_when_set_and_cleared() {
        let mut rs = rs();
        let json = serde_json::to_value(&rs).unwrap();
        assert!(json.get("status").is_none());
        assert!(json["spec"].get("minReadySeconds").is_none());
        rs.status = ReplicaSetStatus {
            replicas: 3,
            fully_labeled_replicas: 3,
            ready_replicas: 2,
            available_replicas: 0,
            observed_generation: 1,
        };
        let json = serde_json::to_value(&rs).unwrap();
        assert_eq!(
            json["status"],
            serde_json::json!({"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "observedGeneration": 1})
        );
        let back: ReplicaSet = serde_json::from_value(json).unwrap();
        assert_eq!(back, rs);
        rs.clear_status();
        assert_eq!(rs.status, ReplicaSetStatus::default());
    }

    #[test]
    fn validation() {
        let mut bad = rs();
        bad.spec.replicas = -1;
        bad.spec.min_ready_seconds = -5;
        bad.spec.template.spec.restart_policy = crate::pod::RestartPolicy::Never;
        bad.spec
            .template
            .metadata
            .labels
            .insert("app".to_owned(), "api".to_owned());
        let errs: Vec<String> = bad
            .validate()
            .unwrap_err()
            .errors()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0",
                r#"spec.template.metadata.labels: Invalid value: {"app":"api"}: `selector` does not match template `labels`"#,
                r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#,
            ]
        );

        let mut empty = rs();
        empty.spec.selector = LabelSelector::default();
        assert_eq!(
            empty.validate().unwrap_err().to_string(),
            "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
        );

        let mut no_containers = rs();
        no_containers.spec.template.spec.containers.clear();
        assert_eq!(
            no_containers.validate().unwrap_err().to_string(),
            "spec.template.spec.containers: Required value"
        );
    }

    #[test]
    fn update_keeps_the_selector() {
        let old = rs();
        let mut new = old.clone();
        new.spec.replicas = 5;
        new.spec.template.spec.containers[0].image = "nginx:1.26".to_owned();
        new.validate_update(&old).unwrap();
        new.spec
            .selector
            .match_labels
            .insert("tier".to_owned(), "front".to_owned());
        new.spec
            .template
            .metadata
            .labels
            .insert("tier".to_owned(), "front".to_owned());
        assert_eq!(
            new.validate_update(&old).unwrap_err().to_string(),
            r#"spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"front"}}: field is immutable"#
        );
    }
}
