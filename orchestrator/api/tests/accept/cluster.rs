//! ReplicaSets, leases, taints and deletion as a cluster writes them.

use super::*;

#[test]
fn kubectl_get_replicaset_output() {
    let docs = read("kubectl-get-replicaset.yaml");
    assert_eq!(docs.len(), 1);
    assert!(docs[0].warnings.is_empty(), "{:?}", docs[0].warnings);
    assert_round_trips(&docs);
    let rs: ReplicaSet = docs[0].object.clone().try_into().unwrap();
    assert_eq!(
        rs.key().to_string(),
        "ReplicaSet kube-system/coredns-7db6d8ff4d"
    );
    assert_eq!(
        rs.key().path(),
        "replicasets/kube-system/coredns-7db6d8ff4d"
    );
    assert_eq!(rs.spec.replicas, 2);
    assert_eq!(rs.spec.min_ready_seconds, 0);
    assert!(rs.spec.selector.matches(&rs.spec.template.metadata.labels));
    let owner = rs.metadata.controller().unwrap();
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "coredns")
    );
    let pod = &rs.spec.template.spec;
    assert_eq!(pod.dns_policy, DnsPolicy::Default);
    assert_eq!(pod.tolerations.len(), 2);
    assert_eq!(
        (
            rs.status.replicas,
            rs.status.fully_labeled_replicas,
            rs.status.ready_replicas,
            rs.status.available_replicas,
            rs.status.observed_generation
        ),
        (2, 2, 2, 2, 1)
    );

    // Written as kubectl writes it, status last; the status is the server's.
    let yaml = docs[0].object.to_yaml().unwrap();
    assert!(
        yaml.starts_with("apiVersion: apps/v1\nkind: ReplicaSet\n"),
        "{yaml}"
    );
    assert!(
        yaml.ends_with(
            "status:\n  replicas: 2\n  fullyLabeledReplicas: 2\n  readyReplicas: 2\n  availableReplicas: 2\n  observedGeneration: 1\n"
        ),
        "{yaml}"
    );
    let mut o = docs[0].object.clone();
    o.clear_status();
    assert!(!o.to_yaml().unwrap().contains("status"));

    // A minimal one gets the defaults.
    let minimal = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: web, image: nginx}\n";
    let docs = manifest::parse_str(minimal, "rs.yaml", &ParseOptions::default()).unwrap();
    let Object::ReplicaSet(rs) = &docs[0].object else {
        panic!("{:?}", docs[0].object.kind())
    };
    assert_eq!(rs.metadata.namespace, "default");
    assert_eq!(rs.spec.replicas, 1);
    let pod = &rs.spec.template.spec;
    assert_eq!(pod.restart_policy, RestartPolicy::Always);
    assert_eq!(
        pod.containers[0].image_pull_policy,
        Some(PullPolicy::Always)
    );
    assert_round_trips(&docs);
}

#[test]
fn node_and_leader_election_leases() {
    let docs = read("node-lease.yaml");
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d.warnings.is_empty()));
    assert_round_trips(&docs);

    let node: Lease = docs[0].object.clone().try_into().unwrap();
    assert_eq!(node.key().to_string(), "Lease kube-node-lease/node-1");
    assert_eq!(node.metadata.namespace, NODE_LEASE_NAMESPACE);
    assert_eq!(node.spec.holder_identity, "node-1");
    assert_eq!(node.spec.lease_duration_seconds, Some(40));
    assert_eq!(node.spec.acquire_time, None);
    let renew = node.spec.renew_time.unwrap();
    assert_eq!(
        renew.subsec_nanos(),
        264_718_000,
        "the microseconds are kept"
    );
    assert_eq!(renew.to_string(), "2024-05-02T10:01:13.264718Z");

    let leader: Lease = docs[1].object.clone().try_into().unwrap();
    assert_eq!(leader.spec.lease_transitions, Some(3));
    assert_eq!(
        leader.spec.acquire_time.unwrap().to_string(),
        "2024-05-02T09:14:21Z"
    );
    let yaml = docs[1].object.to_yaml().unwrap();
    assert_eq!(
        yaml,
        "\
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: berth-scheduler
  namespace: kube-system
spec:
  holderIdentity: control-1_6f1c
  leaseDurationSeconds: 15
  acquireTime: 2024-05-02T09:14:21Z
  renewTime: 2024-05-02T10:01:12.5Z
  leaseTransitions: 3
"
    );
}

#[test]
fn pod_tolerations_and_node_taints() {
    let docs = read("tolerations.yaml");
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d.warnings.is_empty()));
    assert_round_trips(&docs);
    let Object::Pod(pod) = &docs[0].object else {
        unreachable!()
    };
    let t = &pod.spec.tolerations;
    assert_eq!(t.len(), 4);
    assert_eq!(t[0].operator, TolerationOperator::Exists);
    assert_eq!(t[1].toleration_seconds, Some(300));
    assert_eq!(t[2].operator, TolerationOperator::Equal, "Equal by default");
    assert_eq!((t[2].value.as_str(), t[2].effect), ("agents", None));
    assert_eq!((t[3].key.as_str(), t[3].effect), ("", None));

    let Object::Node(node) = &docs[1].object else {
        unreachable!()
    };
    let taints: Vec<String> = node.spec.taints.iter().map(ToString::to_string).collect();
    assert_eq!(
        taints,
        [
            "node-role.kubernetes.io/control-plane:NoSchedule",
            "node.kubernetes.io/unreachable:NoExecute"
        ]
    );
    assert!(node.spec.taints[1].time_added.is_some());
    for taint in &node.spec.taints {
        assert!(t[0..2].iter().any(|t| t.tolerates(taint)), "{taint}");
    }
    let gpu = Taint {
        key: "dedicated".to_owned(),
        value: "gpu".to_owned(),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    };
    assert!(!t[2].tolerates(&gpu));
    assert!(
        t[3].tolerates(&gpu),
        "empty key with Exists tolerates every taint"
    );

    // Tolerations may be added to a running pod, not changed.
    let old = pod.clone();
    let mut new = old.clone();
    new.spec.tolerations.push(Toleration {
        key: "extra".to_owned(),
        operator: TolerationOperator::Exists,
        ..Toleration::default()
    });
    new.spec.tolerations[1].toleration_seconds = Some(60);
    new.validate_update(&old).unwrap();
    let mut changed = old.clone();
    changed.spec.tolerations[2].value = "others".to_owned();
    assert_eq!(
        changed.validate_update(&old).unwrap_err().to_string(),
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
    );
}

#[test]
fn deletion_timestamp_and_grace_period_are_kept() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  deletionTimestamp: \"2024-05-02T10:00:30Z\"\n  deletionGracePeriodSeconds: 30\nspec:\n  containers:\n  - {name: c, image: busybox}\n";
    let docs = manifest::parse_str(yaml, "pod.yaml", &ParseOptions::default()).unwrap();
    assert!(docs[0].warnings.is_empty());
    let meta = docs[0].object.metadata();
    assert!(meta.is_deleting());
    assert_eq!(meta.deletion_grace_period_seconds, Some(30));
    assert_round_trips(&docs);
    let json = docs[0].object.to_json().unwrap();
    assert!(
        String::from_utf8(json).unwrap().contains(
            r#""deletionTimestamp":"2024-05-02T10:00:30Z","deletionGracePeriodSeconds":30"#
        )
    );
}
