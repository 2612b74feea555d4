//! Images into a real containerd: a `Containerd` of its own (own root,
//! state and socket in a temporary directory) takes the busybox image
//! archive through `ctr images import`, its CRI then reports the image
//! under its normalized name; a second import changes nothing; a second
//! `start` on the same configuration adopts the running containerd, and
//! `supervise` restarts it after it was stopped, with the image still there.
//!
//! Needs root and the Debian packages containerd, runc and busybox-static.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use berth_cni::containerd::ContainerdConfig;
use berth_node::containerd::{Containerd, connect_cri, mounts_under};
use berth_node::image::{self, BUSYBOX_STATIC, ImageArchive};
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use tonic::transport::Channel;

/// The name the CRI must report for `busybox`.
const BUSYBOX_REF: &str = "docker.io/library/busybox:latest";

/// Generous limits that only catch hangs.
const IMAGE_VISIBLE_TIMEOUT: Duration = Duration::from_secs(60);
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn busybox_archive_imports_and_the_cri_sees_it() -> anyhow::Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (it runs containerd, which mounts and runs runc)"
    );
    ensure!(
        Path::new(BUSYBOX_STATIC).is_file(),
        "{BUSYBOX_STATIC} is missing: install busybox-static (`cargo xtask setup`)"
    );
    // The prefix names the owner for `cargo xtask test`'s leftover cleanup.
    let tmp = tempfile::Builder::new()
        .prefix(&format!("berth-test-node-{}-", std::process::id()))
        .tempdir_in("/tmp")?;
    let dir = tmp.path().to_path_buf();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let config = ContainerdConfig::new(
            dir.join("root"),
            dir.join("state"),
            dir.join("containerd.sock"),
            "berth.local/pause:node-test",
            dir.join("cni-bin"),
            dir.join("cni-conf"),
        );
        let started = Instant::now();
        let mut containerd = Containerd::start(&dir.join("containerd"), config.clone())
            .await
            .context("starting containerd")?;
        eprintln!(
            "containerd started (socket open): {:?}, snapshotter {}",
            started.elapsed(),
            containerd.snapshotter()
        );
        let result = exercise(&mut containerd, &dir, &config).await;
        if result.is_err() {
            eprintln!("containerd log (tail):\n{}", containerd.log_tail(80));
        }
        let purged = containerd.purge().await;
        drop(containerd);
        result?;
        purged.context("purge")?;
        let left = mounts_under(&dir);
        ensure!(left.is_empty(), "mounts left after purge: {left:?}");
        Ok(())
    });
    drop(rt);
    tmp.close()?;
    result
}

