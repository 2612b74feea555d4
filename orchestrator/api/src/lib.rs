//! Berth's API: the objects of the control plane, shaped like Kubernetes
//! objects (`apiVersion`, `kind`, `metadata`, `spec`, `status`), read from
//! standard Kubernetes YAML or JSON manifests, defaulted and validated as
//! Kubernetes does, and written back as kubectl writes them.
//!
//! # Reading manifests
//!
//! ```
//! use berth_api::manifest::{self, ParseOptions};
//! use berth_api::Object;
//!
//! let yaml = r#"
//! apiVersion: apps/v1
//! kind: Deployment
//! metadata:
//!   name: web
//! spec:
//!   selector:
//!     matchLabels: {app: web}
//!   template:
//!     metadata:
//!       labels: {app: web}
//!     spec:
//!       containers:
//!       - name: nginx
//!         image: nginx:1.25
//! "#;
//! let docs = manifest::parse_str(yaml, "web.yaml", &ParseOptions::default()).unwrap();
//! let Object::Deployment(d) = &docs[0].object else { unreachable!() };
//! assert_eq!(d.metadata.namespace, "default");
//! assert_eq!(d.spec.replicas, 1);
//!
//! let broken = yaml.replace("replicas", "x").replace("matchLabels: {app: web}", "matchLabels: {app: api}");
//! let err = manifest::parse_str(&broken, "web.yaml", &ParseOptions::default()).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"web.yaml document 1 (Deployment default/web): spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`"#
//! );
//! ```
//!
//! [`manifest`] reads text, files, directories and standard input:
//! multi-document YAML, JSON (one object or a stream), `kind: List` (and
//! typed lists such as `PodList`). It reports every error of every document
//! at once, each as `SOURCE document N (KIND NAMESPACE/NAME): PATH: ERROR`:
//!
//! - unknown fields: `spec.template.spec.containers[0].imagePullPolcy:
//!   unknown field (did you mean "imagePullPolicy"?)`;
//! - values of the wrong type: `spec.replicas: invalid type: string
//!   "three", expected an integer`;
//! - invalid values, in Kubernetes' words: `spec.replicas: Invalid value:
//!   -1: must be greater than or equal to 0`, `metadata.name: Invalid
//!   value: "Web_1": a lowercase RFC 1123 subdomain must consist of ...`,
//!   `...memory: Invalid value: "128MB": quantities must match the regular
//!   expression ...`;
//! - kinds Berth does not serve, in kubectl's words: `no matches for kind
//!   "StatefulSet" in version "apps/v1"`, and wrong API versions: `no
//!   matches for kind "Deployment" in version "apps/v1beta1" (Berth serves
//!   Deployment as apps/v1)`.
//!
//! # Objects
//!
//! Each kind is a type implementing [`Resource`]; [`Object`] holds any of
//! them. Serializing writes `apiVersion` and `kind` first and leaves out
//! empty fields ([`output`] has kubectl's YAML and indented JSON, and
//! `kind: List`); [`Object::from_value`] / [`Object::from_json`] read
//! objects back strictly (the store keeps JSON bytes; parse, `to_json`,
//! parse again gives the same object).
//!
//! | kind | apiVersion | resource names | scope |
//! | --- | --- | --- | --- |
//! | Namespace | v1 | namespaces, ns | cluster |
//! | Node | v1 | nodes, no | cluster |
//! | Pod | v1 | pods, po | namespace |
//! | Deployment | apps/v1 | deployments, deploy | namespace |
//! | ReplicaSet | apps/v1 | replicasets, rs | namespace |
//! | Service | v1 | services, svc | namespace |
//! | EndpointSlice | discovery.k8s.io/v1 | endpointslices, endpoints, ep | namespace |
//! | ConfigMap | v1 | configmaps, cm | namespace |
//! | Secret | v1 | secrets | namespace |
//! | Event | v1 | events, ev | namespace |
//! | Lease | coordination.k8s.io/v1 | leases | namespace |
//!
//! These facts live in one table ([`Kind::info`] gives a kind's
//! [`ResourceInfo`]); a [`Registry`] holds them and accepts further kinds at
//! run time (custom resources), refusing names that clash.
//!
//! # Supported fields
//!
//! - **metadata**: `name`, `generateName`, `namespace`, `labels`,
//!   `annotations`, `ownerReferences`, `finalizers` (kept), and the
//!   server's `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
//!   `deletionTimestamp`, `deletionGracePeriodSeconds`.
//! - **Pod** `spec`: `containers`, `volumes`, `restartPolicy`,
//!   `terminationGracePeriodSeconds`, `dnsPolicy` (not `None`), `nodeName`,
//!   `nodeSelector`, `tolerations` (`key`, `operator`, `value`, `effect`,
//!   `tolerationSeconds`; matched against node taints by
//!   [`Toleration::tolerates`]), `hostNetwork`, `hostname`, `subdomain`.
//!   **Container**: `name`, `image`, `imagePullPolicy`, `command`, `args`,
//!   `workingDir`, `ports` (`name`, `containerPort`, `protocol`), `env`
//!   (`value`, `valueFrom` with `configMapKeyRef`, `secretKeyRef` or
//!   `fieldRef`), `envFrom` (`configMapRef`, `secretRef`, `prefix`),
//!   `resources` (`cpu`, `memory`, `ephemeral-storage` requests and
//!   limits), `volumeMounts` (`name`, `mountPath`, `readOnly`, `subPath`),
//!   `livenessProbe` and `readinessProbe` (`httpGet`, `tcpSocket`, `exec`
//!   and their timings). **Volumes**: `emptyDir`, `configMap`, `secret`
//!   (with `items`, `defaultMode` — `0644` in YAML reads as octal —, `optional`).
//! - **Deployment** `spec`: `replicas`, `selector` (`matchLabels`,
//!   `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`; the
//!   same [`LabelSelector`] parses the `-l` string form, see
//!   [`selector::parse`]), `template`, `strategy` (`Recreate`, `RollingUpdate`
//!   with `maxSurge`/`maxUnavailable`), `minReadySeconds`,
//!   `revisionHistoryLimit`, `progressDeadlineSeconds`.
//! - **ReplicaSet** `spec`: `replicas`, `minReadySeconds`, `selector`,
//!   `template` (checked as a Deployment's).
//! - **Service** `spec`: `type` (`ClusterIP`, `NodePort`, `LoadBalancer`,
//!   `ExternalName`), `clusterIP` (`None` for headless), `clusterIPs`,
//!   `ports` (`name`, `protocol`, `appProtocol`, `port`, `targetPort` by
//!   number or name, `nodePort`), `selector`, `sessionAffinity` and
//!   `sessionAffinityConfig`, `ipFamilies`, `ipFamilyPolicy`,
//!   `externalName`, `publishNotReadyAddresses`. NodePort and LoadBalancer
//!   Services are accepted (their node ports are for the allocator) and
//!   carry the condition [`service::CONDITION_DATA_PLANE_SERVED`] `False`:
//!   the data plane does not serve node ports or load balancers yet.
//! - **EndpointSlice**: `addressType`, `endpoints` (`addresses`,
//!   `conditions`, `hostname`, `targetRef`, `nodeName`, `zone`), `ports`.
//! - **ConfigMap**: `data`, `binaryData`, `immutable`. **Secret**: `type`,
//!   `data` (base64), `stringData` (merged into `data`), `immutable`.
//! - **Node** `spec`: `podCIDR`, `podCIDRs`, `unschedulable`, `taints`
//!   (`key`, `value`, `effect`, `timeAdded`). **Namespace**:
//!   `spec.finalizers`. **Event** (core/v1): `involvedObject`, `reason`,
//!   `message`, `source`, `firstTimestamp`, `lastTimestamp`, `count`,
//!   `type`, `eventTime`, `action`, `reportingComponent`,
//!   `reportingInstance`.
//! - **Lease** `spec`: `holderIdentity`, `leaseDurationSeconds`,
//!   `acquireTime`, `renewTime` (fractions of a second kept),
//!   `leaseTransitions`. Nodes' Leases live in
//!   [`lease::NODE_LEASE_NAMESPACE`].
//! - **status** of every kind is accepted on input: it is typed, ignores
//!   fields Berth does not model (so `kubectl get -o yaml` output from a
//!   Kubernetes cluster reads), and is the server's to overwrite
//!   ([`Resource::clear_status`]).
//!
//! Kubernetes fields that Berth does not model are listed one by one in
//! [`unsupported::RULES`]: harmless ones users always write
//! (`terminationMessagePath`, `schedulerName: default-scheduler`,
//! `managedFields`, empty `securityContext`, ...) are dropped silently;
//! ones the user may expect an effect from (`imagePullSecrets`,
//! `priorityClassName`, a non-empty `securityContext`, ...) are dropped
//! with a warning; others (`affinity`, `initContainers`, `startupProbe`,
//! `hostPort`, `hostPath` volumes, `externalTrafficPolicy: Local`, ...) are
//! errors saying Berth does not support them. Any other field is an unknown
//! field.
//!
//! # Defaults
//!
//! As Kubernetes: namespace `default`; Deployment and ReplicaSet
//! `replicas` 1; Deployment strategy
//! `RollingUpdate` with `maxSurge`/`maxUnavailable` 25%,
//! `revisionHistoryLimit` 10, `progressDeadlineSeconds` 600; pod
//! `restartPolicy` `Always`, `terminationGracePeriodSeconds` 30,
//! `dnsPolicy` `ClusterFirst`, `imagePullPolicy` from the image tag,
//! requests from limits, probe `timeoutSeconds` 1, `periodSeconds` 10,
//! `successThreshold` 1, `failureThreshold` 3, HTTP probe path `/`, volume
//! `defaultMode` 0644; Service `type` `ClusterIP`, `protocol` `TCP`,
//! `targetPort` = `port`, `sessionAffinity` `None` (`ClientIP` timeout
//! 10800 s), `ipFamilyPolicy` `SingleStack` (`RequireDualStack` for a
//! headless Service without selector); Secret `type` `Opaque`.
//! `ipFamilies`, cluster IPs and node ports are left to the allocators.

