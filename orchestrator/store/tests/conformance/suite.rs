//! The conformance suite: what every [`Store`] must do, whatever the backend.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use berth_store::{Bytes, Event, Item, Revision, Store, StoreError, WatchStream};

type S = Arc<dyn Store>;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// The next event, failing after 10 s.
async fn next(w: &mut WatchStream) -> anyhow::Result<Event> {
    match tokio::time::timeout(Duration::from_secs(10), w.next_event()).await {
        Err(_) => bail!("no event within 10 s"),
        Ok(None) => bail!("watch ended"),
        Ok(Some(r)) => Ok(r?),
    }
}

/// `n` events.
async fn take(w: &mut WatchStream, n: usize) -> anyhow::Result<Vec<Event>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(next(w).await.with_context(|| format!("event {i} of {n}"))?);
    }
    Ok(out)
}

fn revisions(events: &[Event]) -> Vec<Revision> {
    events.iter().map(Event::revision).collect()
}

fn value(e: &Event) -> Option<&[u8]> {
    match e {
        Event::Put { item, .. } => Some(&item.value),
        Event::Delete { .. } => None,
    }
}

fn prev_value(e: &Event) -> Option<&[u8]> {
    match e {
        Event::Put { prev, .. } | Event::Delete { prev, .. } => prev.as_ref().map(|p| &p.value[..]),
    }
}

/// Writes one sentinel key and expects it as the next event: proves nothing
/// else (nothing missed, nothing foreign) came before it.
async fn expect_only_sentinel(s: &S, w: &mut WatchStream, key: &str) -> anyhow::Result<()> {
    let rev = s.create(key, b("sentinel")).await?;
    let ev = next(w).await?;
    ensure!(
        ev.key() == key && ev.revision() == rev,
        "expected the sentinel {key} at {rev}, got {ev:?}"
    );
    Ok(())
}

pub async fn crud(s: S) -> anyhow::Result<()> {
    let key = "/registry/services/default/web";
    ensure!(s.get(key).await?.is_none());
    let r1 = s.create(key, b("v1")).await?;
    ensure!(r1 > 0);
    let it = s.get(key).await?.context("created item")?;
    ensure!(
        it == Item {
            key: key.into(),
            value: b("v1"),
            create_revision: r1,
            mod_revision: r1
        },
        "{it:?}"
    );
    let r2 = s.update(key, b("v2"), r1).await?;
    ensure!(r2 > r1);
    let it = s.get(key).await?.context("updated item")?;
    ensure!(it.value == b("v2") && it.create_revision == r1 && it.mod_revision == r2);
    ensure!(s.current_revision().await? == r2);
    let r3 = s.delete(key, None).await?;
    ensure!(r3 > r2);
    ensure!(s.get(key).await?.is_none());
    ensure!(s.current_revision().await? == r3);
    // A key can be created again; it is a new item.
    let r4 = s.create(key, b("v3")).await?;
    ensure!(r4 > r3);
    let it = s.get(key).await?.context("recreated item")?;
    ensure!(it.create_revision == r4 && it.mod_revision == r4);
    Ok(())
}

pub async fn create_existing_fails(s: S) -> anyhow::Result<()> {
    let key = "/registry/pods/default/p";
    let r1 = s.create(key, b("a")).await?;
    let err = s.create(key, b("b")).await.expect_err("second create");
    ensure!(err.is_already_exists(), "{err:?}");
    match &err {
        StoreError::AlreadyExists {
            key: k,
            mod_revision,
        } => ensure!(k == key && *mod_revision == r1, "{err:?}"),
        _ => bail!("{err:?}"),
    }
    ensure!(err.to_string().contains(key), "{err}");
    ensure!(s.get(key).await?.context("item")?.value == b("a"));
    ensure!(
        s.current_revision().await? == r1,
        "a refused create bumps no revision"
    );
    Ok(())
}

pub async fn update_is_compare_and_swap(s: S) -> anyhow::Result<()> {
    let key = "/registry/services/default/cas";
    let r1 = s.create(key, b("1")).await?;
    let r2 = s.update(key, b("2"), r1).await?;
    // A writer that read r1 loses.
    let err = s
        .update(key, b("stale"), r1)
        .await
        .expect_err("stale update");
    ensure!(err.is_conflict(), "{err:?}");
    match &err {
        StoreError::Conflict {
            key: k,
            expected,
            current,
        } => ensure!(k == key && *expected == r1 && *current == r2, "{err:?}"),
        _ => bail!("{err:?}"),
    }
    let msg = err.to_string();
    ensure!(
        msg.contains(key) && msg.contains(&r1.to_string()) && msg.contains(&r2.to_string()),
        "{msg}"
    );
    ensure!(s.get(key).await?.context("item")?.value == b("2"));
    // Retrying with the current revision wins.
    let r3 = s.update(key, b("3"), r2).await?;
    ensure!(r3 > r2);
    // A missing key is NotFound, whatever the expected revision (0 too).
    for expected in [0, r3] {
        let err = s
            .update("/registry/services/default/none", b("x"), expected)
            .await
            .expect_err("update of a missing key");
        ensure!(err.is_not_found(), "{err:?}");
    }
    ensure!(s.get("/registry/services/default/none").await?.is_none());
    Ok(())
}

