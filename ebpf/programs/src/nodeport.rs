//! The per-packet path of external traffic: NodePort and externalIPs, as
//! tc programs on the devices the agent names (`--nodeport-devices`) and
//! on those the replies of SNATed flows come back on. One object per
//! attach point, as Cilium's bpf_host: it shares the socket LB's pinned
//! service, backend, affinity, Maglev and counter maps by name, so a
//! backend is picked exactly as a connect() would pick it.
#![no_std]
#![no_main]

// The socket LB's modules: this object uses their maps and selection, not
// their socket hooks.
#[allow(dead_code)]
mod affinity;
mod ct;
#[allow(dead_code)]
mod ctx;
#[allow(dead_code)]
mod family;
mod l4;
#[allow(dead_code)]
mod maglev;
#[allow(dead_code)]
mod maps;
mod nodeport4;
mod nodeport6;
mod packet4;
mod packet6;
#[allow(dead_code)]
mod pick;
#[allow(dead_code)]
mod revnat;
mod rt;

use aya_ebpf::{macros::classifier, programs::TcContext};

/// Ingress of a nodeport device or a reply device: IPv4 and IPv6
/// (whatever else passes untouched).
#[classifier]
pub fn berth_nodeport_ingress(ctx: TcContext) -> i32 {
    let r = match l4::ethertype(&ctx) {
        Some(l4::ETH_P_IP) => nodeport4::try_ingress(&ctx),
        Some(l4::ETH_P_IPV6) => nodeport6::try_ingress(&ctx),
        _ => Ok(l4::PASS),
    };
    r.unwrap_or(l4::PASS)
}
