//! A private network for guests: a bridge with one tap device per guest,
//! inside a network namespace of the test's own (qemu runs in it to open
//! the taps). Nothing is routed anywhere: the guests reach each other and
//! nothing else.
//!
//! ```text
//!   guest 1 (eth0 .1)   guest 2 (eth0 .2)   ...
//!        │ tap1              │ tap2
//!   ┌────┴───────────────────┴────┐
//!   │ bridge vmbr (netns bt-...)   │
//!   └──────────────────────────────┘
//! ```

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// The guests' subnet (guest `i` is `.i`).
pub const SUBNET: [u8; 3] = [192, 168, 93];
/// Its prefix length.
pub const PREFIX_LEN: u8 = 24;
/// The bridge inside the namespace.
const BRIDGE: &str = "vmbr";
/// Most guests on one network (addresses .1 to .MAX_GUESTS).
pub const MAX_GUESTS: usize = 16;

/// The namespace with the bridge and the taps; dropping it removes all.
#[derive(Debug)]
pub struct VmNet {
    netns: Arc<Netns>,
    guests: usize,
}

/// Guest `i`'s (1-based) address.
pub fn guest_ip(i: usize) -> Ipv4Addr {
    let [a, b, c] = SUBNET;
    Ipv4Addr::new(a, b, c, i as u8)
}

/// Guest `i`'s MAC address (locally administered).
pub fn guest_mac(i: usize) -> String {
    format!("52:54:00:be:00:{:02x}", i as u8)
}

fn tap(i: usize) -> String {
    format!("tap{i}")
}

impl VmNet {
    /// A namespace with a bridge and `guests` taps on it, all up.
    pub fn new(guests: usize) -> Result<VmNet> {
        if !(1..=MAX_GUESTS).contains(&guests) {
            return Err(Error::Invalid {
                what: "number of guests",
                value: guests.to_string(),
                reason: format!("must be 1..={MAX_GUESTS}"),
            });
        }
        let netns = Netns::new()?;
        netns.ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        netns.ip(&["link", "set", BRIDGE, "up"])?;
        for i in 1..=guests {
            let t = tap(i);
            netns.ip(&["tuntap", "add", "mode", "tap", "name", &t])?;
            netns.ip(&["link", "set", &t, "master", BRIDGE])?;
            netns.ip(&["link", "set", &t, "up"])?;
        }
        Ok(VmNet {
            netns: Arc::new(netns),
            guests,
        })
    }

    /// The namespace qemu must run in (for [`super::Job::netns`]).
    pub fn netns(&self) -> &Arc<Netns> {
        &self.netns
    }

    /// The number of guests.
    pub fn guests(&self) -> usize {
        self.guests
    }

    /// qemu arguments for guest `i`'s NIC (virtio, on tap `i`).
    pub fn qemu_args(&self, i: usize) -> Vec<String> {
        vec![
            "-netdev".into(),
            format!("tap,id=net0,ifname={},script=no,downscript=no", tap(i)),
            "-device".into(),
            format!("virtio-net-pci,netdev=net0,mac={}", guest_mac(i)),
        ]
    }
}

/// Shell lines that give guest `i` its address on eth0 and an on-link
/// default route (so that nothing is sent beyond the bridge: there is no
/// router on it).
pub fn guest_setup(i: usize) -> String {
    let ip = guest_ip(i);
    format!(
        "ip link set eth0 up && ip addr add {ip}/{PREFIX_LEN} dev eth0 && ip route add default dev eth0 || exit 90\nip -br addr show eth0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_macs_follow_the_index() {
        assert_eq!(guest_ip(2), Ipv4Addr::new(192, 168, 93, 2));
        assert_eq!(guest_mac(10), "52:54:00:be:00:0a");
        assert!(guest_setup(1).contains("192.168.93.1/24"));
    }
}
