//! Built-in address management with host-local's semantics: one address
//! per range set, handed out round-robin after the last one taken, kept in
//! crash-safe files under one lock, freed by owner (container id + ifname),
//! and garbage-collected against the runtime's list of live attachments.

pub mod range;
pub mod store;

use std::net::IpAddr;
use std::time::Duration;

pub use self::store::{Owner, Reservation, Store, StoreError};
use crate::config::IpamConf;

/// How long an invocation waits for another one holding the lock.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// An address handed to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The address.
    pub ip: IpAddr,
    /// Prefix length of its subnet.
    pub prefix_len: u8,
    /// The range's gateway.
    pub gateway: IpAddr,
    /// Index of the range set in `ipam.ranges`.
    pub set: usize,
}

/// How full one range set is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    /// Index in `ipam.ranges`.
    pub set: usize,
    /// The set, for messages.
    pub ranges: String,
    /// Addresses reserved in it.
    pub reserved: u128,
    /// Addresses it can hand out.
    pub capacity: u128,
}

impl PoolUsage {
    /// No address left.
    pub fn is_exhausted(&self) -> bool {
        self.reserved >= self.capacity
    }
}

/// IPAM failures.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// The reservation store failed.
    #[error("IPAM store: {source}")]
    Store {
        /// The store's error.
        #[from]
        source: StoreError,
    },
    /// A range set has no free address.
    #[error("ipam.ranges[{set}]: no free address in {ranges} ({capacity} addresses, all reserved)")]
    Exhausted {
        /// Index of the range set.
        set: usize,
        /// The set.
        ranges: String,
        /// Its capacity.
        capacity: u128,
    },
    /// The owner already holds an address (a repeated ADD).
    #[error("container {container_id:?} interface {ifname:?} already holds {ip} in this network")]
    AlreadyAllocated {
        /// The container.
        container_id: String,
        /// Its interface.
        ifname: String,
        /// The address it holds.
        ip: IpAddr,
    },
}

/// The IPAM of one network.
#[derive(Debug)]
pub struct Ipam<'a> {
    conf: &'a IpamConf,
    store: Store,
}

impl<'a> Ipam<'a> {
    /// Opens (creating if needed) `<dataDir>/<network>`.
    pub fn open(conf: &'a IpamConf, network: &str) -> Result<Ipam<'a>, IpamError> {
        Ok(Ipam {
            conf,
            store: Store::open(&conf.data_dir, network)?,
        })
    }

    /// The reservation store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reserves one address from every range set for `owner`, all or none.
    pub fn allocate(&self, owner: &Owner) -> Result<Vec<Allocation>, IpamError> {
        let locked = self.store.lock(LOCK_TIMEOUT)?;
        let held = self.held_by(&locked.list()?, owner);
        if let Some(a) = held.first() {
            return Err(IpamError::AlreadyAllocated {
                container_id: owner.container_id.clone(),
                ifname: owner.ifname.clone(),
                ip: a.ip,
            });
        }
        let mut taken = Vec::with_capacity(self.conf.range_sets.len());
        for (set, ranges) in self.conf.range_sets.iter().enumerate() {
            let found = ranges
                .candidates(locked.last_reserved(set))
                .map(|ip| locked.is_reserved(ip).map(|r| (ip, r)))
                .find(|r| !matches!(r, Ok((_, true))))
                .transpose();
            let result = match found {
                Ok(Some((ip, _))) => locked
                    .reserve(ip, owner, set)
                    .map(|()| ip)
                    .map_err(IpamError::from),
                Ok(None) => Err(IpamError::Exhausted {
                    set,
                    ranges: ranges.to_string(),
                    capacity: ranges.capacity(),
                }),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(ip) => taken.push(self.allocation(set, ip)),
                Err(e) => {
                    for a in &taken {
                        // Best effort; a leftover is freed by GC.
                        if let Err(undo) = locked.release(a.ip) {
                            tracing::warn!(ip = %a.ip, error = %undo, "could not undo a reservation");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(taken)
    }

    /// The addresses `owner` holds.
    pub fn allocations_of(&self, owner: &Owner) -> Result<Vec<Allocation>, IpamError> {
        let locked = self.store.lock(LOCK_TIMEOUT)?;
        Ok(self.held_by(&locked.list()?, owner))
    }

    /// Frees everything `owner` holds; freeing nothing is fine.
    pub fn release(&self, owner: &Owner) -> Result<Vec<IpAddr>, IpamError> {
        let locked = self.store.lock(LOCK_TIMEOUT)?;
        let mut freed = Vec::new();
        for r in locked.list()? {
            if r.owner.as_ref() == Some(owner) {
                locked.release(r.ip)?;
                freed.push(r.ip);
            }
        }
        Ok(freed)
    }

    /// Frees every reservation whose owner is not in `valid`; returns what
    /// was freed.
    pub fn gc(&self, valid: &[Owner]) -> Result<Vec<Reservation>, IpamError> {
        let locked = self.store.lock(LOCK_TIMEOUT)?;
        let mut freed = Vec::new();
        for r in locked.list()? {
            let keep = r.owner.as_ref().is_some_and(|o| valid.contains(o));
            if !keep {
                locked.release(r.ip)?;
                freed.push(r);
            }
        }
        Ok(freed)
    }

    /// Usage of every range set.
    pub fn usage(&self) -> Result<Vec<PoolUsage>, IpamError> {
        let locked = self.store.lock(LOCK_TIMEOUT)?;
        let all = locked.list()?;
        Ok(self
            .conf
            .range_sets
            .iter()
            .enumerate()
            .map(|(set, ranges)| PoolUsage {
                set,
                ranges: ranges.to_string(),
                reserved: all
                    .iter()
                    .filter(|r| ranges.range_of(r.ip).is_some_and(|g| g.gateway != r.ip))
                    .count() as u128,
                capacity: ranges.capacity(),
            })
            .collect())
    }

    fn held_by(&self, all: &[Reservation], owner: &Owner) -> Vec<Allocation> {
        let mut out: Vec<Allocation> = all
            .iter()
            .filter(|r| r.owner.as_ref() == Some(owner))
            .filter_map(|r| {
                let set = self
                    .conf
                    .range_sets
                    .iter()
                    .position(|s| s.range_of(r.ip).is_some())?;
                Some(self.allocation(set, r.ip))
            })
            .collect();
        out.sort_by_key(|a| a.set);
        out
    }

    fn allocation(&self, set: usize, ip: IpAddr) -> Allocation {
        let range = self.conf.range_sets[set]
            .range_of(ip)
            .unwrap_or(&self.conf.range_sets[set].ranges[0]);
        Allocation {
            ip,
            prefix_len: range.subnet.prefix_len(),
            gateway: range.gateway,
            set,
        }
    }
}
