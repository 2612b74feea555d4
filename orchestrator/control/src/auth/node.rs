//! Kubernetes' node authorizer and NodeRestriction admission, for requests
//! made with a node credential (`system:node` in Kubernetes). A node may:
//!
//! | kind | verbs | which objects |
//! | --- | --- | --- |
//! | Node | get, list, watch | all |
//! | Node | create, update, update status | its own; no `node-restriction.kubernetes.io/` labels set or changed |
//! | Lease | get, create, update | its own (`kube-node-lease/NAME`) |
//! | Pod | get, list, watch | all |
//! | Pod | update status | bound to it |
//! | Pod | delete | bound to it, and terminating or finished |
//! | Service, EndpointSlice, Namespace | get, list, watch | all |
//! | Secret, ConfigMap | get | referenced by a pod bound to it |
//! | Event | create, update | all |
//! | its credential | issue (rotate) | its own |
//!
//! Everything else is refused with the [`Rule`] that refuses it: creating,
//! binding or changing the spec of pods; other nodes' Node, Lease, pods and
//! Secrets; every other kind.

use std::fmt;
use std::future::Future;

use berth_api::lease::NODE_LEASE_NAMESPACE;
use berth_api::pod::PodPhase;
use berth_api::{Kind, Node, Object, Pod};

use super::{AuthError, Identity, Verb};

/// Labels of its Node a node may not set or change (Kubernetes'
/// NodeRestriction: the admin's, to steer workloads to trusted nodes).
pub const RESTRICTED_LABEL_PREFIX: &str = "node-restriction.kubernetes.io/";

/// Why a request is refused: each rule names the part of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The bootstrap token only exchanges itself.
    BootstrapOnlyExchanges,
    /// Revoking credentials and rotating the bootstrap token.
    AdminOnly,
    /// A node rotates only its own credential.
    OwnCredential,
    /// A node changes only its own Node, and never deletes it.
    OwnNode,
    /// A node's Lease only.
    OwnLease,
    /// Pods: read, and the status of those bound to it.
    PodStatusOfBoundPods,
    /// Pods are deleted by their node once terminating or finished.
    PodDeleteWhenDone,
    /// A node creates no pods and changes no pod's spec.
    PodSpec,
    /// Binding is the scheduler's.
    NoBinding,
    /// Secrets and ConfigMaps its pods reference.
    ReferencedOnly,
    /// Services, EndpointSlices and Namespaces are read only.
    ReadOnly,
    /// Events are created and updated.
    Events,
    /// Labels under `node-restriction.kubernetes.io/`.
    RestrictedLabels,
    /// Any other kind.
    NoAccess,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::BootstrapOnlyExchanges => {
                "a bootstrap token may only be exchanged for a node credential \
                 (IssueNodeCredential)"
            }
            Rule::AdminOnly => "only the admin may do this",
            Rule::OwnCredential => "node authorizer: a node may only rotate its own credential",
            Rule::OwnNode => {
                "node authorizer: a node may only create and update its own Node, and may not \
                 delete it"
            }
            Rule::OwnLease => {
                "node authorizer: a node may only get, create and update its own Lease \
                 (kube-node-lease/NODE)"
            }
            Rule::PodStatusOfBoundPods => {
                "node authorizer: a node may only update the status of pods bound to it"
            }
            Rule::PodDeleteWhenDone => {
                "node authorizer: a node may only delete pods bound to it once they are \
                 terminating or finished"
            }
            Rule::PodSpec => "NodeRestriction: a node may not create pods or change their spec",
            Rule::NoBinding => "NodeRestriction: a node may not bind pods",
            Rule::ReferencedOnly => {
                "node authorizer: a node may only get the Secrets and ConfigMaps referenced by \
                 pods bound to it"
            }
            Rule::ReadOnly => {
                "node authorizer: a node may only get, list and watch Services, EndpointSlices \
                 and Namespaces"
            }
            Rule::Events => "node authorizer: a node may only create and update Events",
            Rule::RestrictedLabels => {
                "NodeRestriction: a node may not set or change labels under \
                 node-restriction.kubernetes.io/"
            }
            Rule::NoAccess => "node authorizer: nodes have no access to this kind",
        })
    }
}

/// What a request is about.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// What is asked.
    pub verb: Verb,
    /// The kind (`Node` for the credential verbs).
    pub kind: Kind,
    /// The namespace (empty: cluster-scoped, or all for list and watch).
    pub namespace: &'a str,
    /// The object's name (empty for list and watch).
    pub name: &'a str,
    /// The object sent, for writes.
    pub object: Option<&'a Object>,
}

impl Attributes<'_> {
    /// `pods "default/web"`, `nodes "a"`, `secrets` (a list).
    fn what(&self) -> String {
        let plural = self.kind.plural();
        match (self.namespace, self.name) {
            (_, "") => plural.to_owned(),
            ("", name) => format!("{plural} {name:?}"),
            (ns, name) => format!("{plural} \"{ns}/{name}\""),
        }
    }
}