pub async fn delete_with_expected_revision(s: S) -> anyhow::Result<()> {
    let key = "/registry/services/default/del";
    let r1 = s.create(key, b("1")).await?;
    let r2 = s.update(key, b("2"), r1).await?;
    let err = s.delete(key, Some(r1)).await.expect_err("stale delete");
    match &err {
        StoreError::Conflict {
            expected, current, ..
        } => ensure!(*expected == r1 && *current == r2, "{err:?}"),
        _ => bail!("{err:?}"),
    }
    ensure!(s.get(key).await?.is_some());
    let r3 = s.delete(key, Some(r2)).await?;
    ensure!(r3 > r2);
    ensure!(s.get(key).await?.is_none());
    for expected in [None, Some(r3)] {
        let err = s
            .delete(key, expected)
            .await
            .expect_err("delete of a missing key");
        ensure!(err.is_not_found(), "{err:?}");
        ensure!(err.to_string().contains(key), "{err}");
    }
    ensure!(s.current_revision().await? == r3);
    Ok(())
}

pub async fn list_is_a_snapshot_at_a_revision(s: S) -> anyhow::Result<()> {
    let (items, r0) = s.list("/registry/").await?;
    ensure!(items.is_empty());
    ensure!(r0 == s.current_revision().await?);
    let ra = s.create("/registry/services/ns/a", b("a")).await?;
    let _rc = s.create("/registry/servicesx/ns/c", b("c")).await?;
    let rb = s.create("/registry/services/ns/b", b("b")).await?;
    let rd = s.create("/other/d", b("d")).await?;
    let (items, rev) = s.list("/registry/services/").await?;
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    ensure!(
        keys == ["/registry/services/ns/a", "/registry/services/ns/b"],
        "{keys:?}"
    );
    ensure!(
        rev == rd,
        "the list's revision is the store's ({rev} vs {rd})"
    );
    ensure!(items[0].mod_revision == ra && items[1].mod_revision == rb);
    let ru = s.update("/registry/services/ns/a", b("a2"), ra).await?;
    let (items, rev2) = s.list("/registry/services/").await?;
    ensure!(rev2 == ru && items[0].value == b("a2"));
    let (all, _) = s.list("").await?;
    ensure!(all.len() == 4, "{all:?}");
    ensure!(all.windows(2).all(|w| w[0].key < w[1].key), "sorted by key");
    Ok(())
}

