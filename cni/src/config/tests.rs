use serde_json::json;

use super::*;

fn parse(v: serde_json::Value) -> Result<NetConf, ConfigError> {
    NetConf::from_json(v.to_string().as_bytes())
}

fn minimal() -> serde_json::Value {
    json!({
        "cniVersion": "1.1.0",
        "name": "net",
        "type": "berth-cni",
        "ipam": {"ranges": [[{"subnet": "10.9.0.0/24"}]]}
    })
}

#[test]
fn defaults() {
    let c = parse(minimal()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.bridge, DEFAULT_BRIDGE);
    assert_eq!(c.gateway, GatewayMode::None);
    assert_eq!(c.hairpin, Hairpin::Off);
    assert_eq!(c.ipam.data_dir, std::path::PathBuf::from(DEFAULT_DATA_DIR));
    let r = &c.ipam.range_sets[0].ranges[0];
    assert_eq!(r.start.to_string(), "10.9.0.1");
    assert_eq!(r.end.to_string(), "10.9.0.254");
    assert_eq!(r.gateway.to_string(), "10.9.0.1");
}

#[test]
fn explicit_range_and_default_gateway() {
    let mut v = minimal();
    v["isDefaultGateway"] = json!(true);
    v["ipam"]["ranges"] = json!([[{"subnet": "10.9.0.0/24", "rangeStart": "10.9.0.100", "rangeEnd": "10.9.0.200", "gateway": "10.9.0.254"}]]);
    let c = parse(v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.gateway, GatewayMode::DefaultRoute);
    let set = &c.ipam.range_sets[0];
    assert_eq!(set.capacity(), 101);
}

#[test]
fn reversed_range_and_tiny_subnet_are_invalid() {
    let mut v = minimal();
    v["ipam"]["ranges"] =
        json!([[{"subnet": "10.9.0.0/24", "rangeStart": "10.9.0.20", "rangeEnd": "10.9.0.10"}]]);
    assert!(
        matches!(parse(v.clone()), Err(ConfigError::Invalid { field, .. }) if field == "ipam.ranges[0][0].rangeEnd")
    );
    v["ipam"]["ranges"] = json!([[{"subnet": "10.9.0.0/31"}]]);
    assert!(
        matches!(parse(v.clone()), Err(ConfigError::Invalid { field, .. }) if field == "ipam.ranges[0][0].subnet")
    );
    v["ipam"]["ranges"] = json!([[{"subnet": "10.9.0.0/24"}, {"subnet": "fd00::/64"}]]);
    assert!(
        matches!(parse(v), Err(ConfigError::Invalid { field, .. }) if field == "ipam.ranges[0][1].subnet")
    );
}

#[test]
fn routes_and_valid_attachments() {
    let mut v = minimal();
    v["ipam"]["routes"] = json!([{"dst": "0.0.0.0/0"}, {"dst": "10.96.0.0/12", "gw": "10.9.0.1"}]);
    v["cni.dev/valid-attachments"] = json!([{"containerID": "a", "ifname": "eth0"}]);
    let c = parse(v.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.ipam.routes.len(), 2);
    assert_eq!(
        c.valid_attachments,
        Some(vec![("a".to_string(), "eth0".to_string())])
    );
    v["ipam"]["routes"] = json!([{"dst": "::/0", "gw": "10.9.0.1"}]);
    assert!(
        matches!(parse(v), Err(ConfigError::Invalid { field, .. }) if field == "ipam.routes[0].gw")
    );
}

#[test]
fn mac_from_runtime_config_or_args() {
    let mut v = minimal();
    v["args"] = json!({"cni": {"mac": "0a:00:00:00:00:01"}});
    let c = parse(v.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.mac.map(|m| m.to_string()).as_deref(),
        Some("0a:00:00:00:00:01")
    );
    v["runtimeConfig"] = json!({"mac": "0a:00:00:00:00:02"});
    let c = parse(v.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.mac.map(|m| m.to_string()).as_deref(),
        Some("0a:00:00:00:00:02")
    );
    v["runtimeConfig"] = json!({"mac": "01:00:5e:00:00:01"});
    let e = parse(v).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        e.contains("runtimeConfig.mac") && e.contains("01:00:5e:00:00:01"),
        "{e}"
    );
}

#[test]
fn non_masquerade_cidrs_are_parsed_and_a_bad_one_is_named() {
    let mut v = minimal();
    v["ipMasq"] = serde_json::json!(true);
    v["nonMasqueradeCIDRs"] = serde_json::json!(["10.244.1.7/16", "fd00::/8"]);
    let c = parse(v.clone()).unwrap();
    assert_eq!(
        c.non_masq,
        vec![
            "10.244.0.0/16".parse().unwrap(),
            "fd00::/8".parse().unwrap()
        ]
    );
    v["nonMasqueradeCIDRs"] = serde_json::json!(["10.244.0.0/16", "cluster"]);
    let e = parse(v).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Invalid { field, value, .. } if field == "nonMasqueradeCIDRs[1]" && value == "cluster"),
        "{e}"
    );
    assert!(parse(minimal()).unwrap().non_masq.is_empty());
}
