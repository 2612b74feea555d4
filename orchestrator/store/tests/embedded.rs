//! The embedded backend beyond the conformance suite: durability across a
//! reopen and a kill -9, automatic compaction, slow watchers, and what a
//! durable commit costs on this disk.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use berth_store::{
    Bytes, EmbeddedOptions, EmbeddedStore, Event, Store as _, StoreError, WatchStream,
};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn tempdir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix("berth-test-store")
        .tempdir()?)
}

async fn next(w: &mut WatchStream) -> anyhow::Result<berth_store::Result<Event>> {
    tokio::time::timeout(Duration::from_secs(10), w.next_event())
        .await
        .context("no event within 10 s")?
        .context("watch ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_items_history_and_counters() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let path = dir.path().join("s.redb");
    let (r1, r3, r5);
    {
        let s = EmbeddedStore::open(&path, EmbeddedOptions::default())?;
        r1 = s.create("/a", b("1")).await?;
        s.create("/b", b("1")).await?;
        r3 = s.update("/a", b("2"), r1).await?;
        s.delete("/b", None).await?;
        r5 = s.create("/c", b("1")).await?;
        s.compact(r1).await?;
    }
    let s = EmbeddedStore::open(&path, EmbeddedOptions::default())?;
    ensure!(s.current_revision().await? == r5);
    let (items, rev) = s.list("/").await?;
    ensure!(rev == r5);
    ensure!(items.len() == 2 && items[0].key == "/a" && items[0].mod_revision == r3);
    ensure!(items[0].create_revision == r1 && items[0].value == b("2"));
    // The history after the compacted revision is still there...
    let mut w = s.watch("/", r1).await?;
    for want in r1 + 1..=r5 {
        ensure!(next(&mut w).await??.revision() == want);
    }
    // ...and the compaction too.
    let err = s.watch("/", 0).await.expect_err("compacted");
    ensure!(matches!(err, StoreError::Compacted { requested: 0, oldest } if oldest == r1));
    // Revisions go on from where they were.
    ensure!(s.create("/d", b("1")).await? == r5 + 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_of_the_same_file_is_refused() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let path = dir.path().join("s.redb");
    let _s = EmbeddedStore::open(&path, EmbeddedOptions::default())?;
    let err = EmbeddedStore::open(&path, EmbeddedOptions::default()).expect_err("second open");
    ensure!(err.to_string().contains("open database"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_compaction_keeps_the_latest_revisions() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let s = EmbeddedStore::open(
        dir.path().join("s.redb"),
        EmbeddedOptions::default().retain_revisions(10),
    )?;
    for i in 0..30 {
        s.create(&format!("/k{i:02}"), b("x")).await?;
    }
    let err = s.watch("/", 0).await.expect_err("compacted");
    ensure!(
        matches!(
            err,
            StoreError::Compacted {
                requested: 0,
                oldest: 20
            }
        ),
        "{err:?}"
    );
    ensure!(err.to_string().contains("too old, list again"));
    let mut w = s.watch("/", 20).await?;
    for want in 21..=30 {
        ensure!(next(&mut w).await??.revision() == want);
    }
    ensure!(
        s.list("/").await?.0.len() == 30,
        "compaction keeps current items"
    );
    Ok(())
}

/// A watcher that reads nothing while thousands of batches commit falls out
/// of the (tiny) live buffer, then catches up from disk: nothing missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_catches_up_from_disk() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let s = EmbeddedStore::open(
        dir.path().join("s.redb"),
        EmbeddedOptions::default().watch_buffer(2),
    )?;
    let r0 = s.current_revision().await?;
    let mut w = s.watch("/", r0).await?;
    let mut written = Vec::new();
    for i in 0..300 {
        written.push(s.create(&format!("/k{i}"), b("x")).await?);
    }
    for want in written {
        ensure!(next(&mut w).await??.revision() == want);
    }
    let r = s.create("/last", b("x")).await?;
    ensure!(next(&mut w).await??.revision() == r);
    Ok(())
}

/// A watcher so slow that the history it needs was compacted ends with
/// "too old, list again" instead of holding memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_overtaken_by_compaction_ends_with_compacted() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let s = EmbeddedStore::open(
        dir.path().join("s.redb"),
        EmbeddedOptions::default()
            .watch_buffer(2)
            .retain_revisions(50),
    )?;
    let r0 = s.create("/first", b("x")).await?;
    let mut w = s.watch("/", r0).await?;
    for i in 0..200 {
        s.create(&format!("/k{i}"), b("x")).await?;
    }
    // Whatever was still buffered may come first; then the error, then the end.
    loop {
        match next(&mut w).await? {
            Ok(_) => continue,
            Err(StoreError::Compacted { oldest, .. }) => {
                ensure!(oldest == 201 - 50, "oldest {oldest}");
                break;
            }
            Err(e) => bail!("{e:?}"),
        }
    }
    ensure!(
        w.next_event().await.is_none(),
        "the stream ends after its error"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_ends_watches() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let s = EmbeddedStore::open(dir.path().join("s.redb"), EmbeddedOptions::default())?;
    let mut w = s.watch("/", 0).await?;
    drop(s);
    match next(&mut w).await? {
        Err(StoreError::Closed { .. }) => Ok(()),
        other => bail!("{other:?}"),
    }
}

const CHILD_ENV: &str = "BERTH_STORE_CRASH_CHILD_DB";
const CRASH_WRITERS: usize = 4;
const CRASH_KEYS: usize = 1000;

/// The child of `kill_9_loses_no_acknowledged_write`: writes 1,000 keys from
/// 4 concurrent tasks and prints `ack KEY REVISION` after each one commits.
/// Does nothing unless run by that test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of kill_9_loses_no_acknowledged_write"]
async fn crash_child() -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        eprintln!(
            "crash_child: {CHILD_ENV} unset; only kill_9_loses_no_acknowledged_write runs this"
        );
        return Ok(());
    };
    let s = std::sync::Arc::new(EmbeddedStore::open(path, EmbeddedOptions::default())?);
    let mut set = tokio::task::JoinSet::new();
    for t in 0..CRASH_WRITERS {
        let s = s.clone();
        set.spawn(async move {
            for i in (t..CRASH_KEYS).step_by(CRASH_WRITERS) {
                let key = format!("/crash/k{i:04}");
                let rev = s.create(&key, b(&format!("value-{i}"))).await?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {key} {rev}")?;
                out.flush()?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// kill -9 of a process in the middle of 1,000 acknowledged writes: after
/// reopening, every acknowledged key is there with its value and revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_write() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let path = dir.path().join("s.redb");
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let kill_after = CRASH_KEYS / 2;
    // SIGKILL as soon as half the writes are acknowledged, then read what
    // else the child acknowledged before it died: those count too.
    let mut acks = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Some(rest) = line.strip_prefix("ack ") else {
            continue;
        };
        let (key, rev) = rest.split_once(' ').context("ack line")?;
        acks.push((key.to_owned(), rev.parse::<u64>()?));
        if acks.len() == kill_after {
            child.kill()?;
            killed = true;
        }
    }
    let status = child.wait()?;
    ensure!(
        killed,
        "the child acknowledged only {} writes before exiting ({status})",
        acks.len()
    );
    ensure!(
        acks.len() < CRASH_KEYS,
        "the child finished all its writes before the kill landed"
    );
    reopen_and_check(&path, &acks).await
}

async fn reopen_and_check(path: &Path, acks: &[(String, u64)]) -> anyhow::Result<()> {
    let t = Instant::now();
    let s = EmbeddedStore::open(path, EmbeddedOptions::default())?;
    eprintln!("reopened after kill -9 in {:?}", t.elapsed());
    for (key, rev) in acks {
        let it = s
            .get(key)
            .await?
            .with_context(|| format!("acknowledged key {key} (revision {rev}) is missing"))?;
        ensure!(
            it.mod_revision == *rev,
            "{key}: revision {} vs acknowledged {rev}",
            it.mod_revision
        );
        let i: usize = key.trim_start_matches("/crash/k").parse()?;
        ensure!(it.value == b(&format!("value-{i}")));
    }
    // What is there is exactly revisions 1..=N, each in the log once.
    let (items, rev) = s.list("/crash/").await?;
    ensure!(
        items.len() as u64 == rev,
        "{} items at revision {rev}",
        items.len()
    );
    ensure!(items.len() >= acks.len());
    let mut w = s.watch("/", 0).await?;
    for want in 1..=rev {
        ensure!(next(&mut w).await??.revision() == want);
    }
    // And the store takes writes again.
    ensure!(s.create("/after", b("x")).await? == rev + 1);
    eprintln!(
        "kill -9: {} acknowledged, {} committed, all acknowledged present",
        acks.len(),
        items.len()
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// What one durable commit costs here: single-key creates one after the
/// other (one commit and fsync each), then 8 writers at once (group commit).
/// Prints the figures; asserts only correctness, as timing on a shared
/// machine is no pass/fail matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_latency_report() -> anyhow::Result<()> {
    // On the project's disk, not a tmpfs, so that fsync is real.
    let dir = tempfile::Builder::new()
        .prefix("berth-test-store")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let s = std::sync::Arc::new(EmbeddedStore::open(
        dir.path().join("s.redb"),
        EmbeddedOptions::default(),
    )?);
    let value = Bytes::from(vec![b'x'; 1024]);
    // BERTH_STORE_PRELOAD=N measures on top of N items already stored.
    let preload: usize = std::env::var("BERTH_STORE_PRELOAD")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(0);
    if preload > 0 {
        let t = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for w in 0..64 {
            let (s, value) = (s.clone(), value.clone());
            set.spawn(async move {
                for i in (w..preload).step_by(64) {
                    s.create(&format!("/registry/preload/p{i:07}"), value.clone())
                        .await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        eprintln!(
            "preloaded {preload} items (64 writers) in {:?}",
            t.elapsed()
        );
    }
    let base = s.current_revision().await?;
    let mut lat = Vec::with_capacity(1000);
    for i in 0..1000 {
        let t = Instant::now();
        s.create(&format!("/registry/services/ns/s{i:04}"), value.clone())
            .await?;
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    eprintln!(
        "embedded create, 1 KiB, sequential: p50 {:?} p99 {:?} max {:?}",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (s, value) = (s.clone(), value.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            for i in 0..250 {
                let t = Instant::now();
                s.create(
                    &format!("/registry/endpoints/ns/w{w}-{i:03}"),
                    value.clone(),
                )
                .await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = set.join_next().await {
        lat.extend(r??);
    }
    let total = t.elapsed();
    lat.sort_unstable();
    eprintln!(
        "embedded create, 1 KiB, 8 concurrent writers: {:.0} writes/s, p50 {:?} p99 {:?} max {:?}",
        2000.0 / total.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    ensure!(s.current_revision().await? == base + 3000);
    Ok(())
}
