//! The credential calls: a node credential issued (the bootstrap token's
//! exchange, or a rotation), a node's credentials revoked, the bootstrap
//! token rotated.

use berth_api::Time;
use berth_client::proto::{
    BootstrapToken, NodeCredential, NodeCredentialRequest, RevokeReply, RotateBootstrapRequest,
};
use tonic::{Request, Response, Status};

use super::access::for_node;
use super::errors;
use super::service::ApiService;
use crate::auth::Verb;

type Reply<T> = Result<Response<T>, Status>;

impl ApiService {
    pub(super) async fn issue_credential(
        &self,
        req: Request<NodeCredentialRequest>,
    ) -> Reply<NodeCredential> {
        let node = req.get_ref().node.clone();
        check_node_name(&node)?;
        let who = self
            .check(&req, for_node(Verb::IssueCredential, &node))
            .await?;
        let (token, expires) = self.credentials.issue(&node).await.map_err(errors::auth)?;
        tracing::info!(node = %node, by = %who, "node credential issued");
        Ok(Response::new(NodeCredential {
            token,
            expires_unix: Time::from(expires).unix_seconds(),
        }))
    }

    pub(super) async fn revoke_credentials(
        &self,
        req: Request<NodeCredentialRequest>,
    ) -> Reply<RevokeReply> {
        let node = req.get_ref().node.clone();
        check_node_name(&node)?;
        self.check(&req, for_node(Verb::RevokeCredential, &node))
            .await?;
        let n = self.credentials.revoke(&node).await.map_err(errors::auth)?;
        tracing::info!(node = %node, revoked = n, "node credentials revoked");
        Ok(Response::new(RevokeReply {
            revoked: u32::try_from(n).unwrap_or(u32::MAX),
        }))
    }

    pub(super) async fn rotate_bootstrap(
        &self,
        req: Request<RotateBootstrapRequest>,
    ) -> Reply<BootstrapToken> {
        self.check(&req, for_node(Verb::RotateBootstrap, ""))
            .await?;
        let ttl = match req.get_ref().ttl_seconds {
            0 => self.bootstrap_ttl,
            s => Some(std::time::Duration::from_secs(s)),
        };
        let token = self.tokens.rotate_bootstrap(ttl).map_err(errors::auth)?;
        Ok(Response::new(BootstrapToken {
            token,
            expires_unix: self
                .tokens
                .bootstrap_expires()
                .map_or(0, |t| Time::from(t).unix_seconds()),
        }))
    }
}

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
