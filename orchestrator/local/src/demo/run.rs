//! Running the demo on a cluster that is up: its manifests applied, its
//! pods waited for, and three checks — the service resolved by name from
//! the client pod, requests by name spread over the replicas, request
//! latency from this host through the VIP and to a pod directly. What it
//! does is told step by step ([`Step`]); the checks are returned.

use std::net::{AddrParseError, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_api::manifest::{self, ManifestErrors, ParseOptions};
use berth_api::output::EncodeError;
use berth_api::{Pod, Service};
use berth_client::proto::WriteRequest;
use berth_client::{Client, ClientConfig, ClientError, ConfigError, ConnectError};
use berth_node::runtime::cri::CriRuntime;

use super::{CLIENT, DOMAIN, NAMESPACE, PORT, REPLICAS, SERVICE, Spread, TARGET_PORT};
use crate::Config;
use crate::latency::{self, Summary};
use crate::wait::{self, WaitError};

/// Requests from the client pod to the service by name.
pub const SPREAD_REQUESTS: usize = 30;
/// Requests from the host for the latency figures (per target).
pub const LATENCY_REQUESTS: usize = 200;

/// Why the demo could not be run (a check that fails is no error).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The admin credentials could not be read.
    #[error("reading the admin credentials {}", path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ConfigError,
    },
    /// The server could not be reached.
    #[error("connecting to {server}")]
    Connect {
        /// The server's URL.
        server: String,
        /// Why.
        #[source]
        source: ConnectError,
    },
    /// The demo's manifest did not parse (a bug of this crate).
    #[error("the demo's manifest")]
    Manifest {
        /// The parser's errors.
        #[source]
        source: ManifestErrors,
    },
    /// An object of the demo could not be encoded.
    #[error("encoding the demo's {key}")]
    Encode {
        /// The object.
        key: String,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// The server refused an object of the demo.
    #[error("applying the demo's {key}: {}", source.message())]
    Apply {
        /// The object.
        key: String,
        /// The server's status.
        #[source]
        source: tonic::Status,
    },
    /// The demo's pods were not Ready.
    #[error("waiting for the demo's pods")]
    Wait {
        /// Why.
        #[source]
        source: WaitError,
    },
    /// The demo's Service could not be read.
    #[error("reading the demo's Service {NAMESPACE}/{SERVICE}")]
    Service {
        /// Why.
        #[source]
        source: ClientError,
    },
    /// The demo's Service is not there.
    #[error("the demo's Service {NAMESPACE}/{SERVICE} vanished")]
    ServiceGone,
    /// The Service's clusterIP or the pod's IP is not an address.
    #[error("the VIP {vip:?} or pod IP {pod_ip:?}")]
    Address {
        /// The Service's clusterIP.
        vip: String,
        /// The first web pod's IP.
        pod_ip: String,
        /// Why.
        #[source]
        source: AddrParseError,
    },
    /// The latency measurement did not finish.
    #[error("measuring request latency")]
    Latency {
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// One thing the demo checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What (`DNS`, `load balancing`, `VIP latency`).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// A step of the demo, told as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The manifests are applied.
    Applied,
    /// The pods are Ready.
    PodsReady {
        /// How long that took.
        after: Duration,
    },
    /// A CLI command run to show the cluster (`get pods -o wide`).
    Shown {
        /// Its arguments after `berth`.
        args: Vec<String>,
        /// What it printed.
        stdout: String,
        /// What it printed on stderr (or why it did not run).
        stderr: String,
    },
    /// `nslookup` of the service from the client pod.
    Lookup {
        /// The name looked up.
        fqdn: String,
        /// Its output, or why it failed.
        output: Result<String, String>,
    },
    /// The requests by name from the client pod.
    Requests {
        /// The client's shell loop.
        script: String,
        /// What they got (the check's detail).
        detail: String,
    },
    /// Latency from this host.
    Latency {
        /// Requests per target.
        requests: usize,
        /// Each target (`VIP 10.96.0.12:80`) and its figures.
        rows: Vec<(String, Summary)>,
    },
}

/// The berth CLI as the admin.
struct Cli<'a> {
    program: &'a Path,
    config: &'a Config,
}

