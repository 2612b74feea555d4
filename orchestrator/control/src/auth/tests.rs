//! The permission model with fakes: identities, every verb, each rule.

use std::time::Duration;

use berth_api::{Kind, Node, Object, ObjectMeta, Pod};

use super::*;

/// Pods and Nodes held in memory.
#[derive(Default)]
struct FakeFacts {
    pods: Vec<Pod>,
    nodes: Vec<Node>,
}

impl Facts for FakeFacts {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<Pod>, AuthError> {
        Ok(self
            .pods
            .iter()
            .find(|p| p.metadata.namespace == namespace && p.metadata.name == name)
            .cloned())
    }
    async fn node(&self, name: &str) -> Result<Option<Node>, AuthError> {
        Ok(self.nodes.iter().find(|n| n.metadata.name == name).cloned())
    }
    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>, AuthError> {
        Ok(self
            .pods
            .iter()
            .filter(|p| p.spec.node_name == node)
            .cloned()
            .collect())
    }
}

fn bound_pod(name: &str, node: &str, secret: &str) -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta::named("default", name),
        ..Pod::default()
    };
    p.spec.node_name = node.into();
    p.spec.volumes.push(
        serde_json::from_value(serde_json::json!({"name": "s", "secret": {"secretName": secret}}))
            .unwrap(),
    );
    p
}

fn facts() -> FakeFacts {
    FakeFacts {
        pods: vec![bound_pod("p-a", "a", "s-a"), bound_pod("p-b", "b", "s-b")],
        nodes: Vec::new(),
    }
}

async fn decide(who: &Identity, verb: Verb, kind: Kind, ns: &str, name: &str) -> Result<(), Rule> {
    let a = Attributes {
        verb,
        kind,
        namespace: ns,
        name,
        object: None,
    };
    match authorize(who, &a, &facts()).await {
        Ok(()) => Ok(()),
        Err(AuthError::Forbidden { rule, .. }) => Err(rule),
        Err(e) => panic!("{e}"),
    }
}

/// A request (verb, kind, namespace, name) and the decision.
type Case = (Verb, Kind, &'static str, &'static str, Result<(), Rule>);

#[tokio::test]
async fn the_node_authorizer_table() {
    use Verb::*;
    let a = Identity::Node("a".into());
    let lease_ns = berth_api::lease::NODE_LEASE_NAMESPACE;
    let cases: &[Case] = &[
        (Get, Kind::Node, "", "b", Ok(())),
        (List, Kind::Node, "", "", Ok(())),
        (Create, Kind::Node, "", "a", Ok(())),
        (Create, Kind::Node, "", "b", Err(Rule::OwnNode)),
        (UpdateStatus, Kind::Node, "", "a", Ok(())),
        (UpdateStatus, Kind::Node, "", "b", Err(Rule::OwnNode)),
        (Delete, Kind::Node, "", "a", Err(Rule::OwnNode)),
        (Get, Kind::Lease, lease_ns, "a", Ok(())),
        (Update, Kind::Lease, lease_ns, "a", Ok(())),
        (Update, Kind::Lease, lease_ns, "b", Err(Rule::OwnLease)),
        (Watch, Kind::Lease, lease_ns, "", Err(Rule::OwnLease)),
        (Watch, Kind::Pod, "", "", Ok(())),
        (UpdateStatus, Kind::Pod, "default", "p-a", Ok(())),
        (
            UpdateStatus,
            Kind::Pod,
            "default",
            "p-b",
            Err(Rule::PodStatusOfBoundPods),
        ),
        (
            UpdateStatus,
            Kind::Pod,
            "default",
            "gone",
            Err(Rule::PodStatusOfBoundPods),
        ),
        (Update, Kind::Pod, "default", "p-a", Err(Rule::PodSpec)),
        (Create, Kind::Pod, "default", "p-c", Err(Rule::PodSpec)),
        (Bind, Kind::Pod, "default", "p-b", Err(Rule::NoBinding)),
        (
            Delete,
            Kind::Pod,
            "default",
            "p-a",
            Err(Rule::PodDeleteWhenDone),
        ),
        (Get, Kind::Secret, "default", "s-a", Ok(())),
        (
            Get,
            Kind::Secret,
            "default",
            "s-b",
            Err(Rule::ReferencedOnly),
        ),
        (Get, Kind::Secret, "other", "s-a", Err(Rule::ReferencedOnly)),
        (List, Kind::Secret, "", "", Err(Rule::ReferencedOnly)),
        (
            Get,
            Kind::ConfigMap,
            "default",
            "s-a",
            Err(Rule::ReferencedOnly),
        ),
        (List, Kind::Service, "", "", Ok(())),
        (Watch, Kind::EndpointSlice, "", "", Ok(())),
        (Get, Kind::Namespace, "", "default", Ok(())),
        (Delete, Kind::Service, "default", "web", Err(Rule::ReadOnly)),
        (Create, Kind::Event, "default", "e", Ok(())),
        (Delete, Kind::Event, "default", "e", Err(Rule::Events)),
        (List, Kind::Deployment, "", "", Err(Rule::NoAccess)),
        (
            Create,
            Kind::ReplicaSet,
            "default",
            "r",
            Err(Rule::NoAccess),
        ),
        (IssueCredential, Kind::Node, "", "a", Ok(())),
        (
            IssueCredential,
            Kind::Node,
            "",
            "b",
            Err(Rule::OwnCredential),
        ),
        (RevokeCredential, Kind::Node, "", "a", Err(Rule::AdminOnly)),
        (RotateBootstrap, Kind::Node, "", "", Err(Rule::AdminOnly)),
    ];
    for (verb, kind, ns, name, want) in cases {
        let got = decide(&a, *verb, *kind, ns, name).await;
        assert_eq!(&got, want, "node a: {verb} {kind} {ns}/{name}");
    }
    for verb in [Get, List, Watch, Create, Update, UpdateStatus, Delete, Bind] {
        assert_eq!(
            decide(&Identity::Bootstrap, verb, Kind::Pod, "default", "p-a").await,
            Err(Rule::BootstrapOnlyExchanges)
        );
        assert_eq!(
            decide(&Identity::Admin, verb, Kind::Pod, "default", "p-a").await,
            Ok(())
        );
    }
    assert_eq!(
        decide(&Identity::Bootstrap, IssueCredential, Kind::Node, "", "x").await,
        Ok(())
    );
}

