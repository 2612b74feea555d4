//! Importing an OCI archive into containerd with `ctr`.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use super::ImageError;
use crate::containerd::K8S_NAMESPACE;
use crate::containerd::command::{self, which};

/// Limit for one `ctr images import`: generous (a 2-CPU machine shared
/// with builds unpacks slowly); it only catches hangs.
pub const IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// Imports the OCI archive `archive` into the containerd at `ctr_address`
/// (its gRPC socket), in the CRI plugin's namespace (`k8s.io`), unpacked
/// with `snapshotter` so that containers can start from it at once:
/// `ctr --address SOCK -n k8s.io images import --snapshotter S ARCHIVE`.
///
/// Returns the imported references, as `ctr` reports unpacking them.
/// Importing the same archive again changes nothing and returns the same.
pub async fn import(
    ctr_address: &Path,
    archive: &Path,
    snapshotter: &str,
) -> Result<Vec<String>, ImageError> {
    let ctr = which("ctr").ok_or(ImageError::CtrMissing)?;
    let args: [&OsStr; 9] = [
        "--address".as_ref(),
        ctr_address.as_os_str(),
        "-n".as_ref(),
        K8S_NAMESPACE.as_ref(),
        "images".as_ref(),
        "import".as_ref(),
        "--snapshotter".as_ref(),
        snapshotter.as_ref(),
        archive.as_os_str(),
    ];
    let stdout = command::run(&ctr, &args, IMPORT_TIMEOUT)
        .await
        .map_err(|source| ImageError::Import {
            archive: archive.to_path_buf(),
            source,
        })?;
    let refs = imported_refs(&stdout);
    if refs.is_empty() {
        return Err(ImageError::NothingImported {
            command: command::command_line(&ctr, &args),
            stdout: stdout.trim().to_string(),
        });
    }
    Ok(refs)
}

/// The references in `ctr images import`'s output: lines
/// `unpacking REF (sha256:…)...done`.
pub(crate) fn imported_refs(stdout: &str) -> Vec<String> {
    let mut refs: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("unpacking "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    refs.dedup();
    refs
}
