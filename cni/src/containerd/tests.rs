use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::config::{GatewayMode, Hairpin};
use crate::version::Version;

fn spec() -> ConflistSpec {
    ConflistSpec {
        name: "berth".into(),
        bridge: "berth0".into(),
        subnets: vec![
            "10.244.7.0/24".parse().unwrap(),
            "fd00:10:244:7::/64".parse().unwrap(),
        ],
        data_dir: PathBuf::from("/var/lib/berth/cni/networks"),
        mtu: Some(1450),
        masquerade_except: None,
    }
}

fn daemon() -> ContainerdConfig {
    ContainerdConfig::new(
        "/tmp/x/root",
        "/tmp/x/state",
        "/tmp/x/containerd.sock",
        "berth.local/pause:1",
        "/tmp/x/cni-bin",
        "/tmp/x/cni-conf",
    )
}

#[test]
fn conflist_is_cni_1_0_0_with_one_berth_entry() {
    let v: Value = serde_json::from_str(&spec().to_json()).unwrap();
    assert_eq!(v["cniVersion"], "1.0.0");
    assert_eq!(v["name"], "berth");
    let plugins = v["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0]["type"], "berth-cni");
    // libcni copies these in; the entry itself does not carry them.
    assert!(plugins[0].get("cniVersion").is_none());
    assert_eq!(spec().file_name(), "10-berth.conflist");
}

#[test]
fn conflist_entry_parses_with_net_conf() {
    let conf = plugin_net_conf(spec().to_json().as_bytes()).unwrap();
    assert_eq!(conf.cni_version, Version::parse("1.0.0").unwrap());
    assert_eq!(conf.name, "berth");
    assert_eq!(conf.bridge, "berth0");
    assert_eq!(conf.mtu, Some(1450));
    assert_eq!(conf.gateway, GatewayMode::OnBridge);
    assert_eq!(conf.hairpin, Hairpin::On);
    assert_eq!(
        conf.ipam.data_dir,
        PathBuf::from("/var/lib/berth/cni/networks")
    );
    assert_eq!(conf.ipam.range_sets.len(), 2);
    let dsts: Vec<String> = conf.ipam.routes.iter().map(|r| r.dst.to_string()).collect();
    assert_eq!(dsts, ["0.0.0.0/0", "::/0"]);
    assert!(conf.ipam.routes.iter().all(|r| r.gw.is_none()));
    // The same through the spec's own helper.
    assert_eq!(spec().net_conf().unwrap().name, "berth");
}

#[test]
fn conflist_single_stack_without_mtu() {
    let mut s = spec();
    s.subnets.truncate(1);
    s.mtu = None;
    let v: Value = serde_json::from_str(&s.to_json()).unwrap();
    assert!(v["plugins"][0].get("mtu").is_none());
    let conf = s.net_conf().unwrap();
    assert_eq!(conf.mtu, None);
    assert_eq!(conf.ipam.range_sets.len(), 1);
    assert_eq!(conf.ipam.routes.len(), 1);
}

#[test]
fn conflist_without_subnets_is_refused_by_net_conf() {
    let mut s = spec();
    s.subnets.clear();
    assert!(s.net_conf().is_err());
}

#[test]
fn plugin_net_conf_needs_a_berth_entry() {
    let err =
        plugin_net_conf(br#"{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"}]}"#)
            .unwrap_err();
    assert!(err.to_string().contains("plugins[type="), "{err}");
    assert!(plugin_net_conf(b"{").is_err());
}

fn table(text: &str) -> ::toml::Table {
    ::toml::from_str(text).unwrap_or_else(|e| panic!("generated TOML does not parse: {e}\n{text}"))
}

fn get<'a>(t: &'a ::toml::Table, path: &[&str]) -> &'a ::toml::Value {
    let mut cur = t
        .get(path[0])
        .unwrap_or_else(|| panic!("missing {}", path[0]));
    for key in &path[1..] {
        cur = cur
            .get(key)
            .unwrap_or_else(|| panic!("missing {key} in {path:?}"));
    }
    cur
}

