//! Kubernetes fields Berth does not model, listed one by one: dropped
//! silently when harmless, dropped with a warning when the user may expect
//! an effect, or rejected as not supported. Anything else not in the types
//! is an unknown field.
//!
//! A tolerated field given an empty or default value (`{}`, `[]`, `false`,
//! `""`, or one of its listed neutral values) is dropped silently.

use serde_json::{Map, Value};

use crate::kind::Kind;
use crate::validate::{FieldError, FieldErrors, FieldPath};

/// What happens to a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Dropped without a word: it changes nothing that matters.
    Drop,
    /// Dropped with a warning: the user may expect it to do something.
    Warn,
    /// Rejected: `Forbidden: not supported by Berth`.
    Reject,
}

/// Where the paths of a rule start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `metadata` of every object, and of a Deployment's or ReplicaSet's
    /// pod template.
    Metadata,
    /// A pod spec: `spec` of a Pod, `spec.template.spec` of a Deployment or
    /// ReplicaSet.
    PodSpec,
    /// `spec` of a Deployment.
    DeploymentSpec,
    /// `spec` of a Service.
    ServiceSpec,
    /// The top of an EndpointSlice.
    EndpointSlice,
}

/// One tolerated or rejected field.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Where the path starts.
    pub scope: Scope,
    /// The path from there; `*` is every element of a list.
    pub path: &'static [&'static str],
    /// Values that count as neutral besides empty ones.
    pub neutral: &'static [&'static str],
    /// What happens otherwise.
    pub action: Action,
    /// Why, shown in warnings and errors.
    pub why: &'static str,
}

const fn rule(
    scope: Scope,
    path: &'static [&'static str],
    neutral: &'static [&'static str],
    action: Action,
    why: &'static str,
) -> Rule {
    Rule {
        scope,
        path,
        neutral,
        action,
        why,
    }
}

use Action::{Drop, Reject, Warn};
use Scope::{DeploymentSpec, EndpointSlice, Metadata, PodSpec, ServiceSpec};

const VOLUME_TYPES: &str = "Berth supports emptyDir, configMap and secret volumes";

