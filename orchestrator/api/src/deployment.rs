//! Deployments: a replicated pod template with rolling updates.

use serde::{Deserialize, Serialize};

use crate::intstr::IntOrString;
use crate::macros::{is_default, string_enum};
use crate::meta::{ApiVersion, ConditionStatus, KindTag, ObjectMeta};
use crate::pod::PodTemplateSpec;
use crate::resource::{ResourceFields, resource_boilerplate};
use crate::selector::LabelSelector;
use crate::time::Time;
use crate::validate::FieldErrors;

/// Replicas when none are given.
pub const DEFAULT_REPLICAS: i32 = 1;
/// Old revisions kept when no `revisionHistoryLimit` is given.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// Seconds a rollout may make no progress before it is reported stalled.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// `maxSurge` and `maxUnavailable` when not given.
pub const DEFAULT_MAX_SURGE_UNAVAILABLE: &str = "25%";

string_enum! {
    /// How old pods are replaced by new ones.
    pub enum DeploymentStrategyType {
        /// Kill all old pods before creating new ones.
        Recreate = "Recreate",
        /// Replace pods gradually, within `maxSurge` and `maxUnavailable`.
        #[default]
        RollingUpdate = "RollingUpdate",
    }
}

/// A Deployment (`apiVersion: apps/v1`, `kind: Deployment`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Deployment {
    /// `apps/v1`.
    pub api_version: ApiVersion<Deployment>,
    /// `Deployment`.
    pub kind: KindTag<Deployment>,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// The desired state.
    pub spec: DeploymentSpec,
    /// The observed state (written by the deployment controller).
    #[serde(skip_serializing_if = "is_default")]
    pub status: DeploymentStatus,
}

impl ResourceFields for Deployment {
    fn default_fields(&mut self) {
        self.spec.apply_defaults();
    }

    fn validate_fields(&self, errs: &mut FieldErrors) {
        crate::validate::deployment::validate_deployment(self, errs);
    }

    fn validate_update_fields(&self, old: &Self, errs: &mut FieldErrors) {
        crate::validate::update::deployment(self, old, errs);
    }
}

resource_boilerplate!(Deployment, status);

/// The desired state of a Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct DeploymentSpec {
    /// How many pods (1 by default).
    pub replicas: i32,
    /// Which pods belong to the Deployment; must match the template's labels.
    pub selector: LabelSelector,
    /// How updates replace pods (`RollingUpdate` 25%/25% by default).
    pub strategy: DeploymentStrategy,
    /// The pods to run.
    pub template: PodTemplateSpec,
    /// Seconds a new pod must be ready before it counts as available.
    #[serde(skip_serializing_if = "is_default")]
    pub min_ready_seconds: i32,
    /// Old revisions kept for rollback (10 by default).
    pub revision_history_limit: i32,
    /// Seconds without progress before the rollout is reported stalled (600).
    pub progress_deadline_seconds: i32,
}

impl Default for DeploymentSpec {
    fn default() -> Self {
        Self {
            replicas: DEFAULT_REPLICAS,
            selector: LabelSelector::default(),
            template: PodTemplateSpec::default(),
            strategy: DeploymentStrategy::default(),
            min_ready_seconds: 0,
            revision_history_limit: DEFAULT_REVISION_HISTORY_LIMIT,
            progress_deadline_seconds: DEFAULT_PROGRESS_DEADLINE_SECONDS,
        }
    }
}

impl DeploymentSpec {
    /// Applies Kubernetes' defaults: the rolling-update parameters when the
    /// strategy is `RollingUpdate`, and the pod template's.
    pub fn apply_defaults(&mut self) {
        if self.strategy.type_ == DeploymentStrategyType::RollingUpdate
            && self.strategy.rolling_update.is_none()
        {
            self.strategy.rolling_update = Some(RollingUpdateDeployment::default());
        }
        self.template.spec.apply_defaults();
    }
}

/// How updates replace pods.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct DeploymentStrategy {
    /// `RollingUpdate` (default) or `Recreate`.
    #[serde(rename = "type")]
    pub type_: DeploymentStrategyType,
    /// The parameters of `RollingUpdate` (absent with `Recreate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// The bounds of a rolling update, as counts or percentages of `replicas`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RollingUpdateDeployment {
    /// Pods that may be unavailable during the update (25%, rounded down).
    pub max_unavailable: IntOrString,
    /// Pods that may exist above `replicas` during the update (25%, rounded up).
    pub max_surge: IntOrString,
}

impl Default for RollingUpdateDeployment {
    fn default() -> Self {
        Self {
            max_unavailable: IntOrString::from(DEFAULT_MAX_SURGE_UNAVAILABLE),
            max_surge: IntOrString::from(DEFAULT_MAX_SURGE_UNAVAILABLE),
        }
    }
}

/// The observed state of a Deployment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentStatus {
    /// The generation this status describes.
    #[serde(skip_serializing_if = "is_default")]
    pub observed_generation: i64,
    /// Pods (any revision).
    #[serde(skip_serializing_if = "is_default")]
    pub replicas: i32,
    /// Pods of the current template.
    #[serde(skip_serializing_if = "is_default")]
    pub updated_replicas: i32,
    /// Ready pods.
    #[serde(skip_serializing_if = "is_default")]
    pub ready_replicas: i32,
    /// Pods ready for at least `minReadySeconds`.
    #[serde(skip_serializing_if = "is_default")]
    pub available_replicas: i32,
    /// Pods still needed for full availability.
    #[serde(skip_serializing_if = "is_default")]
    pub unavailable_replicas: i32,
    /// `Available` and `Progressing`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DeploymentCondition>,
    /// Template hash collisions seen (feeds the pod-template-hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
}

/// A condition of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentCondition {
    /// `Available`, `Progressing` or `ReplicaFailure`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// When it was last updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// When `status` last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}