/// What the authorizer reads from the cluster (the store; a fake in
/// tests).
pub trait Facts: Sync {
    /// The stored Pod.
    fn pod(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Pod>, AuthError>> + Send;
    /// The stored Node.
    fn node(&self, name: &str) -> impl Future<Output = Result<Option<Node>, AuthError>> + Send;
    /// The pods bound to `node`.
    fn pods_on(&self, node: &str) -> impl Future<Output = Result<Vec<Pod>, AuthError>> + Send;
}

/// Whether `who` may do what `a` asks.
pub async fn authorize<F: Facts>(
    who: &Identity,
    a: &Attributes<'_>,
    facts: &F,
) -> Result<(), AuthError> {
    let rule = match who {
        Identity::Admin => return Ok(()),
        Identity::Bootstrap => match a.verb {
            Verb::IssueCredential => return Ok(()),
            _ => Rule::BootstrapOnlyExchanges,
        },
        Identity::Node(node) => match node_rule(node, a, facts).await? {
            None => return Ok(()),
            Some(rule) => rule,
        },
    };
    Err(AuthError::Forbidden {
        who: who.clone(),
        verb: a.verb,
        what: a.what(),
        rule,
    })
}

/// The rule refusing `node`'s request, or `None` when it is allowed.
async fn node_rule<F: Facts>(
    node: &str,
    a: &Attributes<'_>,
    facts: &F,
) -> Result<Option<Rule>, AuthError> {
    use Verb::*;
    let refuse = |ok: bool, rule| Ok((!ok).then_some(rule));
    match (a.verb, a.kind) {
        (IssueCredential, _) => refuse(a.name == node, Rule::OwnCredential),
        (RevokeCredential | RotateBootstrap, _) => refuse(false, Rule::AdminOnly),
        (Bind, _) => refuse(false, Rule::NoBinding),
        (Get | List | Watch, Kind::Node | Kind::Pod) => Ok(None),
        (Create | Update | UpdateStatus, Kind::Node) if a.name != node => {
            refuse(false, Rule::OwnNode)
        }
        // The status write keeps the stored labels.
        (UpdateStatus, Kind::Node) => Ok(None),
        (Create, Kind::Node) => refuse(labels_kept(a.object, None), Rule::RestrictedLabels),
        (Update, Kind::Node) => {
            let stored = facts.node(node).await?;
            refuse(
                labels_kept(a.object, stored.as_ref()),
                Rule::RestrictedLabels,
            )
        }
        (Get | Create | Update, Kind::Lease) => refuse(
            a.namespace == NODE_LEASE_NAMESPACE && a.name == node,
            Rule::OwnLease,
        ),
        (UpdateStatus, Kind::Pod) => {
            let pod = facts.pod(a.namespace, a.name).await?;
            refuse(
                pod.is_some_and(|p| p.spec.node_name == node),
                Rule::PodStatusOfBoundPods,
            )
        }
        (Delete, Kind::Pod) => {
            let pod = facts.pod(a.namespace, a.name).await?;
            refuse(
                pod.is_some_and(|p| done_on(&p, node)),
                Rule::PodDeleteWhenDone,
            )
        }
        (_, Kind::Pod) => refuse(false, Rule::PodSpec),
        (Get | List | Watch, Kind::Service | Kind::EndpointSlice | Kind::Namespace) => Ok(None),
        (Get, Kind::Secret | Kind::ConfigMap) => {
            let referenced = facts
                .pods_on(node)
                .await?
                .iter()
                .filter(|p| p.metadata.namespace == a.namespace)
                .any(|p| {
                    let (cms, secrets) = p.config_maps_and_secrets();
                    let names = if a.kind == Kind::Secret { secrets } else { cms };
                    names.contains(a.name)
                });
            refuse(referenced, Rule::ReferencedOnly)
        }
        (Create | Update, Kind::Event) => Ok(None),
        (_, Kind::Node) => refuse(false, Rule::OwnNode),
        (_, Kind::Lease) => refuse(false, Rule::OwnLease),
        (_, Kind::Secret | Kind::ConfigMap) => refuse(false, Rule::ReferencedOnly),
        (_, Kind::Service | Kind::EndpointSlice | Kind::Namespace) => refuse(false, Rule::ReadOnly),
        (_, Kind::Event) => refuse(false, Rule::Events),
        _ => refuse(false, Rule::NoAccess),
    }
}

/// Whether pod `p` is bound to `node` and terminating or finished.
fn done_on(p: &Pod, node: &str) -> bool {
    p.spec.node_name == node
        && (p.metadata.deletion_timestamp.is_some()
            || matches!(p.status.phase, PodPhase::Succeeded | PodPhase::Failed))
}

/// Whether the Node sent keeps the restricted labels of the stored one
/// (none on a new Node).
fn labels_kept(sent: Option<&Object>, stored: Option<&Node>) -> bool {
    let restricted = |labels: &std::collections::BTreeMap<String, String>| {
        labels
            .iter()
            .filter(|(k, _)| k.starts_with(RESTRICTED_LABEL_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let Some(sent) = sent else {
        return true;
    };
    let before = stored
        .map(|n| restricted(&n.metadata.labels))
        .unwrap_or_default();
    restricted(&sent.metadata().labels) == before
}
