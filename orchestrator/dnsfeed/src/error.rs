//! Why an object is left out of the cluster zone.

/// An API object that cannot be turned into DNS data.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// An address field does not hold an IP address.
    #[error("{kind} {namespace}/{name}: {field}: invalid IP address {value:?}")]
    Address {
        /// Service, EndpointSlice or Pod.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
        /// Why.
        #[source]
        source: std::net::AddrParseError,
    },
    /// A Service has no cluster IP yet (and is not headless).
    #[error("Service {namespace}/{name}: no cluster IP allocated")]
    Unallocated {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// An EndpointSlice lacks the label naming its Service.
    #[error("EndpointSlice {namespace}/{name}: no kubernetes.io/service-name label")]
    NoService {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}
