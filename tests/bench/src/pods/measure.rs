//! One measured set of pods: N Pods created with at most C not yet Ready
//! at a time (a new one as soon as one becomes Ready), each timed from its
//! create call to the first watch event showing it Running with
//! Ready=True; then all deleted and timed until the API and the runtime
//! have none left.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use berth_api::manifest::{ParseOptions, parse_str};
use berth_api::pod::PodPhase;
use berth_api::{Kind, Pod};
use berth_client::DeleteOptions;
use berth_client::typed::Change;
use berth_node::runtime::Runtime as _;
use futures_util::StreamExt as _;

use super::timed::Log;
use super::world::{NAMESPACE, NODE, World};
use super::{Probe, progress};
use crate::interrupt;

/// Longest a pod may take to be Ready, and the pods to be gone (only
/// catches hangs).
const HANG: Duration = Duration::from_secs(120);
/// How often the loop looks at Ctrl-C and hangs while nothing arrives.
const TICK: Duration = Duration::from_millis(200);
/// The container's command (as in the agent's tests).
pub const COMMAND: &str =
    "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && exec httpd -f -p 8080 -h /www";
/// The readiness probe of [`Probe::Tcp`].
pub const TCP_PROBE: &str = "{tcpSocket: {port: 8080}, periodSeconds: 1}";
/// The pods' grace period (busybox httpd as PID 1 ignores SIGTERM: each
/// deletion waits this long).
pub const GRACE_SECONDS: u32 = 1;

/// The stages of a pod's start, in order (the sum is its latency).
pub const STAGES: &[(&str, &str)] = &[
    (
        "queue",
        "create call → RunPodSandbox called (watch to the agent, its queue and workers, ListPodSandbox, ImageStatus)",
    ),
    ("sandbox", "RunPodSandbox (pause container, CNI ADD)"),
    (
        "prepare",
        "RunPodSandbox done → CreateContainer called (PodSandboxStatus, ListContainers)",
    ),
    ("container", "CreateContainer + StartContainer"),
    (
        "report",
        "StartContainer done → the Running event at the bench (ListContainers, first probe, status write, watch)",
    ),
    (
        "probe_wait",
        "Running event → Running and Ready event (the readiness probe's retries)",
    ),
];

/// What one set of pods measured.
#[derive(Debug)]
pub struct Measured {
    pub probe: Probe,
    /// Create call → Running and Ready, per pod.
    pub ready: Vec<Duration>,
    /// First create call → last Ready.
    pub wall: Duration,
    /// Create call → Running (Ready or not), per pod.
    pub running: Vec<Duration>,
    /// First create call → last Running.
    pub running_wall: Duration,
    /// With `--time-cni`, per pod: RunPodSandbox called → CNI ADD begins,
    /// and CNI ADD itself (as the wrapper saw it).
    pub before_cni: Vec<Duration>,
    pub cni_add: Vec<Duration>,
    /// Stage name → its duration per pod (as [`STAGES`]).
    pub stages: Vec<(&'static str, Vec<Duration>)>,
    /// Pods whose first status write was already Ready (no second write).
    pub ready_at_first_running: usize,
    /// Runtime calls while the pods started.
    pub calls: Vec<(&'static str, Vec<Duration>)>,
    /// Delete calls → every pod gone from the API and its sandbox from
    /// the runtime.
    pub teardown: Duration,
}

pub(super) fn manifest(name: &str, probe: Probe) -> anyhow::Result<Pod> {
    let readiness = match probe {
        Probe::Tcp => format!("    readinessProbe: {TCP_PROBE}\n"),
        Probe::None => String::new(),
    };
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {NAMESPACE}, labels: {{app: berth-bench-pods, probe: {}}}}}
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: {GRACE_SECONDS}
  containers:
  - name: web
    image: busybox
    command: [sh, -c, "{COMMAND}"]
    ports: [{{name: http, containerPort: 8080}}]
{readiness}"#,
        probe.name()
    );
    let mut docs = parse_str(&yaml, "bench-pod.yaml", &ParseOptions::default())?;
    let doc = docs.pop().context("no document in the pod manifest")?;
    Pod::try_from(doc.object).map_err(|e| anyhow::anyhow!("{e}"))
}

