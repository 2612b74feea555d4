//! The shape of `berth bench nodeport`: a client namespace on an outside
//! link to a node namespace, and a pod namespace behind the node that
//! holds one address per service (`10.253.x.y`, distinct backends; one
//! echo server on `0.0.0.0:8080` answers on all of them). The node's
//! outside link has two addresses: [`BERTH_ADDR`], served by Berth's tc
//! program, and [`PEER_ADDR`], left to the node's kernel and the peers'
//! rules. Berth's data plane is loaded in this process against a cgroup
//! nobody joins, so the client's sockets are not translated at connect():
//! every sample crosses the per-packet path.

use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
};

use anyhow::Context as _;
use berth_dataplane::{
    Backend, Exposure, Limits, Policy, Protocol, Service, ServicePort,
    kernel::{self, KernelConfig, NodePort},
};
use berth_test_support::{Cgroup, Netns, TcpEcho, Veth, name};

pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 252, 0, 2);
pub const BERTH_ADDR: Ipv4Addr = Ipv4Addr::new(10, 252, 0, 1);
pub const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 252, 0, 11);
/// The first service's port on the node (then one more per service).
pub const FIRST_PORT: u16 = 10_000;
pub const BACKEND_PORT: u16 = 8080;

/// Service `i`'s backend: its own address in the pod.
pub fn backend(i: usize) -> SocketAddr {
    let n = i as u32 + 1;
    let a = Ipv4Addr::new(10, 253, (n >> 8) as u8, n as u8);
    SocketAddr::new(IpAddr::V4(a), BACKEND_PORT)
}

pub fn node_port(i: usize) -> u16 {
    FIRST_PORT + i as u16
}

pub struct Topo {
    pub client: Netns,
    pub node: Netns,
    pub pod: Netns,
    _links: [Veth; 2],
    _echo: TcpEcho,
    /// The devices of the node: outside, towards the pod.
    pub devices: [String; 2],
    /// Addresses added to the pod so far.
    pod_addrs: usize,
}

impl Topo {
    pub fn new() -> anyhow::Result<Topo> {
        let (client, node, pod) = (Netns::new()?, Netns::new()?, Netns::new()?);
        let outside = Veth::new(&client, Some(&node))?;
        outside.add_addr_a(&format!("{CLIENT_ADDR}/24"))?;
        outside.add_addr_b(&format!("{BERTH_ADDR}/24"))?;
        outside.add_addr_b(&format!("{PEER_ADDR}/24"))?;
        let inside = Veth::new(&pod, Some(&node))?;
        inside.add_addr_a("10.252.1.2/24")?;
        inside.add_addr_b("10.252.1.1/24")?;
        client.ip(&["route", "add", "default", "via", &BERTH_ADDR.to_string()])?;
        pod.ip(&["route", "add", "default", "via", "10.252.1.1"])?;
        node.ip(&["route", "add", "10.253.0.0/16", "via", "10.252.1.2"])?;
        for n in [&client, &node, &pod] {
            n.ip(&["link", "set", "lo", "up"])?;
        }
        node.enable_ip_forward()?;
        let echo = TcpEcho::start(
            &pod,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), BACKEND_PORT),
            "pod",
        )?;
        let devices = [outside.b_name().to_string(), inside.b_name().to_string()];
        Ok(Topo {
            client,
            node,
            pod,
            _links: [outside, inside],
            _echo: echo,
            devices,
            pod_addrs: 0,
        })
    }

    /// Gives the pod the backend addresses of services `0..n`.
    pub fn backends(&mut self, n: usize) -> anyhow::Result<()> {
        let dev = &self._links[1];
        let mut batch = String::new();
        for i in self.pod_addrs..n {
            let _ = writeln!(
                batch,
                "addr add {}/32 dev {}",
                backend(i).ip(),
                dev.a_name()
            );
        }
        if batch.is_empty() {
            return Ok(());
        }
        let file = std::env::temp_dir().join(format!("{}.ip", name::unique_long("np")));
        std::fs::write(&file, &batch)?;
        let out = self.pod.ip(&["-batch", &file.display().to_string()]);
        let _ = std::fs::remove_file(&file);
        out.context("adding the backend addresses")?;
        self.pod_addrs = n;
        Ok(())
    }
}

/// Berth's data plane for the benchmark: loaded in this process against a
/// cgroup nobody joins, the per-packet program on the node's devices.
/// Dropping it removes everything.
pub struct Berth {
    pub lb: Option<berth_dataplane::Lb<kernel::BpfMaps>>,
    bpffs: PathBuf,
    _cgroup: Cgroup,
}

impl Berth {
    pub fn start(topo: &Topo) -> anyhow::Result<Berth> {
        let cgroup = Cgroup::new()?;
        let bpffs = name::unique_bpffs_dir();
        let cfg = KernelConfig {
            bpffs: bpffs.clone(),
            cgroup: cgroup.path().to_path_buf(),
            limits: Limits::default(),
        };
        let started = kernel::start(&cfg);
        let mut me = Berth {
            lb: None,
            bpffs,
            _cgroup: cgroup,
        };
        me.lb = Some(started.context("starting the eBPF data plane")?);
        let np = NodePort {
            devices: topo.devices.to_vec(),
            snat4: Some(BERTH_ADDR),
            ..NodePort::default()
        };
        topo.node
            .run(|| kernel::start_nodeport(&cfg, &np))?
            .context("attaching the per-packet program")?;
        Ok(me)
    }

    /// Programs services `0..n`: a node port each on [`BERTH_ADDR`], one
    /// distinct backend each, SNAT (externalTrafficPolicy Cluster).
    pub fn program(&mut self, n: usize) -> anyhow::Result<()> {
        let services: Vec<Service> = (0..n)
            .map(|i| Service {
                name: format!("bench/np-{i}"),
                vips: vec![IpAddr::V4(BERTH_ADDR)],
                ports: vec![ServicePort {
                    port: node_port(i),
                    protocol: Protocol::Tcp,
                    backends: vec![Backend::from(backend(i))],
                    ..ServicePort::default()
                }],
                policy: Policy {
                    exposure: Exposure::External,
                    ..Policy::default()
                },
                ..Service::default()
            })
            .collect();
        let lb = self.lb.as_mut().context("data plane gone")?;
        lb.reconcile(&services)
            .context("programming the node ports")?;
        Ok(())
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        drop(self.lb.take());
        if let Err(e) = kernel::down(&self.bpffs) {
            tracing::warn!(error = %e, "removing the benchmark's data plane failed");
        }
        let _ = std::fs::remove_dir_all(&self.bpffs);
    }
}