#[test]
fn containerd_toml_parses_and_has_the_settings() {
    let t = table(&daemon().to_toml());
    assert_eq!(get(&t, &["version"]).as_integer(), Some(2));
    assert_eq!(get(&t, &["root"]).as_str(), Some("/tmp/x/root"));
    assert_eq!(get(&t, &["state"]).as_str(), Some("/tmp/x/state"));
    assert_eq!(
        get(&t, &["grpc", "address"]).as_str(),
        Some("/tmp/x/containerd.sock")
    );
    assert_eq!(
        get(&t, &["ttrpc", "address"]).as_str(),
        Some("/tmp/x/containerd.sock.ttrpc")
    );
    let cri = ["plugins", CRI_PLUGIN];
    let at = |rest: &[&str]| {
        let mut p = cri.to_vec();
        p.extend_from_slice(rest);
        get(&t, &p).clone()
    };
    assert_eq!(at(&["sandbox_image"]).as_str(), Some("berth.local/pause:1"));
    assert_eq!(at(&["restrict_oom_score_adj"]).as_bool(), Some(true));
    assert_eq!(at(&["cni", "bin_dir"]).as_str(), Some("/tmp/x/cni-bin"));
    assert_eq!(at(&["cni", "conf_dir"]).as_str(), Some("/tmp/x/cni-conf"));
    assert_eq!(
        at(&["containerd", "snapshotter"]).as_str(),
        Some("overlayfs")
    );
    assert_eq!(
        at(&["containerd", "runtimes", "runc", "runtime_type"]).as_str(),
        Some(RUNC_RUNTIME_TYPE)
    );
    assert_eq!(
        at(&["containerd", "runtimes", "runc", "options", "Root"]).as_str(),
        Some("/tmp/x/state/runc")
    );
    assert_eq!(
        get(&t, &["plugins", "io.containerd.internal.v1.opt", "path"]).as_str(),
        Some("/tmp/x/root/opt")
    );
    let disabled: Vec<&str> = get(&t, &["disabled_plugins"])
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(disabled, DEFAULT_DISABLED_PLUGINS);
    assert!(!disabled.contains(&CRI_PLUGIN));
    let required = get(&t, &["required_plugins"]).as_array().unwrap();
    assert_eq!(required[0].as_str(), Some(CRI_PLUGIN));
}

#[test]
fn containerd_toml_native_snapshotter_and_cri_never_disabled() {
    let mut d = daemon();
    d.snapshotter = Snapshotter::Native;
    d.disabled_plugins = vec![
        CRI_PLUGIN.into(),
        "io.containerd.tracing.processor.v1.otlp".into(),
    ];
    let t = table(&d.to_toml());
    assert_eq!(
        get(&t, &["plugins", CRI_PLUGIN, "containerd", "snapshotter"]).as_str(),
        Some("native")
    );
    let disabled = get(&t, &["disabled_plugins"]).as_array().unwrap();
    assert_eq!(disabled.len(), 1);
    assert_eq!(
        disabled[0].as_str(),
        Some("io.containerd.tracing.processor.v1.otlp")
    );
}

#[test]
fn containerd_toml_quotes_odd_paths() {
    let mut d = daemon();
    d.root = PathBuf::from("/tmp/a \"quoted\" dir\\with\ttab");
    d.sandbox_image = "reg.example:5000/pause@sha256:abc".into();
    let t = table(&d.to_toml());
    assert_eq!(
        get(&t, &["root"]).as_str(),
        Some("/tmp/a \"quoted\" dir\\with\ttab")
    );
    assert_eq!(
        get(&t, &["plugins", CRI_PLUGIN, "sandbox_image"]).as_str(),
        Some("reg.example:5000/pause@sha256:abc")
    );
}
