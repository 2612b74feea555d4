//! The root-only boundary: the load balancer's maps, behind a trait with
//! an in-memory fake ([`crate::MemMaps`]) and the kernel implementation
//! ([`crate::kernel::BpfMaps`]).

use std::net::IpAddr;

use berth_ebpf_common::lb::{ServiceStats, ServiceValue};

use crate::{
    error::MapError,
    model::{Backend, BackendOptions, FrontendKey, Protocol},
};

/// A key of the service map: the master (slot 0) or a backend slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    pub frontend: FrontendKey,
    pub gen_: u8,
    pub slot: u16,
}

impl SlotKey {
    pub const fn master(frontend: FrontendKey) -> Self {
        Self {
            frontend,
            gen_: 0,
            slot: 0,
        }
    }

    pub const fn slot(frontend: FrontendKey, gen_: u8, slot: u16) -> Self {
        Self {
            frontend,
            gen_,
            slot,
        }
    }
}

/// Everything the maps hold, as read back for adoption.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    pub slots: Vec<(SlotKey, ServiceValue)>,
    pub backends: Vec<(u32, Backend, Protocol)>,
    pub vips: Vec<(IpAddr, u32)>,
    /// Frontend members that are not active with weight 1: (service id,
    /// backend, protocol, options).
    pub members: Vec<(u32, Backend, Protocol, BackendOptions)>,
}

/// The load balancer's maps. Deleting a key that is not there succeeds.
pub trait LbMaps {
    fn put_slot(&mut self, key: &SlotKey, value: &ServiceValue) -> Result<(), MapError>;
    fn delete_slot(&mut self, key: &SlotKey) -> Result<(), MapError>;
    fn put_backend(&mut self, id: u32, backend: &Backend, proto: Protocol) -> Result<(), MapError>;
    fn delete_backend(&mut self, id: u32, v6: bool) -> Result<(), MapError>;
    fn put_vip(&mut self, vip: IpAddr, frontends: u32) -> Result<(), MapError>;
    fn delete_vip(&mut self, vip: IpAddr) -> Result<(), MapError>;
    fn reset_service_stats(&mut self, service_id: u32) -> Result<(), MapError>;
    fn reset_backend_stats(&mut self, backend_id: u32) -> Result<(), MapError>;
    fn dump(&self) -> Result<Dump, MapError>;
    /// Marks a backend as one an affinity frontend may still hand out.
    fn put_affinity_match(&mut self, service_id: u32, backend_id: u32) -> Result<(), MapError>;
    fn delete_affinity_match(&mut self, service_id: u32, backend_id: u32) -> Result<(), MapError>;
    /// Replaces a Maglev frontend's whole table (backend ids) in one step.
    fn put_maglev(&mut self, service_id: u32, table: &[u32]) -> Result<(), MapError>;
    fn delete_maglev(&mut self, service_id: u32) -> Result<(), MapError>;
    /// Records a member's state and weight (only members that are not
    /// active with weight 1 are recorded).
    fn put_member(
        &mut self,
        service_id: u32,
        backend: &Backend,
        proto: Protocol,
        options: BackendOptions,
    ) -> Result<(), MapError>;
    fn delete_member(
        &mut self,
        service_id: u32,
        backend: &Backend,
        proto: Protocol,
    ) -> Result<(), MapError>;
    /// Ends every connected socket (TCP, and connected UDP) that went
    /// through a frontend's VIP to one of its removed backends, in every
    /// network namespace: its owner gets ECONNABORTED and its next attempt
    /// reaches a live backend. The kernel maps queue the work to a thread
    /// of their own and return at once.
    fn terminate_sockets(&mut self, removed: &[(FrontendKey, Backend)]) -> Result<(), MapError>;

    /// Many slot writes at once (the kernel maps batch them); no order
    /// among them is promised.
    fn put_slots(&mut self, items: &[(SlotKey, ServiceValue)]) -> Result<(), MapError> {
        items.iter().try_for_each(|(k, v)| self.put_slot(k, v))
    }

    /// Many backend writes at once.
    fn put_backends(&mut self, items: &[(u32, Backend, Protocol)]) -> Result<(), MapError> {
        items
            .iter()
            .try_for_each(|(id, b, p)| self.put_backend(*id, b, *p))
    }

    /// Many VIP writes at once.
    fn put_vips(&mut self, items: &[(IpAddr, u32)]) -> Result<(), MapError> {
        items.iter().try_for_each(|(v, n)| self.put_vip(*v, *n))
    }
    fn service_stats(&self, service_id: u32) -> Result<ServiceStats, MapError>;
    fn backend_stats(&self, backend_id: u32) -> Result<u64, MapError>;
}