/// What the watch saw of a pod.
#[derive(Debug)]
struct Seen {
    name: String,
    running: bool,
    ready: bool,
    gone: bool,
    at: Instant,
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, Clone, Copy)]
struct Track {
    t0: Instant,
    running: Option<Instant>,
    ready: Option<Instant>,
}

/// Why a pod is not Ready yet, for the error.
async fn describe(world: &World, name: &str) -> String {
    let pod = match world.admin().get::<Pod>(NAMESPACE, name).await {
        Ok(Some(p)) => p,
        Ok(None) => return "not found".into(),
        Err(e) => return format!("reading it failed: {e}"),
    };
    let containers: Vec<String> = pod
        .status
        .container_statuses
        .iter()
        .map(|c| {
            let state = if let Some(w) = &c.state.waiting {
                format!("waiting {}: {}", w.reason, w.message)
            } else if c.state.running.is_some() {
                "running".into()
            } else {
                "terminated".into()
            };
            format!(
                "{} {state}, ready {}, restarts {}",
                c.name, c.ready, c.restart_count
            )
        })
        .collect();
    format!(
        "phase {:?}, ip {:?}, containers [{}]",
        pod.status.phase,
        pod.status.pod_ip,
        containers.join("; ")
    )
}

/// Creates `n` pods named `bench-<tag>-<i>` with `probe`, at most
/// `concurrency` not yet Ready at a time; measures; deletes them.
pub async fn run(
    world: &World,
    tag: &str,
    probe: Probe,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let admin = world.admin();
    let (mut rx, _watcher) = watch_pods(admin).await?;
    let names: Vec<String> = (0..n).map(|i| format!("bench-{tag}-{i}")).collect();
    let mut pods = Vec::with_capacity(n);
    for name in &names {
        pods.push(manifest(name, probe)?);
    }
    world.runtime().take();
    let tracks = create_until_ready(world, &names, &pods, concurrency, &mut rx).await?;
    let log = world.runtime().take();
    let first = tracks.values().map(|t| t.t0).min().context("no pods")?;
    let last = tracks
        .values()
        .filter_map(|t| t.ready)
        .max()
        .context("no pods")?;
    let ready: Vec<Duration> = names
        .iter()
        .filter_map(|n| tracks.get(n))
        .filter_map(|t| t.ready.map(|r| r.duration_since(t.t0)))
        .collect();
    let running: Vec<Duration> = names
        .iter()
        .filter_map(|n| tracks.get(n))
        .filter_map(|t| t.running.map(|r| r.duration_since(t.t0)))
        .collect();
    let last_running = tracks
        .values()
        .filter_map(|t| t.running)
        .max()
        .context("no pods")?;
    let (before_cni, cni_add) = match world.cni_log() {
        Some(path) => cni_split(path, &names, &log)?,
        None => (Vec::new(), Vec::new()),
    };
    let ready_at_first_running = tracks
        .values()
        .filter(|t| t.running.is_some() && t.running == t.ready)
        .count();
    let stages = stages(&names, &tracks, &log)?;
    let calls = log.calls.into_iter().collect();

    progress(format_args!("deleting the {n} pods"));
    let teardown = delete_until_gone(world, &names, &mut rx).await?;
    world.runtime().take();
    Ok(Measured {
        probe,
        ready,
        wall: last.duration_since(first),
        running,
        running_wall: last_running.duration_since(first),
        before_cni,
        cni_add,
        stages,
        ready_at_first_running,
        calls,
        teardown,
    })
}