pub mod bytes;
pub mod columns;
pub mod configmap;
pub mod container;
pub mod decode;
pub mod deployment;
pub mod endpointslice;
pub mod event;
pub mod intstr;
pub mod kind;
pub mod lease;
mod macros;
pub mod manifest;
pub mod meta;
pub mod namespace;
pub mod node;
pub mod object;
pub mod output;
pub mod pod;
pub mod probe;
pub mod quantity;
pub mod registry;
pub mod replicaset;
pub mod resource;
pub mod resource_info;
pub mod secret;
pub mod selector;
pub mod service;
pub mod taint;
pub mod time;
pub mod unsupported;
pub mod validate;
pub mod volume;

pub use configmap::ConfigMap;
pub use container::{Container, ContainerPort, EnvVar, Protocol};
pub use decode::ObjectError;
pub use deployment::Deployment;
pub use endpointslice::EndpointSlice;
pub use event::Event;
pub use intstr::IntOrString;
pub use kind::Kind;
pub use lease::Lease;
pub use manifest::{Document, ManifestError, ManifestErrors, ParseOptions};
pub use meta::ObjectMeta;
pub use namespace::Namespace;
pub use node::Node;
pub use object::{Object, ObjectKey};
pub use pod::{Pod, PodSpec, PodTemplateSpec};
pub use quantity::Quantity;
pub use registry::{RegisterError, Registry, ResourceRef};
pub use replicaset::ReplicaSet;
pub use resource::{DEFAULT_NAMESPACE, Resource, ResourceFields};
pub use resource_info::{ResourceInfo, Scope};
pub use secret::Secret;
pub use selector::LabelSelector;
pub use service::Service;
pub use taint::{Taint, TaintEffect, Toleration, TolerationOperator};
pub use time::Time;
pub use validate::{FieldError, FieldErrors, FieldPath};

/// An error and its causes, joined by `: ` (as `anyhow` prints `{:#}`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