/// Every rule.
pub const RULES: &[Rule] = &[
    // Written by servers; meaningless on input.
    rule(
        Metadata,
        &["managedFields"],
        &[],
        Drop,
        "server-side apply bookkeeping",
    ),
    rule(Metadata, &["selfLink"], &[], Drop, "deprecated"),
    // Pod spec.
    rule(
        PodSpec,
        &["schedulerName"],
        &["default-scheduler"],
        Warn,
        "Berth has one scheduler",
    ),
    rule(
        PodSpec,
        &["serviceAccountName"],
        &["default"],
        Warn,
        "Berth has no service accounts",
    ),
    rule(
        PodSpec,
        &["serviceAccount"],
        &["default"],
        Warn,
        "Berth has no service accounts",
    ),
    rule(
        PodSpec,
        &["automountServiceAccountToken"],
        &[],
        Drop,
        "Berth mounts no service account tokens",
    ),
    rule(
        PodSpec,
        &["enableServiceLinks"],
        &[],
        Drop,
        "Berth injects no service environment variables",
    ),
    rule(
        PodSpec,
        &["securityContext"],
        &[],
        Warn,
        "Berth does not apply security contexts",
    ),
    rule(
        PodSpec,
        &["priorityClassName"],
        &[],
        Warn,
        "Berth has no pod priorities",
    ),
    rule(
        PodSpec,
        &["priority"],
        &[],
        Drop,
        "Berth has no pod priorities",
    ),
    rule(
        PodSpec,
        &["preemptionPolicy"],
        &[],
        Drop,
        "Berth has no pod priorities",
    ),
    rule(
        PodSpec,
        &["imagePullSecrets"],
        &[],
        Warn,
        "Berth imports images instead of pulling them",
    ),
    rule(PodSpec, &["affinity"], &[], Reject, "use nodeSelector"),
    rule(PodSpec, &["topologySpreadConstraints"], &[], Reject, ""),
    rule(PodSpec, &["initContainers"], &[], Reject, ""),
    rule(PodSpec, &["ephemeralContainers"], &[], Reject, ""),
    rule(PodSpec, &["dnsConfig"], &[], Reject, ""),
    rule(PodSpec, &["hostAliases"], &[], Reject, ""),
    rule(PodSpec, &["hostPID"], &[], Reject, ""),
    rule(PodSpec, &["hostIPC"], &[], Reject, ""),
    rule(PodSpec, &["hostUsers"], &[], Reject, ""),
    rule(PodSpec, &["shareProcessNamespace"], &[], Reject, ""),
    rule(PodSpec, &["runtimeClassName"], &[], Reject, ""),
    rule(PodSpec, &["readinessGates"], &[], Reject, ""),
    rule(PodSpec, &["activeDeadlineSeconds"], &[], Reject, ""),
    rule(PodSpec, &["setHostnameAsFQDN"], &[], Reject, ""),
    rule(PodSpec, &["os"], &[], Reject, ""),
    rule(PodSpec, &["overhead"], &[], Reject, ""),
    rule(PodSpec, &["resourceClaims"], &[], Reject, ""),
    rule(PodSpec, &["schedulingGates"], &[], Reject, ""),
    // Containers.
    rule(
        PodSpec,
        &["containers", "*", "terminationMessagePath"],
        &[],
        Drop,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "terminationMessagePolicy"],
        &[],
        Drop,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "securityContext"],
        &[],
        Warn,
        "Berth does not apply security contexts",
    ),
    rule(PodSpec, &["containers", "*", "stdin"], &[], Reject, ""),
    rule(PodSpec, &["containers", "*", "stdinOnce"], &[], Reject, ""),
    rule(PodSpec, &["containers", "*", "tty"], &[], Reject, ""),
    rule(
        PodSpec,
        &["containers", "*", "startupProbe"],
        &[],
        Reject,
        "use livenessProbe.initialDelaySeconds",
    ),
    rule(PodSpec, &["containers", "*", "lifecycle"], &[], Reject, ""),
    rule(
        PodSpec,
        &["containers", "*", "volumeDevices"],
        &[],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "resizePolicy"],
        &[],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "restartPolicy"],
        &[],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "ports", "*", "hostPort"],
        &[],
        Reject,
        "use a NodePort Service or hostNetwork",
    ),
    rule(
        PodSpec,
        &["containers", "*", "ports", "*", "hostIP"],
        &[],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "livenessProbe", "grpc"],
        &[],
        Reject,
        "use exec, httpGet or tcpSocket",
    ),
    rule(
        PodSpec,
        &["containers", "*", "readinessProbe", "grpc"],
        &[],
        Reject,
        "use exec, httpGet or tcpSocket",
    ),
    rule(
        PodSpec,
        &[
            "containers",
            "*",
            "livenessProbe",
            "terminationGracePeriodSeconds",
        ],
        &[],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &[
            "containers",
            "*",
            "readinessProbe",
            "terminationGracePeriodSeconds",
        ],
        &[],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &[
            "containers",
            "*",
            "env",
            "*",
            "valueFrom",
            "resourceFieldRef",
        ],
        &[],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "volumeMounts", "*", "mountPropagation"],
        &["None"],
        Reject,
        "",
    ),
    rule(
        PodSpec,
        &["containers", "*", "volumeMounts", "*", "subPathExpr"],
        &[],
        Reject,
        "use subPath",
    ),
    rule(
        PodSpec,
        &["containers", "*", "volumeMounts", "*", "recursiveReadOnly"],
        &["Disabled"],
        Reject,
        "",
    ),
    // Volume types.
    rule(
        PodSpec,
        &["volumes", "*", "hostPath"],
        &[],
        Reject,
        VOLUME_TYPES,
    ),
    rule(
        PodSpec,
        &["volumes", "*", "persistentVolumeClaim"],
        &[],
        Reject,
        VOLUME_TYPES,
    ),
    rule(
        PodSpec,
        &["volumes", "*", "projected"],
        &[],
        Reject,
        VOLUME_TYPES,
    ),
    rule(
        PodSpec,
        &["volumes", "*", "downwardAPI"],
        &[],
        Reject,
        VOLUME_TYPES,
    ),
    rule(PodSpec, &["volumes", "*", "nfs"], &[], Reject, VOLUME_TYPES),
    rule(PodSpec, &["volumes", "*", "csi"], &[], Reject, VOLUME_TYPES),
    rule(
        PodSpec,
        &["volumes", "*", "ephemeral"],
        &[],
        Reject,
        VOLUME_TYPES,
    ),
    rule(
        PodSpec,
        &["volumes", "*", "image"],
        &[],
        Reject,
        VOLUME_TYPES,
    ),
    // Deployment spec.
    rule(DeploymentSpec, &["paused"], &[], Reject, ""),
    // Service spec.
    rule(
        ServiceSpec,
        &["internalTrafficPolicy"],
        &["Cluster"],
        Reject,
        "traffic goes to endpoints on every node",
    ),
    rule(
        ServiceSpec,
        &["allocateLoadBalancerNodePorts"],
        &[],
        Drop,
        "",
    ),
    rule(
        ServiceSpec,
        &["loadBalancerIP"],
        &[],
        Warn,
        "Berth provisions no load balancers",
    ),
    rule(
        ServiceSpec,
        &["loadBalancerSourceRanges"],
        &[],
        Warn,
        "Berth provisions no load balancers",
    ),
    rule(
        ServiceSpec,
        &["loadBalancerClass"],
        &[],
        Warn,
        "Berth provisions no load balancers",
    ),
    rule(ServiceSpec, &["trafficDistribution"], &[], Reject, ""),
    // EndpointSlice.
    rule(
        EndpointSlice,
        &["endpoints", "*", "hints"],
        &[],
        Drop,
        "topology hints",
    ),
    rule(
        EndpointSlice,
        &["endpoints", "*", "deprecatedTopology"],
        &[],
        Drop,
        "deprecated",
    ),
];

