//! Checks of the credential requests' input.

use tonic::Status;

use super::errors;

/// A node name, as a Node's `metadata.name` must be (a DNS subdomain); the
/// error names the field and the value.
pub(super) fn check_node_name(node: &str) -> Result<(), Status> {
    let problems = berth_api::validate::names::dns1123_subdomain(node);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid(
            None,
            format!("node: Invalid value: {node:?}: {}", problems.join("; ")),
        ))
    }
}
