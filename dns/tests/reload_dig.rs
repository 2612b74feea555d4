//! A service created or deleted in the static file: the answer follows
//! (the real `dig` against the server, the file polled as `berth dns` does).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_dns::{
    DEFAULT_POLL, FileWatch, Handler, Metrics, StaticSource, Zone, ZoneConfig, reload_static,
    zone_channel,
};
use common::{answer_lines, dig, start, status};

/// Only catches a hang.
const HANG: Duration = Duration::from_secs(10);

fn manifest(services: &[(&str, &str)]) -> String {
    services
        .iter()
        .map(|(name, ip)| {
            format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{clusterIP: {ip}}}\n")
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn services_created_and_deleted_in_the_file_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, manifest(&[("old", "10.96.1.1")])).unwrap();
    let (publisher, zones) = zone_channel();
    let config = ZoneConfig::default();
    let watch = FileWatch::new(&path, DEFAULT_POLL);
    publisher.publish(Zone::build(&StaticSource::from_file(&path).unwrap(), &config).unwrap());
    let metrics = Arc::new(Metrics::default());
    let counted = metrics.clone();
    let (dns, _) = start(
        move || {
            tokio::spawn(reload_static(watch, config, publisher, metrics.clone()));
            Handler::new(zones).with_metrics(metrics)
        },
        false,
    );
    let out = dig(dns, &["old.default.svc.cluster.local", "A"]);
    assert_eq!(
        answer_lines(&out),
        ["old.default.svc.cluster.local. A 10.96.1.1"],
        "{out}"
    );

    // Replace the file (as editors and kubectl-generated files do).
    let tmp = dir.path().join("cluster.yaml.new");
    std::fs::write(&tmp, manifest(&[("new", "10.96.1.2")])).unwrap();
    let changed = Instant::now();
    std::fs::rename(&tmp, &path).unwrap();
    loop {
        let out = dig(dns, &["new.default.svc.cluster.local", "A"]);
        if status(&out) == "NOERROR" {
            assert_eq!(
                answer_lines(&out),
                ["new.default.svc.cluster.local. A 10.96.1.2"]
            );
            break;
        }
        assert!(changed.elapsed() < HANG, "the new service never appeared");
    }
    eprintln!("change answerable after {:?}", changed.elapsed());
    let out = dig(dns, &["old.default.svc.cluster.local", "A"]);
    assert_eq!(status(&out), "NXDOMAIN", "{out}");

    // A broken file keeps the last good zone: once the reload was tried
    // and refused (its error counted), the old answer stays.
    assert_eq!(counted.zone_reload_errors(), 0);
    // The swap is counted just after it is published.
    while counted.zone_reloads() == 0 {
        assert!(changed.elapsed() < HANG, "the swap was never counted");
        std::thread::sleep(DEFAULT_POLL);
    }
    let reloads = counted.zone_reloads();
    // Replaced whole, as above: a file rewritten in place can be read
    // truncated (empty: a valid, empty zone) between two polls.
    std::fs::write(
        &tmp,
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIP: bad}\n",
    )
    .unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let refused = Instant::now();
    while counted.zone_reload_errors() == 0 {
        assert!(refused.elapsed() < HANG, "the broken file was never read");
        std::thread::sleep(DEFAULT_POLL);
    }
    assert_eq!(counted.zone_reloads(), reloads, "no zone swap for it");
    let out = dig(dns, &["new.default.svc.cluster.local", "A"]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert_eq!(
        answer_lines(&out),
        ["new.default.svc.cluster.local. A 10.96.1.2"]
    );
}
