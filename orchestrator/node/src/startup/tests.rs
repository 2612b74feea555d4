//! Unit tests of the configuration's validation (no root: the node's links
//! are [`FakeLinks`]) and of the flag values' parsers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use super::*;
use crate::podnet::plan::Underlay;
use crate::podnet::{FakeLinks, Mode};
use crate::proxy::DataplaneSettings;

/// A token and a CA in a temporary directory, and a configuration with
/// `berth agent`'s defaults that uses them.
fn config(dir: &Path) -> NodeConfig {
    std::fs::write(dir.join("node-token"), "secret\n").unwrap();
    std::fs::write(dir.join("ca.crt"), "CA").unwrap();
    NodeConfig {
        credentials: Credentials {
            server: "https://10.0.0.1:6443".into(),
            token_file: dir.join("node-token"),
            ca_file: None,
        },
        node_name: Some("n1".into()),
        node_ips: "10.0.0.2".parse().unwrap(),
        berth_binary: "/usr/bin/berth".into(),
        data_dir: "/var/lib/berth/agent".into(),
        run_dir: "/run/berth".into(),
        cni: CniSettings {
            bin_dir: "/opt/cni/bin".into(),
            conf_dir: "/etc/cni/net.d".into(),
            bridge: "berth0".into(),
            cluster_cidr: "10.244.0.0/16,fd00:10:244::/56".into(),
        },
        containerd: ContainerdSettings {
            endpoint: None,
            sandbox_image: "berth.local/pause:3.9".into(),
        },
        dataplane: Some(DataplaneSettings::default()),
        dns: Some(NodeDnsSettings {
            address: "169.254.20.10".parse().unwrap(),
            interface: "berth-dns".into(),
            upstreams: vec![],
            metrics_listen: None,
        }),
        pod_network: PodNetwork(Some(Mode::Auto)),
        agent: AgentSettings {
            cluster_dns: "10.96.0.10".into(),
            cluster_domain: "cluster.local".into(),
            pod_log_dir: "/var/log/berth/pods".into(),
            cgroup_parent: String::new(),
            lease_period: Duration::from_secs(10),
        },
    }
}

fn links(mtu: u32) -> FakeLinks {
    FakeLinks {
        underlay: Some(Underlay {
            dev: "eth0".into(),
            subnets: vec!["10.0.0.0/24".parse().unwrap()],
            mtu,
        }),
        applied: vec![],
    }
}

/// The error of validating `c`, as a string, with its field and value.
fn refused(c: NodeConfig) -> String {
    match c.validate(&links(1500)) {
        Ok(_) => panic!("accepted"),
        Err(e) => berth_api::error_chain(&e),
    }
}

#[test]
fn a_good_configuration_is_accepted_and_the_agent_gets_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let s = config(dir.path()).validate(&links(1500)).unwrap();
    assert_eq!(s.node_name(), "n1");
    // VXLAN may carry the pods' packets: the underlay's MTU less 50.
    assert_eq!(s.pod_mtu(), Some(1450));
    let a = s.agent_config();
    assert_eq!((a.node_ip.as_str(), a.node_ips.len()), ("10.0.0.2", 1));
    assert_eq!(
        a.state_dir,
        PathBuf::from("/var/lib/berth/agent/pods-state")
    );
    assert_eq!(a.dns.servers, vec!["10.96.0.10".to_string()]);
    assert_eq!(a.lease_period, Duration::from_secs(10));
}

#[test]
fn the_pod_mtu_is_lowered_only_where_vxlan_may_carry_pods() {
    let dir = tempfile::tempdir().unwrap();
    let mtu = |ips: &str, net: Option<Mode>, links: FakeLinks| {
        let mut c = config(dir.path());
        c.node_ips = ips.parse().unwrap();
        c.pod_network = PodNetwork(net);
        c.validate(&links).unwrap().pod_mtu()
    };
    assert_eq!(mtu("10.0.0.2", Some(Mode::Vxlan), links(9000)), Some(8950));
    assert_eq!(mtu("10.0.0.2", Some(Mode::HostGw), links(1500)), None);
    assert_eq!(mtu("10.0.0.2", None, links(1500)), None);
    assert_eq!(mtu("127.0.0.1", Some(Mode::Auto), links(1500)), None);
    // No interface holds the address: the kernel's default, as before.
    assert_eq!(
        mtu("10.0.0.2", Some(Mode::Auto), FakeLinks::default()),
        None
    );
}

#[test]
fn bad_credentials_name_the_flag_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.credentials.server = "http://10.0.0.1:6443".into();
    let e = refused(c);
    assert!(
        e.contains("--server: invalid value \"http://10.0.0.1:6443\"")
            && e.contains("https://HOST:PORT"),
        "{e}"
    );
    let mut c = config(dir.path());
    c.credentials.token_file = dir.path().join("missing");
    let e = refused(c);
    assert!(
        e.starts_with("--token-file: reading ") && e.contains("missing"),
        "{e}"
    );
    let c = config(dir.path());
    std::fs::write(dir.path().join("node-token"), "\n").unwrap();
    let e = refused(c);
    assert!(e.contains("--token-file") && e.contains("is empty"), "{e}");
    let mut c = config(dir.path());
    c.credentials.ca_file = Some(dir.path().join("other-ca.crt"));
    let e = refused(c);
    assert!(
        e.contains("--ca-file: reading ") && e.contains("other-ca.crt"),
        "{e}"
    );
}

