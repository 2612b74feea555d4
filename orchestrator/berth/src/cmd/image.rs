//! `berth image build|import`: OCI image archives without a registry.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use berth_node::containerd::{DEFAULT_SOCKET, cri_snapshotter};
use berth_node::image::{self, BUSYBOX_STATIC, ImageBuilder};
use clap::{ArgGroup, Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Write a one-layer OCI image archive (oci-layout, index.json,
    /// blobs/sha256) from a directory, a static binary, or the host's
    /// busybox.
    Build(BuildArgs),
    /// Import OCI image archives into containerd (the CRI's k8s.io
    /// namespace), unpacked; prints the imported references.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("source")
        .required(true)
        .args(["rootfs", "binary", "busybox", "pause"])
))]
pub struct BuildArgs {
    /// A root file system directory, packed recursively (files with their
    /// modes, directories, symbolic links; owner 0:0, mtime 0).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// A single (static) binary; the entrypoint unless --entrypoint or
    /// --cmd is given.
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
    /// Where --binary goes in the image (default /bin/<its file name>).
    #[arg(long, value_name = "/bin/NAME", requires = "binary")]
    pub at: Option<String>,
    /// A busybox image: busybox at /bin/busybox, applet links (sh, httpd,
    /// sleep, wget, nc, nslookup, seq, ...: BUSYBOX_APPLETS), PATH=/bin,
    /// Cmd ["sh"].
    #[arg(long)]
    pub busybox: bool,
    /// The pause (sandbox) image: busybox, entrypoint `/bin/busybox sleep
    /// infinity`.
    #[arg(long)]
    pub pause: bool,
    /// The static busybox for --busybox and --pause.
    #[arg(long, value_name = "FILE", default_value = BUSYBOX_STATIC)]
    pub busybox_binary: PathBuf,
    /// The image reference, normalized (`busybox` is
    /// docker.io/library/busybox:latest).
    #[arg(long, value_name = "REF")]
    pub name: String,
    /// One entrypoint argument per use, or all of them as a JSON array
    /// (`--entrypoint '["/bin/app","--flag"]'`).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub entrypoint: Vec<String>,
    /// One Cmd argument per use, or all of them as a JSON array.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub cmd: Vec<String>,
    /// An environment variable of the image (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// The working directory of the image's processes (default /).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The archive to write.
    #[arg(short = 'o', long = "output", value_name = "ARCHIVE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// containerd's gRPC socket.
    #[arg(long, value_name = "SOCKET", default_value = DEFAULT_SOCKET)]
    pub address: PathBuf,
    /// Snapshotter to unpack with (default: the one the CRI plugin at
    /// --address reports).
    #[arg(long, value_name = "NAME")]
    pub snapshotter: Option<String>,
    /// OCI image archives (as `berth image build` writes them).
    #[arg(value_name = "ARCHIVE", required = true)]
    pub archives: Vec<PathBuf>,
}

/// `K=V` with a non-empty K.
fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "invalid value {s:?}: expected K=V with a non-empty K"
        )),
    }
}

/// The values of a repeatable argv flag: each one argument, or one JSON
/// array of them.
fn argv(flag: &str, values: &[String]) -> anyhow::Result<Vec<String>> {
    match values {
        [one] if one.trim_start().starts_with('[') => serde_json::from_str::<Vec<String>>(one)
            .with_context(|| format!("{flag} {one:?}: not a JSON array of strings")),
        _ => Ok(values.to_vec()),
    }
}

pub fn run(c: ImageCmd) -> anyhow::Result<()> {
    match c {
        ImageCmd::Build(a) => build(a),
        ImageCmd::Import(a) => import(a),
    }
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    let entrypoint = argv("--entrypoint", &a.entrypoint)?;
    let cmd = argv("--cmd", &a.cmd)?;
    let mut image = if let Some(dir) = &a.rootfs {
        ImageBuilder::new(&a.name)
            .rootfs(dir)
            .with_context(|| format!("--rootfs {}", dir.display()))?
    } else if let Some(file) = &a.binary {
        let at = match &a.at {
            Some(at) => at.clone(),
            None => default_at(file)?,
        };
        let image = ImageBuilder::new(&a.name)
            .binary(file, &at)
            .with_context(|| format!("--binary {} --at {at}", file.display()))?;
        if entrypoint.is_empty() && cmd.is_empty() {
            image.entrypoint([at])
        } else {
            image
        }
    } else if a.busybox {
        image::busybox_image(&a.busybox_binary, &a.name)
            .with_context(|| format!("--busybox-binary {}", a.busybox_binary.display()))?
    } else if a.pause {
        image::pause_image(&a.busybox_binary, &a.name)
            .with_context(|| format!("--busybox-binary {}", a.busybox_binary.display()))?
    } else {
        bail!("one of --rootfs, --binary, --busybox or --pause is required");
    };
    if !entrypoint.is_empty() {
        image = image.entrypoint(entrypoint);
    }
    if !cmd.is_empty() {
        image = image.cmd(cmd);
    }
    for (k, v) in &a.env {
        image = image.env(k, v);
    }
    if let Some(dir) = &a.workdir {
        if !dir.starts_with('/') {
            bail!("--workdir {dir:?}: not an absolute path");
        }
        image = image.working_dir(dir);
    }
    let written = image
        .write(&a.output)
        .with_context(|| format!("-o {}", a.output.display()))?;
    println!(
        "{}: {} (image id {}, layer {} bytes)",
        written.path.display(),
        written.reference,
        written.image_id,
        written.layer_size
    );
    Ok(())
}

/// `/bin/<file name of FILE>`.
fn default_at(file: &Path) -> anyhow::Result<String> {
    let name = file.file_name().and_then(|n| n.to_str()).with_context(|| {
        format!(
            "--binary {}: no usable file name; give --at",
            file.display()
        )
    })?;
    Ok(format!("/bin/{name}"))
}

fn import(a: ImportArgs) -> anyhow::Result<()> {
    for archive in &a.archives {
        if !archive.is_file() {
            bail!("ARCHIVE {}: no such file", archive.display());
        }
    }
    super::kubectl::runtime()?.block_on(async {
        let snapshotter = match &a.snapshotter {
            Some(s) => s.clone(),
            None => cri_snapshotter(&a.address).await.with_context(|| {
                format!(
                    "--address {}: asking the CRI for its snapshotter (or give --snapshotter)",
                    a.address.display()
                )
            })?,
        };
        for archive in &a.archives {
            let refs = image::import(&a.address, archive, &snapshotter)
                .await
                .with_context(|| format!("--address {}", a.address.display()))?;
            for r in refs {
                println!("{r}");
            }
        }
        Ok(())
    })
}