pub async fn list_pages_through_many_items(s: S) -> anyhow::Result<()> {
    // More than one etcd page (1,000) and more than one read chunk.
    let n = 2500;
    let mut set = tokio::task::JoinSet::new();
    for t in 0..10 {
        let s = s.clone();
        set.spawn(async move {
            for i in (t..n).step_by(10) {
                s.create(&format!("/registry/endpoints/ns/e{i:05}"), b("x"))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let (items, rev) = s.list("/registry/endpoints/").await?;
    ensure!(items.len() == n, "{} items", items.len());
    ensure!(rev == s.current_revision().await?);
    for (i, it) in items.iter().enumerate() {
        ensure!(
            it.key == format!("/registry/endpoints/ns/e{i:05}"),
            "{}",
            it.key
        );
    }
    Ok(())
}

pub async fn watch_yields_changes_in_order(s: S) -> anyhow::Result<()> {
    let r0 = s.current_revision().await?;
    let mut w = s.watch("/registry/", r0).await?;
    let ra = s.create("/registry/a", b("a1")).await?;
    s.create("/elsewhere/x", b("x")).await?;
    let rb = s.create("/registry/b", b("b1")).await?;
    let ra2 = s.update("/registry/a", b("a2"), ra).await?;
    let rbd = s.delete("/registry/b", Some(rb)).await?;
    let rc = s.create("/registry/c", b("c1")).await?;
    let ev = take(&mut w, 5).await?;
    ensure!(revisions(&ev) == [ra, rb, ra2, rbd, rc], "{ev:?}");
    let keys: Vec<&str> = ev.iter().map(Event::key).collect();
    ensure!(
        keys == [
            "/registry/a",
            "/registry/b",
            "/registry/a",
            "/registry/b",
            "/registry/c"
        ]
    );
    ensure!(matches!(&ev[0], Event::Put { prev: None, item } if item.create_revision == ra));
    ensure!(value(&ev[2]) == Some(b"a2") && prev_value(&ev[2]) == Some(b"a1"));
    match &ev[2] {
        Event::Put { item, prev } => {
            ensure!(item.create_revision == ra && prev.as_ref().map(|p| p.mod_revision) == Some(ra))
        }
        _ => bail!("{:?}", ev[2]),
    }
    match &ev[3] {
        Event::Delete {
            key,
            revision,
            prev,
        } => ensure!(
            key == "/registry/b" && *revision == rbd && prev_value(&ev[3]) == Some(b"b1"),
            "{prev:?}"
        ),
        _ => bail!("{:?}", ev[3]),
    }
    // The write outside the prefix never shows up.
    expect_only_sentinel(&s, &mut w, "/registry/sentinel").await
}

pub async fn watch_resumes_without_gaps_or_repeats(s: S) -> anyhow::Result<()> {
    let r0 = s.current_revision().await?;
    let mut expected = Vec::new();
    let write = |i: usize| {
        let s = s.clone();
        async move {
            let key = format!("/registry/pods/ns/p{}", i % 3);
            let rev = match s.get(&key).await? {
                None => s.create(&key, b(&i.to_string())).await?,
                Some(it) if i.is_multiple_of(7) => s.delete(&key, Some(it.mod_revision)).await?,
                Some(it) => s.update(&key, b(&i.to_string()), it.mod_revision).await?,
            };
            anyhow::Ok(rev)
        }
    };
    for i in 0..20 {
        expected.push(write(i).await?);
    }
    let mut w = s.watch("/registry/pods/", r0).await?;
    let first = take(&mut w, 7).await?;
    let last = first.last().context("an event")?.revision();
    // The consumer goes away; more happens meanwhile.
    drop(w);
    for i in 20..30 {
        expected.push(write(i).await?);
    }
    let mut w = s.watch("/registry/pods/", last).await?;
    let rest = take(&mut w, expected.len() - 7).await?;
    let mut got = revisions(&first);
    got.extend(revisions(&rest));
    ensure!(got == expected, "got {got:?}\nwant {expected:?}");
    expect_only_sentinel(&s, &mut w, "/registry/pods/sentinel").await?;
    // A watch from the start sees the same history again.
    let mut w = s.watch("/registry/pods/", r0).await?;
    let all = take(&mut w, expected.len()).await?;
    ensure!(revisions(&all) == expected);
    Ok(())
}

pub async fn watch_follows_concurrent_writers(s: S) -> anyhow::Result<()> {
    let r0 = s.current_revision().await?;
    let mut w = s.watch("/registry/", r0).await?;
    let mut set = tokio::task::JoinSet::new();
    for t in 0..4 {
        let s = s.clone();
        set.spawn(async move {
            let mut revs = Vec::new();
            for i in 0..75 {
                revs.push(s.create(&format!("/registry/cm/t{t}-{i}"), b("x")).await?);
            }
            anyhow::Ok(revs)
        });
    }
    let mut written = Vec::new();
    while let Some(r) = set.join_next().await {
        written.extend(r??);
    }
    written.sort_unstable();
    let got = revisions(&take(&mut w, 300).await?);
    ensure!(got == written, "watch order vs acknowledged revisions");
    Ok(())
}

/// Checks that a watch from `from` fails with Compacted, either when it is
/// opened or as its first item; returns the oldest revision it names.
async fn expect_compacted(s: &S, prefix: &str, from: Revision) -> anyhow::Result<Revision> {
    let err = match s.watch(prefix, from).await {
        Err(e) => e,
        Ok(mut w) => match tokio::time::timeout(Duration::from_secs(10), w.next_event()).await {
            Ok(Some(Err(e))) => e,
            other => bail!("watch from compacted revision {from}: {other:?}"),
        },
    };
    let StoreError::Compacted { requested, oldest } = err else {
        bail!("expected Compacted, got {err:?}");
    };
    ensure!(requested == from, "requested {requested} vs {from}");
    ensure!(err.to_string().contains("too old, list again"), "{err}");
    Ok(oldest)
}

pub async fn watch_from_a_compacted_revision_fails(s: S) -> anyhow::Result<()> {
    let r0 = s.current_revision().await?;
    let mut revs = Vec::new();
    for i in 0..10 {
        revs.push(s.create(&format!("/registry/nodes/n{i}"), b("x")).await?);
    }
    let mid = revs[5];
    s.compact(mid).await?;
    let oldest = expect_compacted(&s, "/registry/nodes/", r0).await?;
    ensure!(
        oldest <= mid && oldest >= revs[3],
        "oldest {oldest}, compacted at {mid}"
    );
    // From the revision named as oldest the watch works and is complete.
    let mut w = s.watch("/registry/nodes/", oldest).await?;
    let want: Vec<Revision> = revs.iter().copied().filter(|r| *r > oldest).collect();
    ensure!(revisions(&take(&mut w, want.len()).await?) == want);
    // From the compacted revision itself too.
    let mut w = s.watch("/registry/nodes/", mid).await?;
    ensure!(revisions(&take(&mut w, 4).await?) == revs[6..]);
    // Current values are untouched; list + watch from its revision works.
    let (items, rev) = s.list("/registry/nodes/").await?;
    ensure!(items.len() == 10);
    let mut w = s.watch("/registry/nodes/", rev).await?;
    expect_only_sentinel(&s, &mut w, "/registry/nodes/sentinel").await
}

pub async fn compact_edges(s: S) -> anyhow::Result<()> {
    let mut last = 0;
    for i in 0..5 {
        last = s.create(&format!("/registry/ns/n{i}"), b("x")).await?;
    }
    let err = s.compact(last + 5).await.expect_err("future compaction");
    match &err {
        StoreError::FutureRevision { requested, current } => {
            ensure!(*requested == last + 5 && *current == last, "{err:?}")
        }
        _ => bail!("{err:?}"),
    }
    s.compact(last - 2).await?;
    // Again, and lower: nothing to do, no error.
    s.compact(last - 2).await?;
    s.compact(last - 3).await?;
    s.compact(last).await?;
    ensure!(
        s.current_revision().await? == last,
        "compaction is no mutation"
    );
    let mut w = s.watch("/registry/", last).await?;
    expect_only_sentinel(&s, &mut w, "/registry/sentinel").await
}

pub async fn concurrent_cas_writers(s: S) -> anyhow::Result<()> {
    let key = "/registry/counter";
    s.create(key, b("0")).await?;
    let (tasks, each) = (8, 15);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let s = s.clone();
        set.spawn(async move {
            let (mut wins, mut conflicts) = (0u64, 0u64);
            while wins < each {
                let it = s.get(key).await?.context("counter")?;
                let n: u64 = std::str::from_utf8(&it.value)?.parse()?;
                match s
                    .update(key, b(&(n + 1).to_string()), it.mod_revision)
                    .await
                {
                    Ok(_) => wins += 1,
                    Err(e) if e.is_conflict() => conflicts += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            anyhow::Ok((wins, conflicts))
        });
    }
    let (mut wins, mut conflicts) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (w, c) = r??;
        wins += w;
        conflicts += c;
    }
    let it = s.get(key).await?.context("counter")?;
    let n: u64 = std::str::from_utf8(&it.value)?.parse()?;
    eprintln!("concurrent CAS: {wins} increments, {conflicts} conflicts");
    ensure!(
        n == wins && wins == tasks * each,
        "counter {n}, successes {wins}"
    );
    ensure!(it.mod_revision == s.current_revision().await?);
    Ok(())
}

pub async fn prefixes_are_isolated(s: S) -> anyhow::Result<()> {
    let r0 = s.current_revision().await?;
    let mut wa = s.watch("/registry/a/", r0).await?;
    let mut wab = s.watch("/registry/ab", r0).await?;
    let r1 = s.create("/registry/a/1", b("x")).await?;
    let r2 = s.create("/registry/ab", b("x")).await?;
    s.create("/registry/b/1", b("x")).await?;
    s.create("/registry/a", b("x")).await?;
    let r5 = s.create("/registry/a/2", b("x")).await?;
    ensure!(revisions(&take(&mut wa, 2).await?) == [r1, r5]);
    ensure!(revisions(&take(&mut wab, 1).await?) == [r2]);
    let (items, _) = s.list("/registry/a/").await?;
    ensure!(
        items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>()
            == ["/registry/a/1", "/registry/a/2"]
    );
    expect_only_sentinel(&s, &mut wa, "/registry/a/sentinel").await?;
    expect_only_sentinel(&s, &mut wab, "/registry/abc").await
}

pub async fn watch_from_now_sees_only_new_changes(s: S) -> anyhow::Result<()> {
    for i in 0..5 {
        s.create(&format!("/registry/old/{i}"), b("x")).await?;
    }
    let now = s.current_revision().await?;
    let mut w = s.watch("/registry/", now).await?;
    expect_only_sentinel(&s, &mut w, "/registry/new").await
}

pub async fn invalid_keys_are_refused(s: S) -> anyhow::Result<()> {
    let err = s.create("", b("x")).await.expect_err("empty key");
    ensure!(matches!(err, StoreError::InvalidKey { .. }), "{err:?}");
    ensure!(err.to_string().contains("invalid key"), "{err}");
    ensure!(s.get("").await.is_err());
    ensure!(s.list("").await?.0.is_empty());
    Ok(())
}