/// Pod watch events from now on, each stamped on arrival in a task of its
/// own (so that create calls do not delay the stamps), which ends when the
/// returned guard is dropped.
async fn watch_pods(
    admin: &berth_client::Client,
) -> anyhow::Result<(tokio::sync::mpsc::UnboundedReceiver<Seen>, AbortOnDrop)> {
    let rv = admin.list::<Pod>(NAMESPACE, "").await?.resource_version;
    let mut stream = admin.watch::<Pod>(NAMESPACE, rv).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Seen>();
    let watcher = AbortOnDrop(tokio::spawn(async move {
        while let Some(ev) = stream.next().await {
            let at = Instant::now();
            let seen = match ev {
                Ok((Change::Applied(p), _)) => Seen {
                    running: p.status.phase == PodPhase::Running,
                    ready: p.status.phase == PodPhase::Running && p.is_ready(),
                    gone: false,
                    name: p.metadata.name,
                    at,
                },
                Ok((Change::Deleted(p), _)) => Seen {
                    running: false,
                    ready: false,
                    gone: true,
                    name: p.metadata.name,
                    at,
                },
                Err(e) => {
                    eprintln!("[bench] pod watch: {e}");
                    return;
                }
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    }));
    Ok((rx, watcher))
}

/// Creates `pods` (named `names`), at most `concurrency` not yet Ready at
/// a time, and tracks each from its create call to Running and Ready.
async fn create_until_ready(
    world: &World,
    names: &[String],
    pods: &[Pod],
    concurrency: usize,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>,
) -> anyhow::Result<HashMap<String, Track>> {
    let admin = world.admin();
    let n = names.len();
    let mut tracks: HashMap<String, Track> = HashMap::with_capacity(n);
    let (mut next, mut pending, mut done) = (0usize, 0usize, 0usize);
    let mut gone_early = HashSet::new();
    while done < n {
        interrupt::check()?;
        while pending < concurrency && next < n {
            let t0 = Instant::now();
            admin
                .create(&pods[next])
                .await
                .with_context(|| format!("creating pod {}", names[next]))?;
            tracks.insert(
                names[next].clone(),
                Track {
                    t0,
                    running: None,
                    ready: None,
                },
            );
            next += 1;
            pending += 1;
        }
        match tokio::time::timeout(TICK, rx.recv()).await {
            Ok(Some(s)) => {
                if let Some(t) = tracks.get_mut(&s.name) {
                    if s.gone {
                        gone_early.insert(s.name.clone());
                    }
                    if s.running && t.running.is_none() {
                        t.running = Some(s.at);
                    }
                    if s.ready && t.ready.is_none() {
                        t.ready = Some(s.at);
                        pending -= 1;
                        done += 1;
                    }
                }
            }
            Ok(None) => bail!("the pod watch ended ({done} of {n} pods Ready)"),
            Err(_) => {}
        }
        if let Some(name) = gone_early.iter().next() {
            bail!("pod {name} was deleted before it was Ready");
        }
        let hung = tracks
            .iter()
            .find(|(_, t)| t.ready.is_none() && t.t0.elapsed() > HANG)
            .map(|(name, _)| name.clone());
        if let Some(name) = hung {
            bail!(
                "pod {name} not Running and Ready after {HANG:?} ({done} of {n} were): {}\ncontainerd log:\n{}",
                describe(world, &name).await,
                world.containerd_log(30)
            );
        }
    }
    Ok(tracks)
}

/// Deletes the pods `names` and waits until they are gone from the API
/// and their sandboxes from the runtime; returns how long that took.
async fn delete_until_gone(
    world: &World,
    names: &[String],
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>,
) -> anyhow::Result<Duration> {
    let admin = world.admin();
    let n = names.len();
    let t = Instant::now();
    for name in names {
        admin
            .delete(Kind::Pod, NAMESPACE, name, DeleteOptions::default())
            .await
            .with_context(|| format!("deleting pod {name}"))?;
    }
    let mut gone: HashSet<String> = HashSet::with_capacity(n);
    let mine: HashSet<&str> = names.iter().map(String::as_str).collect();
    loop {
        interrupt::check()?;
        match tokio::time::timeout(TICK, rx.recv()).await {
            Ok(Some(s)) if s.gone && mine.contains(s.name.as_str()) => {
                gone.insert(s.name);
            }
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => bail!("the pod watch ended ({} of {n} pods gone)", gone.len()),
        }
        if gone.len() == n {
            let left = world
                .runtime()
                .list_sandboxes()
                .await?
                .iter()
                .filter(|s| mine.contains(s.name.as_str()))
                .count();
            if left == 0 {
                return Ok(t.elapsed());
            }
        }
        anyhow::ensure!(
            t.elapsed() < HANG,
            "{} of {n} pods gone after {HANG:?}",
            gone.len()
        );
    }
}

/// Per pod, from the `--time-cni` log: RunPodSandbox called → its CNI ADD
/// began, and the ADD's duration.
fn cni_split(
    path: &std::path::Path,
    names: &[String],
    log: &Log,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut adds: HashMap<&str, (i64, i64)> = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [cmd, id, start, end] = f[..]
            && cmd == "ADD"
            && let (Ok(s), Ok(e)) = (start.parse(), end.parse())
        {
            adds.entry(id).or_insert((s, e));
        }
    }
    let ns = |d: i64| Duration::from_nanos(u64::try_from(d).unwrap_or(0));
    let (mut before, mut add) = (Vec::new(), Vec::new());
    for name in names {
        let calls = log.pods.get(name).context("untracked pod")?;
        let (s, e) = adds
            .get(calls.sandbox_id.as_str())
            .with_context(|| format!("no CNI ADD logged for the sandbox of pod {name}"))?;
        before.push(ns(s - calls.sandbox_wall_ns));
        add.push(ns(e - s));
    }
    Ok((before, add))
}

/// Each pod's latency cut at the runtime calls that made it.
fn stages(
    names: &[String],
    tracks: &HashMap<String, Track>,
    log: &Log,
) -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
    let mut out: Vec<(&'static str, Vec<Duration>)> =
        STAGES.iter().map(|(s, _)| (*s, Vec::new())).collect();
    for name in names {
        let t = tracks.get(name).context("untracked pod")?;
        let calls = log.pods.get(name);
        let (Some(sandbox), Some(create), Some(start)) = (
            calls.and_then(|c| c.sandbox),
            calls.and_then(|c| c.create),
            calls.and_then(|c| c.start),
        ) else {
            bail!("the runtime calls of pod {name} were not all recorded: {calls:?}");
        };
        let (Some(running), Some(ready)) = (t.running, t.ready) else {
            bail!("pod {name} was not seen Running and Ready");
        };
        let cuts = [
            t.t0, sandbox.0, sandbox.1, create.0, start.1, running, ready,
        ];
        for (i, w) in cuts.windows(2).enumerate() {
            out[i].1.push(w[1].saturating_duration_since(w[0]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::timed::PodCalls;

    #[test]
    fn manifests_have_the_probe_of_their_mode() {
        let p = manifest("bench-tcp-0", Probe::Tcp).unwrap();
        assert_eq!(p.spec.node_name, NODE);
        let c = &p.spec.containers[0];
        assert_eq!(c.command[2], COMMAND);
        let probe = c.readiness_probe.as_ref().expect("a readiness probe");
        assert_eq!(probe.period_seconds, 1);
        let none = manifest("bench-none-0", Probe::None).unwrap();
        assert!(none.spec.containers[0].readiness_probe.is_none());
    }

    #[test]
    fn cni_log_lines_place_each_add() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cni-times.log");
        std::fs::write(
            &path,
            "ADD sb1 1000000000 1016000000\nDEL sb1 2000000000 2001000000\nbroken line\n",
        )
        .unwrap();
        let mut log = Log::default();
        log.pods.insert(
            "p".into(),
            PodCalls {
                sandbox_id: "sb1".into(),
                sandbox_wall_ns: 980_000_000,
                ..PodCalls::default()
            },
        );
        let (before, add) = cni_split(&path, &["p".into()], &log).unwrap();
        assert_eq!(before, [Duration::from_millis(20)]);
        assert_eq!(add, [Duration::from_millis(16)]);
        assert!(cni_split(&path, &["q".into()], &log).is_err());
    }
}