#[test]
fn bad_values_name_the_flag_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    type Change = fn(&mut NodeConfig);
    let cases: [(&str, Change); 6] = [
        ("--cluster-cidr: invalid value \"pods\"", |c| {
            c.cni.cluster_cidr = "10.244.0.0/16,pods".into()
        }),
        ("--bridge: invalid value \"a-bridge-name-too-long\"", |c| {
            c.cni.bridge = "a-bridge-name-too-long".into()
        }),
        ("--dns-interface: invalid value \"dns:0\"", |c| {
            c.dns.as_mut().unwrap().interface = "dns:0".into()
        }),
        ("--node-name: invalid value \"\"", |c| {
            c.node_name = Some(String::new())
        }),
        ("--run-dir: invalid value \"/run/", |c| {
            c.run_dir = PathBuf::from("/run").join("x".repeat(100))
        }),
        ("--container-runtime-endpoint: invalid value \"/", |c| {
            c.containerd.endpoint = Some(PathBuf::from("/").join("s".repeat(110)))
        }),
    ];
    for (want, change) in cases {
        let mut c = config(dir.path());
        change(&mut c);
        let e = refused(c);
        assert!(e.starts_with(want), "{e}");
    }
    // Without the DNS process its link is not checked.
    let mut c = config(dir.path());
    c.dns = None;
    c.cni.cluster_cidr = "none".into();
    assert!(c.validate(&links(1500)).is_ok());
}

#[test]
fn cluster_cidrs_are_not_masqueraded_and_none_turns_masquerading_off() {
    let flag = "10.244.0.0/16, fd00:10:244::/56";
    let nets = validate::parse_cluster_cidr(flag).unwrap();
    let except = cni::masquerade_except(&nets, flag, &["10.244.3.0/24".into()]).unwrap();
    assert_eq!(
        except,
        vec![
            "10.244.0.0/16".parse::<IpNet>().unwrap(),
            "fd00:10:244::/56".parse().unwrap()
        ]
    );
    // A node CIDR outside the flag's is added, not masqueraded to.
    let nets = validate::parse_cluster_cidr("10.244.0.0/16").unwrap();
    let except = cni::masquerade_except(&nets, "10.244.0.0/16", &["10.250.1.0/24".into()]);
    assert_eq!(except.unwrap().len(), 2);
    let none = validate::parse_cluster_cidr("none").unwrap();
    assert_eq!(cni::masquerade_except(&none, "none", &[]), None);
}

#[test]
fn node_ips_are_one_address_or_one_of_each_family() {
    let one: NodeIps = "192.168.1.2".parse().unwrap();
    assert_eq!((one.v4().is_some(), one.v6()), (true, None));
    let dual: NodeIps = "fd00::2,192.168.1.2".parse().unwrap();
    assert_eq!(dual.primary().to_string(), "fd00::2");
    assert_eq!(dual.v4().unwrap().to_string(), "192.168.1.2");
    assert_eq!(dual.to_string(), "fd00::2,192.168.1.2");
    let e = "10.0.0.1,10.0.0.2".parse::<NodeIps>().unwrap_err();
    assert!(
        e.contains("\"10.0.0.1,10.0.0.2\"") && e.contains("one IPv4 and one IPv6"),
        "{e}"
    );
    let e = "10.0.0.1,node".parse::<NodeIps>().unwrap_err();
    assert!(e.contains("\"node\""), "{e}");
    assert!("10.0.0.1,fd00::1,fd00::2".parse::<NodeIps>().is_err());
}

#[test]
fn pod_network_and_upstream_values() {
    assert_eq!("none".parse::<PodNetwork>().unwrap(), PodNetwork(None));
    assert_eq!(
        "host-gw".parse::<PodNetwork>().unwrap(),
        PodNetwork(Some(Mode::HostGw))
    );
    let e = "flat".parse::<PodNetwork>().unwrap_err();
    assert!(e.contains("\"flat\"") && e.ends_with("(or none)"), "{e}");
    assert_eq!(parse_upstream("9.9.9.9").unwrap().to_string(), "9.9.9.9:53");
    assert_eq!(
        parse_upstream("[fd00::1]:5353").unwrap().to_string(),
        "[fd00::1]:5353"
    );
    assert!(
        parse_upstream("dns.example")
            .unwrap_err()
            .contains("\"dns.example\"")
    );
}

#[test]
fn the_dns_process_is_berth_dns_with_the_node_files() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let d = dns_daemon(&c, c.dns.as_ref().unwrap());
    assert_eq!(d.name(), "dns");
    assert_eq!(d.log(), Path::new("/var/lib/berth/agent/dns.log"));
    let creds = &c.credentials;
    assert_eq!(creds.ca_path(), dir.path().join("ca.crt"));
    assert_eq!(
        c.containerd_socket(),
        PathBuf::from("/run/berth/containerd/containerd.sock")
    );
}