#[tokio::test]
async fn terminating_pods_may_be_deleted_and_restricted_labels_are_kept() {
    let mut f = facts();
    f.pods[0].metadata.deletion_timestamp = Some(berth_api::Time::now());
    let a = Identity::Node("a".into());
    let del = Attributes {
        verb: Verb::Delete,
        kind: Kind::Pod,
        namespace: "default",
        name: "p-a",
        object: None,
    };
    authorize(&a, &del, &f).await.unwrap();

    let mut stored = Node {
        metadata: ObjectMeta::named("", "a"),
        ..Node::default()
    };
    stored
        .metadata
        .labels
        .insert("node-restriction.kubernetes.io/zone".into(), "1".into());
    f.nodes.push(stored.clone());
    let write = |verb, node: &Node| {
        let obj = Object::Node(node.clone());
        (verb, obj)
    };
    // Kept: allowed. Changed, removed, or set on create: refused.
    let mut changed = stored.clone();
    changed
        .metadata
        .labels
        .insert("node-restriction.kubernetes.io/zone".into(), "2".into());
    let mut removed = stored.clone();
    removed.metadata.labels.clear();
    for (verb, node, ok) in [
        (Verb::Update, &stored, true),
        (Verb::Update, &changed, false),
        (Verb::Update, &removed, false),
        (Verb::UpdateStatus, &removed, true),
        (Verb::Create, &stored, false),
    ] {
        let (verb, obj) = write(verb, node);
        let at = Attributes {
            verb,
            kind: Kind::Node,
            namespace: "",
            name: "a",
            object: Some(&obj),
        };
        let r = authorize(&a, &at, &f).await;
        assert_eq!(r.is_ok(), ok, "{verb}: {r:?}");
        if let Err(e) = r {
            assert!(e.to_string().contains("NodeRestriction"), "{e}");
        }
    }
}

#[test]
fn refusals_name_who_what_and_the_rule() {
    let e = AuthError::Forbidden {
        who: Identity::Node("a".into()),
        verb: Verb::UpdateStatus,
        what: "pods \"default/p-b\"".into(),
        rule: Rule::PodStatusOfBoundPods,
    };
    assert_eq!(
        e.to_string(),
        "node \"a\" may not update the status of pods \"default/p-b\": node authorizer: a node \
         may only update the status of pods bound to it"
    );
}

#[test]
fn tokens_persist_rotate_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tokens::load_or_create(dir.path(), None).unwrap();
    let again = Tokens::load_or_create(dir.path(), None).unwrap();
    assert_eq!(
        (t.admin(), t.bootstrap()),
        (again.admin(), again.bootstrap())
    );
    assert_ne!(t.admin(), t.bootstrap());
    assert_eq!(t.match_token(t.admin()).unwrap(), Some(true));
    assert_eq!(t.match_token(&t.bootstrap()).unwrap(), Some(false));
    assert_eq!(t.match_token("nope").unwrap(), None);
    // Rotation: the old token is no longer the bootstrap token.
    let old = t.bootstrap();
    let new = t.rotate_bootstrap(Some(Duration::from_secs(3600))).unwrap();
    assert_eq!(t.match_token(&old).unwrap(), None);
    assert_eq!(
        again.match_token(&old).unwrap(),
        Some(false),
        "another instance reads its file at start only"
    );
    assert_eq!(t.match_token(&new).unwrap(), Some(false));
    // Expired: refused, and replaced at the next start.
    let short = t.rotate_bootstrap(Some(Duration::ZERO)).unwrap();
    assert!(matches!(
        t.match_token(&short),
        Err(AuthError::BootstrapExpired { .. })
    ));
    let restarted = Tokens::load_or_create(dir.path(), Some(Duration::ZERO)).unwrap();
    assert_ne!(restarted.bootstrap(), short);
}