/// The places in an object of `kind` where paths of `scope` start.
fn prefixes(kind: Kind, scope: Scope) -> &'static [&'static [&'static str]] {
    match (scope, kind) {
        (Scope::Metadata, Kind::Deployment | Kind::ReplicaSet) => {
            &[&["metadata"], &["spec", "template", "metadata"]]
        }
        (Scope::Metadata, _) => &[&["metadata"]],
        (Scope::PodSpec, Kind::Pod) => &[&["spec"]],
        (Scope::PodSpec, Kind::Deployment | Kind::ReplicaSet) => &[&["spec", "template", "spec"]],
        (Scope::DeploymentSpec, Kind::Deployment) => &[&["spec"]],
        (Scope::ServiceSpec, Kind::Service) => &[&["spec"]],
        (Scope::EndpointSlice, Kind::EndpointSlice) => &[&[]],
        _ => &[],
    }
}

/// What pruning found.
#[derive(Debug, Default)]
pub(crate) struct Pruned {
    /// `path: ignored: why` for each field dropped with a warning.
    pub warnings: Vec<String>,
    /// The rejected fields.
    pub errors: FieldErrors,
}

fn is_neutral(value: &Value, neutral: &[&str]) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty() || neutral.contains(&s.as_str()),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
}

/// Called with the path of a member, the map holding it and its key.
type Visitor<'a> = dyn FnMut(&FieldPath, &mut Map<String, Value>, &str) + 'a;

