//! Service cluster IPs (10.96.0.0/12 and fd00:10:96::/108 by default) and
//! node ports (30000–32767), allocated through the store itself: each
//! allocation is a key created with the store's create-if-absent
//! (`/registry/ranges/serviceips/<ip>`, `/registry/ranges/nodeports/<n>`),
//! so an address is never given twice — across restarts and across API
//! servers sharing an etcd — and deleting the key releases it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_store::{Bytes, Store, StoreError};

const IP_PREFIX: &str = "/registry/ranges/serviceips/";
const PORT_PREFIX: &str = "/registry/ranges/nodeports/";
/// The NodePort range of Kubernetes.
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Errors allocating.
#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    /// The asked address is outside the service range.
    #[error("{field}: Invalid value: {value:?}: provided IP is not in the valid range {range}")]
    OutOfRange {
        /// `spec.clusterIP` or `spec.clusterIPs[i]`.
        field: String,
        /// The address asked for.
        value: String,
        /// The range.
        range: String,
    },
    /// The asked address or port belongs to another object.
    #[error("{field}: Invalid value: {value:?}: provided {what} is already allocated")]
    Taken {
        /// The field.
        field: String,
        /// The value asked for.
        value: String,
        /// `IP` or `port`.
        what: &'static str,
    },
    /// An external address is one of the cluster's service addresses.
    #[error("{field}: Invalid value: {value:?}: may not be in the service IP range {range}")]
    InServiceRange {
        /// `spec.externalIPs[i]`.
        field: String,
        /// The address.
        value: String,
        /// The range.
        range: String,
    },
    /// Every address or port is in use.
    #[error("{field}: Internal error: range is full ({range})")]
    Full {
        /// The field.
        field: String,
        /// The range.
        range: String,
    },
    /// The store failed.
    #[error("allocating {what}")]
    Store {
        /// What was being allocated.
        what: String,
        /// Why.
        #[source]
        source: StoreError,
    },
}

/// A CIDR of service addresses.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    base: u128,
    bits: u32,
    v6: bool,
}

impl Range {
    /// `10.96.0.0/12`.
    pub fn v4(addr: Ipv4Addr, prefix: u32) -> Self {
        Self {
            base: u128::from(u32::from(addr)),
            bits: 32 - prefix,
            v6: false,
        }
    }

    /// `fd00:10:96::/108`.
    pub fn v6(addr: Ipv6Addr, prefix: u32) -> Self {
        Self {
            base: u128::from(addr),
            bits: 128 - prefix,
            v6: true,
        }
    }

    /// Addresses handed out: all but the network address and, for IPv4,
    /// the broadcast address.
    fn usable(&self) -> u128 {
        let size = 1u128 << self.bits.min(64);
        if self.v6 { size - 1 } else { size - 2 }
    }

    fn nth(&self, n: u128) -> IpAddr {
        let v = self.base + 1 + n;
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(v))
        } else {
            IpAddr::V4(Ipv4Addr::from(v as u32))
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let v = match (ip, self.v6) {
            (IpAddr::V4(a), false) => u128::from(u32::from(a)),
            (IpAddr::V6(a), true) => u128::from(a),
            _ => return false,
        };
        v > self.base && v <= self.base + self.usable()
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", Ipv6Addr::from(self.base), 128 - self.bits)
        } else {
            write!(f, "{}/{}", Ipv4Addr::from(self.base as u32), 32 - self.bits)
        }
    }
}

/// The allocators of one API server.
#[derive(Debug)]
pub struct Allocator {
    store: Arc<dyn Store>,
    v4: Range,
    v6: Range,
    /// Where the next search starts (so allocation is O(1) while the range
    /// is sparse).
    hint: AtomicU64,
}

