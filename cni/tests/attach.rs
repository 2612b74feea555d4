//! Per-attachment options on real namespaces (needs root): the container
//! interface's MAC from `CNI_ARGS` / `runtimeConfig`, the gratuitous ARP
//! setting, and conflist chaining with `prevResult`.

mod common;

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use berth_test_support::Netns;
use common::{conf, invoke, invoke_with_args};
use serde_json::{Value, json};

fn pod_mac(pod: &Netns) -> String {
    let out = pod.ip(&["-o", "link", "show", "eth0"]).expect("ip link");
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn mac_from_cni_args_is_set_on_the_container_interface() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf(
        "t-mac",
        data.path(),
        json!([[{"subnet": "10.250.30.0/24"}]]),
    );
    let args = "IgnoreUnknown=1;K8S_POD_NAME=p;MAC=0A:58:0a:fa:1e:05";
    let r = invoke_with_args(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c, args)
        .ok()
        .json();
    assert_eq!(r["interfaces"][2]["mac"], "0a:58:0a:fa:1e:05");
    assert_eq!(pod_mac(&pod), "0a:58:0a:fa:1e:05");
    invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &c).ok();
    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
}

#[test]
fn runtime_config_mac_wins_over_cni_args_and_is_checked() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-rmac",
        data.path(),
        json!([[{"subnet": "10.250.31.0/24"}]]),
    );
    c["runtimeConfig"] = json!({"mac": "0a:58:0a:fa:1f:07"});
    let args = "MAC=0a:58:0a:fa:1f:99";
    let r = invoke_with_args(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c, args)
        .ok()
        .json();
    assert_eq!(r["interfaces"][2]["mac"], "0a:58:0a:fa:1f:07");
    assert_eq!(pod_mac(&pod), "0a:58:0a:fa:1f:07");
    invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &c).ok();
    let mut other = c.clone();
    other["runtimeConfig"] = json!({"mac": "0a:58:0a:fa:1f:08"});
    let check = invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &other);
    assert_eq!(check.err_code(), 101, "{}", check.stdout);
    assert!(check.msg().contains("0a:58:0a:fa:1f:08"), "{}", check.msg());
    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
}

#[test]
fn invalid_macs_are_refused_naming_the_value_and_reserve_nothing() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-badmac",
        data.path(),
        json!([[{"subnet": "10.250.32.0/24"}]]),
    );
    for (value, why) in [
        ("0a:58:0a:fa", "not a MAC address"),
        ("01:00:5e:00:00:01", "not a unicast MAC address"),
    ] {
        let args = format!("MAC={value}");
        let out = invoke_with_args(&node, "ADD", "p", Some(pod.path()), "eth0", &c, &args);
        assert_eq!(out.err_code(), 4, "{}", out.stdout);
        assert!(
            out.msg().contains("CNI_ARGS") && out.msg().contains(value) && out.msg().contains(why),
            "{}",
            out.msg()
        );
    }
    c["args"] = json!({"cni": {"mac": "zz:58:0a:fa:1f:07"}});
    let out = invoke(&node, "ADD", "p", Some(pod.path()), "eth0", &c);
    assert_eq!(out.err_code(), 7, "{}", out.stdout);
    assert!(
        out.msg().contains("args.cni.mac") && out.msg().contains("zz:58:0a:fa:1f:07"),
        "{}",
        out.msg()
    );
    let left = std::fs::read_dir(data.path().join("t-badmac"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name() != "lock")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "a reservation was left");
    assert!(pod.ip(&["link", "show", "eth0"]).is_err());
}

#[test]
fn gratuitous_arp_is_enabled_on_the_container_interface() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf(
        "t-garp",
        data.path(),
        json!([[{"subnet": "10.250.33.0/24"}]]),
    );
    invoke(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c).ok();
    let notify = pod
        .run(|| std::fs::read_to_string("/proc/sys/net/ipv4/conf/eth0/arp_notify"))
        .expect("run in pod")
        .expect("read arp_notify");
    assert_eq!(notify.trim(), "1");
    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
}

/// An AF_PACKET socket for ARP frames on every interface of the calling
/// thread's namespace, with a receive timeout.
fn arp_socket() -> std::io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ARP as u16).to_be();
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: `tv` is a valid timeval and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Gratuitous ARPs seen on `fd` within `wait`: the sender address of every
/// ARP frame whose sender and target protocol addresses are equal.
fn gratuitous_arps(fd: &OwnedFd, wait: Duration) -> Vec<Ipv4Addr> {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    let mut frame = [0u8; 1600];
    while Instant::now() < deadline {
        // SAFETY: `frame` is writable for its whole length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), frame.as_mut_ptr().cast(), frame.len(), 0) };
        let Ok(n) = usize::try_from(n) else { continue };
        // Ethernet header (14) + ARP: spa at 28..32, tpa at 38..42.
        if n >= 42 && frame[12..14] == [0x08, 0x06] && frame[28..32] == frame[38..42] {
            seen.push(Ipv4Addr::new(frame[28], frame[29], frame[30], frame[31]));
        }
    }
    seen
}

