//! A [`ClusterSource`] loaded from a file of Kubernetes manifests
//! (Services, EndpointSlices, Pods; see [`crate::manifest`]).

use std::path::{Path, PathBuf};

use crate::manifest::ManifestError;
use crate::model::{ClusterSource, Endpoints, Pod, Service};

/// Errors loading a static source.
#[derive(Debug, thiserror::Error)]
pub enum StaticSourceError {
    /// The file could not be read.
    #[error("reading static DNS source {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifests are not YAML or an object is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Services, endpoints and pods held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticSource {
    /// Services.
    pub services: Vec<Service>,
    /// Endpoints of services.
    pub endpoints: Vec<Endpoints>,
    /// Pods.
    pub pods: Vec<Pod>,
}

impl StaticSource {
    /// Parses the YAML text of a static source.
    pub fn from_yaml(text: &str) -> Result<Self, StaticSourceError> {
        Self::parse(text, "<string>")
    }

    /// Reads and parses a static source file.
    pub fn from_file(path: &Path) -> Result<Self, StaticSourceError> {
        let text = std::fs::read_to_string(path).map_err(|source| StaticSourceError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, origin: &str) -> Result<Self, StaticSourceError> {
        Ok(crate::manifest::parse(text, origin)?)
    }
}

impl ClusterSource for StaticSource {
    fn services(&self) -> Vec<Service> {
        self.services.clone()
    }

    fn endpoints(&self) -> Vec<Endpoints> {
        self.endpoints.clone()
    }

    fn pods(&self) -> Vec<Pod> {
        self.pods.clone()
    }
}