async fn exercise(
    containerd: &mut Containerd,
    dir: &Path,
    config: &ContainerdConfig,
) -> anyhow::Result<()> {
    let archive = image::busybox_image(Path::new(BUSYBOX_STATIC), "busybox")?
        .write(&dir.join("busybox.oci.tar"))?;
    ensure!(archive.reference == BUSYBOX_REF, "{archive:?}");

    let took = Instant::now();
    let refs = image::import(containerd.socket(), &archive.path, containerd.snapshotter()).await?;
    eprintln!("first import: {:?} -> {refs:?}", took.elapsed());
    ensure!(refs == [BUSYBOX_REF], "imported {refs:?}");

    let mut images = ImageServiceClient::new(connect_cri(containerd.socket()).await?);
    let took = Instant::now();
    let seen = wait_for_image(&mut images, "busybox").await?;
    eprintln!("ImageStatus sees it after {:?}", took.elapsed());
    check_image(&seen, &archive)?;

    // Again: the same references, the same one image.
    let took = Instant::now();
    let again = image::import(containerd.socket(), &archive.path, containerd.snapshotter()).await?;
    eprintln!("second import: {:?} -> {again:?}", took.elapsed());
    ensure!(again == refs, "second import: {again:?}, first {refs:?}");
    let seen = wait_for_image(&mut images, BUSYBOX_REF).await?;
    check_image(&seen, &archive)?;
    let list = images
        .list_images(cri::ListImagesRequest { filter: None })
        .await?
        .into_inner()
        .images;
    let tagged: Vec<&cri::Image> = list
        .iter()
        .filter(|i| i.repo_tags.iter().any(|t| t == BUSYBOX_REF))
        .collect();
    ensure!(
        tagged.len() == 1,
        "ListImages has {} images tagged {BUSYBOX_REF}: {list:?}",
        tagged.len()
    );

    // Someone else's containerd: adopt reads its snapshotter from the CRI.
    let external = Containerd::adopt(containerd.socket()).await?;
    ensure!(
        external.snapshotter() == containerd.snapshotter() && !external.is_managed(),
        "adopted: snapshotter {} (ours {})",
        external.snapshotter(),
        containerd.snapshotter()
    );
    drop(external);
    ensure!(
        UnixStream::connect(containerd.socket()).is_ok(),
        "dropping an adopted containerd stopped it"
    );

    // A restarted agent on the same configuration adopts the running one;
    // stopping that one stops containerd; the first supervisor restarts it.
    let first_pid = containerd.pid().context("no pid")?;
    let mut second = Containerd::start(&dir.join("containerd"), config.clone()).await?;
    ensure!(
        second.pid() == Some(first_pid) && second.is_managed(),
        "second start did not adopt pid {first_pid}: {:?}",
        second.pid()
    );
    let how = second.stop().await;
    eprintln!("adopted containerd stopped: {how:?}");
    ensure!(second.pid().is_none(), "still a pid after stop");
    drop(second);
    ensure!(
        UnixStream::connect(containerd.socket()).is_err(),
        "the socket still answers after stop"
    );

    let restarts = containerd.restart_counter();
    let took = Instant::now();
    let supervised = tokio::time::timeout(
        RESTART_TIMEOUT,
        containerd.supervise(async {
            // Until the supervisor has counted its restart (a start
            // counts once the socket is open and the CRI answers).
            while restarts.get() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }),
    )
    .await;
    ensure!(
        supervised.is_ok(),
        "supervise did not restart containerd within {RESTART_TIMEOUT:?}"
    );
    eprintln!("supervise restarted containerd: {:?}", took.elapsed());
    ensure!(
        containerd.restarts() == 1,
        "restarts: {}",
        containerd.restarts()
    );
    let new_pid = containerd.pid().context("no pid after restart")?;
    ensure!(new_pid != first_pid, "same pid {new_pid} after restart");
    let mut images = ImageServiceClient::new(connect_cri(containerd.socket()).await?);
    let seen = wait_for_image(&mut images, BUSYBOX_REF).await?;
    check_image(&seen, &archive)?;
    Ok(())
}

/// ImageStatus of `name` until the CRI has the image (imports reach its
/// cache by an event).
async fn wait_for_image(
    images: &mut ImageServiceClient<Channel>,
    name: &str,
) -> anyhow::Result<cri::Image> {
    let deadline = Instant::now() + IMAGE_VISIBLE_TIMEOUT;
    loop {
        let answer = images
            .image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: name.into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await;
        let last = match answer {
            Ok(r) => match r.into_inner().image {
                Some(image) => return Ok(image),
                None => "no image".to_string(),
            },
            Err(status) => format!("error: {status}"),
        };
        if Instant::now() > deadline {
            bail!(
                "the CRI does not report image {name} within {IMAGE_VISIBLE_TIMEOUT:?} \
                 (IMAGE_VISIBLE_TIMEOUT); last answer: {last}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_image(seen: &cri::Image, archive: &ImageArchive) -> anyhow::Result<()> {
    ensure!(
        seen.id == archive.image_id,
        "CRI image id {} is not the archive's config digest {}",
        seen.id,
        archive.image_id
    );
    ensure!(
        seen.repo_tags.iter().any(|t| t == BUSYBOX_REF),
        "CRI repo tags {:?} lack {BUSYBOX_REF}",
        seen.repo_tags
    );
    Ok(())
}
