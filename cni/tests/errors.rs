//! Bad invocations give the spec's error object with the right code and a
//! message naming the field and value (unprivileged: they fail before any
//! kernel object is touched).

mod common;

use berth_cni::Exit;
use common::{conf, invoke_here};
use serde_json::{Value, json};

fn add(c: &Value) -> common::Outcome {
    invoke_here(
        "ADD",
        "ctr1",
        Some(std::path::Path::new("/run/netns/none")),
        "eth0",
        c.to_string().as_bytes(),
    )
}

fn base() -> Value {
    conf(
        "t-err",
        std::path::Path::new("/nonexistent/berth-test"),
        json!([[{"subnet": "10.0.0.0/24"}]]),
    )
}

#[track_caller]
fn expect(c: &Value, code: u64, needle: &str) {
    let out = add(c);
    assert_eq!(out.err_code(), code, "{}", out.stdout);
    assert!(
        out.msg().contains(needle),
        "message {:?} lacks {needle:?}",
        out.msg()
    );
    let j = out.json();
    assert!(j["cniVersion"].is_string());
}

#[test]
fn missing_ipam() {
    let mut c = base();
    c.as_object_mut().map(|o| o.remove("ipam"));
    expect(&c, 7, "ipam: missing");
}

#[test]
fn bad_subnet_names_field_and_value() {
    let mut c = base();
    c["ipam"]["ranges"] = json!([[{"subnet": "10.0.0.300/24"}]]);
    expect(
        &c,
        7,
        r#"ipam.ranges[0][0].subnet: invalid value "10.0.0.300/24""#,
    );
    c["ipam"]["ranges"] = json!([[{"subnet": "10.0.0.5/24"}]]);
    expect(&c, 7, "host bits");
    c["ipam"]["ranges"] = json!([[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.5"}]]);
    expect(
        &c,
        7,
        r#"ipam.ranges[0][0].rangeStart: invalid value "10.0.1.5""#,
    );
    c["ipam"]["ranges"] = json!([[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.128/25"}]]);
    expect(&c, 7, "ipam.ranges[1][0]");
    c["ipam"]["ranges"] = json!([]);
    expect(&c, 7, "ipam.ranges");
}

#[test]
fn bad_cni_version() {
    let mut c = base();
    c["cniVersion"] = json!("0.3.1");
    expect(&c, 1, r#"cniVersion: incompatible CNI version "0.3.1""#);
    c["cniVersion"] = json!("2.0.0");
    expect(&c, 1, "2.0.0");
    c.as_object_mut().map(|o| o.remove("cniVersion"));
    expect(&c, 7, "cniVersion: missing");
}

#[test]
fn wrong_types_are_decode_errors_naming_the_field() {
    let mut c = base();
    c["mtu"] = json!("1500");
    expect(&c, 6, "mtu: invalid type");
    let mut c = base();
    c["ipam"]["ranges"] = json!([[{"subnet": 10}]]);
    expect(&c, 6, "ipam.ranges[0][0].subnet: invalid type");
    let mut c = base();
    c["isGateway"] = json!("yes");
    expect(&c, 6, "isGateway");
    let out = invoke_here("ADD", "ctr1", None, "eth0", b"{not json");
    assert_eq!(out.err_code(), 6);
}

#[test]
fn unsupported_fields_are_refused_honestly() {
    let mut c = base();
    c["macspoofchk"] = json!(true);
    expect(&c, 2, "unsupported field macspoofchk");
    let mut c = base();
    c["ipam"]["type"] = json!("dhcp");
    expect(&c, 2, "ipam.type");
    let mut c = base();
    c["macspoofchk"] = json!(false);
    c["type"] = json!("bridge");
    expect(&c, 7, "type");
}

#[test]
fn bad_environment_is_code_4() {
    let c = base().to_string();
    let out = invoke_here("ADD", "ctr1", None, "eth0", c.as_bytes());
    assert_eq!(out.err_code(), 4);
    assert!(out.msg().contains("CNI_NETNS"), "{}", out.msg());
    let out = invoke_here(
        "ADD",
        "-bad id",
        Some(std::path::Path::new("/x")),
        "eth0",
        c.as_bytes(),
    );
    assert_eq!(out.err_code(), 4);
    assert!(out.msg().contains("CNI_CONTAINERID"), "{}", out.msg());
    let out = invoke_here("FROB", "ctr1", None, "eth0", c.as_bytes());
    assert_eq!(out.err_code(), 4);
    let out = invoke_here(
        "ADD",
        "ctr1",
        Some(std::path::Path::new("/x")),
        "this-name-is-too-long",
        c.as_bytes(),
    );
    assert_eq!(out.err_code(), 4);
    assert!(out.msg().contains("CNI_IFNAME"), "{}", out.msg());
}

#[test]
fn missing_netns_on_add_is_unknown_container() {
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf("t-nons", data.path(), json!([[{"subnet": "10.0.0.0/24"}]]));
    let out = add(&c);
    assert_eq!(out.err_code(), 3, "{}", out.stdout);
    assert!(out.msg().contains("/run/netns/none"), "{}", out.msg());
}

#[test]
fn version_reports_supported_versions() {
    let out = invoke_here("VERSION", "", None, "", br#"{"cniVersion":"1.0.0"}"#);
    assert_eq!(out.exit, Exit::Success);
    assert_eq!(
        out.json(),
        json!({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]})
    );
    let out = invoke_here("VERSION", "", None, "", b"");
    assert_eq!(out.json()["cniVersion"], "1.1.0");
}

#[test]
fn gc_needs_valid_attachments() {
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf("t-gcm", data.path(), json!([[{"subnet": "10.0.0.0/24"}]]));
    let out = invoke_here("GC", "", None, "", c.to_string().as_bytes());
    assert_eq!(out.err_code(), 7);
    assert!(
        out.msg().contains("cni.dev/valid-attachments"),
        "{}",
        out.msg()
    );
}
