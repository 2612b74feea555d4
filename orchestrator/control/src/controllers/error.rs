//! Errors of the controllers.

use berth_client::ClientError;

/// Why a reconcile failed (it is retried with back-off).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action}")]
    Api {
        /// What was being done (`creating pod default/web-x2b4c`).
        action: String,
        /// Why.
        #[source]
        source: ClientError,
    },
    /// Our own write did not reach the cache in time.
    #[error("the {kind} cache did not reach revision {revision} of our own write")]
    Lagging {
        /// The kind cached.
        kind: &'static str,
        /// The revision waited for.
        revision: u64,
    },
    /// The object cannot be acted on as it is.
    #[error("{object}: {reason}")]
    Invalid {
        /// The object.
        object: String,
        /// What is wrong.
        reason: String,
    },
}

/// `map_err` helper: an API error while doing `action`.
pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(ClientError) -> Error {
    let action = action.into();
    move |source| Error::Api { action, source }
}
