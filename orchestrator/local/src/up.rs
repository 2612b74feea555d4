//! `berth up`: the server and the agent started (or adopted) as daemons,
//! the admin credentials copied for the CLI, the node and its containerd
//! waited for, the busybox image made current, and the demo run. What it
//! does is told as it happens ([`Event`]).

use std::path::{Path, PathBuf};

use berth_node::image::BUSYBOX_STATIC;

use crate::Config;
use crate::demo::{self, Check, DemoError};
use crate::image::{self, Busybox, BusyboxError};
use crate::wait::{self, WaitError};
use berth_node::daemon::Daemon;
use berth_node::daemon::{DaemonError, Started};

/// What `berth up` is asked to do.
#[derive(Debug, Clone)]
pub struct Up {
    /// The cluster.
    pub cluster: Config,
    /// The berth binary the daemons (and the demo's CLI calls) run.
    pub program: PathBuf,
    /// Whether to run the demo.
    pub demo: bool,
}

/// Why the cluster could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// A daemon could not be started.
    #[error("starting berth {daemon}")]
    Start {
        /// The daemon.
        daemon: String,
        /// Why.
        #[source]
        source: DaemonError,
    },
    /// Something waited for did not come.
    #[error("waiting for {what}")]
    Wait {
        /// What (`the server`, `a Ready node`).
        what: &'static str,
        /// Why.
        #[source]
        source: WaitError,
    },
    /// The credentials copy's directory could not be made.
    #[error("creating {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The admin credentials could not be copied.
    #[error("copying {} to {}", from.display(), to.display())]
    Credentials {
        /// The server's admin.conf.
        from: PathBuf,
        /// The copy.
        to: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The busybox image is not in containerd.
    #[error("the busybox image")]
    Image {
        /// Why.
        #[source]
        source: BusyboxError,
    },
    /// The demo could not be run.
    #[error("the demo")]
    Demo {
        /// Why.
        #[source]
        source: DemoError,
    },
}

/// A step of `berth up`, told as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A daemon was started or found running.
    Started {
        /// Its name (`server`, `agent`).
        daemon: String,
        /// Its log.
        log: PathBuf,
        /// How.
        started: Started,
    },
    /// The admin credentials were copied for the CLI.
    Credentials {
        /// The copy.
        path: PathBuf,
    },
    /// A node is Ready.
    NodeReady {
        /// Its name.
        node: String,
    },
    /// The busybox image is current.
    Image(Busybox),
    /// A step of the demo.
    Demo(demo::Step),
}

fn start(daemon: &Daemon, on: &mut impl FnMut(Event)) -> Result<(), UpError> {
    let started = daemon.start().map_err(|source| UpError::Start {
        daemon: daemon.name().to_owned(),
        source,
    })?;
    on(Event::Started {
        daemon: daemon.name().to_owned(),
        log: daemon.log().to_path_buf(),
        started,
    });
    Ok(())
}

/// Copies the server's admin credentials to `to`.
fn copy_credentials(from: &Path, to: &Path) -> Result<(), UpError> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|source| UpError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::copy(from, to).map_err(|source| UpError::Credentials {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// Brings the cluster up (adopting what still runs of it) and runs the
/// demo if asked; tells each step to `on`. The demo's checks, none
/// without it.
pub async fn up(up: &Up, on: &mut impl FnMut(Event)) -> Result<Vec<Check>, UpError> {
    let (cluster, program) = (&up.cluster, up.program.as_path());
    let wait = |what| move |source| UpError::Wait { what, source };
    let server = cluster.server_daemon(program);
    start(&server, on)?;
    let admin = cluster.layout().admin_conf();
    let client = wait::server(&admin, &server)
        .await
        .map_err(wait("the server"))?;
    let creds = cluster.credentials_path();
    copy_credentials(&admin, &creds)?;
    on(Event::Credentials { path: creds });
    let agent = cluster.agent_daemon(program);
    start(&agent, on)?;
    let node = wait::node(&client, &agent)
        .await
        .map_err(wait("a Ready node"))?;
    on(Event::NodeReady {
        node: node.metadata.name,
    });
    let socket = cluster.containerd_socket();
    let runtime = wait::containerd(&socket, &agent)
        .await
        .map_err(wait("the agent's containerd"))?;
    let busybox = image::ensure(
        &runtime,
        &socket,
        Path::new(BUSYBOX_STATIC),
        &cluster.layout().agent_dir(),
    )
    .await
    .map_err(|source| UpError::Image { source })?;
    on(Event::Image(busybox));
    if !up.demo {
        return Ok(Vec::new());
    }
    demo::run(program, cluster, &client, &runtime, &mut |s| {
        on(Event::Demo(s))
    })
    .await
    .map_err(|source| UpError::Demo { source })
}
