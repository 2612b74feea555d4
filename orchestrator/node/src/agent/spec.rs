//! A Pod as the runtime is asked for it: the sandbox (hostname, resolv.conf
//! as kubelet writes it, host networking) and each container (image,
//! command, environment with the downward API and ConfigMap/Secret
//! references resolved, mounts, resources).

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::pod::DnsPolicy;
use berth_api::{Container, Pod};

use crate::runtime::{ContainerSpec, DnsConfig, MountSpec, SandboxSpec};

/// What the agent knows of the cluster's DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    /// The cluster DNS Service's addresses (10.96.0.10).
    pub servers: Vec<String>,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
}

/// resolv.conf of a pod, as kubelet writes it for `ClusterFirst`:
/// `nameserver <cluster DNS>`, `search <ns>.svc.<domain> svc.<domain>
/// <domain>`, `options ndots:5`. `Default` (and host networking with
/// `ClusterFirst`) use the node's own resolv.conf (`None`).
pub fn dns_config(pod: &Pod, dns: &ClusterDns) -> Option<DnsConfig> {
    let cluster_first = match pod.spec.dns_policy {
        DnsPolicy::ClusterFirst => !pod.spec.host_network,
        DnsPolicy::ClusterFirstWithHostNet => true,
        _ => false,
    };
    if !cluster_first || dns.servers.is_empty() {
        return None;
    }
    let d = &dns.domain;
    Some(DnsConfig {
        servers: dns.servers.clone(),
        searches: vec![
            format!("{}.svc.{d}", pod.metadata.namespace),
            format!("svc.{d}"),
            d.clone(),
        ],
        options: vec!["ndots:5".into()],
    })
}

/// The sandbox of `pod` (attempt `attempt`).
pub fn sandbox(
    pod: &Pod,
    attempt: u32,
    dns: &ClusterDns,
    log_root: &Path,
    cgroup_parent: &str,
) -> SandboxSpec {
    let m = &pod.metadata;
    let hostname = if pod.spec.hostname.is_empty() {
        m.name.clone()
    } else {
        pod.spec.hostname.clone()
    };
    SandboxSpec {
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        uid: m.uid.clone(),
        attempt,
        hostname: hostname.chars().take(63).collect(),
        labels: m.labels.clone(),
        log_directory: log_root.join(format!("{}_{}_{}", m.namespace, m.name, m.uid)),
        cgroup_parent: cgroup_parent.to_owned(),
        host_network: pod.spec.host_network,
        dns: dns_config(pod, dns),
    }
}

/// Why an environment variable could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct EnvError {
    /// `spec.containers[0].env[2].valueFrom.configMapKeyRef`.
    pub field: String,
    /// What is missing (`configmap "app" not found`).
    pub reason: String,
}

/// What environment references read: ConfigMaps and Secrets by name
/// (Secret values already decoded).
#[derive(Debug, Clone, Default)]
pub struct EnvSources {
    /// ConfigMap name → data.
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Secret name → data.
    pub secrets: BTreeMap<String, BTreeMap<String, String>>,
}

fn field_value(pod: &Pod, path: &str, pod_ip: &str) -> String {
    match path {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "spec.nodeName" => pod.spec.node_name.clone(),
        "status.podIP" | "status.podIPs" => pod_ip.to_owned(),
        "status.hostIP" | "status.hostIPs" => pod.status.host_ip.clone(),
        "metadata.labels" => kv(&pod.metadata.labels),
        "metadata.annotations" => kv(&pod.metadata.annotations),
        _ => String::new(),
    }
}

