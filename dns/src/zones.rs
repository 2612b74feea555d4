//! The zone a running server answers from, swapped whole when its source
//! changes. Workers check one atomic version per query and take the new
//! zone only when it moved.

use std::sync::Arc;

use tokio::sync::watch;

use crate::zone::Zone;

/// The feeding half: whoever watches the cluster publishes zones here.
#[derive(Debug)]
pub struct ZonePublisher {
    tx: watch::Sender<Option<Arc<Zone>>>,
}

/// The serving half, cloned into every worker. `None` until the first zone
/// is published (the server is not ready and answers SERVFAIL meanwhile).
#[derive(Debug, Clone)]
pub struct Zones {
    rx: watch::Receiver<Option<Arc<Zone>>>,
}

/// A channel for zones, empty until the first [`ZonePublisher::publish`].
pub fn zone_channel() -> (ZonePublisher, Zones) {
    let (tx, rx) = watch::channel(None);
    (ZonePublisher { tx }, Zones { rx })
}

impl ZonePublisher {
    /// Replaces the zone every worker answers from.
    pub fn publish(&self, zone: Zone) {
        self.tx.send_replace(Some(Arc::new(zone)));
    }

    /// Whether a zone has been published.
    pub fn is_synced(&self) -> bool {
        self.tx.borrow().is_some()
    }
}

impl Zones {
    /// A zone that never changes.
    pub fn fixed(zone: Arc<Zone>) -> Self {
        let (tx, rx) = watch::channel(Some(zone));
        drop(tx);
        Self { rx }
    }

    /// The current zone, marking it seen.
    pub(crate) fn current(&mut self) -> Option<Arc<Zone>> {
        self.rx.borrow_and_update().clone()
    }

    /// Whether a zone has been published.
    pub fn is_synced(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Whether a newer zone was published since [`Zones::current`].
    pub(crate) fn has_changed(&self) -> bool {
        self.rx.has_changed().unwrap_or(false)
    }
}

impl From<Arc<Zone>> for Zones {
    fn from(zone: Arc<Zone>) -> Self {
        Self::fixed(zone)
    }
}