impl Allocator {
    /// The default service CIDRs, 10.96.0.0/12 and fd00:10:96::/108
    /// (docs/building.md, "Defaults").
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            v4: Range::v4(Ipv4Addr::new(10, 96, 0, 0), 12),
            v6: Range::v6("fd00:10:96::".parse().unwrap_or(Ipv6Addr::LOCALHOST), 108),
            hint: AtomicU64::new(std::process::id().into()),
        }
    }

    fn range(&self, v6: bool) -> Range {
        if v6 { self.v6 } else { self.v4 }
    }

    /// Refuses `ip` (at `field`) when it is in the service range: an
    /// external address must not shadow a cluster IP.
    pub fn outside_service_range(&self, field: &str, ip: IpAddr) -> Result<(), AllocError> {
        let range = self.range(ip.is_ipv6());
        if range.contains(ip) {
            return Err(AllocError::InServiceRange {
                field: field.to_owned(),
                value: ip.to_string(),
                range: range.to_string(),
            });
        }
        Ok(())
    }

    async fn take(&self, key: String, owner: &str, what: &str) -> Result<bool, AllocError> {
        match self.store.create(&key, Bytes::from(owner.to_owned())).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_already_exists() => {
                // Ours already (a retried create)? Then it counts as taken by us.
                let current = self
                    .store
                    .get(&key)
                    .await
                    .map_err(|source| AllocError::Store {
                        what: what.to_owned(),
                        source,
                    })?;
                Ok(current.is_some_and(|i| i.value == owner.as_bytes()))
            }
            Err(source) => Err(AllocError::Store {
                what: what.to_owned(),
                source,
            }),
        }
    }

    /// Reserves `ip` (asked for by the user) for `owner`.
    pub async fn reserve_ip(&self, field: &str, ip: IpAddr, owner: &str) -> Result<(), AllocError> {
        let range = self.range(ip.is_ipv6());
        if !range.contains(ip) {
            return Err(AllocError::OutOfRange {
                field: field.to_owned(),
                value: ip.to_string(),
                range: range.to_string(),
            });
        }
        if self
            .take(format!("{IP_PREFIX}{ip}"), owner, "a cluster IP")
            .await?
        {
            Ok(())
        } else {
            Err(AllocError::Taken {
                field: field.to_owned(),
                value: ip.to_string(),
                what: "IP",
            })
        }
    }

    /// A free address of the family for `owner`.
    pub async fn allocate_ip(
        &self,
        field: &str,
        v6: bool,
        owner: &str,
    ) -> Result<IpAddr, AllocError> {
        let range = self.range(v6);
        let usable = range.usable();
        // Bounded probing; a full /12 would take a million creates, so stop
        // after a generous number and call it full.
        let tries = usable.min(65_536);
        for _ in 0..tries {
            let n = u128::from(self.hint.fetch_add(1, Ordering::Relaxed)) % usable;
            let ip = range.nth(n);
            if self
                .take(format!("{IP_PREFIX}{ip}"), owner, "a cluster IP")
                .await?
            {
                return Ok(ip);
            }
        }
        Err(AllocError::Full {
            field: field.to_owned(),
            range: range.to_string(),
        })
    }

    /// Reserves `port` (asked for) or a free one (`0`) for `owner`.
    pub async fn node_port(&self, field: &str, port: u16, owner: &str) -> Result<u16, AllocError> {
        let taken = |p: u16| AllocError::Taken {
            field: field.to_owned(),
            value: p.to_string(),
            what: "port",
        };
        if port != 0 {
            if !NODE_PORTS.contains(&port) {
                return Err(AllocError::OutOfRange {
                    field: field.to_owned(),
                    value: port.to_string(),
                    range: "30000-32767".into(),
                });
            }
            return match self
                .take(format!("{PORT_PREFIX}{port}"), owner, "a node port")
                .await?
            {
                true => Ok(port),
                false => Err(taken(port)),
            };
        }
        let span = u64::from(NODE_PORTS.end() - NODE_PORTS.start()) + 1;
        for _ in 0..span {
            let p = NODE_PORTS.start() + (self.hint.fetch_add(1, Ordering::Relaxed) % span) as u16;
            if self
                .take(format!("{PORT_PREFIX}{p}"), owner, "a node port")
                .await?
            {
                return Ok(p);
            }
        }
        Err(AllocError::Full {
            field: field.to_owned(),
            range: "30000-32767".into(),
        })
    }

    /// Releases what `owner` holds of these (best effort; logged).
    pub async fn release(&self, ips: &[IpAddr], ports: &[u16], owner: &str) {
        let keys = ips
            .iter()
            .map(|ip| format!("{IP_PREFIX}{ip}"))
            .chain(ports.iter().map(|p| format!("{PORT_PREFIX}{p}")));
        for key in keys {
            match self.store.get(&key).await {
                Ok(Some(item)) if item.value == owner.as_bytes() => {
                    if let Err(e) = self.store.delete(&key, Some(item.mod_revision)).await {
                        tracing::warn!(%key, error = %e, "not released");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%key, error = %e, "not released"),
            }
        }
    }
}