impl Cli<'_> {
    fn command(&self) -> Command {
        let mut c = Command::new(self.program);
        c.arg("--config").arg(self.config.layout().admin_conf());
        c
    }

    /// `berth ARGS`, its output as a [`Step::Shown`].
    fn show(&self, args: &[&str]) -> Step {
        let (stdout, stderr) = match self.command().args(args).output() {
            Ok(o) => (
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            ),
            Err(e) => (String::new(), format!("running berth: {e}\n")),
        };
        Step::Shown {
            args: args.iter().map(|&a| a.to_owned()).collect(),
            stdout,
            stderr,
        }
    }

    /// `berth exec client -- ARGS`: its stdout, or why it failed.
    fn exec_in_client(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command()
            .arg("exec")
            .arg("--address")
            .arg(self.config.containerd_socket())
            .args([CLIENT, "--"])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{}: {}{}",
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

/// Applies the demo's manifests through the admin credentials.
async fn apply(config: &Config) -> Result<(), DemoError> {
    let path = config.layout().admin_conf();
    let admin = ClientConfig::load(&path).map_err(|source| DemoError::Credentials {
        path: path.clone(),
        source,
    })?;
    let mut api = berth_client::connect(&admin)
        .await
        .map_err(|source| DemoError::Connect {
            server: admin.server.clone(),
            source,
        })?;
    let docs = manifest::parse_str(&super::manifest(), "demo.yaml", &ParseOptions::default())
        .map_err(|source| DemoError::Manifest { source })?;
    for doc in docs {
        let key = doc.object.key().to_string();
        let object_json = doc.object.to_json().map_err(|source| DemoError::Encode {
            key: key.clone(),
            source,
        })?;
        api.apply(WriteRequest { object_json })
            .await
            .map_err(|source| DemoError::Apply { key, source })?;
    }
    Ok(())
}

/// Runs the demo with the berth binary `program` on the cluster `config`
/// (whose server `client` and containerd `runtime` answer); tells each
/// step to `on`.
pub async fn run(
    program: &Path,
    config: &Config,
    client: &Client,
    runtime: &CriRuntime,
    on: &mut impl FnMut(Step),
) -> Result<Vec<Check>, DemoError> {
    apply(config).await?;
    on(Step::Applied);
    let t = Instant::now();
    let web = wait::demo_pods(client, runtime, &config.agent_daemon(program))
        .await
        .map_err(|source| DemoError::Wait { source })?;
    on(Step::PodsReady { after: t.elapsed() });
    let cli = Cli { program, config };
    for args in [
        &["get", "pods", "-o", "wide"][..],
        &["get", "svc"],
        &["get", "endpointslices"],
    ] {
        on(cli.show(args));
    }
    let vip = client
        .get::<Service>(NAMESPACE, SERVICE)
        .await
        .map_err(|source| DemoError::Service { source })?
        .ok_or(DemoError::ServiceGone)?
        .spec
        .cluster_ip;
    let checks = vec![
        dns(&cli, &vip, on),
        spread(&cli, on),
        vip_latency(&vip, &web, on).await?,
    ];
    Ok(checks)
}

/// The service resolved by name from the client pod, to its clusterIP.
fn dns(cli: &Cli<'_>, vip: &str, on: &mut impl FnMut(Step)) -> Check {
    let fqdn = super::service_fqdn(DOMAIN);
    let output = cli.exec_in_client(&["nslookup", &fqdn]);
    let resolved = output
        .as_ref()
        .map(|o| super::nslookup_addresses(o))
        .unwrap_or_default();
    on(Step::Lookup {
        fqdn: fqdn.clone(),
        output,
    });
    Check {
        name: "DNS",
        ok: resolved.iter().any(|ip| ip.to_string() == vip),
        detail: format!("{fqdn} → {resolved:?} (the Service's clusterIP is {vip})"),
    }
}

/// Requests by name from the client pod, answered by every replica.
fn spread(cli: &Cli<'_>, on: &mut impl FnMut(Step)) -> Check {
    let script = super::request_loop(SPREAD_REQUESTS, DOMAIN);
    let spread = cli
        .exec_in_client(&["sh", "-c", &script])
        .map(|o| Spread::parse(&o));
    let (ok, detail) = match &spread {
        Ok(s) => (
            s.failed == 0 && s.by_pod.len() == REPLICAS,
            format!(
                "{} of {SPREAD_REQUESTS} answered, by {:?}; {} failed",
                s.answered(),
                s.by_pod,
                s.failed
            ),
        ),
        Err(e) => (false, e.clone()),
    };
    on(Step::Requests {
        script,
        detail: detail.clone(),
    });
    Check {
        name: "load balancing",
        ok,
        detail,
    }
}

/// Latency from this host: the VIP (socket LB) vs a pod directly.
async fn vip_latency(
    vip: &str,
    web: &[Pod],
    on: &mut impl FnMut(Step),
) -> Result<Check, DemoError> {
    let pod_ip = web
        .first()
        .map(|p| p.status.pod_ip.clone())
        .unwrap_or_default();
    let targets: Vec<SocketAddr> = [format!("{vip}:{PORT}"), format!("{pod_ip}:{TARGET_PORT}")]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()
        .map_err(|source| DemoError::Address {
            vip: vip.to_owned(),
            pod_ip: pod_ip.clone(),
            source,
        })?;
    let sums = tokio::task::spawn_blocking(move || latency::compare(&targets, LATENCY_REQUESTS))
        .await
        .map_err(|source| DemoError::Latency { source })?;
    let (via_vip, direct) = (sums[0], sums[1]);
    on(Step::Latency {
        requests: LATENCY_REQUESTS,
        rows: vec![
            (format!("VIP {vip}:{PORT}"), via_vip),
            (format!("pod {pod_ip}:{TARGET_PORT}"), direct),
        ],
    });
    Ok(Check {
        name: "VIP latency",
        ok: via_vip.failed == 0 && direct.failed == 0,
        detail: format!(
            "p50 VIP {:.3} ms vs direct {:.3} ms; failed {} / {}",
            via_vip.p50_us / 1e3,
            direct.p50_us / 1e3,
            via_vip.failed,
            direct.failed
        ),
    })
}
