//! Result shape equal to the reference `bridge` plugin's for the same
//! config: berth-cni and `/usr/lib/cni/bridge` (+ `host-local`, from
//! Debian's containernetworking-plugins) each run ADD as a runtime does
//! (a process, `CNI_*` environment, config on stdin) in their own node
//! namespace with the same subnet; the two results must have the same
//! keys and value types everywhere (top level, `interfaces`, `ips`,
//! `routes`, `dns`), and the same values wherever the configuration
//! determines them (everything but MACs, the host veth's name and the
//! sandbox path).
//!
//! Needs root and the reference plugins: without them the test fails and
//! says to run `cargo xtask setup`.

mod common;

use std::{
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
};

use berth_test_support::{Netns, cmd::in_netns_and_cgroup};
use serde_json::{Value, json};

const BERTH: &str = env!("CARGO_BIN_EXE_cni-plugin");
const REFERENCE_DIR: &str = "/usr/lib/cni";

/// Fails (never skips) when the reference plugins are not installed.
fn require_reference() {
    for p in ["bridge", "host-local"] {
        let path = Path::new(REFERENCE_DIR).join(p);
        assert!(
            path.is_file(),
            "{} is missing: run `cargo xtask setup` (it installs the Debian package \
             containernetworking-plugins, the reference CNI plugins this test compares against)",
            path.display()
        );
    }
}

