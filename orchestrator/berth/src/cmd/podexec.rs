//! `berth logs` and `berth exec`: a pod's container log and a command run
//! in it. They look the pod up in the API (its container id) and then talk
//! to a containerd on this machine (`--address`, default the agent's), as
//! `crictl` does, so they must run on the pod's node: nothing goes through
//! the server (that is on `berth status`'s not-yet list). For a pod of
//! another node, `logs` says its container is not in that containerd ("is
//! this the pod's node?") and `exec` fails with containerd's error for the
//! unknown container id.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use berth_api::Pod;
use berth_node::containerd::DEFAULT_SOCKET;
use berth_node::runtime::Runtime as _;
use berth_node::runtime::cri::CriRuntime;
use clap::Args;

use super::kubectl::{ClientArgs, client, namespace, runtime};

/// How often `logs -f` looks for more.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The pod.
    pub pod: String,
    /// The container (required when the pod has several).
    #[arg(short, long)]
    pub container: Option<String>,
    /// Keep printing what the container writes.
    #[arg(short, long)]
    pub follow: bool,
    /// The containerd socket of the node that runs the pod.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    pub address: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The pod.
    pub pod: String,
    /// The container (required when the pod has several).
    #[arg(short, long)]
    pub container: Option<String>,
    /// Give up after this long: `300` (seconds), `250ms`, `1m30s`, `5m`
    /// (0: never).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = super::duration::parse)]
    pub timeout: Duration,
    /// The containerd socket of the node that runs the pod.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    pub address: PathBuf,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// The runtime id of the container of `pod` named `container` (or its
/// only one), and its name.
async fn container_id(
    client_args: &ClientArgs,
    pod: &str,
    container: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let ns = namespace(client_args);
    let api = berth_client::Client::remote(client(client_args).await?);
    let p = api
        .get::<Pod>(&ns, pod)
        .await?
        .with_context(|| format!("pods {pod:?} not found in namespace {ns:?}"))?;
    let names: Vec<&str> = p.spec.containers.iter().map(|c| c.name.as_str()).collect();
    let name = match container {
        Some(c) if names.contains(&c) => c.to_owned(),
        Some(c) => bail!("-c: invalid value {c:?}: pod {pod:?} has containers {names:?}"),
        None if names.len() == 1 => names[0].to_owned(),
        None => {
            bail!("a container name must be specified for pod {pod:?}, choose one of: {names:?}")
        }
    };
    let id = p
        .status
        .container_statuses
        .iter()
        .find(|s| s.name == name)
        .map(|s| {
            s.container_id
                .trim_start_matches("containerd://")
                .to_owned()
        })
        .filter(|id| !id.is_empty())
        .with_context(|| {
            format!(
                "container {name:?} of pod {pod:?} has not started (see `berth describe pod {pod}`)"
            )
        })?;
    Ok((id, name))
}

/// The message of one CRI log line (`TIME STREAM TAG MESSAGE`); `F` lines
/// end with a newline, `P` (partial) ones do not.
pub fn cri_log_message(line: &str) -> Option<(String, bool)> {
    let mut parts = line.splitn(4, ' ');
    let (_time, _stream, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let msg = parts.next().unwrap_or("");
    Some((msg.to_owned(), tag != "P"))
}

fn print_lines(text: &str, out: &mut impl std::io::Write) -> std::io::Result<()> {
    for line in text.lines() {
        match cri_log_message(line) {
            Some((m, true)) => writeln!(out, "{m}")?,
            Some((m, false)) => write!(out, "{m}")?,
            None => writeln!(out, "{line}")?,
        }
    }
    out.flush()
}

pub fn logs(a: LogsArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let (id, name) = container_id(client_args, &a.pod, a.container.as_deref()).await?;
        let rt = CriRuntime::connect(&a.address)?;
        let info = rt
            .list_containers(None)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .with_context(|| {
                format!(
                    "container {name} ({id}) is not in the containerd at {} (is this the pod's node? --address)",
                    a.address.display()
                )
            })?;
        let path = PathBuf::from(&info.log_path);
        let mut f = std::fs::File::open(&path)
            .with_context(|| format!("opening the log {}", path.display()))?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let mut stdout = std::io::stdout().lock();
        // Only whole lines; a partial last one waits for its end.
        let mut pending = String::new();
        let emit = |chunk: &str, pending: &mut String, out: &mut std::io::StdoutLock<'_>| {
            pending.push_str(chunk);
            if let Some(cut) = pending.rfind('\n') {
                let whole: String = pending.drain(..=cut).collect();
                print_lines(&whole, out)
            } else {
                Ok(())
            }
        };
        emit(&text, &mut pending, &mut stdout)?;
        if !a.follow {
            return print_lines(&pending, &mut stdout).map_err(Into::into);
        }
        let mut pos = f.stream_position()?;
        loop {
            tokio::time::sleep(FOLLOW_POLL).await;
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(pos);
            if len < pos {
                pos = 0; // rotated or truncated
            }
            if len > pos {
                f.seek(SeekFrom::Start(pos))?;
                let mut more = String::new();
                f.read_to_string(&mut more)?;
                pos = f.stream_position()?;
                emit(&more, &mut pending, &mut stdout)?;
            }
        }
    })
}

pub fn exec(a: ExecArgs, client_args: &ClientArgs) -> anyhow::Result<()> {
    let code = runtime()?.block_on(async move {
        let (id, _) = container_id(client_args, &a.pod, a.container.as_deref()).await?;
        let rt = CriRuntime::connect(&a.address)?;
        // CRI's ExecSync counts zero as no timeout, as the flag does.
        let r = rt.exec_sync(&id, &a.command, a.timeout).await?;
        std::io::stdout().write_all(&r.stdout)?;
        std::io::stderr().write_all(&r.stderr)?;
        anyhow::Ok(r.exit_code)
    })?;
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_log_lines() {
        assert_eq!(
            cri_log_message("2026-12-03T08:00:00.1Z stdout F hello world"),
            Some(("hello world".into(), true))
        );
        assert_eq!(
            cri_log_message("2026-12-03T08:00:00.1Z stderr P part"),
            Some(("part".into(), false))
        );
        let mut out = Vec::new();
        print_lines("t stdout P a\nt stdout F b\nt stderr F c\n", &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "ab\nc\n");
    }
}
