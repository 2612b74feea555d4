//! Socket-level service load balancing: cgroup sock_addr hooks that rewrite
//! a service VIP:port to a backend at connect()/sendmsg() time and show the
//! VIP again at recvmsg()/getpeername(). One object for the cgroup socket
//! attach points, as Cilium's bpf_sock: the v4/v6 twins `sock4` and `sock6`
//! are thin entry points over `sock`, written once for both families
//! (`family`); shared helpers in `maps` and `ctx`.
#![no_std]
#![no_main]

mod affinity;
mod ctx;
mod family;
mod maglev;
mod maps;
mod pick;
mod revnat;
mod rt;
mod sock;
mod sock4;
mod sock6;