#[test]
fn a_gratuitous_arp_for_the_pod_address_reaches_the_node() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let c = conf(
        "t-garp2",
        data.path(),
        json!([[{"subnet": "10.250.36.0/24"}]]),
    );
    let fd = node
        .run(arp_socket)
        .expect("run in node")
        .expect("AF_PACKET socket");
    invoke(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c).ok();
    let _ = pod
        .command("ping")
        .args(["-c1", "-W1", "10.250.36.1"])
        .output();
    let seen = gratuitous_arps(&fd, Duration::from_secs(1));
    assert!(
        seen.contains(&Ipv4Addr::new(10, 250, 36, 2)),
        "no gratuitous ARP for 10.250.36.2; saw {seen:?}"
    );
    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
}

/// What a previous plugin of the list (say, one that added a tunnel) returned.
fn prev_result(pod: &Netns) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "tun0", "sandbox": pod.path().display().to_string()}],
        "ips": [{"address": "192.168.77.2/32", "interface": 0}],
        "routes": [{"dst": "192.168.0.0/16"}],
        "dns": {"nameservers": ["10.96.0.10"], "search": ["cluster.local"]}
    })
}

#[test]
fn chained_add_keeps_the_previous_result_and_check_validates_against_it() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-chain",
        data.path(),
        json!([[{"subnet": "10.250.34.0/24"}]]),
    );
    c["prevResult"] = prev_result(&pod);

    let r = invoke(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c)
        .ok()
        .json();
    let names: Vec<&str> = r["interfaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names.len(), 4, "{r}");
    assert_eq!(names[0], "tun0");
    assert_eq!(names[1], "br0");
    assert_eq!(names[3], "eth0");
    assert_eq!(
        r["ips"][0],
        json!({"address": "192.168.77.2/32", "interface": 0})
    );
    assert_eq!(r["ips"][1]["address"], "10.250.34.2/24");
    assert_eq!(r["ips"][1]["interface"], 3);
    assert_eq!(
        r["routes"],
        json!([{"dst": "192.168.0.0/16"}, {"dst": "0.0.0.0/0"}])
    );
    assert_eq!(r["dns"]["nameservers"], json!(["10.96.0.10"]));

    // CHECK with the final result of the list as prevResult.
    let mut check = c.clone();
    check["prevResult"] = r.clone();
    invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &check).ok();

    // prevResult claiming another address for eth0: not on the interface.
    let mut wrong = r.clone();
    wrong["ips"][1]["address"] = json!("10.250.34.9/24");
    check["prevResult"] = wrong;
    let out = invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &check);
    assert_eq!(out.err_code(), 101, "{}", out.stdout);
    assert!(out.msg().contains("10.250.34.2/24"), "{}", out.msg());

    // prevResult with another MAC for eth0.
    let mut wrong = r.clone();
    wrong["interfaces"][3]["mac"] = json!("0a:00:00:00:00:01");
    check["prevResult"] = wrong;
    let out = invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &check);
    assert_eq!(out.err_code(), 101, "{}", out.stdout);
    assert!(out.msg().contains("MAC"), "{}", out.msg());

    // prevResult without our interface.
    check["prevResult"] = prev_result(&pod);
    let out = invoke(&node, "CHECK", "pod-a", Some(pod.path()), "eth0", &check);
    assert_eq!(out.err_code(), 101, "{}", out.stdout);

    invoke(&node, "DEL", "pod-a", Some(pod.path()), "eth0", &c).ok();
}

#[test]
fn a_malformed_prev_result_is_a_decode_error_naming_the_path() {
    let node = Netns::new().expect("node netns");
    let pod = Netns::new().expect("pod netns");
    let data = tempfile::tempdir().expect("tempdir");
    let mut c = conf(
        "t-badprev",
        data.path(),
        json!([[{"subnet": "10.250.35.0/24"}]]),
    );
    c["prevResult"] = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.300/24"}]});
    let out = invoke(&node, "ADD", "pod-a", Some(pod.path()), "eth0", &c);
    assert_eq!(out.err_code(), 6, "{}", out.stdout);
    assert!(
        out.msg().contains("prevResult.ips[0].address"),
        "{}",
        out.msg()
    );
    assert!(pod.ip(&["link", "show", "eth0"]).is_err());
}
