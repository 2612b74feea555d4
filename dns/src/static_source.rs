//! A [`ClusterSource`] loaded from a static YAML file (schema in README.md).

use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// The YAML does not match the schema.
    #[error("parsing static DNS source {origin}")]
    Parse {
        /// The file, or `<string>`.
        origin: String,
        /// The YAML error (with line and column).
        #[source]
        source: serde_yaml::Error,
    },
}

/// Services, endpoints and pods held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSource {
    /// Services.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Endpoints of services.
    #[serde(default)]
    pub endpoints: Vec<Endpoints>,
    /// Pods.
    #[serde(default)]
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
        serde_yaml::from_str(text).map_err(|source| StaticSourceError::Parse {
            origin: origin.to_owned(),
            source,
        })
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