fn kv(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The container's environment, in Kubernetes' order: `envFrom` first
/// (each source in order), then `env` (later names win, as `$(VAR)`-free
/// kubelet does).
pub fn environment(
    pod: &Pod,
    index: usize,
    c: &Container,
    sources: &EnvSources,
    pod_ip: &str,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let set = |k: String, v: String, out: &mut Vec<(String, String)>| {
        out.retain(|(n, _)| *n != k);
        out.push((k, v));
    };
    let base = format!("spec.containers[{index}]");
    for (j, from) in c.env_from.iter().enumerate() {
        let (kind, r, map) = if let Some(r) = &from.config_map_ref {
            ("configmap", r, sources.config_maps.get(&r.name))
        } else if let Some(r) = &from.secret_ref {
            ("secret", r, sources.secrets.get(&r.name))
        } else {
            continue;
        };
        match map {
            Some(m) => {
                for (k, v) in m {
                    set(format!("{}{k}", from.prefix), v.clone(), &mut out);
                }
            }
            None if r.optional == Some(true) => {}
            None => {
                return Err(EnvError {
                    field: format!("{base}.envFrom[{j}]"),
                    reason: format!("{kind} {:?} not found", r.name),
                });
            }
        }
    }
    for (j, e) in c.env.iter().enumerate() {
        let Some(from) = &e.value_from else {
            set(e.name.clone(), e.value.clone(), &mut out);
            continue;
        };
        let field = format!("{base}.env[{j}].valueFrom");
        let (kind, sel, map) = if let Some(s) = &from.config_map_key_ref {
            ("configmap", s, sources.config_maps.get(&s.name))
        } else if let Some(s) = &from.secret_key_ref {
            ("secret", s, sources.secrets.get(&s.name))
        } else if let Some(f) = &from.field_ref {
            set(
                e.name.clone(),
                field_value(pod, &f.field_path, pod_ip),
                &mut out,
            );
            continue;
        } else {
            continue;
        };
        let value = map.and_then(|m| m.get(&sel.key));
        match value {
            Some(v) => set(e.name.clone(), v.clone(), &mut out),
            None if sel.optional == Some(true) => {}
            None => {
                let reason = if map.is_none() {
                    format!("{kind} {:?} not found", sel.name)
                } else {
                    format!("key {:?} not found in {kind} {:?}", sel.key, sel.name)
                };
                return Err(EnvError { field, reason });
            }
        }
    }
    Ok(out)
}

/// The container spec for the runtime.
pub fn container(
    c: &Container,
    image: String,
    attempt: u32,
    env: Vec<(String, String)>,
    mounts: Vec<MountSpec>,
) -> ContainerSpec {
    let r = &c.resources;
    let cpu_limit = r
        .limits
        .get("cpu")
        .map(|q| q.milli_value() as i64)
        .unwrap_or(0);
    let mem_limit = r
        .limits
        .get("memory")
        .map(|q| q.value() as i64)
        .unwrap_or(0);
    ContainerSpec {
        name: c.name.clone(),
        attempt,
        image,
        command: c.command.clone(),
        args: c.args.clone(),
        env,
        working_dir: c.working_dir.clone(),
        mounts,
        cpu_limit_milli: cpu_limit,
        cpu_request_milli: r.cpu_request_milli() as i64,
        memory_limit: mem_limit,
    }
}

#[cfg(test)]
mod tests {
    use berth_api::EnvVar;
    use berth_api::container::{EnvVarSource, KeySelector, ObjectFieldSelector};

    use super::*;

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = "web-1".into();
        p.metadata.namespace = "prod".into();
        p.metadata.uid = "u1".into();
        p.spec.node_name = "n1".into();
        p
    }

    #[test]
    fn resolv_conf_is_kubelets() {
        let dns = ClusterDns {
            servers: vec!["10.96.0.10".into()],
            domain: "cluster.local".into(),
        };
        let d = dns_config(&pod(), &dns).unwrap();
        assert_eq!(d.servers, ["10.96.0.10"]);
        assert_eq!(
            d.searches,
            [
                "prod.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
        assert_eq!(d.options, ["ndots:5"]);
        let mut host = pod();
        host.spec.host_network = true;
        assert_eq!(dns_config(&host, &dns), None);
        host.spec.dns_policy = DnsPolicy::ClusterFirstWithHostNet;
        assert!(dns_config(&host, &dns).is_some());
    }

    #[test]
    fn environment_resolves_references_and_names_what_is_missing() {
        let p = pod();
        let c = Container {
            env: vec![
                EnvVar {
                    name: "A".into(),
                    value: "1".into(),
                    value_from: None,
                },
                EnvVar {
                    name: "POD".into(),
                    value: String::new(),
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.name".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                },
                EnvVar {
                    name: "MODE".into(),
                    value: String::new(),
                    value_from: Some(EnvVarSource {
                        config_map_key_ref: Some(KeySelector {
                            name: "app".into(),
                            key: "mode".into(),
                            optional: None,
                        }),
                        ..Default::default()
                    }),
                },
            ],
            ..Container::default()
        };
        let mut sources = EnvSources::default();
        let e = environment(&p, 0, &c, &sources, "10.244.1.5").unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.containers[0].env[2].valueFrom: configmap \"app\" not found"
        );
        sources.config_maps.insert(
            "app".into(),
            BTreeMap::from([("mode".to_string(), "fast".to_string())]),
        );
        let env = environment(&p, 0, &c, &sources, "10.244.1.5").unwrap();
        assert_eq!(
            env,
            [
                ("A".to_string(), "1".to_string()),
                ("POD".into(), "web-1".into()),
                ("MODE".into(), "fast".into())
            ]
        );
    }
}
