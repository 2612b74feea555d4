//! `berth up [--detach]`: a cluster on this machine — `berth server` (the
//! embedded store) and `berth agent` (its own containerd) as daemons in
//! sessions of their own, the busybox image imported, and the demo: a
//! 3-replica HTTP Deployment, its Service and a client pod; the service
//! resolved by name and requests spread over the replicas from the client
//! pod; request latency through the VIP and to a pod directly. A second
//! `up` adopts what still runs and resumes the same cluster.
//!
//! All of it is berth-local's [`berth_local::up()`]; here the flags become
//! its [`Up`] and what it tells is printed.

use anyhow::{Context as _, bail, ensure};
use berth_local::demo::{self, Check, Step};
use berth_local::image::Outcome;
use berth_local::{Event, Up};
use berth_node::daemon::Started;

use super::local::LocalArgs;
use clap::Args;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub local: LocalArgs,
    /// Return once the cluster and the demo are up (else run until
    /// Ctrl-C, then stop the cluster as `berth down` does).
    #[arg(long)]
    pub detach: bool,
    /// Start the cluster without the demo.
    #[arg(long)]
    pub no_demo: bool,
}

pub fn run(a: UpArgs) -> anyhow::Result<()> {
    ensure!(
        nix::unistd::geteuid().is_root(),
        "berth up needs root (containerd, network namespaces, BPF)"
    );
    let me = std::env::current_exe().context("finding the berth binary")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let up = Up {
        cluster: a.local.config(),
        program: me.clone(),
        demo: !a.no_demo,
    };
    println!(
        "berth up: state {}, run {}",
        up.cluster.state_dir.display(),
        up.cluster.run_dir.display()
    );
    let checks = rt.block_on(berth_local::up(&up, &mut print_event))?;
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    if up.demo {
        print_checks(&checks, failed.len());
    }
    println!(
        "\nThe cluster runs. Try:\n  {me} get pods -o wide\n  {me} exec {client} -- nslookup {fqdn}\n  {me} apply -f app.yaml\nStop it with `{me} down` (`--purge` also wipes its state); credentials: {}",
        up.cluster.credentials_path().display(),
        me = me.display(),
        client = demo::CLIENT,
        fqdn = demo::service_fqdn(demo::DOMAIN),
    );
    if !a.detach {
        println!("Ctrl-C stops the cluster.");
        rt.block_on(super::server::shutdown_signal());
        super::down::down(&up.cluster, false)?;
    }
    if !failed.is_empty() {
        bail!(
            "{} demo check(s) failed: {}",
            failed.len(),
            failed.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

fn print_event(e: Event) {
    match e {
        Event::Started {
            daemon,
            log,
            started: Started::New(pid),
        } => println!("  {daemon}: started (pid {pid}, log {})", log.display()),
        Event::Started {
            daemon,
            started: Started::Adopted(pid),
            ..
        } => println!("  {daemon}: already running (pid {pid}), kept"),
        Event::Credentials { path } => println!(
            "  credentials: {} (the CLI finds them without flags)",
            path.display()
        ),
        Event::NodeReady { node } => println!("  node {node}: Ready"),
        Event::Image(b) => {
            let (r, from) = (&b.reference, b.built_from.display());
            match b.outcome {
                Outcome::Present => println!("  image {r}: present"),
                Outcome::Imported => println!("  image {r}: built from {from} and imported"),
                Outcome::Replaced { previous } => println!(
                    "  image {r}: built from {from} and imported in place of another build ({previous})"
                ),
            }
        }
        Event::Demo(s) => print_step(s),
    }
}

fn print_step(s: Step) {
    match s {
        Step::Applied => println!(
            "  demo: applied Deployment {s} ({n} replicas), Service {s}, Pod {c}",
            s = demo::SERVICE,
            n = demo::REPLICAS,
            c = demo::CLIENT
        ),
        Step::PodsReady { after } => {
            println!("  demo: pods Ready in {:.1} s", after.as_secs_f64())
        }
        Step::Shown {
            args,
            stdout,
            stderr,
        } => {
            println!("\n$ berth {}", args.join(" "));
            print!("{stdout}");
            eprint!("{stderr}");
        }
        Step::Lookup { fqdn, output } => {
            println!("\n$ berth exec {} -- nslookup {fqdn}", demo::CLIENT);
            match output {
                Ok(o) => print!("{o}"),
                Err(e) => println!("{e}"),
            }
        }
        Step::Requests { script, detail } => {
            println!("\n$ berth exec {} -- sh -c '{script}'", demo::CLIENT);
            println!("{detail}");
        }
        Step::Latency { requests, rows } => {
            println!(
                "\nrequest latency from this host ({requests} requests each, new TCP connection + HTTP GET, interleaved):"
            );
            println!(
                "  {:<28} {:>9} {:>9} {:>9} {:>7}",
                "target", "p50 ms", "p90 ms", "p99 ms", "failed"
            );
            for (name, s) in rows {
                println!(
                    "  {name:<28} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                    s.p50_us / 1e3,
                    s.p90_us / 1e3,
                    s.p99_us / 1e3,
                    s.failed
                );
            }
        }
    }
}

fn print_checks(checks: &[Check], failed: usize) {
    println!(
        "\ndemo: {} of {} checks passed",
        checks.len() - failed,
        checks.len()
    );
    for c in checks {
        println!(
            "  {} {}: {}",
            if c.ok { "ok    " } else { "FAILED" },
            c.name,
            c.detail
        );
    }
}
