//! Real-world manifests, written as users write them, read with Kubernetes'
//! defaults applied; and everything read survives a round trip through
//! the JSON the store keeps and the YAML `get -o yaml` prints.

use std::path::{Path, PathBuf};

use berth_api::container::{Protocol, PullPolicy};
use berth_api::deployment::DeploymentStrategyType;
use berth_api::lease::NODE_LEASE_NAMESPACE;
use berth_api::manifest::{self, Document, ParseOptions};
use berth_api::pod::{DnsPolicy, RestartPolicy};
use berth_api::probe::ProbeHandler;
use berth_api::service::{IpFamilyPolicy, ServiceType, SessionAffinity};
use berth_api::volume::{StorageMedium, VolumeSource};
use berth_api::{
    Deployment, IntOrString, Kind, Lease, Object, ReplicaSet, Resource, Service, Taint,
    TaintEffect, Toleration, TolerationOperator,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/manifests")
        .join(name)
}

fn read(name: &str) -> Vec<Document> {
    manifest::read_path(&fixture(name), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

fn deployment(doc: &Document) -> &Deployment {
    match &doc.object {
        Object::Deployment(d) => d,
        other => panic!("expected a Deployment, got {:?}", other.kind()),
    }
}

fn service(doc: &Document) -> &Service {
    match &doc.object {
        Object::Service(s) => s,
        other => panic!("expected a Service, got {:?}", other.kind()),
    }
}

/// parse → JSON → parse, and parse → YAML → parse, give the same objects.
fn assert_round_trips(docs: &[Document]) {
    for doc in docs {
        let json = doc.object.to_json().unwrap();
        let back = Object::from_json(&json).unwrap_or_else(|e| panic!("{}: {e}", doc.origin));
        assert_eq!(back, doc.object, "JSON round trip of {}", doc.origin);
        // The stored form is already defaulted and valid.
        let mut again = back.clone();
        again.apply_defaults();
        assert_eq!(
            again, doc.object,
            "defaulting is idempotent for {}",
            doc.origin
        );
        again.validate().unwrap();

        let yaml = doc.object.to_yaml().unwrap();
        let reread = manifest::parse_str(&yaml, "out.yaml", &ParseOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", doc.origin));
        assert_eq!(reread.len(), 1);
        assert_eq!(
            reread[0].object, doc.object,
            "YAML round trip of {}:\n{yaml}",
            doc.origin
        );
    }
}

mod cluster;
mod kubectl;
mod manifests;