/// One plugin process inside `node`, exactly as a runtime starts it.
fn exec(
    node: &Netns,
    binary: &str,
    cni_path: &str,
    op: &str,
    id: &str,
    pod: &Netns,
    conf: &Value,
) -> (bool, String, String) {
    let mut cmd: Command = in_netns_and_cgroup(binary, node, None).into();
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", op)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", pod.path())
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {binary}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(conf.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("writing the config to {binary}: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {binary}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A plugin with its own node namespace, pod namespace and IPAM directory.
struct Side {
    label: &'static str,
    binary: String,
    cni_path: String,
    conf: Value,
    node: Netns,
    pod: Netns,
    _data: tempfile::TempDir,
}

impl Side {
    fn new(
        label: &'static str,
        binary: &str,
        conf_type: &str,
        version: &str,
        ranges: &Value,
    ) -> Side {
        let node = Netns::new().expect("node netns");
        let pod = Netns::new().expect("pod netns");
        let data = tempfile::tempdir().expect("tempdir");
        let mut conf = common::conf("shape", data.path(), ranges.clone());
        conf["type"] = json!(conf_type);
        conf["cniVersion"] = json!(version);
        let cni_path = Path::new(binary)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Side {
            label,
            binary: binary.to_string(),
            cni_path,
            conf,
            node,
            pod,
            _data: data,
        }
    }

    fn call(&self, op: &str) -> (bool, String, String) {
        exec(
            &self.node,
            &self.binary,
            &self.cni_path,
            op,
            "shape-ctr",
            &self.pod,
            &self.conf,
        )
    }

    fn add(&self) -> Value {
        let (ok, stdout, stderr) = self.call("ADD");
        assert!(
            ok,
            "{} ADD failed\nstdout: {stdout}\nstderr: {stderr}",
            self.label
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{} ADD printed no JSON ({e})\nstdout: {stdout}\nstderr: {stderr}",
                self.label
            )
        })
    }

    fn del(&self) {
        let (ok, stdout, stderr) = self.call("DEL");
        assert!(
            ok,
            "{} DEL failed\nstdout: {stdout}\nstderr: {stderr}",
            self.label
        );
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every place where `b` (berth) and `r` (reference) differ in keys,
/// types or array lengths.
fn shape_diff(path: &str, b: &Value, r: &Value, out: &mut Vec<String>) {
    match (b, r) {
        (Value::Object(bo), Value::Object(ro)) => {
            for k in ro.keys().filter(|k| !bo.contains_key(*k)) {
                out.push(format!(
                    "{path}.{k}: the reference has it, berth-cni does not"
                ));
            }
            for k in bo.keys().filter(|k| !ro.contains_key(*k)) {
                out.push(format!(
                    "{path}.{k}: berth-cni has it, the reference does not"
                ));
            }
            for (k, bv) in bo {
                if let Some(rv) = ro.get(k) {
                    shape_diff(&format!("{path}.{k}"), bv, rv, out);
                }
            }
        }
        (Value::Array(ba), Value::Array(ra)) => {
            if ba.len() != ra.len() {
                out.push(format!(
                    "{path}: berth-cni has {} entries, the reference {}",
                    ba.len(),
                    ra.len()
                ));
            }
            for (i, (bv, rv)) in ba.iter().zip(ra).enumerate() {
                shape_diff(&format!("{path}[{i}]"), bv, rv, out);
            }
        }
        _ if kind(b) != kind(r) => out.push(format!(
            "{path}: berth-cni gives a {} ({b}), the reference a {} ({r})",
            kind(b),
            kind(r)
        )),
        _ => {}
    }
}

fn is_mac(s: &str) -> bool {
    s.len() == 17
        && s.split(':').count() == 6
        && s.split(':').all(|o| {
            o.len() == 2
                && o.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        })
}

/// The result with the values the configuration does not determine
/// replaced by placeholders (after checking their form).
fn normalized(label: &str, r: &Value, pod: &Netns) -> Value {
    let mut r = r.clone();
    if let Some(ifaces) = r["interfaces"].as_array_mut() {
        for (i, iface) in ifaces.iter_mut().enumerate() {
            if let Some(mac) = iface.get("mac").and_then(Value::as_str) {
                assert!(
                    is_mac(mac),
                    "{label}: interfaces[{i}].mac {mac:?} is not a lower-case MAC"
                );
                iface["mac"] = json!("<mac>");
            }
            if let Some(sb) = iface.get("sandbox").and_then(Value::as_str) {
                assert_eq!(
                    sb,
                    pod.path().display().to_string(),
                    "{label}: interfaces[{i}].sandbox is not CNI_NETNS"
                );
                iface["sandbox"] = json!("<CNI_NETNS>");
            }
        }
        // The host end of the veth: a generated name.
        if let Some(name) = ifaces.get(1).and_then(|i| i["name"].as_str()) {
            assert!(
                name.starts_with("veth") && name.len() <= 15,
                "{label}: interfaces[1].name {name:?} is not a host veth name"
            );
            ifaces[1]["name"] = json!("<host veth>");
        }
    }
    r
}

fn compare(version: &str, ranges: Value) {
    require_reference();
    let berth = Side::new("berth-cni", BERTH, "berth-cni", version, &ranges);
    let reference = Side::new(
        "reference bridge",
        &format!("{REFERENCE_DIR}/bridge"),
        "bridge",
        version,
        &ranges,
    );
    let b = berth.add();
    let r = reference.add();
    let both = format!(
        "cniVersion {version}\nconfig (reference: \"type\": \"bridge\"): {}\nberth-cni result: {}\nreference result: {}",
        berth.conf,
        serde_json::to_string_pretty(&b).unwrap_or_default(),
        serde_json::to_string_pretty(&r).unwrap_or_default()
    );
    eprintln!("{both}");

    let mut diffs = Vec::new();
    shape_diff("$", &b, &r, &mut diffs);
    assert!(
        diffs.is_empty(),
        "result shapes differ:\n  {}\n{both}",
        diffs.join("\n  ")
    );
    for key in ["interfaces", "ips", "routes"] {
        assert!(
            r[key].as_array().is_some_and(|a| !a.is_empty()),
            "the reference result has no {key}: the comparison would be vacuous\n{both}"
        );
    }
    assert_eq!(
        normalized("berth-cni", &b, &berth.pod),
        normalized("reference", &r, &reference.pod),
        "results differ beyond MACs, the host veth's name and the sandbox path\n{both}"
    );

    berth.del();
    reference.del();
}

#[test]
fn result_shape_equals_the_reference_bridge_1_0_0() {
    compare("1.0.0", json!([[{"subnet": "10.244.9.0/24"}]]));
}

#[test]
fn result_shape_equals_the_reference_bridge_0_4_0() {
    compare("0.4.0", json!([[{"subnet": "10.244.9.0/24"}]]));
}

#[test]
fn result_shape_equals_the_reference_bridge_dual_stack() {
    compare(
        "1.0.0",
        json!([[{"subnet": "10.244.9.0/24"}], [{"subnet": "fd00:10:244:9::/64"}]]),
    );
}
