//! A work directory of one benchmark process, `<temp dir>/<prefix><pid>`,
//! removed on drop; and the removal of those of killed runs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// `<temp dir>/<prefix><pid>`, removed on drop.
#[derive(Debug)]
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// Creates it afresh (a directory of an earlier process that had this
    /// pid is removed first).
    pub fn create(prefix: &str) -> anyhow::Result<WorkDir> {
        let path = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("[bench] could not remove {}: {e}", self.0.display());
        }
    }
}

/// Removes work directories `<prefix><pid>` of killed runs (their pid is
/// gone).
pub fn remove_stale(prefix: &str) {
    let tmp = std::env::temp_dir();
    let Ok(entries) = std::fs::read_dir(&tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !berth_test_support::cleanup::pid_alive(pid) {
            let path = tmp.join(&name);
            if std::fs::remove_dir_all(&path).is_ok() {
                eprintln!(
                    "[bench] leftover of a killed run: removed {}",
                    path.display()
                );
            }
        }
    }
}
