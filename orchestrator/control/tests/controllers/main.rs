//! The controllers and the scheduler inside a real `berth server`
//! (in-process, real TLS, embedded store) with fake node agents: scaling,
//! rolling updates within their bounds, garbage collection, endpoints
//! following readiness, scheduling and its explanations, pod CIDRs, and a
//! node failure whose pods come back elsewhere. Deadlines only catch hangs.

#[path = "../common/mod.rs"]
mod common;
mod nodes;
mod support;
mod workloads;
