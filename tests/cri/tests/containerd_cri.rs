//! containerd's CRI plugin (Debian's containerd 1.6), started by this test
//! with Berth's generated configuration, runs a pod sandbox whose network
//! comes from `berth-cni` and our IPAM; stopping and removing the sandbox
//! frees the address.
//!
//! Needs root, the Debian packages containerd, runc, busybox-static and
//! containernetworking-plugins (for the `loopback` plugin the CRI plugin
//! always calls), and the `berth` binary (`cargo xtask test` builds it).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use berth_cni::containerd::{ConflistSpec, ContainerdConfig, Snapshotter};
use berth_cri_tests::berth_bin;
use berth_cri_tests::containerd::Containerd;
use berth_cri_tests::cri::Cri;
use berth_cri_tests::guard::{CgroupParent, HostLink};
use berth_node::image::BUSYBOX_STATIC;
use berth_test_support::name;
use ipnet::IpNet;
use k8s_cri::v1 as cri;

/// The pod subnet of this test (inside the cluster's 10.244.0.0/16, unused
/// by other tests).
const POD_SUBNET: &str = "10.244.210.0/24";
/// The CNI `loopback` plugin (containernetworking-plugins).
const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";

/// Generous limits that only catch hangs.
const CRI_READY_TIMEOUT: Duration = Duration::from_secs(60);
const IMAGE_VISIBLE_TIMEOUT: Duration = Duration::from_secs(60);
const RUN_POD_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_POD_TIMEOUT: Duration = Duration::from_secs(120);
const REMOVE_POD_TIMEOUT: Duration = Duration::from_secs(60);

async fn timed<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let resp = tokio::time::timeout(limit, fut)
        .await
        .with_context(|| format!("{what} did not answer within {limit:?}"))?
        .with_context(|| format!("{what} failed"))?;
    let took = start.elapsed();
    eprintln!("{what}: {took:?}");
    Ok((resp.into_inner(), took))
}

fn symlink(target: &Path, link: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("symlink {} -> {}", link.display(), target.display()))
}

#[test]
fn containerd_cri_runs_a_pod_sandbox_on_berth_cni() -> anyhow::Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (it runs containerd)"
    );
    let berth = berth_bin()?;
    ensure!(
        Path::new(LOOPBACK_PLUGIN).is_file(),
        "{LOOPBACK_PLUGIN} is missing: containerd's CRI plugin always calls the CNI `loopback` \
         plugin; install containernetworking-plugins (`cargo xtask setup`)"
    );
    ensure!(
        Path::new(BUSYBOX_STATIC).is_file(),
        "{} is missing: install busybox-static (`cargo xtask setup`)",
        BUSYBOX_STATIC
    );
    let subnet: IpNet = POD_SUBNET.parse()?;

    // Dropped last: everything below lives in it.
    let tmp = tempfile::Builder::new().prefix("berth-cri-").tempdir()?;
    let dir = tmp.path().to_path_buf();
    let cgroup_parent = CgroupParent(name::unique_long("c"));
    let bridge = HostLink(name::unique("b"));

    // CNI: bin dir with berth-cni (+ loopback), the conflist, IPAM data.
    let bin_dir = dir.join("cni-bin");
    let conf_dir = dir.join("cni-conf");
    let data_dir = dir.join("cni-data");
    for d in [&bin_dir, &conf_dir, &data_dir] {
        fs::create_dir_all(d)?;
    }
    symlink(&berth, &bin_dir.join("berth-cni"))?;
    symlink(Path::new(LOOPBACK_PLUGIN), &bin_dir.join("loopback"))?;
    let spec = ConflistSpec {
        name: format!("berth-cri-{}", name::unique("n")),
        bridge: bridge.0.clone(),
        subnets: vec![subnet],
        data_dir: data_dir.clone(),
        mtu: None,
        masquerade_except: None,
    };
    fs::write(conf_dir.join(spec.file_name()), spec.to_json())?;
    let reservations = data_dir.join(&spec.name);

    // The pause image.
    let image_ref = format!("berth.local/pause:cri-test-{}", std::process::id());
    let archive = dir.join("pause.oci.tar");
    berth_node::image::pause_image(Path::new(BUSYBOX_STATIC), &image_ref)?.write(&archive)?;

    // containerd.
    let mut config = ContainerdConfig::new(
        dir.join("root"),
        dir.join("state"),
        dir.join("containerd.sock"),
        image_ref.clone(),
        &bin_dir,
        &conf_dir,
    );
    config.snapshotter = if berth_node::containerd::overlay_works(&dir) {
        Snapshotter::Overlayfs
    } else {
        Snapshotter::Native
    };
    let snapshotter = config.snapshotter.as_str();
    eprintln!("containerd snapshotter: {snapshotter}");
    let started = Instant::now();
    let containerd = Containerd::start(&dir, config)?;
    eprintln!("containerd started (socket open): {:?}", started.elapsed());

    let imported = Instant::now();
    containerd
        .ctr(&[
            "images",
            "import",
            "--snapshotter",
            snapshotter,
            &archive.to_string_lossy(),
        ])
        .context("ctr images import of the locally built pause image")?;
    eprintln!("ctr images import: {:?}", imported.elapsed());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(pod_lifecycle(
        &containerd,
        &image_ref,
        &cgroup_parent,
        subnet,
        &reservations,
        &bridge.0,
    ));
    if result.is_err() {
        eprintln!("containerd log (tail):\n{}", containerd.log_tail(80));
    }
    drop(rt);
    drop(containerd);
    result
}