/// Calls `f(path, map, key)` for every member `key` the path reaches.
fn visit(value: &mut Value, segs: &[&str], path: &FieldPath, f: &mut Visitor<'_>) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    match value {
        Value::Array(items) if *first == "*" => {
            for (i, item) in items.iter_mut().enumerate() {
                visit(item, rest, &path.index(i), f);
            }
        }
        Value::Object(map) if rest.is_empty() && map.contains_key(*first) => {
            f(&path.child(first), map, first);
        }
        Value::Object(_) if rest.is_empty() => {}
        Value::Object(map) => {
            if let Some(child) = map.get_mut(*first) {
                visit(child, rest, &path.child(first), f);
            }
        }
        _ => {}
    }
}

/// Applies [`RULES`] to an object of `kind`.
pub(crate) fn prune(kind: Kind, value: &mut Value) -> Pruned {
    let mut out = Pruned::default();
    for r in RULES {
        for prefix in prefixes(kind, r.scope) {
            let segs: Vec<&str> = prefix.iter().chain(r.path).copied().collect();
            visit(
                value,
                &segs,
                &FieldPath::default(),
                &mut |path, map, key| {
                    let neutral = map.get(key).is_none_or(|v| is_neutral(v, r.neutral));
                    match (r.action, neutral) {
                        (Action::Drop, _) | (_, true) => {}
                        (Action::Warn, false) => {
                            let why = if r.why.is_empty() {
                                "not supported by Berth"
                            } else {
                                r.why
                            };
                            out.warnings.push(format!("{path}: ignored: {why}"));
                        }
                        (Action::Reject, false) => {
                            let detail = if r.why.is_empty() {
                                "not supported by Berth".to_owned()
                            } else {
                                format!("not supported by Berth ({})", r.why)
                            };
                            out.errors.push(FieldError::forbidden(path, detail));
                            // Left in place would also be an unknown field: the error above says it.
                        }
                    }
                    map.remove(key);
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_warns_rejects() {
        let mut v = json!({
            "metadata": {"name": "web", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"template": {"metadata": {"selfLink": "/x"}, "spec": {
                "schedulerName": "default-scheduler",
                "tolerations": [{"key": "x", "operator": "Exists"}],
                "imagePullSecrets": [{"name": "registry"}],
                "affinity": {"nodeAffinity": {}},
                "securityContext": {},
                "containers": [{"name": "a", "terminationMessagePath": "/dev/termination-log", "tty": false,
                                "ports": [{"containerPort": 80, "hostPort": 80}]}]
            }}, "paused": false}
        });
        let p = prune(Kind::Deployment, &mut v);
        assert_eq!(
            p.warnings,
            [
                "spec.template.spec.imagePullSecrets: ignored: Berth imports images instead of pulling them"
            ]
        );
        let errs: Vec<String> = p.errors.errors().iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "spec.template.spec.affinity: Forbidden: not supported by Berth (use nodeSelector)",
                "spec.template.spec.containers[0].ports[0].hostPort: Forbidden: not supported by Berth (use a NodePort Service or hostNetwork)",
            ]
        );
        assert_eq!(
            v,
            json!({"metadata": {"name": "web"}, "spec": {"template": {"metadata": {}, "spec": {
                "tolerations": [{"key": "x", "operator": "Exists"}],
                "containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}}}})
        );
    }

    #[test]
    fn replica_set_templates_are_pruned_as_deployments_are() {
        let mut v = json!({
            "metadata": {"name": "web", "managedFields": []},
            "spec": {"template": {"metadata": {"selfLink": "/x"}, "spec": {
                "enableServiceLinks": true,
                "initContainers": [{"name": "i"}],
                "containers": [{"name": "a", "terminationMessagePolicy": "File"}]
            }}, "paused": true}
        });
        let p = prune(Kind::ReplicaSet, &mut v);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let errs: Vec<String> = p.errors.errors().iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            ["spec.template.spec.initContainers: Forbidden: not supported by Berth"]
        );
        // `paused` is a Deployment's: in a ReplicaSet it is an unknown field.
        assert_eq!(
            v,
            json!({"metadata": {"name": "web"}, "spec": {"template": {"metadata": {}, "spec": {
                "containers": [{"name": "a"}]}}, "paused": true}})
        );
    }
}
