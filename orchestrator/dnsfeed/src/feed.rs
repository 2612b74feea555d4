//! List + watch of the three kinds DNS needs, as feed changes.

use std::time::Duration;

use berth_api::{EndpointSlice, Pod, Resource, Service};
use berth_client::cache::{Notification, Reflector};
use berth_client::{Client, ClientConfig};
use berth_dns::Change;
use tokio::sync::mpsc;

use crate::translate::{self, Translated};

/// The longest pause between attempts to reach the API server at start.
pub const CONNECT_RETRY_MAX: Duration = Duration::from_secs(5);
const CONNECT_RETRY_MIN: Duration = Duration::from_millis(100);

/// Services, EndpointSlices and Pods of every namespace, sent as
/// [`Change`]s to a [`berth_dns::run_feed`].
#[derive(Debug)]
pub struct ApiFeed {
    client: Client,
}

fn forward<R>(
    tx: &mpsc::UnboundedSender<Change>,
    translate: fn(Option<&R>, Option<&R>) -> Translated,
) -> impl Fn(&Notification<R>) + Send + Sync + 'static
where
    R: Resource,
{
    let tx = tx.clone();
    move |n| {
        let (changes, errors) = translate(n.old.as_deref(), n.new.as_deref());
        for e in errors {
            tracing::warn!(error = %e, "object left out of the cluster zone");
        }
        for c in changes {
            // Closed only when the feed is gone, and then nobody listens.
            let _ = tx.send(c);
        }
    }
}

impl ApiFeed {
    /// A feed through `client` (it needs get, list and watch of the three
    /// kinds: the admin or the node token).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Connects with `config`, retrying (100 ms doubling to
    /// [`CONNECT_RETRY_MAX`]) until the server answers: a DNS process may
    /// start before its API server.
    pub async fn connect(config: &ClientConfig) -> Self {
        let mut pause = CONNECT_RETRY_MIN;
        loop {
            match berth_client::connect(config).await {
                Ok(api) => return Self::new(Client::remote(api)),
                Err(e) => {
                    tracing::warn!(
                        error = %berth_api::error_chain(&e),
                        "cannot reach the API server; retrying in {pause:?}"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(CONNECT_RETRY_MAX);
                }
            }
        }
    }

    /// Sends every change to `out` until `out` is closed: first the initial
    /// lists, then [`Change::Synced`], then what the watches see. A broken
    /// watch resumes by itself (a compacted one lists again and sends the
    /// difference); meanwhile nothing is sent, so the zone stays as it was.
    pub async fn run(self, out: mpsc::Sender<Change>) {
        // Reflector handlers must not block: they queue here, unbounded,
        // and one task moves the queue into the feed's bounded channel.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut services = Reflector::<Service>::new(self.client.clone(), "");
        services.on_change(forward(&tx, translate::service_changes));
        let mut slices = Reflector::<EndpointSlice>::new(self.client.clone(), "");
        slices.on_change(forward(&tx, translate::slice_changes));
        let mut pods = Reflector::<Pod>::new(self.client.clone(), "");
        pods.on_change(forward(&tx, translate::pod_changes));
        let caches = (services.cache(), slices.cache(), pods.cache());
        let tasks = [services.spawn(), slices.spawn(), pods.spawn()];
        // A reflector tells its handlers about the first list before it
        // marks its cache synced, so Synced follows every listed object.
        let synced = tokio::spawn(async move {
            caches.0.synced().await;
            caches.1.synced().await;
            caches.2.synced().await;
            let _ = tx.send(Change::Synced);
        });
        loop {
            tokio::select! {
                change = rx.recv() => {
                    let Some(c) = change else { break };
                    if out.send(c).await.is_err() {
                        break;
                    }
                }
                () = out.closed() => break,
            }
        }
        synced.abort();
        for t in tasks {
            t.abort();
        }
    }
}
