//! [`NodeLinks`] with iproute2 (`ip -j`, `bridge -j`) in the calling
//! thread's network namespace (a child process inherits the thread's).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;

use ipnet::IpNet;
use serde_json::Value;

use super::links::{NodeLinks, PodNetError, ROUTE_PROTO};
use super::plan::{
    Family, Plan, Route, Underlay, VXLAN_DEV, VXLAN_PORT, VXLAN_VNI, Vtep, Vxlan, mac_string,
};

/// iproute2 in this network namespace.
#[derive(Debug, Default)]
pub struct IpLinks;

fn run(program: &str, args: &[&str]) -> Result<String, PodNetError> {
    let cmd = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| PodNetError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(PodNetError::Command {
            cmd,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String, PodNetError> {
    run("ip", args)
}

fn bridge(args: &[&str]) -> Result<String, PodNetError> {
    run("bridge", args)
}

fn json(cmd: &str, text: &str) -> Result<Vec<Value>, PodNetError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| PodNetError::Parse {
        cmd: cmd.into(),
        detail: e.to_string(),
    })
}

impl NodeLinks for IpLinks {
    fn underlay(&self, node_ip: IpAddr) -> Result<Underlay, PodNetError> {
        let out = ip(&["-j", "addr", "show"])?;
        for link in json("ip -j addr show", &out)? {
            let infos = link["addr_info"].as_array().cloned().unwrap_or_default();
            let has = infos
                .iter()
                .any(|a| a["local"].as_str().and_then(|l| l.parse().ok()) == Some(node_ip));
            if !has {
                continue;
            }
            let subnets = infos
                .iter()
                .filter_map(|a| {
                    let local: IpAddr = a["local"].as_str()?.parse().ok()?;
                    let len = u8::try_from(a["prefixlen"].as_u64()?).ok()?;
                    let net = IpNet::new(local, len).ok()?.trunc();
                    // Link-local subnets route nothing to another node.
                    let link_local = match local {
                        IpAddr::V6(v6) => v6.is_unicast_link_local(),
                        IpAddr::V4(v4) => v4.is_link_local(),
                    };
                    (!link_local).then_some(net)
                })
                .collect();
            return Ok(Underlay {
                dev: link["ifname"].as_str().unwrap_or_default().to_string(),
                subnets,
                mtu: link["mtu"].as_u64().unwrap_or(1500) as u32,
            });
        }
        Err(PodNetError::NoUnderlay { ip: node_ip })
    }

    fn apply(&mut self, plan: &Plan) -> Result<(), PodNetError> {
        match &plan.vxlan {
            Some(v) => ensure_vxlan(v)?,
            None => {
                if vxlan_exists()? {
                    ip(&["link", "del", VXLAN_DEV])?;
                }
            }
        }
        if plan.vxlan.is_some() {
            sync_vteps(&plan.vteps)?;
        }
        for family in Family::ALL {
            if plan.routes_family(family) {
                // Other nodes' traffic to this node's pods is forwarded;
                // so is the pods' to other nodes. Only a node with peers
                // of that family turns it on.
                ensure_forwarding(family)?;
            }
            sync_routes(family, &plan.routes)?;
        }
        Ok(())
    }
}

/// Forwarding of `family` on (as every Kubernetes node has it), written
/// only when it is off. (IPv6 forwarding makes the kernel ignore router
/// advertisements: a dual-stack node's IPv6 default route is static.)
fn ensure_forwarding(family: Family) -> Result<(), PodNetError> {
    let path = match family {
        Family::V4 => "/proc/sys/net/ipv4/ip_forward",
        Family::V6 => "/proc/sys/net/ipv6/conf/all/forwarding",
    };
    let err = |source| PodNetError::Sysctl {
        path,
        value: "1",
        source,
    };
    if std::fs::read_to_string(path).map_err(err)?.trim() != "1" {
        std::fs::write(path, "1").map_err(err)?;
        tracing::info!(
            family = family.name(),
            "forwarding turned on for the pod network across nodes"
        );
    }
    Ok(())
}

fn vxlan_exists() -> Result<bool, PodNetError> {
    Ok(ip(&["-j", "link", "show"])?.contains(&format!("\"ifname\":\"{VXLAN_DEV}\"")))
}

/// Creates the device if it is missing or differs, then sets its MAC, MTU,
/// address and state (each idempotent).
fn ensure_vxlan(v: &Vxlan) -> Result<(), PodNetError> {
    let (local, mac, mtu) = (v.local.to_string(), mac_string(&v.mac), v.mtu.to_string());
    let matches = if vxlan_exists()? {
        let out = ip(&["-j", "-d", "link", "show", VXLAN_DEV])?;
        let link = json("ip -j -d link show", &out)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let data = &link["linkinfo"]["info_data"];
        let same = data["id"].as_u64() == Some(u64::from(VXLAN_VNI))
            && data["local"].as_str() == Some(local.as_str())
            && data["port"].as_u64() == Some(u64::from(VXLAN_PORT));
        if !same {
            ip(&["link", "del", VXLAN_DEV])?;
        }
        same
    } else {
        false
    };
    if !matches {
        let (vni, port) = (VXLAN_VNI.to_string(), VXLAN_PORT.to_string());
        ip(&[
            "link",
            "add",
            VXLAN_DEV,
            "type",
            "vxlan",
            "id",
            &vni,
            "local",
            &local,
            "dev",
            &v.dev,
            "dstport",
            &port,
            "nolearning",
        ])?;
    }
    ip(&["link", "set", VXLAN_DEV, "address", &mac, "mtu", &mtu, "up"])?;
    for vtep in &v.vteps {
        let addr = match vtep {
            IpAddr::V4(a) => format!("{a}/32"),
            IpAddr::V6(a) => format!("{a}/128"),
        };
        ip(&["addr", "replace", &addr, "dev", VXLAN_DEV, "nodad"])?;
    }
    Ok(())
}

/// Permanent neighbours and FDB entries for exactly `vteps`.
fn sync_vteps(vteps: &[Vtep]) -> Result<(), PodNetError> {
    let out = ip(&["-j", "neigh", "show", "dev", VXLAN_DEV, "nud", "permanent"])?;
    let have: BTreeSet<(String, String)> = json("ip -j neigh show", &out)?
        .iter()
        .filter_map(|n| {
            Some((
                n["dst"].as_str()?.to_string(),
                n["lladdr"].as_str()?.to_string(),
            ))
        })
        .collect();
    let out = bridge(&["-j", "fdb", "show", "dev", VXLAN_DEV])?;
    let fdb: BTreeSet<(String, String)> = json("bridge -j fdb show", &out)?
        .iter()
        .filter_map(|f| {
            Some((
                f["mac"].as_str()?.to_string(),
                f["dst"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut want_neigh = BTreeSet::new();
    let mut want_fdb = BTreeSet::new();
    for t in vteps {
        let (addr, mac, dst) = (
            t.addr.to_string(),
            mac_string(&t.mac),
            t.node_ip.to_string(),
        );
        if !have.contains(&(addr.clone(), mac.clone())) {
            ip(&[
                "neigh",
                "replace",
                &addr,
                "lladdr",
                &mac,
                "dev",
                VXLAN_DEV,
                "nud",
                "permanent",
            ])?;
        }
        if !fdb.contains(&(mac.clone(), dst.clone())) {
            bridge(&[
                "fdb",
                "replace",
                &mac,
                "dev",
                VXLAN_DEV,
                "dst",
                &dst,
                "self",
                "permanent",
            ])?;
        }
        want_neigh.insert(addr);
        want_fdb.insert((mac, dst));
    }
    for (addr, _) in have.iter().filter(|(a, _)| !want_neigh.contains(a)) {
        ip(&["neigh", "del", addr, "dev", VXLAN_DEV])?;
    }
    for (mac, dst) in fdb.iter().filter(|e| !want_fdb.contains(*e)) {
        bridge(&["fdb", "del", mac, "dev", VXLAN_DEV, "dst", dst, "self"])?;
    }
    Ok(())
}

/// Routes of [`ROUTE_PROTO`] and `family` in the main table: exactly those
/// of `routes`.
fn sync_routes(family: Family, routes: &[Route]) -> Result<(), PodNetError> {
    let proto = ROUTE_PROTO.to_string();
    let flag = match family {
        Family::V4 => "-4",
        Family::V6 => "-6",
    };
    let out = ip(&["-j", flag, "route", "show", "proto", &proto])?;
    let have: BTreeSet<Route> = json("ip -j route show", &out)?
        .iter()
        .filter_map(|r| {
            let dst = r["dst"].as_str()?;
            let dst: IpNet = if dst.contains('/') {
                dst.parse().ok()?
            } else {
                let ip: IpAddr = dst.parse().ok()?;
                IpNet::from(ip)
            };
            let onlink = r["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("onlink")));
            Some(Route {
                dst,
                via: r["gateway"].as_str()?.parse().ok()?,
                dev: r["dev"].as_str()?.to_string(),
                onlink,
            })
        })
        .collect();
    let routes: Vec<&Route> = routes.iter().filter(|r| r.family() == family).collect();
    let want: BTreeSet<&Route> = routes.iter().copied().collect();
    for r in routes.iter().filter(|r| !have.contains(r)) {
        let (dst, via) = (r.dst.to_string(), r.via.to_string());
        let mut args = vec![
            "route", "replace", &dst, "via", &via, "dev", &r.dev, "proto", &proto,
        ];
        if r.onlink {
            args.push("onlink");
        }
        ip(&args)?;
    }
    for r in have.iter().filter(|r| !want.contains(r)) {
        // Replaced above when only its gateway or device changed.
        if routes.iter().any(|w| w.dst == r.dst) {
            continue;
        }
        ip(&["route", "del", &r.dst.to_string(), "proto", &proto])?;
    }
    Ok(())
}