async fn pod_lifecycle(
    containerd: &Containerd,
    image_ref: &str,
    cgroup_parent: &CgroupParent,
    subnet: IpNet,
    reservations: &Path,
    bridge: &str,
) -> anyhow::Result<()> {
    let mut c = Cri::connect(containerd.socket()).await?;

    // The CRI plugin reports NetworkReady once it has loaded our conflist.
    let deadline = Instant::now() + CRI_READY_TIMEOUT;
    loop {
        let (status, _) = timed(
            "Status",
            CRI_READY_TIMEOUT,
            c.runtime.status(cri::StatusRequest { verbose: false }),
        )
        .await?;
        let conditions = status.status.map(|s| s.conditions).unwrap_or_default();
        if conditions
            .iter()
            .any(|c| c.r#type == "NetworkReady" && c.status)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "CRI not NetworkReady within {CRI_READY_TIMEOUT:?} (CRI_READY_TIMEOUT): {conditions:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The imported image reaches the CRI plugin's image cache by an event.
    let deadline = Instant::now() + IMAGE_VISIBLE_TIMEOUT;
    loop {
        let (st, _) = timed(
            "ImageStatus",
            IMAGE_VISIBLE_TIMEOUT,
            c.images.image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: image_ref.into(),
                    ..Default::default()
                }),
                verbose: false,
            }),
        )
        .await?;
        if st.image.is_some() {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "CRI does not see the imported image {image_ref} within {IMAGE_VISIBLE_TIMEOUT:?} \
                 (IMAGE_VISIBLE_TIMEOUT)"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "cri-pod".into(),
            uid: format!("berth-cri-test-{}", std::process::id()),
            namespace: "berth-test".into(),
            attempt: 0,
        }),
        hostname: "cri-pod".into(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.path(),
            security_context: Some(cri::LinuxSandboxSecurityContext::default()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (run, run_took) = timed(
        "RunPodSandbox",
        RUN_POD_TIMEOUT,
        c.runtime.run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        }),
    )
    .await?;
    let id = run.pod_sandbox_id;
    eprintln!("sandbox {id} (RunPodSandbox {run_took:?})");

    let checked = check_running(&mut c, &id, subnet, reservations, bridge).await;
    // Stop and remove even when a check failed, so that CNI DEL runs.
    let stopped = timed(
        "StopPodSandbox",
        STOP_POD_TIMEOUT,
        c.runtime.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.clone(),
        }),
    )
    .await;
    let removed = timed(
        "RemovePodSandbox",
        REMOVE_POD_TIMEOUT,
        c.runtime.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.clone(),
        }),
    )
    .await;
    let ip = checked?;
    stopped?;
    removed?;

    let file = reservations.join(ip.to_string());
    ensure!(
        !file.exists(),
        "the reservation {} is still there after StopPodSandbox + RemovePodSandbox",
        file.display()
    );
    let left: Vec<String> = fs::read_dir(reservations)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<IpAddr>().is_ok())
        .collect();
    ensure!(left.is_empty(), "reservations left after removal: {left:?}");
    Ok(())
}

/// PodSandboxStatus: ready, an IP inside `subnet` that is reserved for this
/// sandbox in our IPAM directory.
async fn check_running(
    c: &mut Cri,
    id: &str,
    subnet: IpNet,
    reservations: &Path,
    bridge: &str,
) -> anyhow::Result<IpAddr> {
    let (st, _) = timed(
        "PodSandboxStatus",
        Duration::from_secs(30),
        c.runtime.pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        }),
    )
    .await?;
    let status = st.status.context("PodSandboxStatus without status")?;
    ensure!(
        status.state == cri::PodSandboxState::SandboxReady as i32,
        "sandbox not ready: state {}",
        status.state
    );
    let ip_text = status
        .network
        .map(|n| n.ip)
        .filter(|ip| !ip.is_empty())
        .context("PodSandboxStatus reports no pod IP")?;
    let ip: IpAddr = ip_text
        .parse()
        .with_context(|| format!("pod IP {ip_text:?}"))?;
    eprintln!("pod IP {ip}");
    ensure!(subnet.contains(&ip), "pod IP {ip} is not inside {subnet}");
    let file: PathBuf = reservations.join(ip.to_string());
    let content = fs::read_to_string(&file).with_context(|| {
        format!(
            "pod IP {ip} has no reservation file {} in our IPAM directory",
            file.display()
        )
    })?;
    let mut lines = content.split("\r\n");
    ensure!(
        lines.next() == Some(id),
        "reservation {} holds {content:?}, not sandbox {id}",
        file.display()
    );
    ensure!(
        lines.next() == Some("eth0"),
        "reservation {} holds {content:?}, expected ifname eth0",
        file.display()
    );
    // berth-cni made the bridge (host namespace) with the gateway on it.
    let gateway = subnet.hosts().next().context("subnet without hosts")?;
    let out = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "dev", bridge])
        .output()?;
    let addrs = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && addrs.contains(&format!(" {gateway}/")),
        "bridge {bridge} does not carry the gateway {gateway}: {}{}",
        addrs.trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(ip)
}
