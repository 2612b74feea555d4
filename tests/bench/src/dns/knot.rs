//! The peer: Knot DNS (Debian's `knot` package) with a configuration of
//! our own, so the package's system service and `/etc/knot` never matter:
//! one UDP, one TCP and one background worker, listening on
//! `127.0.0.1@<port>`, its run directory (control socket, no PID file) and
//! storage (timer database) inside the benchmark's work directory, the zone
//! loaded from our zone file, no journal, never written back.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The Debian package.
pub const PACKAGE: &str = "knot";
/// The daemon.
pub const KNOTD: &str = "knotd";

/// Settings, for the report.
pub const SETTINGS: &str = "udp-workers 1, tcp-workers 1, background-workers 1, \
                            journal-content none, zonefile-sync -1, no EDNS/DNSSEC/XDP";

/// `knotd -V` (`knotd (Knot DNS), version 3.2.6`).
pub fn version() -> String {
    Command::new(KNOTD)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "knotd (version unknown)".to_string())
}

/// Files of one knot instance inside `dir`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn conf(&self) -> PathBuf {
        self.dir.join("knot.conf")
    }
    pub fn zone(&self) -> PathBuf {
        self.dir.join("cluster.local.zone")
    }
    fn rundir(&self) -> PathBuf {
        self.dir.join("run")
    }
    fn storage(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// Writes the configuration and the zone file, creates the directories.
    pub fn write(&self, port: u16, zone: &str) -> anyhow::Result<()> {
        for d in [self.rundir(), self.storage()] {
            std::fs::create_dir_all(&d)?;
        }
        std::fs::write(self.zone(), zone)?;
        std::fs::write(self.conf(), conf(&self.dir, port))?;
        Ok(())
    }
}

/// knot.conf for an instance living in `dir`.
pub fn conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "# Written by berth bench dns; removed with its work directory.\n\
         server:\n    \
             rundir: \"{d}/run\"\n    \
             listen: 127.0.0.1@{port}\n    \
             udp-workers: 1\n    \
             tcp-workers: 1\n    \
             background-workers: 1\n\
         log:\n  \
           - target: stderr\n    \
             any: notice\n\
         database:\n    \
             storage: \"{d}/db\"\n\
         zone:\n  \
           - domain: cluster.local\n    \
             storage: \"{d}\"\n    \
             file: \"cluster.local.zone\"\n    \
             journal-content: none\n    \
             zonefile-sync: -1\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration() {
        let c = conf(Path::new("/tmp/w/knot"), 5300);
        assert!(c.contains("    listen: 127.0.0.1@5300\n"), "{c}");
        assert!(c.contains("    udp-workers: 1\n"), "{c}");
        assert!(c.contains("    rundir: \"/tmp/w/knot/run\"\n"), "{c}");
        assert!(c.contains("  - domain: cluster.local\n    storage: \"/tmp/w/knot\"\n"));
    }
}
