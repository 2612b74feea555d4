//! Store conformance: the same suite against every backend.
//!
//! Each test gets a fresh store: the embedded one in a temporary directory,
//! the etcd one on its own etcd server (Debian's etcd-server, started on
//! 127.0.0.1 with free ports and killed at the end), so tests are
//! independent and run side by side. Without an etcd binary the etcd tests
//! fail, saying what to install.

mod etcd_server;
mod harness;
mod suite;

use harness::Backend;

/// Runs one suite test against a fresh store of backend `B`.
async fn run<B: Backend, F, Fut>(test: F) -> anyhow::Result<()>
where
    F: FnOnce(std::sync::Arc<dyn berth_store::Store>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let backend = B::start().await?;
    test(backend.store()).await
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    crate::run::<crate::harness::Embedded, _, _>(crate::suite::$name).await
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    crate::run::<crate::harness::Etcd, _, _>(crate::suite::$name).await
                }
            )*
        }
    };
}

conformance!(
    crud,
    create_existing_fails,
    update_is_compare_and_swap,
    delete_with_expected_revision,
    list_is_a_snapshot_at_a_revision,
    list_pages_through_many_items,
    watch_yields_changes_in_order,
    watch_resumes_without_gaps_or_repeats,
    watch_follows_concurrent_writers,
    watch_from_a_compacted_revision_fails,
    compact_edges,
    concurrent_cas_writers,
    prefixes_are_isolated,
    watch_from_now_sees_only_new_changes,
    invalid_keys_are_refused,
);

/// etcd only: two stores with different key prefixes share one etcd without
/// seeing each other's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_prefixes_share_one_etcd() -> anyhow::Result<()> {
    use berth_store::{Bytes, EtcdOptions, EtcdStore, Store as _};
    let server = etcd_server::EtcdServer::start().await?;
    let a = EtcdStore::connect(EtcdOptions::new([server.endpoint.clone()]).prefix("/a")).await?;
    let b = EtcdStore::connect(EtcdOptions::new([server.endpoint.clone()]).prefix("/b")).await?;
    let r0 = a.current_revision().await?;
    let mut wb = b.watch("", r0).await?;
    a.create("/k", Bytes::from_static(b"a")).await?;
    let rb = b.create("/k", Bytes::from_static(b"b")).await?;
    anyhow::ensure!(a.get("/k").await?.map(|i| i.value) == Some(Bytes::from_static(b"a")));
    anyhow::ensure!(b.list("").await?.0.len() == 1);
    let ev = wb.next_event().await.transpose()?;
    anyhow::ensure!(
        ev.as_ref().map(|e| (e.key(), e.revision())) == Some(("/k", rb)),
        "{ev:?}"
    );
    Ok(())
}
